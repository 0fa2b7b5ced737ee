/* sampling.c - token sampling: greedy, temperature, top-k, top-p, and the counter-based random
 * numbers behind it.
 *
 * Randomness is a pure function of (request seed, counter), where the counter names the
 * position and the stream (text, codebook k, RAS resample of codebook k). A request therefore
 * samples the same tokens whatever else shares its batch and whichever topology runs it, and the
 * PyTorch reference in tests/reference can reproduce the draws exactly.
 */
#include <math.h>
#include <stdlib.h>

#include "sampling.h"

static inline uint64_t mix(uint64_t z)
{
    /* splitmix64's finaliser */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double hb_uniform(uint64_t seed, uint64_t counter)
{
    uint64_t z = mix(seed + 0x9e3779b97f4a7c15ull * (counter + 1));
    return (double)(mix(z) >> 11) * 0x1.0p-53;
}

hb_sampling hb_sampling_greedy(void)
{
    return (hb_sampling){.temperature = 0, .top_k = 0, .top_p = 1, .ras = false, .ras_window = 7,
                         .ras_max_repeat = 2};
}

hb_sampling hb_sampling_reference(void)
{
    return (hb_sampling){.temperature = 0.7f, .top_k = 0, .top_p = 0.95f, .ras = true,
                         .ras_window = 7, .ras_max_repeat = 2};
}

static int argmax(const float *l, int n, const uint8_t *banned)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!(banned && banned[i]) && (best < 0 || l[i] > l[best])) best = i;
    return best < 0 ? 0 : best;
}

static int cmp_prob_desc(const void *a, const void *b, void *ctx)
{
    const double *p = ctx;
    int x = *(const int *)a, y = *(const int *)b;
    if (p[x] != p[y]) return p[x] > p[y] ? -1 : 1;
    return (x > y) - (x < y);
}

/* qsort with a context: a small merge sort keeps it portable and stable */
static void sort_idx(int *idx, int *tmp, int n, const double *p)
{
    if (n < 2) return;
    int h = n / 2;
    sort_idx(idx, tmp, h, p);
    sort_idx(idx + h, tmp, n - h, p);
    int i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_prob_desc(&idx[j], &idx[i], (void *)p) < 0 ? idx[j++] : idx[i++];
    while (i < h) tmp[k++] = idx[i++];
    while (j < n) tmp[k++] = idx[j++];
    for (k = 0; k < n; k++) idx[k] = tmp[k];
}

/* exp((l - max) / T) of the allowed entries into p; returns their sum */
static double weights(const float *l, int n, double temp, const uint8_t *banned, double *p)
{
    double mx = -INFINITY;
    for (int i = 0; i < n; i++)
        if (!(banned && banned[i]) && l[i] > mx) mx = l[i];
    double sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = (banned && banned[i]) ? 0 : exp(((double)l[i] - mx) / temp);
        sum += p[i];
    }
    return sum;
}

int hb_sample_plain(const float *l, int n, double temp, const uint8_t *banned, double u,
                    hb_sample_ws *ws)
{
    if (!(temp > 0)) temp = 1;
    double sum = weights(l, n, temp, banned, ws->p), target = u * sum, acc = 0;
    int last = -1;
    for (int i = 0; i < n; i++) {
        if (ws->p[i] <= 0) continue;
        acc += ws->p[i];
        last = i;
        if (acc > target) return i;
    }
    return last < 0 ? argmax(l, n, banned) : last;
}

int hb_sample_token(const float *l, int n, const hb_sampling *s, const uint8_t *banned, double u,
                    hb_sample_ws *ws)
{
    if (!(s->temperature > 0)) return argmax(l, n, banned);
    bool filter = s->top_k > 0 || s->top_p < 1;
    if (!filter) return hb_sample_plain(l, n, s->temperature, banned, u, ws);
    double sum = weights(l, n, s->temperature, banned, ws->p);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (ws->p[i] > 0) ws->idx[m++] = i;
    sort_idx(ws->idx, ws->tmp, m, ws->p);
    if (s->top_k > 0 && s->top_k < m) {
        m = s->top_k;
        sum = 0;
        for (int i = 0; i < m; i++) sum += ws->p[ws->idx[i]];
    }
    if (s->top_p < 1) {
        /* the smallest prefix whose probability reaches top_p (the crossing token included) */
        double acc = 0, need = s->top_p * sum;
        int keep = m;
        for (int i = 0; i < m; i++) {
            acc += ws->p[ws->idx[i]];
            if (acc >= need) {
                keep = i + 1;
                break;
            }
        }
        m = keep;
        sum = 0;
        for (int i = 0; i < m; i++) sum += ws->p[ws->idx[i]];
    }
    double target = u * sum, acc = 0;
    for (int i = 0; i < m; i++) {
        acc += ws->p[ws->idx[i]];
        if (acc > target) return ws->idx[i];
    }
    return m ? ws->idx[m - 1] : argmax(l, n, banned);
}

hb_status hb_sample_ws_init(hb_sample_ws *ws, int n, hb_error *err)
{
    ws->n = n;
    ws->p = malloc((size_t)n * sizeof *ws->p);
    ws->idx = malloc((size_t)n * sizeof *ws->idx);
    ws->tmp = malloc((size_t)n * sizeof *ws->tmp);
    if (!ws->p || !ws->idx || !ws->tmp) {
        hb_sample_ws_free(ws);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory for sampling");
    }
    return HB_OK;
}

void hb_sample_ws_free(hb_sample_ws *ws)
{
    free(ws->p);
    free(ws->idx);
    free(ws->tmp);
    ws->p = NULL;
    ws->idx = ws->tmp = NULL;
}
