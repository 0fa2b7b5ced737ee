/* kernels.h - the CPU backend's numeric kernels (fp32).
 *
 * Every kernel computes each output element with a fixed sequence of operations that does not
 * depend on how many tokens are in the batch or where a token sits in it. That batch invariance
 * is what lets a request give bit-identical results alone or among others, and the unified and
 * separate topologies give identical codes; OpenBLAS's sgemm does not have it (a row's result
 * changes with the number of rows), which is why the matrix product here is our own.
 */
#ifndef HB_CPU_KERNELS_H
#define HB_CPU_KERNELS_H

#include <stddef.h>

/* y[m][n] = sum_k x[m][k] * w[n][k] for m < M, n < N (W stored [N][K], PyTorch's layout).
 * K must be a multiple of 8. Uses AVX2 where the CPU has it (chosen once per process). */
void hb_cpu_matmul(const float *x, const float *w, float *y, size_t M, size_t N, size_t K);

/* out = w * x / sqrt(mean(x^2) + eps), per row of length n. */
void hb_cpu_rmsnorm(const float *x, const float *w, float *out, size_t n, double eps);

/* In-place rotation of one head vector (half-split layout, HF rotate_half) by cos/sin tables of
 * length head_dim / 2. */
void hb_cpu_rope(float *v, const float *cos_t, const float *sin_t, size_t head_dim);

/* out[i] = silu(gate[i]) * up[i] */
void hb_cpu_swiglu(const float *gate, const float *up, float *out, size_t n);

#endif
