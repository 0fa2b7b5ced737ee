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
#include <string.h>

#include "sampling.h"

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

/* Orders idx[0..n) by logit descending, ties by index ascending: the order of the probabilities
 * (exp is monotone), computed exactly on the float logits. An LSD radix sort of 64-bit keys
 * (inverted order-preserving float bits, then the index): linear time, which matters for a
 * 128,256-entry text head every step. idx comes in ascending order and each pass is stable, so
 * only the 4 bytes of the float need passes; ties keep index order. */
static void sort_idx(int *idx, int *tmp, int n, const float *l, uint64_t *keys, uint64_t *keys2)
{
    for (int i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &l[idx[i]], 4);
        u = (u >> 31) ? ~u : (u | 0x80000000u); /* ascending unsigned = ascending float */
        keys[i] = ((uint64_t)(~u) << 32) | (uint32_t)idx[i];
    }
    for (int pass = 4; pass < 8; pass++) {
        unsigned shift = (unsigned)pass * 8;
        size_t count[257] = {0};
        for (int i = 0; i < n; i++) count[((keys[i] >> shift) & 255) + 1]++;
        if (count[((keys[0] >> shift) & 255) + 1] == (size_t)n) continue; /* one digit: no-op */
        for (int d = 0; d < 256; d++) count[d + 1] += count[d];
        for (int i = 0; i < n; i++) keys2[count[(keys[i] >> shift) & 255]++] = keys[i];
        uint64_t *t = keys;
        keys = keys2;
        keys2 = t;
    }
    for (int i = 0; i < n; i++) idx[i] = (int)(uint32_t)keys[i];
    (void)tmp;
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
    sort_idx(ws->idx, ws->tmp, m, l, ws->keys, ws->keys2);
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

int32_t hb_pick_sample(const float *l, int n, const hb_pick *pk, int32_t bos, int32_t eos,
                       int32_t codebook_size, uint8_t *ban, hb_sample_ws *ws)
{
    if (pk->forced >= 0) return pk->forced;
    hb_sampling s = {.temperature = pk->temperature, .top_k = pk->top_k, .top_p = pk->top_p};
    ban[bos] = 1;
    ban[eos] = (uint8_t)(pk->ban_eos != 0);
    int32_t code = hb_sample_token(l, n, &s, ban, pk->u, ws);
    if (pk->ras_repeat > 0 && code < codebook_size) {
        int count = 0;
        for (int i = 0; i < pk->nhist; i++) count += pk->hist[i] == code;
        if (count >= pk->ras_repeat) code = hb_sample_plain(l, n, pk->temperature, ban, pk->u_ras, ws);
    }
    ban[bos] = 0;
    ban[eos] = 0;
    return code;
}

int32_t hb_text_pick_sample(const float *l, int n, const hb_text_pick *pk, uint8_t *ban,
                            hb_sample_ws *ws)
{
    if (pk->forced >= 0) return pk->forced;
    if (pk->forced == HB_PICK_NONE) return 0;
    hb_sampling s = {.temperature = pk->temperature, .top_k = pk->top_k, .top_p = pk->top_p};
    for (int i = 0; i < pk->nban; i++) ban[pk->ban[i]] = 1;
    int32_t t = hb_sample_token(l, n, &s, ban, pk->u, ws);
    for (int i = 0; i < pk->nban; i++) ban[pk->ban[i]] = 0;
    return t;
}

hb_status hb_sample_ws_init(hb_sample_ws *ws, int n, hb_error *err)
{
    ws->n = n;
    ws->p = malloc((size_t)n * sizeof *ws->p);
    ws->idx = malloc((size_t)n * sizeof *ws->idx);
    ws->tmp = malloc((size_t)n * sizeof *ws->tmp);
    ws->keys = malloc((size_t)n * sizeof *ws->keys);
    ws->keys2 = malloc((size_t)n * sizeof *ws->keys2);
    if (!ws->p || !ws->idx || !ws->tmp || !ws->keys || !ws->keys2) {
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
    free(ws->keys);
    free(ws->keys2);
    ws->keys = ws->keys2 = NULL;
    ws->p = NULL;
    ws->idx = ws->tmp = NULL;
}
