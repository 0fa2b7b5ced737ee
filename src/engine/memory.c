/* memory.c - the counted allocator: every engine allocation is counted by category, with peaks,
 * so a memory report is a sum and not a guess. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

typedef struct {
    uint64_t size;
    uint64_t category;
} header; /* 16 bytes: keeps the user block 16-byte aligned */

static void count(hb_mem *m, hb_mem_category c, int64_t delta)
{
    m->current[c] = (uint64_t)((int64_t)m->current[c] + delta);
    if (m->current[c] > m->peak[c]) m->peak[c] = m->current[c];
    uint64_t total = 0;
    for (int i = 0; i < HB_MEM__COUNT; i++) total += m->current[i];
    if (total > m->peak_total) m->peak_total = total;
}

void *hb_mem_alloc(hb_mem *m, hb_mem_category c, size_t size)
{
    header *h = malloc(sizeof *h + (size ? size : 1));
    if (!h) return NULL;
    h->size = size;
    h->category = (uint64_t)c;
    count(m, c, (int64_t)size);
    return h + 1;
}

void *hb_mem_calloc(hb_mem *m, hb_mem_category c, size_t size)
{
    void *p = hb_mem_alloc(m, c, size);
    if (p) memset(p, 0, size);
    return p;
}

void hb_mem_free(hb_mem *m, void *p)
{
    if (!p) return;
    header *h = (header *)p - 1;
    count(m, (hb_mem_category)h->category, -(int64_t)h->size);
    free(h);
}

void hb_mem_add(hb_mem *m, hb_mem_category c, int64_t delta) { count(m, c, delta); }

const char *hb_mem_category_name(hb_mem_category c)
{
    static const char *const names[] = {"weights", "kv_cache", "workspace", "graphs", "other"};
    return (unsigned)c < HB_MEM__COUNT ? names[c] : "unknown";
}

double hb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
