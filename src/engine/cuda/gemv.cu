// gemv.cu - the matrix products of the CUDA backend: y[t][r] = sum_k x[t][k] W[r][k].
//
// Decode is bound by reading W, so each weight row is read once for up to 8 tokens: one warp
// per output row, 16-byte loads (8 bf16 or 4 fp32 weights a lane), the tokens' x rows read
// through L1/L2 (they are small and every warp shares them), fp32 accumulators per token, a warp
// shuffle reduction. One token with bf16 weights runs the configuration bench/cuda_kernel_bench
// measured fastest for its K (hb_gemv1_chosen): the weights streamed past L1 with an L2
// prefetch hint, and for long rows (K = 8192) each row cut over 8 warps; each requests its
// first weights before it waits on the previous kernel (hb_gemv_early), and o_proj, whose
// rows fit on chip, can copy them there during decode attention (gemv1_resident_kernel). More than 8 tokens
// (prefill) run in groups of 8; with bf16 weights, two or more tokens go to the batched GEMV
// of gemv_batch.cu (up to the context's mmv_max) or cuBLAS (activations rounded to bf16,
// tensor cores, fp32 output). Where the activations are already bf16 (the batched path), one
// token's products with rows of HB_GEMV1_LONG_K or more (down_proj) still run the one-token
// split-K GEMV, reading the bf16 activations: on the H200 a batch-1 step took 1.787 / 1.794
// against 1.819 / 1.816 ms with the batched GEMV's down_proj, and the first frame came 0.3 ms
// sooner; q/k/v and o_proj, whose rows are short, were slower that way (1.847-1.875 ms).
#include <cublasLt.h>

#include <algorithm>
#include <vector>

#include "cuda_kernels.cuh"

#define ROWS_PER_BLOCK 8


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

// 16 bytes of weights; HINT: streamed past L1 with a 256-byte L2 prefetch (the weights are
// read once a step, nothing else reads them)
template <bool HINT> __device__ __forceinline__ uint4 load_w16(const uint4 *p)
{
    return HINT ? ld_stream16<2>(p) : __ldg(p);
}

// 8 activations at chunk c of a row, fp32 or bf16 (then widened)
__device__ __forceinline__ void load_x8(const float *x, int c, float4 &a, float4 &b)
{
    const float4 *xv = (const float4 *)x + 2 * c;
    a = xv[0], b = xv[1];
}
__device__ __forceinline__ void load_x8(const __nv_bfloat16 *x, int c, float4 &a, float4 &b)
{
    const uint4 u = ((const uint4 *)x)[c];
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
    float2 f0 = __bfloat1622float2(h[0]), f1 = __bfloat1622float2(h[1]), f2 = __bfloat1622float2(h[2]),
           f3 = __bfloat1622float2(h[3]);
    a = make_float4(f0.x, f0.y, f1.x, f1.y), b = make_float4(f2.x, f2.y, f3.x, f3.y);
}

// RPW rows a warp (their loads all in flight together, each x chunk read once for all of them),
// UNROLL chunks of 8 weights a lane per row before any is used.
// SWIGLU (one token, RPW 2): warp i takes rows i and N + i of a [gate; up] matrix of 2N rows
// and writes y[i] = silu(gate . x) * (up . x), the SwiGLU fused into the product.
template <int NT, int RPW, int UNROLL, bool HINT, bool SWIGLU = false, typename XT = float>
__global__ void gemv_bf16_kernel(const __nv_bfloat16 *__restrict__ w, const XT *__restrict__ x,
                                 float *__restrict__ y, int N, int K, int nt, bool acc_out, bool early)
{
    static_assert(!SWIGLU || (NT == 1 && RPW == 2), "the SwiGLU form pairs two rows of one token");
    int wi = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    int row0 = SWIGLU ? wi : wi * RPW, rstep = SWIGLU ? N : 1; // row r of the warp: row0 + r * rstep
    if (row0 >= N) return;
    int chunks = K / 8;
    uint4 raw[RPW][UNROLL]; /* issue every load of a group before using any */
    auto load_group = [&](int c0) {
#pragma unroll
        for (int r = 0; r < RPW; r++)
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                int c = c0 + u * 32;
                raw[r][u] = c < chunks && (SWIGLU || row0 + r < N)
                                ? load_w16<HINT>((const uint4 *)(w + (size_t)(row0 + r * rstep) * K) + c)
                                : make_uint4(0, 0, 0, 0);
            }
    };
    if (early) load_group(lane); /* the weights do not depend on the previous kernel */
    pdl_enter();
    float acc[RPW][NT];
#pragma unroll
    for (int r = 0; r < RPW; r++)
#pragma unroll
        for (int t = 0; t < NT; t++) acc[r][t] = 0;
    for (int c0 = lane; c0 < chunks; c0 += 32 * UNROLL) {
        if (!early || c0 != lane) load_group(c0);
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int c = c0 + u * 32;
            if (c >= chunks) break;
#pragma unroll
            for (int t = 0; t < NT; t++) {
                if (t >= nt) break;
                float4 a, b;
                load_x8(x + (size_t)t * K, c, a, b);
#pragma unroll
                for (int r = 0; r < RPW; r++) {
                    const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&raw[r][u];
                    float2 f0 = __bfloat1622float2(p2[0]), f1 = __bfloat1622float2(p2[1]),
                           f2 = __bfloat1622float2(p2[2]), f3 = __bfloat1622float2(p2[3]);
                    acc[r][t] += f0.x * a.x + f0.y * a.y + f1.x * a.z + f1.y * a.w + f2.x * b.x +
                                 f2.y * b.y + f3.x * b.z + f3.y * b.w;
                }
            }
        }
    }
    if (SWIGLU) {
        float g = acc[0][0], u = acc[RPW - 1][0];
        for (int o = 16; o > 0; o >>= 1) {
            g += __shfl_xor_sync(0xffffffffu, g, o);
            u += __shfl_xor_sync(0xffffffffu, u, o);
        }
        if (lane == 0) y[row0] = hb_swiglu(g, u);
    } else {
#pragma unroll
        for (int r = 0; r < RPW; r++)
            if (row0 + r < N) store_rows<NT>(acc[r], nt, lane, y, N, row0 + r, acc_out);
    }
}

// One token, each row cut along K into WPR runs, one warp a run (8 warps a block: 8 / WPR rows),
// so every warp has few chunks and issues them all at once; the runs meet in shared memory.
template <int WPR, int UNROLL, bool HINT, typename XT = float>
__global__ void gemv1_splitk_kernel(const __nv_bfloat16 *__restrict__ w, const XT *__restrict__ x,
                                    float *__restrict__ y, int N, int K, bool acc_out, bool early)
{
    __shared__ float partial[8];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row = blockIdx.x * (8 / WPR) + warp / WPR, run = warp % WPR;
    int chunks = K / 8, per = (chunks + WPR - 1) / WPR, lo = run * per, hi = min(chunks, lo + per);
    const uint4 *wr = (const uint4 *)(w + (size_t)min(row, N - 1) * K);
    uint4 raw[UNROLL];
    auto load_group = [&](int c0) {
#pragma unroll
        for (int u = 0; u < UNROLL; u++) {
            int c = c0 + u * 32;
            raw[u] = c < hi ? load_w16<HINT>(wr + c) : make_uint4(0, 0, 0, 0);
        }
    };
    if (early && row < N) load_group(lo + lane); /* the weights do not depend on the previous kernel */
    pdl_enter();
    float acc = 0;
    if (row < N) {
        for (int c0 = lo + lane; c0 < hi; c0 += 32 * UNROLL) {
            if (!early || c0 != lo + lane) load_group(c0);
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                int c = c0 + u * 32;
                if (c >= hi) break;
                float4 a, b;
                load_x8(x, c, a, b);
                const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&raw[u];
                float2 f0 = __bfloat1622float2(p2[0]), f1 = __bfloat1622float2(p2[1]),
                       f2 = __bfloat1622float2(p2[2]), f3 = __bfloat1622float2(p2[3]);
                acc += f0.x * a.x + f0.y * a.y + f1.x * a.z + f1.y * a.w + f2.x * b.x + f2.y * b.y +
                       f3.x * b.z + f3.y * b.w;
            }
        }
    }
    for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
    if (lane == 0) partial[warp] = acc;
    __syncthreads();
    if (run == 0 && lane == 0 && row < N) {
        float v = 0;
        for (int r = 0; r < WPR; r++) v += partial[warp + r];
        y[row] = acc_out ? y[row] + v : v;
    }
}

// The one-token configurations the benchmark compares (bench/cuda_kernel_bench, HB_GEMV_SWEEP);
// the engine runs hb_gemv1_chosen(K).
template <int RPW, int UNROLL, bool HINT, typename XT>
static void launch1(const __nv_bfloat16 *w, const XT *x, float *y, int N, int K, bool acc,
                    int warps, cudaStream_t s)
{
    int rows_per_block = warps * RPW;
    hb_launch(gemv_bf16_kernel<1, RPW, UNROLL, HINT, false, XT>, (N + rows_per_block - 1) / rows_per_block,
              32 * warps, 0, s, w, x, y, N, K, 1, acc, hb_gemv_early != 0);
}

template <int WPR, int UNROLL, typename XT>
static void launch_splitk(const __nv_bfloat16 *w, const XT *x, float *y, int N, int K, bool acc,
                          cudaStream_t s)
{
    int rows_per_block = 8 / WPR;
    hb_launch(gemv1_splitk_kernel<WPR, UNROLL, true, XT>, (N + rows_per_block - 1) / rows_per_block,
              256, 0, s, w, x, y, N, K, acc, hb_gemv_early != 0);
}

const hb_gemv_cfg hb_gemv1_cfgs[] = {
    {1, 4, 8, false, 1}, {1, 4, 8, true, 1}, {2, 4, 8, true, 1}, {4, 2, 8, true, 1},
    {2, 4, 4, true, 1},  {1, 4, 8, true, 2}, {1, 4, 8, true, 4}, {1, 2, 8, true, 4},
    {1, 2, 8, true, 8},  {1, 1, 8, true, 8},
};
const int hb_gemv1_ncfgs = (int)(sizeof hb_gemv1_cfgs / sizeof hb_gemv1_cfgs[0]);

template <typename XT>
static void gemv1_cfg(int i, const void *w, const XT *x, float *y, int N, int K, bool acc, cudaStream_t s)
{
    const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
    const hb_gemv_cfg c = hb_gemv1_cfgs[i];
#define CFG(R, U, H)                                                                            \
    if (c.split == 1 && c.rows_per_warp == R && c.unroll == U && c.hint == H)                 \
        return launch1<R, U, H>(wb, x, y, N, K, acc, c.warps, s)
#define SPLIT(W, U) \
    if (c.split == W && c.unroll == U) return launch_splitk<W, U>(wb, x, y, N, K, acc, s)
    CFG(1, 4, false);
    CFG(1, 4, true);
    CFG(2, 4, true);
    CFG(4, 2, true);
    SPLIT(2, 4);
    SPLIT(4, 4);
    SPLIT(4, 2);
    SPLIT(8, 2);
    SPLIT(8, 1);
#undef CFG
#undef SPLIT
}

void hb_cuda_gemv1_cfg(int i, const void *w, const float *x, float *y, int N, int K, bool acc,
                       cudaStream_t s)
{
    gemv1_cfg(i, w, x, y, N, K, acc, s);
}

void hb_cuda_gemv1_bf16x_cfg(int i, const void *w, const __nv_bfloat16 *x, float *y, int N, int K,
                             cudaStream_t s)
{
    gemv1_cfg(i, w, x, y, N, K, false, s);
}

// One token with the weights already on chip: block b owns rows R b .. R b + R - 1 (a
// contiguous R K bf16 range of W), and before it waits on the previous kernel its thread 0
// requests them into shared memory as bulk copies (the TMA engine, completing an mbarrier), so
// the copy runs while that kernel does (decode attention, bound by latency, leaves the memory
// idle). After the wait x (fp32) joins them in shared memory and warp w takes rows w, w + 8, ...:
// y[r] (+)= sum_k W[r][k] x[k], lanes over 16-byte pieces, a shuffle sum. Launched only where
// R K 2 + K 4 bytes fit beside the previous kernel's blocks.
__global__ void __launch_bounds__(256) gemv1_resident_kernel(const __nv_bfloat16 *__restrict__ w,
                                                             const float *__restrict__ x, float *__restrict__ y,
                                                             int N, int K, int R, bool acc_out, int chunk)
{
    extern __shared__ __align__(128) unsigned char rsm[];
    __shared__ __align__(8) unsigned long long bar;
    const int r0 = blockIdx.x * R, nr = min(R, N - r0), tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const uint32_t sw = (uint32_t)__cvta_generic_to_shared(rsm), sbar = (uint32_t)__cvta_generic_to_shared(&bar);
    float *xs = (float *)(rsm + (size_t)R * K * 2);
    const uint32_t bytes = (uint32_t)nr * (uint32_t)K * 2u; /* a multiple of 16 (K % 8 == 0) */
    if (tid == 0) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
        asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(sbar) : "memory");
        asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(sbar), "r"(bytes) : "memory");
        const char *src = (const char *)(w + (size_t)r0 * K);
        for (uint32_t off = 0; off < bytes; off += (uint32_t)chunk) {
            const uint32_t n = min(bytes - off, (uint32_t)chunk);
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];"
                         ::"r"(sw + off), "l"(src + off), "r"(n), "r"(sbar)
                         : "memory");
        }
#endif
    }
    pdl_enter();
    for (int i = tid; i < K / 4; i += 256) ((float4 *)xs)[i] = ((const float4 *)x)[i];
    __syncthreads(); /* x in place, and the barrier initialised, for every thread */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    for (unsigned done = 0; !done;)
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], 0;\n\t"
                     "selp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done)
                     : "r"(sbar)
                     : "memory");
#endif
    const int chunks = K / 8;
    for (int r = warp; r < nr; r += 8) {
        const uint4 *wr = (const uint4 *)(rsm + (size_t)r * K * 2);
        float acc = 0;
        for (int c = lane; c < chunks; c += 32) {
            const uint4 raw = wr[c];
            const float4 a = ((const float4 *)xs)[2 * c], b = ((const float4 *)xs)[2 * c + 1];
            const __nv_bfloat162 *p2 = (const __nv_bfloat162 *)&raw;
            float2 f0 = __bfloat1622float2(p2[0]), f1 = __bfloat1622float2(p2[1]),
                   f2 = __bfloat1622float2(p2[2]), f3 = __bfloat1622float2(p2[3]);
            acc += f0.x * a.x + f0.y * a.y + f1.x * a.z + f1.y * a.w + f2.x * b.x + f2.y * b.y + f3.x * b.z +
                   f3.y * b.w;
        }
        for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, o);
        if (lane == 0) y[r0 + r] = acc_out ? y[r0 + r] + acc : acc;
    }
}

int hb_gemv_resident_chunk = GEMV_RESIDENT_CHUNK;
int hb_gemv_early = 1;

int hb_cuda_gemv1_resident_rows(int N, int K, int sms)
{
    if (sms <= 0 || N <= 0 || K % 8) return 0;
    const int R = (N + sms - 1) / sms;
    return (size_t)R * K * 2 + (size_t)K * 4 <= GEMV_RESIDENT_MAX_SMEM ? R : 0;
}

bool hb_cuda_gemv1_resident(const void *w, const float *x, float *y, int N, int K, bool acc, int sms,
                            cudaStream_t s)
{
    const int R = hb_cuda_gemv1_resident_rows(N, K, sms);
    if (!R) return false;
    static std::atomic<unsigned long long> ready;
    hb_allow_smem(ready, gemv1_resident_kernel, GEMV_RESIDENT_MAX_SMEM);
    const size_t smem = (size_t)R * K * 2 + (size_t)K * 4;
    hb_launch(gemv1_resident_kernel, (N + R - 1) / R, 256, smem, s, (const __nv_bfloat16 *)w, x, y, N, K, R, acc,
              hb_gemv_resident_chunk);
    return true;
}

template <int NT>
__global__ void gemv_f32_kernel(const float *__restrict__ w, const float *__restrict__ x,
                                float *__restrict__ y, int N, int K, int nt, bool acc_out)
{
    pdl_enter();
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
            if (nt == 1) hb_cuda_gemv1_cfg(hb_gemv1_chosen(K), wb, xt, yt, N, K, accumulate, s);
            else hb_launch(gemv_bf16_kernel<8, 1, 4, false>, grid, block, 0, s, wb, xt, yt, N, K, nt,
                           accumulate, false);
        } else {
            const float *wf = (const float *)w;
            if (nt == 1) hb_launch(gemv_f32_kernel<1>, grid, block, 0, s, wf, xt, yt, N, K, nt, accumulate);
            else hb_launch(gemv_f32_kernel<8>, grid, block, 0, s, wf, xt, yt, N, K, nt, accumulate);
        }
    }
}

void hb_cuda_gemv1_swiglu(const void *w, const float *x, float *y, int I, int K, cudaStream_t s)
{
    hb_launch(gemv_bf16_kernel<1, 2, 4, true, true>, (I + 7) / 8, 256, 0, s,
              (const __nv_bfloat16 *)w, x, y, I, K, 1, false, hb_gemv_early != 0);
}

void hb_cuda_gemv(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                  cudaStream_t s)
{
    hb_cuda_gemv_acc(w, bf16, x, y, n, N, K, false, s);
}

__global__ void to_bf16_kernel(const float *x, __nv_bfloat16 *y, size_t n)
{
    pdl_enter();
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
    hb_launch(to_bf16_kernel, blocks, 256, 0, s, x, g->xb, elems);
    return hb_cuda_matmul_bf16in(g, w, g->xb, y, n, N, K, s);
}

struct hb_lt_entry {
    int n, N, K;
    bool ok; // an algorithm was found
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
};

struct hb_lt {
    cublasLtHandle_t h;
    cublasLtMatmulDesc_t op;
    void *ws;
    size_t ws_bytes;
    std::vector<hb_lt_entry> shapes;
};

hb_lt *hb_cuda_lt_create(void *ws, size_t ws_bytes)
{
    if (ws_bytes < HB_LT_FLUSH_BYTES) return nullptr;
    hb_lt *lt = new hb_lt();
    lt->ws = ws, lt->ws_bytes = ws_bytes;
    cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    if (cublasLtCreate(&lt->h) != CUBLAS_STATUS_SUCCESS) {
        delete lt;
        return nullptr;
    }
    if (cublasLtMatmulDescCreate(&lt->op, CUBLAS_COMPUTE_32F, CUDA_R_32F) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(lt->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta) != CUBLAS_STATUS_SUCCESS ||
        cublasLtMatmulDescSetAttribute(lt->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb) != CUBLAS_STATUS_SUCCESS) {
        cublasLtDestroy(lt->h);
        delete lt;
        return nullptr;
    }
    return lt;
}

void hb_cuda_lt_destroy(hb_lt *lt)
{
    if (!lt) return;
    for (hb_lt_entry &e : lt->shapes) {
        if (e.la) cublasLtMatrixLayoutDestroy(e.la); /* a failed shape may lack them */
        if (e.lb) cublasLtMatrixLayoutDestroy(e.lb);
        if (e.lc) cublasLtMatrixLayoutDestroy(e.lc);
    }
    cublasLtMatmulDescDestroy(lt->op);
    cublasLtDestroy(lt->h);
    delete lt;
}

size_t hb_cuda_lt_shapes(const hb_lt *lt) { return lt ? lt->shapes.size() : 0; }

static cublasStatus_t lt_run(hb_lt *lt, const hb_lt_entry &e, const cublasLtMatmulAlgo_t *algo,
                             const void *w, const __nv_bfloat16 *xb, float *y, cudaStream_t s)
{
    const float one = 1.f, zero = 0.f;
    return cublasLtMatmul(lt->h, lt->op, &one, w, e.la, xb, e.lb, &zero, y, e.lc, y, e.lc, algo, lt->ws,
                          lt->ws_bytes, s);
}

/* A shape's algorithm: the fastest of the heuristic's first candidates, each timed three times
 * alone after the L2 is flushed (the median). Runs on the stream, which must not be capturing;
 * y is overwritten (the caller then runs the product for real). */
static hb_lt_entry *lt_tune(hb_lt *lt, const void *w, const __nv_bfloat16 *xb, float *y, int n, int N,
                            int K, cudaStream_t s)
{
    hb_lt_entry e = {};
    e.n = n, e.N = N, e.K = K;
    /* column-major: Y (N x n) = W^T (N x K, W stored K x N) X (K x n) */
    bool layouts = cublasLtMatrixLayoutCreate(&e.la, CUDA_R_16BF, K, N, K) == CUBLAS_STATUS_SUCCESS &&
                   cublasLtMatrixLayoutCreate(&e.lb, CUDA_R_16BF, K, n, K) == CUBLAS_STATUS_SUCCESS &&
                   cublasLtMatrixLayoutCreate(&e.lc, CUDA_R_32F, N, n, N) == CUBLAS_STATUS_SUCCESS;
    cublasLtMatmulPreference_t pref;
    cublasLtMatmulHeuristicResult_t res[HB_LT_CANDIDATES];
    int got = 0;
    uint64_t wsb = lt->ws_bytes;
    if (layouts && cublasLtMatmulPreferenceCreate(&pref) == CUBLAS_STATUS_SUCCESS) {
        cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
        if (cublasLtMatmulAlgoGetHeuristic(lt->h, lt->op, e.la, e.lb, e.lc, e.lc, pref, HB_LT_CANDIDATES, res,
                                           &got) != CUBLAS_STATUS_SUCCESS)
            got = 0;
        cublasLtMatmulPreferenceDestroy(pref);
    }
    cudaEvent_t a, b;
    float best = 1e30f;
    if (got > 0 && cudaEventCreate(&a) == cudaSuccess && cudaEventCreate(&b) == cudaSuccess) {
        for (int i = 0; i < got; i++) {
            if (res[i].state != CUBLAS_STATUS_SUCCESS || lt_run(lt, e, &res[i].algo, w, xb, y, s) != CUBLAS_STATUS_SUCCESS)
                continue;
            float t[3];
            bool ok = true;
            for (int r = 0; r < 3 && ok; r++) {
                cudaMemsetAsync(lt->ws, r, HB_LT_FLUSH_BYTES, s); /* push the weights out of L2 */
                cudaEventRecord(a, s);
                ok = lt_run(lt, e, &res[i].algo, w, xb, y, s) == CUBLAS_STATUS_SUCCESS;
                cudaEventRecord(b, s);
                ok = ok && cudaEventSynchronize(b) == cudaSuccess && cudaEventElapsedTime(&t[r], a, b) == cudaSuccess;
            }
            if (!ok) continue;
            std::sort(t, t + 3);
            float med = t[1];
            if (med < best) best = med, e.algo = res[i].algo, e.ok = true;
        }
        cudaEventDestroy(a);
        cudaEventDestroy(b);
    }
    cudaGetLastError(); /* a candidate that failed to launch leaves nothing behind */
    lt->shapes.push_back(e); /* kept without an algorithm too: such a shape goes to GemmEx */
    return &lt->shapes.back();
}

static bool by_gemv1(const hb_gemm_ctx *g, int n, int K)
{
    return n == 1 && g->one_long && K >= HB_GEMV1_LONG_K && K % 8 == 0;
}
static bool by_mmv(const hb_gemm_ctx *g, int n, int N, int K)
{
    return n <= g->mmv_max && hb_cuda_mmv_fits(n, N, K);
}
static bool by_wsgemm(const hb_gemm_ctx *g, int n, int N, int K)
{
    return n <= g->wsg_max && hb_cuda_wsgemm_fits(n, N, K);
}

bool hb_cuda_matmul_bf16in_ours(const hb_gemm_ctx *g, int n, int N, int K)
{
    return by_gemv1(g, n, K) || by_mmv(g, n, N, K) || by_wsgemm(g, n, N, K);
}

cublasStatus_t hb_cuda_matmul_bf16in(const hb_gemm_ctx *g, const void *w, const __nv_bfloat16 *xb,
                                     float *y, int n, int N, int K, cudaStream_t s)
{
    if (by_gemv1(g, n, K)) { /* one token, long rows: the one-token split-K GEMV */
        gemv1_cfg(hb_gemv1_chosen(K), w, xb, y, N, K, false, s);
        return CUBLAS_STATUS_SUCCESS;
    }
    if (by_mmv(g, n, N, K)) { /* a few tokens: bound by reading W */
        hb_cuda_mmv(w, xb, y, n, N, K, s);
        return CUBLAS_STATUS_SUCCESS;
    }
    if (by_wsgemm(g, n, N, K)) { /* still bound by reading W */
        hb_cuda_wsgemm(w, xb, y, n, N, K, s);
        return CUBLAS_STATUS_SUCCESS;
    }
    if (g->lt) {
        hb_lt_entry *e = nullptr;
        for (hb_lt_entry &x : g->lt->shapes)
            if (x.n == n && x.N == N && x.K == K) e = &x;
        cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
        if (!e && g->lt->shapes.size() < HB_LT_MAX_SHAPES &&
            cudaStreamIsCapturing(s, &cap) == cudaSuccess && cap == cudaStreamCaptureStatusNone)
            e = lt_tune(g->lt, w, xb, y, n, N, K, s);
        if (e && e->ok) return lt_run(g->lt, *e, &e->algo, w, xb, y, s);
    }
    const float one = 1.f, zero = 0.f;
    cublasSetStream(g->handle, s);
    // row-major y[n][N] = x[n][K] W[N][K]^T is column-major Y (N x n) = W^T(N x K) X(K x n)
    return cublasGemmEx(g->handle, CUBLAS_OP_T, CUBLAS_OP_N, N, n, K, &one, w, CUDA_R_16BF, K, xb,
                        CUDA_R_16BF, K, &zero, y, CUDA_R_32F, N, CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT);
}
