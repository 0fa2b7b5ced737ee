/* kernels.c - batch-invariant fp32 kernels of the CPU backend (see kernels.h).
 *
 * Matrix product: each output element accumulates x[k] * w[k] in 8 lanes (lane = k mod 8, k
 * ascending), then adds the lanes in a fixed tree. Tiles of 4 tokens x 4 weight rows share loads;
 * edge tiles run the same per-element arithmetic, so a token's result does not depend on its
 * neighbours. Products and sums are separate roundings (no FMA contraction: ISO C mode), so the
 * AVX2 and baseline builds of the loop give the same bits.
 */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* The 8-float vectors never cross a non-inlined call, so the note that their calling convention
 * differs between AVX and baseline code does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v8f __attribute__((vector_size(32)));

static inline __attribute__((always_inline)) v8f load8(const float *p)
{
    v8f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) float reduce8(v8f a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

#define TILE 4

static inline __attribute__((always_inline)) void
tile_full(const float *x, const float *w, float *y, size_t N, size_t K)
{
    v8f acc[TILE][TILE];
    memset(acc, 0, sizeof acc);
    for (size_t k = 0; k < K; k += 8) {
        v8f xv[TILE], wv[TILE];
        for (int i = 0; i < TILE; i++) xv[i] = load8(x + (size_t)i * K + k);
        for (int j = 0; j < TILE; j++) wv[j] = load8(w + (size_t)j * K + k);
        for (int i = 0; i < TILE; i++)
            for (int j = 0; j < TILE; j++) acc[i][j] += xv[i] * wv[j];
    }
    for (int i = 0; i < TILE; i++)
        for (int j = 0; j < TILE; j++) y[(size_t)i * N + j] = reduce8(acc[i][j]);
}

static inline __attribute__((always_inline)) void
tile_edge(const float *x, const float *w, float *y, size_t N, size_t K, size_t mb, size_t nb)
{
    for (size_t i = 0; i < mb; i++)
        for (size_t j = 0; j < nb; j++) {
            v8f acc = {0};
            for (size_t k = 0; k < K; k += 8) acc += load8(x + i * K + k) * load8(w + j * K + k);
            y[i * N + j] = reduce8(acc);
        }
}

/* One row of x against 4 weight rows: the decode (M = 1) case, bound by reading W. */
static inline __attribute__((always_inline)) void
row_by_4(const float *x, const float *w, float *y, size_t K)
{
    v8f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
    for (size_t k = 0; k < K; k += 8) {
        v8f xv = load8(x + k);
        a0 += xv * load8(w + k);
        a1 += xv * load8(w + K + k);
        a2 += xv * load8(w + 2 * K + k);
        a3 += xv * load8(w + 3 * K + k);
    }
    y[0] = reduce8(a0);
    y[1] = reduce8(a1);
    y[2] = reduce8(a2);
    y[3] = reduce8(a3);
}

static inline __attribute__((always_inline)) void
matmul_body(const float *x, const float *w, float *y, size_t M, size_t N, size_t K)
{
    for (size_t n0 = 0; n0 < N; n0 += TILE) {
        size_t nb = N - n0 < TILE ? N - n0 : TILE;
        const float *wb = w + n0 * K;
        size_t m0 = 0;
        if (nb == TILE) {
            for (; m0 + TILE <= M; m0 += TILE) tile_full(x + m0 * K, wb, y + m0 * N + n0, N, K);
            for (; m0 < M; m0++) row_by_4(x + m0 * K, wb, y + m0 * N + n0, K);
        } else {
            tile_edge(x, wb, y + n0, N, K, M, nb);
        }
    }
}

__attribute__((target("avx2"))) static void matmul_avx2(const float *x, const float *w,
                                                         float *y, size_t M, size_t N, size_t K)
{
    matmul_body(x, w, y, M, N, K);
}

static void matmul_generic(const float *x, const float *w, float *y, size_t M, size_t N,
                           size_t K)
{
    matmul_body(x, w, y, M, N, K);
}

void hb_cpu_matmul(const float *x, const float *w, float *y, size_t M, size_t N, size_t K)
{
    static int use_avx2 = -1;
    if (use_avx2 < 0) {
        __builtin_cpu_init();
        use_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
    }
    if (use_avx2)
        matmul_avx2(x, w, y, M, N, K);
    else
        matmul_generic(x, w, y, M, N, K);
}

void hb_cpu_rmsnorm(const float *x, const float *w, float *out, size_t n, double eps)
{
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float inv = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (size_t i = 0; i < n; i++) out[i] = w[i] * (x[i] * inv);
}

void hb_cpu_rope(float *v, const float *c, const float *s, size_t head_dim)
{
    size_t half = head_dim / 2;
    for (size_t i = 0; i < half; i++) {
        float a = v[i], b = v[i + half];
        v[i] = a * c[i] - b * s[i];
        v[i + half] = b * c[i] + a * s[i];
    }
}

void hb_cpu_swiglu(const float *gate, const float *up, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
