// gemv.cu - the matrix products of the CUDA backend: y[t][r] = sum_k x[t][k] W[r][k].
//
// Decode is bound by reading W, so each weight row is read once for up to 8 tokens: one warp
// per output row, 16-byte loads (8 bf16 or 4 fp32 weights a lane), the tokens' x rows read
// through L1/L2 (they are small and every warp shares them), fp32 accumulators per token, a warp
// shuffle reduction. More than 8 tokens (prefill) run in groups of 8; with bf16 weights, two or
// more tokens go to cuBLAS instead (activations rounded to bf16, tensor cores, fp32 output).
#include "cuda_kernels.cuh"

#define ROWS_PER_BLOCK 8

#define UNROLL 4

// The epilogue of both kernels: each token's warp sum into y[t][row] (lane 0), or added to it
// when acc_out (the residual add fused in: y += W x).
template <int NT>
__device__ __forceinline__ void store_rows(const float *acc, int nt, int lane, float *y, int N,
                                           int row, bool acc_out)
{
#pragma unroll
    for (int t = 0; t < NT; t++) {
        if (t >= nt) break;
        float v = acc[t];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        if (lane == 0) {
            float *dst = y + (size_t)t * N + row;
            *dst = acc_out ? *dst + v : v;
        }
    }
}

template <int NT>
__global__ void gemv_bf16_kernel(const __nv_bfloat16 *__restrict__ w, const float *__restrict__ x,
                                 float *__restrict__ y, int N, int K, int nt, bool acc_out)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const uint4 *wr = (const uint4 *)(w + (size_t)row * K);
    int chunks = K / 8;
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0;
    for (int c0 = lane; c0 < chunks; c0 += 32 * UNROLL) {
        uint4 raw[UNROLL]; /* issue every load of the group before using any: bytes in flight */
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int c = c0 + u * 32;
            raw[u] = c < chunks ? __ldg(wr + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int c = c0 + u * 32;
            if (c >= chunks) break;
            const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&raw[u];
            float wf[8];
#pragma unroll
            for (int j = 0; j < 4; j++) {
                float2 f = __bfloat1622float2(p2[j]);
                wf[2 * j] = f.x;
                wf[2 * j + 1] = f.y;
            }
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t >= nt) break;
                const float4 *xv = (const float4 *)(x + (size_t)t * K) + 2 * c;
                float4 a = xv[0], b = xv[1];
                acc[t] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x +
                          wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
            }
        }
    }
    store_rows<NT>(acc, nt, lane, y, N, row, acc_out);
}

template <int NT>
__global__ void gemv_f32_kernel(const float *__restrict__ w, const float *__restrict__ x,
                                float *__restrict__ y, int N, int K, int nt, bool acc_out)
{
    int row = blockIdx.x * ROWS_PER_BLOCK + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float4 *wr = (const float4 *)(w + (size_t)row * K);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0;
    for (int c = lane; c < K / 4; c += 32) {
        float4 wv = __ldg(wr + c);
#pragma unroll
        for (int t = 0; t < NT; t++) {
            if (t >= nt) break;
            float4 a = ((const float4 *)(x + (size_t)t * K))[c];
            acc[t] += wv.x * a.x + wv.y * a.y + wv.z * a.z + wv.w * a.w;
        }
    }
    store_rows<NT>(acc, nt, lane, y, N, row, acc_out);
}

void hb_cuda_gemv_acc(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                      bool accumulate, cudaStream_t s)
{
    dim3 grid((N + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK), block(32 * ROWS_PER_BLOCK);
    for (int t0 = 0; t0 < n; t0 += 8) {
        int nt = n - t0 < 8 ? n - t0 : 8;
        const float *xt = x + (size_t)t0 * K;
        float *yt = y + (size_t)t0 * N;
        if (bf16) {
            const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
            if (nt == 1) gemv_bf16_kernel<1><<<grid, block, 0, s>>>(wb, xt, yt, N, K, nt, accumulate);
            else gemv_bf16_kernel<8><<<grid, block, 0, s>>>(wb, xt, yt, N, K, nt, accumulate);
        } else {
            const float *wf = (const float *)w;
            if (nt == 1) gemv_f32_kernel<1><<<grid, block, 0, s>>>(wf, xt, yt, N, K, nt, accumulate);
            else gemv_f32_kernel<8><<<grid, block, 0, s>>>(wf, xt, yt, N, K, nt, accumulate);
        }
    }
}

void hb_cuda_gemv(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                  cudaStream_t s)
{
    hb_cuda_gemv_acc(w, bf16, x, y, n, N, K, false, s);
}

__global__ void to_bf16_kernel(const float *x, __nv_bfloat16 *y, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16(x[i]);
}

cublasStatus_t hb_cuda_matmul(const hb_gemm_ctx *g, const void *w, bool bf16, const float *x,
                              float *y, int n, int N, int K, cudaStream_t s)
{
    if (!bf16 || n <= 1 || !g || !g->handle) { /* one token: bound by reading W, the GEMV */
        hb_cuda_gemv(w, bf16, x, y, n, N, K, s);
        return CUBLAS_STATUS_SUCCESS;
    }
    size_t elems = (size_t)n * K;
    int blocks = (int)((elems + 255) / 256 < 8192 ? (elems + 255) / 256 : 8192);
    to_bf16_kernel<<<blocks, 256, 0, s>>>(x, g->xb, elems);
    const float one = 1.f, zero = 0.f;
    cublasSetStream(g->handle, s);
    // row-major y[n][N] = x[n][K] W[N][K]^T is column-major Y (N x n) = W^T(N x K) X(K x n)
    return cublasGemmEx(g->handle, CUBLAS_OP_T, CUBLAS_OP_N, N, n, K, &one, w, CUDA_R_16BF, K,
                        g->xb, CUDA_R_16BF, K, &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
}
