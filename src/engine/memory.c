/* memory.c - the counted allocator: every engine allocation is counted by category, with peaks,
 * so a memory report is a sum and not a guess; and the small helpers every backend shares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_internal.h"

typedef struct {
    uint64_t size;
    uint64_t category;
} header; /* 16 bytes: keeps the user block 16-byte aligned */

void hb_mem_init(hb_mem *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
}

void hb_mem_destroy(hb_mem *m) { pthread_mutex_destroy(&m->lock); }

static void count(hb_mem *m, hb_mem_category c, int64_t delta)
{
    pthread_mutex_lock(&m->lock);
    m->current[c] = (uint64_t)((int64_t)m->current[c] + delta);
    if (m->current[c] > m->peak[c]) m->peak[c] = m->current[c];
    uint64_t total = 0;
    for (int i = 0; i < HB_MEM__COUNT; i++) total += m->current[i];
    if (total > m->peak_total) m->peak_total = total;
    pthread_mutex_unlock(&m->lock);
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

void *hb_mem_realloc(hb_mem *m, hb_mem_category c, void *p, size_t size)
{
    if (!p) return hb_mem_alloc(m, c, size);
    header *h = (header *)p - 1, old = *h;
    header *n = realloc(h, sizeof *n + (size ? size : 1));
    if (!n) return NULL; /* the old block stays, counted as it was */
    n->size = size;
    count(m, (hb_mem_category)old.category, -(int64_t)old.size);
    count(m, (hb_mem_category)old.category, (int64_t)size);
    return n + 1;
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

uint64_t hb_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * 0x100000001b3ull;
    }
    for (; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

void hb_rope_inv_freq(const hb_model_config *c, float *out)
{
    int half = c->head_dim / 2;
    for (int j = 0; j < half; j++) {
        double f = pow(c->rope_theta, -2.0 * j / c->head_dim);
        if (c->rope_factor != 0) { /* llama3: long wavelengths slowed, short kept, blend between */
            double wavelen = 2 * M_PI / f;
            double low = c->rope_orig_max_pos / c->rope_low_freq;
            double high = c->rope_orig_max_pos / c->rope_high_freq;
            if (wavelen > low) {
                f = f / c->rope_factor;
            } else if (wavelen >= high) {
                double s = (c->rope_orig_max_pos / wavelen - c->rope_low_freq) /
                           (c->rope_high_freq - c->rope_low_freq);
                f = (1 - s) * f / c->rope_factor + s * f;
            }
        }
        out[j] = (float)f;
    }
}

double hb_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
