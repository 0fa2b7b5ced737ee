// cuda_kernels.cuh - the CUDA backend's kernels (one family per .cu file), host-callable
// launchers. Activations are fp32; weights are bf16 (the release's dtype) or fp32 (parity tests);
// every product accumulates in fp32.
#ifndef HB_CUDA_KERNELS_CUH
#define HB_CUDA_KERNELS_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <type_traits>

extern "C" {
#include "../engine_internal.h"
}

// Programmatic dependent launch (sm_90): every kernel is launched so that it may start while its
// predecessor in the stream is still running; it first waits (griddepcontrol.wait) for that
// predecessor to complete and its writes to be visible, then lets its own successor launch
// (launch_dependents), so launch latency and ramp-up overlap the predecessor's tail. (Prefetching
// the GEMVs' weight rows into L2 before the wait was tried and measured slower: 2.7 -> 2.4 TB/s
// for q/k/v on the H200.) Off (plain stream order) when hb_cuda_pdl is 0: HB_PDL=0 in the
// environment when the backend is created.
extern int hb_cuda_pdl;
__device__ __forceinline__ void pdl_enter()
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// A measurement switch read where its kernel is launched: v < 0 reads the environment variable
// `name` once (on unless it is "0"; the backend has refused any other value than 0 or 1 at
// creation), then v stays as set (tests and benchmarks may set it themselves).
static inline bool hb_env_on(int &v, const char *name)
{
    if (v < 0) {
        const char *e = getenv(name);
        v = !(e && strcmp(e, "0") == 0);
    }
    return v != 0;
}

// A count of 1 to 4 (above 4: 4) as a template argument: calls f(std::integral_constant<int, v>)
// (the query heads a KV head serves, float4 a thread of a row, ...).
template <typename F> static inline void hb_dispatch_1to4(int v, F &&f)
{
    switch (v) {
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    default: f(std::integral_constant<int, 4>()); break;
    }
}

// A launch with programmatic dependent launch (unless hb_cuda_pdl is 0) and, when cluster has more
// than one block, in thread-block clusters of that shape (each grid dimension a multiple of it).
template <typename... KArgs, typename... Args>
static inline void hb_launch_clusters(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                      cudaStream_t s, dim3 cluster, Args &&...args)
{
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute at[2];
    at[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    at[0].val.programmaticStreamSerializationAllowed = hb_cuda_pdl ? 1 : 0;
    at[1].id = cudaLaunchAttributeClusterDimension;
    at[1].val.clusterDim.x = cluster.x, at[1].val.clusterDim.y = cluster.y, at[1].val.clusterDim.z = cluster.z;
    cfg.attrs = at;
    cfg.numAttrs = cluster.x * cluster.y * cluster.z > 1 ? 2 : 1;
    cudaLaunchKernelEx(&cfg, kernel, static_cast<Args &&>(args)...);
}
// The same with clusters of `cluster` blocks along x (none when cluster <= 0)
template <typename... KArgs, typename... Args>
static inline void hb_launch_cluster(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                                     cudaStream_t s, int cluster, Args &&...args)
{
    hb_launch_clusters(kernel, grid, block, smem, s, dim3(cluster > 0 ? (unsigned)cluster : 1u),
                       static_cast<Args &&>(args)...);
}
template <typename... KArgs, typename... Args>
static inline void hb_launch(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t smem,
                             cudaStream_t s, Args &&...args)
{
    hb_launch_cluster(kernel, grid, block, smem, s, 0, static_cast<Args &&>(args)...);
}

// An answer of the current device asked once a device (devices by ordinal below HB_DEVICE_CACHE;
// others are asked every time), shared by backends on other threads: ask(dev) returns a value of
// at least -1, kept in cache[dev] as value + 2 (0: not asked yet).
#define HB_DEVICE_CACHE 64
template <typename F> static inline int hb_device_once(std::atomic<int> (&cache)[HB_DEVICE_CACHE], F &&ask)
{
    int dev = 0;
    cudaGetDevice(&dev);
    const bool kept = dev >= 0 && dev < HB_DEVICE_CACHE;
    int v = kept ? cache[dev].load(std::memory_order_relaxed) : 0;
    if (v) return v - 2;
    v = ask(dev);
    if (kept) cache[dev].store(v + 2, std::memory_order_relaxed);
    return v;
}

// Lets kernel use `bytes` of dynamic shared memory on the current device, once a device (ready:
// the kernel's own flags, devices by ordinal below 64; backends on other threads share them).
template <typename... KArgs>
static inline void hb_allow_smem(std::atomic<unsigned long long> &ready, void (*kernel)(KArgs...), int bytes)
{
    int dev = 0;
    cudaGetDevice(&dev);
    if (dev < 64 && ready.load(std::memory_order_relaxed) >> dev & 1) return;
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (dev < 64) ready.fetch_or(1ull << dev, std::memory_order_relaxed);
}

// The SwiGLU of one gate value g and up value u: silu(g) u = g / (1 + e^-g) u. Every kernel that
// writes it (the SwiGLU kernels, the fused products' epilogues) goes through this one expression,
// so the fused forms give the SwiGLU kernel's values bit for bit.
__device__ __forceinline__ float hb_swiglu(float g, float u) { return g / (1.f + __expf(-g)) * u; }

// c += A (16 x 16) B (16 x 8), bf16 in, fp32 accumulate (a0..a3, b0, b1 in the m16n8k16 layout)
__device__ __forceinline__ void mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                         unsigned b0, unsigned b1)
{
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

// Two floats as a bf16 pair (lo in the low half), the MMAs' operand form
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi)
{
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *(unsigned *)&h;
}

// 16 bytes global -> shared, asynchronously (dst a shared-memory address); src_ok false: zeros
__device__ __forceinline__ void cp_async16(uint32_t dst, const void *src, bool src_ok)
{
    asm volatile("cp.async.cg.shared.global.L2::256B [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src),
                 "r"(src_ok ? 16 : 0)
                 : "memory");
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// waits until at most PENDING of this thread's committed groups are still in flight
template <int PENDING> __device__ __forceinline__ void cp_wait()
{
    asm volatile("cp.async.wait_group %0;\n" ::"n"(PENDING) : "memory");
}

// 16 bytes of weights through the non-coherent path without allocating in L1 (read once a
// step), with an L2 prefetch of the 256- or 128-byte block around them (HINT 2, 1) or none (0).
// Volatile, so a group of them is issued in program order before the loads are used.
template <int HINT> __device__ __forceinline__ uint4 ld_stream16(const uint4 *p)
{
    uint4 v;
    if (HINT == 2)
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    else if (HINT == 1)
        asm volatile("ld.global.nc.L1::no_allocate.L2::128B.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    else
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                     : "l"(p));
    return v;
}

// Where row pos of a slot's layer starts in a KV cache of [layer][max_batch][max_seq][kvdim].
__device__ __forceinline__ size_t cache_off(int layer, int slot, int pos, int max_batch, int max_seq,
                                            int kvdim)
{
    return (((size_t)layer * max_batch + slot) * max_seq + pos) * kvdim;
}

// KV cache entries: fp32 (with fp32 weights, for the parity tests) or bf16 (with bf16 weights);
// returns the value as stored (what a later read gives back).
__device__ __forceinline__ float store_kv(float *p, float v) { return *p = v; }
__device__ __forceinline__ float store_kv(__nv_bfloat16 *p, float v)
{
    __nv_bfloat16 b = __float2bfloat16(v);
    *p = b;
    return __bfloat162float(b);
}

// Attention outputs go to out (fp32), or to out_b in bf16 when given (a cuBLAS input).
__device__ __forceinline__ void store_out(float *out, __nv_bfloat16 *out_b, size_t i, float v)
{
    if (out_b) out_b[i] = __float2bfloat16(v);
    else out[i] = v;
}

// Eight cache entries as floats (one 16-byte load of bf16, two of fp32).
__device__ __forceinline__ void load8(const __nv_bfloat16 *p, float *f)
{
    uint4 raw = *(const uint4 *)p;
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&raw;
#pragma unroll
    for (int j = 0; j < 4; j++) {
        float2 v = __bfloat1622float2(h[j]);
        f[2 * j] = v.x;
        f[2 * j + 1] = v.y;
    }
}
__device__ __forceinline__ void load8(const float *p, float *f)
{
    float4 a = *(const float4 *)p, b = *(const float4 *)(p + 4);
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
}

// The token batch as the kernels see it (same layout as hb_token).
struct dev_token {
    int32_t slot, pos, audio, text_id, codes[HB_NUM_CODEBOOKS], logits;
};
static_assert(sizeof(dev_token) == sizeof(hb_token), "dev_token must mirror hb_token");

// streak.cu: a step of a run queued from device state (hb_streak_row, n rows): the plan makes
// each row's token and its 8 draw plans as generate.c's audio_plan would; the apply takes the
// drawn codes (16 a row) into the state as audio_apply would (delay pattern, EOS rule, RAS
// history, next input).
void hb_cuda_streak_plan(const hb_streak_row *rows, int n, dev_token *tok, hb_pick *picks, int bos,
                         int eos, cudaStream_t s);
void hb_cuda_streak_apply(hb_streak_row *rows, int n, const hb_pick *picks, const int32_t *codes,
                          int eos, int codebook_size, cudaStream_t s);

// embed.cu: x[i] = embed[text_id] or sum_k audio_embed[k * rows + code_k]
void hb_cuda_embed(const dev_token *tok, int n, const void *embed, const void *audio_embed,
                   bool bf16, int hidden, int rows, float *x, cudaStream_t s);

// RMSNorm of rows. Path variant: token i uses w_audio when tok[i].audio. Gather variant: out
// row r is the norm of x row idx[r]. Fused residual (bf16 output) variant: for r < n, x row
// idx[r] += add row (idx[r] when add_by_row, else r), then its norm goes to out row (idx[r]
// when out_by_row, else r).
void hb_cuda_rmsnorm_path(float *x, const dev_token *tok, int n, const float *w_text,
                          const float *w_audio, float *out, int hidden, float eps, cudaStream_t s);
void hb_cuda_rmsnorm_gather(float *x, const int32_t *idx, int n, const float *w, float *out,
                            int hidden, float eps, cudaStream_t s);
// The general form with bf16 output (a cuBLAS input): optional add (as above), path weights by
// tok or one weight, rows gathered by idx (or all n in order), output row idx[r] or r.
void hb_cuda_rmsnorm_bf16(float *x, const float *add, bool add_by_row, const dev_token *tok,
                          const int32_t *idx, int n, const float *w_text, const float *w_audio,
                          __nv_bfloat16 *out, bool out_by_row, int hidden, float eps, cudaStream_t s);

// gemv.cu: y[t][r] = sum_k x[t][k] W[r][k] for t < n (any n: 8 tokens per weight pass).
void hb_cuda_gemv(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                  cudaStream_t s);
// The same with y += W x when accumulate (a residual add in the epilogue).
void hb_cuda_gemv_acc(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                      bool accumulate, cudaStream_t s);

// One-token bf16 GEMV configurations (rows a warp, chunks in flight a lane, warps a block, the
// streaming load hint), compared by bench/cuda_kernel_bench; the engine runs hb_gemv1_chosen(K):
// on the H200 one row a warp with the hint for K = 3072 (2.7 / 2.3 / 3.5 TB/s for q/k/v, o and
// gate/up), each row over 8 warps for K = 8192 (down_proj, 3.4 against 3.0 TB/s).
struct hb_gemv_cfg {
    int rows_per_warp, unroll, warps;
    bool hint;
    int split; // > 1: warps a row, each over a run of K (8 warps a block)
};
extern const hb_gemv_cfg hb_gemv1_cfgs[];
extern const int hb_gemv1_ncfgs;
static inline int hb_gemv1_chosen(int K) { return K >= 8192 ? 8 : 1; }
// The one-token and batched GEMVs request their first group of weights before they wait on the
// previous kernel (1, the default) or after (0: HB_GEMV_EARLY=0 when the backend is created).
extern int hb_gemv_early;
// One token with the weights copied on chip while the previous kernel runs (gemv1_resident_kernel,
// gemv.cu): R = ceil(N / sms) rows a block when R K 2 + K 4 bytes stay within
// GEMV_RESIDENT_MAX_SMEM (so the block fits beside a decode attention block), else 0 and the
// launcher returns false without launching. y (+)= W x.
#define GEMV_RESIDENT_MAX_SMEM (160 * 1024)
#define GEMV_RESIDENT_CHUNK (16 * 1024) // bytes a bulk copy
extern int hb_gemv_resident_chunk;          // GEMV_RESIDENT_CHUNK (a multiple of 16; the bench varies it)
int hb_cuda_gemv1_resident_rows(int N, int K, int sms);
bool hb_cuda_gemv1_resident(const void *w, const float *x, float *y, int N, int K, bool acc, int sms,
                            cudaStream_t s);
void hb_cuda_gemv1_cfg(int i, const void *w, const float *x, float *y, int N, int K, bool acc,
                       cudaStream_t s);
// The same with bf16 activations (y = W x, no accumulation): what hb_cuda_matmul_bf16in runs for
// one token whose rows have HB_GEMV1_LONG_K or more columns (down_proj), unless the context's
// one_long is off (HB_ONE_LONG=0), configuration hb_gemv1_chosen(K).
#define HB_GEMV1_LONG_K 8192
void hb_cuda_gemv1_bf16x_cfg(int i, const void *w, const __nv_bfloat16 *x, float *y, int N, int K,
                             cudaStream_t s);

// One token, bf16: y[i] = silu(gate_i . x) * (up_i . x) for the [gate; up] matrix of 2I rows:
// the SwiGLU fused into the gate/up product (a warp per pair of rows).
void hb_cuda_gemv1_swiglu(const void *w, const float *x, float *y, int I, int K, cudaStream_t s);

// cuBLASLt for the batched products, each shape's algorithm chosen once by timing the first
// HB_LT_CANDIDATES of cuBLASLt's heuristic list (the L2 flushed before each timed run by
// clearing the workspace, so the weights come from memory as in a step). Created over a
// workspace of ws_bytes (at least HB_LT_FLUSH_BYTES); nullptr where cuBLASLt is unavailable.
#define HB_LT_CANDIDATES 8
#define HB_LT_MAX_SHAPES 256 // tuned shapes kept (each prompt length is one); later ones: GemmEx
#define HB_LT_FLUSH_BYTES ((size_t)64 << 20)
struct hb_lt;
hb_lt *hb_cuda_lt_create(void *ws, size_t ws_bytes);
void hb_cuda_lt_destroy(hb_lt *lt);
size_t hb_cuda_lt_shapes(const hb_lt *lt); // shapes tuned so far

// gemv_batch.cu: y[t][r] = sum_k x[t][k] W[r][k] for n <= HB_MMV_MAX_TOKENS tokens, bf16 weights
// and activations (tensor-core MMAs, a block per 16 rows, its warps cutting K): the batched
// GEMV, bound by reading W once. hb_cuda_mmv_fits: n, N, K it takes (K a multiple of 32).
// Configurations (warps a block, groups of 32 columns a warp has in flight, 16-row tiles) compared by
// bench/cuda_kernel_bench (HB_GEMM_SWEEP); the backend runs hb_mmv_chosen.
#define HB_MMV_MAX_TOKENS 16
#define HB_MMV_DEFAULT 8 // the backend's mmv_max unless HB_MMV says otherwise
struct hb_mmv_cfg {
    int warps, unroll, row_tiles; // a block: warps x 32 threads, 16 x row_tiles rows
    int l2_hint;                  // the weight loads' L2 prefetch: 0 none, 1 128 bytes, 2 256
};
extern const hb_mmv_cfg hb_mmv_cfgs[]; // constexpr where it is defined (gemv_batch.cu)
extern const int hb_mmv_ncfgs;
bool hb_cuda_mmv_fits(int n, int N, int K);
int hb_mmv_chosen(int n, int N, int K);
void hb_cuda_mmv_cfg(int cfg, const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K,
                     cudaStream_t s);
void hb_cuda_mmv(const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K, cudaStream_t s);
// [gate; up] (2I x K) times n tokens with the SwiGLU in the epilogue, out [n][I] in bf16, bit for
// bit what the plain product in the same configuration (16 warps, 32 rows a block, one group in
// flight: the one hb_mmv_chosen picks for 2I > 4096 rows) then hb_cuda_swiglu_rows_bf16 give
bool hb_cuda_mmv_swiglu_fits(int n, int I, int K);
// The MLP's input norm folded into the batched GEMVs around it (1-8 tokens, one path):
//   o_proj (hb_cuda_mmv_resnorm, the N x K product of x_in): x[t] += W x_in[t], and instead of
//     y: xw[t][r] = bf16(x[t][r] w_r) and part[t][b] = sum over block b's 16 rows of x[t][r]^2;
//   gate/up (hb_cuda_mmv_swiglu_normed, fed xw, K = that N): g, u = (W xw[t]) / rms_t with
//     rms_t = sqrt(sum_b part[t][b] / K + eps), then the SwiGLU as hb_cuda_mmv_swiglu.
// Since (W (x w)) / rms = W (x w / rms), this is the norm kernel's product with the bf16 rounding
// taken before the 1/rms scale instead of after it. hb_mmv_norm_parts: the partial sums a token
// (o_proj's blocks), or 0 where the forms do not fit (n, N, K of o_proj; I of gate/up).
struct hb_mmv_norm {
    float *x;             // the residual [n][N], fp32
    const float *w;       // the norm's weights [N]
    __nv_bfloat16 *xw;    // bf16(x w) [n][N]
    float *part;          // the sums of squares [n][nparts], written by o_proj, read by gate/up
    int nparts;
    float eps;
};
#define HB_NORM_MAX_TOKENS 8  // one group of 8 tokens
#define HB_NORM_MAX_PARTS 256 // partial sums a token: gate/up's lanes take 8 each
int hb_mmv_norm_parts(int n, int N, int K, int I);
void hb_cuda_mmv_resnorm(const void *w, const __nv_bfloat16 *x, int n, int N, int K, const hb_mmv_norm &nm,
                         cudaStream_t s);
void hb_cuda_mmv_swiglu_normed(const void *w, const __nv_bfloat16 *xw, __nv_bfloat16 *out, int n, int I, int K,
                               const hb_mmv_norm &nm, cudaStream_t s);
void hb_cuda_mmv_swiglu(const void *w, const __nv_bfloat16 *x, __nv_bfloat16 *out, int n, int I, int K,
                        cudaStream_t s);

// gemm_ws.cu: y[t][r] = sum_k x[t][k] W[r][k] for n <= HB_WSG_MAX_TOKENS tokens, bf16 weights and
// activations, fp32 out (a block per 128 rows streaming W through a cp.async ring, tensor-core
// MMAs, K cut over a cluster of `split` blocks that sum their partial tiles in distributed
// shared memory). hb_cuda_wsgemm_fits: K a multiple of 64. hb_wsgemm_split: the split the engine
// runs for N x K on the current device (about 2 blocks an SM, at most 8), asked of the kernel it
// launches (hb_wsgemm_swiglu_split: of the SwiGLU form, for 2 I x K).
#define HB_WSG_MAX_TOKENS 64
#define HB_WSG_DEFAULT 32 // the backend's wsg_max unless HB_WSG says otherwise (above: cuBLASLt, faster at 64)
bool hb_cuda_wsgemm_fits(int n, int N, int K);
int hb_wsgemm_split(int n, int N, int K);
int hb_wsgemm_swiglu_split(int n, int I, int K);
// a given split and warps along the tokens (wn 1: 4 warps of 32 rows x all the tokens; 2: 8
// warps, each half the tokens)
struct hb_wsg_cfg {
    int split;  // blocks of a cluster cutting K
    int wn;     // warps along the tokens: 1 (4 warps) or 2 (8)
    bool early; // W's first steps requested before the wait on the previous kernel
    bool wg;    // warpgroup MMAs (wgmma; early always) where they run (hb_cuda_wsgemm_wg_runs), else mma.sync
};
// whether the warpgroup-MMA form can run on the current device: built (an sm_90a build,
// HB_WGMMA) and compute capability 9.0; the engine's form uses it where it runs unless
// hb_cuda_wsg_wg is 0 (HB_WSG_WGMMA=0, read once; tests may set it: 1 on, 0 off)
bool hb_cuda_wsgemm_wg_runs(void);
extern int hb_cuda_wsg_wg;
void hb_cuda_wsgemm_cfg(const hb_wsg_cfg &c, const void *w, const __nv_bfloat16 *x, float *y, int n, int N,
                        int K, cudaStream_t s);
void hb_cuda_wsgemm(const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K, cudaStream_t s);
// [gate; up] (2I x K) times n tokens with the SwiGLU in the epilogue: out[t][i] = silu(gate) up
// in bf16, as hb_cuda_swiglu_rows_bf16 computes it ([n][I]; out must not overlap x). Fits: the
// product fits and I is a multiple of 64.
bool hb_cuda_wsgemm_swiglu_fits(int n, int I, int K);
void hb_cuda_wsgemm_swiglu(const void *w, const __nv_bfloat16 *x, __nv_bfloat16 *out, int n, int I, int K,
                           cudaStream_t s);

// The matrix product used by the backend: the GEMV kernel for one token; for bf16 weights and
// 2 to mmv_max tokens the batched GEMV (hb_cuda_mmv, where it fits), up to wsg_max tokens the
// weight-streaming GEMM (hb_cuda_wsgemm, where it fits); else cuBLASLt (tuned
// shapes; cublasGemmEx when lt is null, or for a shape not tuned while the stream is being
// captured or once HB_LT_MAX_SHAPES are) (xb: a bf16 staging buffer of at least n x K elements).
struct hb_gemm_ctx {
    cublasHandle_t handle;
    __nv_bfloat16 *xb;
    hb_lt *lt;
    int mmv_max; // tokens up to which the batched GEMV runs (0: never)
    int wsg_max; // tokens up to which the weight-streaming GEMM runs (above mmv_max; 0: never)
    bool one_long; // one token's products with rows of HB_GEMV1_LONG_K or more by the one-token GEMV
};
cublasStatus_t hb_cuda_matmul(const hb_gemm_ctx *g, const void *w, bool bf16, const float *x,
                              float *y, int n, int N, int K, cudaStream_t s);
// y[n][N] = xb[n][K] W[N][K]^T with bf16 activations already in xb (bf16 weights): the batched
// GEMV, the weight-streaming GEMM or cuBLAS. hb_cuda_matmul_bf16in_ours: whether it runs one of
// the first two, which need no cuBLAS workspace and no scratch in global memory.
cublasStatus_t hb_cuda_matmul_bf16in(const hb_gemm_ctx *g, const void *w, const __nv_bfloat16 *xb,
                                     float *y, int n, int N, int K, cudaStream_t s);
bool hb_cuda_matmul_bf16in_ours(const hb_gemm_ctx *g, int n, int N, int K);

// RoPE: rotates q and k of each token at its position (half-split layout; (cos, sin) from the
// table rope, [max_seq][head_dim / 2]) and stores k, v in the slot's cache (bf16 entries when
// kv_bf16, else fp32). Token i's q is at q + i q_stride, its k and v at k, v + i kv_stride (one
// q/k/v product's rows, or three arrays). A thread per 4 dimensions, every load before any store,
// where head_dim is a multiple of 8 and the rows are 16-byte aligned (else, or with
// hb_cuda_rope_vec 0, a test hook, a loop over the token's rows).
extern int hb_cuda_rope_vec;
void hb_cuda_rope_kv(float *q, float *k, const float *v, int q_stride, int kv_stride,
                     const dev_token *tok, int n, const float2 *rope, int heads, int kv_heads,
                     int head_dim, void *kcache, void *vcache, bool kv_bf16, int max_batch,
                     int max_seq, int layer, cudaStream_t s);

// Grouped-query attention of each token over positions 0..pos of its slot (cache entries bf16
// when kv_bf16, else fp32). With splits > 1 the positions are cut into that many runs, each
// written to split_part ((head_dim + 2) floats a run: the value sum, the score maximum, the
// exp-sum) and then combined into out.
#define ATT_MIN_RUN 32    // no run shorter than this many positions
#define ATT_MAX_SPLITS 16 // no more runs than this
// How many runs for n tokens: enough for about one block an SM when n x heads is fewer blocks
// than the GPU has SMs, 2 when it is fewer than twice as many, else 1; part_runs is how many
// runs split_part holds (4 x SMs is always enough).
int hb_cuda_attention_splits(int n, int heads, int max_pos, int sms, int part_runs);
// Two kernels: one block per (token, query head), or the grouped kernel, one block per (token,
// KV head) for the query heads sharing it (each K/V row read once); the grouped one runs when it
// can (head_dim <= 128, a multiple of 8; its scores fit 48 KiB) and tokens x heads are at least
// ATT_GROUP_MIN_BLOCKS x SMs blocks, or when HB_ATT_KERNEL=group|head says so.
#define ATT_MAX_GROUP 4
#define ATT_GROUP_MIN_BLOCKS 4
// HB_ATT_KERNEL=head|group: every pass runs the RoPE kernel and that attention kernel (neither
// the fused decode kernel nor the tiled one), for measurements and tests.
bool hb_cuda_att_kernel_forced(void);
bool hb_cuda_attention_grouped(int n, int heads, int kv_heads, int head_dim, int max_pos,
                               int splits, int sms);
// Outputs to out, or in bf16 to out_b when it is given.
void hb_cuda_attention(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                       const void *vcache, bool kv_bf16, float *out, __nv_bfloat16 *out_b,
                       float *split_part,
                       int splits, int heads, int kv_heads, int head_dim, int max_batch,
                       int max_seq, int layer, int max_pos, int sms, cudaStream_t s);

// attention_decode.cu: a decode step's RoPE, KV-cache write and attention in one kernel, for
// batches where each token is its slot's only one. Token i's q/k/v (before RoPE) are at q, k, v +
// i q_stride / kv_stride; rope holds (cos, sin) of every position and frequency ([max_seq][d/2]).
// With splits > 1 each (token, KV head) is cut into that many runs of its positions, written to
// part ((head_dim + 2) floats a (token, query head, run)) and added by the last block of the
// (token, KV head) to finish, which count (n x kv_heads zeros, left at zero) tells. The CUDA-core
// form, when its blocks fit one an SM, instead runs as clusters of a (token, KV head)'s runs (at
// most DEC_CLUSTER_RUNS, and cut to fit one block an SM where that leaves at least
// DEC_CLUSTER_MIN_CUT: splits is cut to that), whose first block adds the runs the others store
// into its shared memory
// (hb_cuda_dec_cluster 1, the default, or 0: never; -1 reads HB_DEC_CLUSTER=0|1 once).
// pf: any pass (a prompt's tokens) after the RoPE kernel (hb_cuda_rope_kv) has rotated q in
// place and written every token's cache row; the kernel then only attends (k and v unused).
#define DEC_MAX_SPLITS 32   // runs a (token, KV head) at most (a warp's lanes)
#define DEC_UNROLL 4        // K and V rows a lane has in flight
#define DEC_BLOCKS_PER_SM 2 // splits keep the blocks within this many an SM (the kernel's occupancy)
#define DEC_POLICY_SPLITS 16 // and make at most this many runs
#define DEC_CLUSTER_RUNS 8   // runs a cluster at most (the portable cluster size)
#define DEC_CLUSTER_MIN_CUT 4 // runs cut to fit one block an SM: no fewer than this
extern int hb_cuda_dec_cluster;
// The runs of a (token, KV head) the CUDA-core form adds as one cluster for these n tokens and
// splits; 1: none (the counter)
int hb_cuda_decode_cluster_runs(int n, int kv_heads, int splits);
// Whether the kernel handles these shapes (head_dim 8..128, a power of two; G <= ATT_MAX_GROUP)
// and HB_ATT_KERNEL does not ask for the separate-RoPE path.
bool hb_cuda_decode_fusable(int heads, int kv_heads, int head_dim);
// Whether the tensor-core form runs for n tokens (head_dim 128, bf16 entries, at least
// DEC_MMA_MIN_TOKENS tokens; q and the probabilities rounded to bf16 for the MMAs):
// hb_cuda_dec_mma 1 (the default) or 0 (never); -1 reads HB_DEC_MMA=0|1 once.
#define DEC_MMA_MIN_TOKENS 8
extern int hb_cuda_dec_mma;
extern int hb_cuda_dec_mma_min; // DEC_MMA_MIN_TOKENS (the tests lower it)
bool hb_cuda_decode_mma(int n, int heads, int kv_heads, int head_dim, bool kv_bf16);
int hb_cuda_decode_splits(int n, int heads, int kv_heads, int max_pos, int sms, int part_runs);
void hb_cuda_attention_decode(const float *q, const float *k, const float *v, int q_stride,
                              int kv_stride, const dev_token *tok, int n, const float2 *rope,
                              void *kcache, void *vcache, bool kv_bf16, float *out,
                              __nv_bfloat16 *out_b, float *part, unsigned *count, int splits,
                              int heads, int kv_heads, int head_dim, int max_batch, int max_seq,
                              int layer, bool pf, cudaStream_t s);

// attention_prefill.cu: attention of any batch (a prompt's tokens) after the RoPE kernel, tiled:
// a block for 16 consecutive tokens of the batch and one KV head, the slot's cached rows staged
// in shared memory 64 at a time and shared by the 16 tokens (runs of tokens of one slot in
// turn). For head_dim 16, 32, 64 or 128 and G <= 4 (hb_cuda_prefill_tiled, which is false when
// HB_ATT_KERNEL asks for the untiled kernels).
#define HB_PF_TILE 16 // tokens a tile
bool hb_cuda_prefill_tiled(int heads, int kv_heads, int head_dim);
void hb_cuda_attention_prefill(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                               const void *vcache, bool kv_bf16, float *out, __nv_bfloat16 *out_b,
                               int heads, int kv_heads, int head_dim, int max_batch, int max_seq,
                               int layer, cudaStream_t s);

// The tensor-core form of the same pass (attention_prefill.cu): head_dim 128, bf16 entries,
// G <= 4; 16 tokens of one query head the A rows of each warp's MMAs, the positions cut over
// the block's warps (q and the probabilities rounded to bf16 for the MMAs). hb_cuda_pf_mma: 1
// (the default) or 0 (never); -1 reads HB_PF_MMA=0|1 once.
extern int hb_cuda_pf_mma;
bool hb_cuda_prefill_mma(int heads, int kv_heads, int head_dim, bool kv_bf16);
void hb_cuda_attention_prefill_mma(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                                   const void *vcache, float *out, __nv_bfloat16 *out_b, int heads, int kv_heads,
                                   int max_batch, int max_seq, int layer, cudaStream_t s);

// sample.cu: the audio codes of nrows head-output rows (8 codebooks of n entries each), drawn by
// picks (8 a row) as hb_pick_sample does; out gets 16 int32 a row (codes, then the first
// non-finite entry of each codebook or -1). n at most HB_DEVICE_DRAW_MAX_ROWS; sms: the
// device's streaming multiprocessors (draws of no more blocks than that run wider blocks).
void hb_cuda_draw_codes(const float *logits, int nrows, int n, const hb_pick *picks, int bos,
                        int eos, int codebook_size, int32_t *out, int sms, cudaStream_t s);
// The audio draws so far (this process) whose top-k / top-p cut needed the full sort (a bucket of
// too many equal or near-equal head outputs; the kernel tests check both forms run).
unsigned long long hb_cuda_draw_fallbacks(void);

// sample.cu, text rows: the token of each of nrows text-head rows (V entries), drawn by picks
// (one a row) as hb_text_pick_sample does; out gets 2 int32 a row (the token, the first
// non-finite entry or -1). The scratch holds max rows x V key/index pairs twice (the first keys
// also serve as the rows' probabilities after the sort), the rows' state and cub's workspace.
struct hb_text_scratch {
    unsigned long long *keys, *sorted;
    int *vals, *sorted_vals;
    void *rows;       // max rows of (float, int, int)
    void *sort_tmp;
    size_t sort_bytes;
};
#define HB_TEXT_ROW_BYTES 12
size_t hb_cuda_text_sort_bytes(int rows, int V);
cudaError_t hb_cuda_draw_text(const float *logits, int nrows, int V, const hb_text_pick *picks,
                              hb_text_scratch *sc, int32_t *out, cudaStream_t s);

// elementwise.cu
void hb_cuda_add(float *x, const float *y, size_t n, cudaStream_t s);
void hb_cuda_scatter_add(float *x, const int32_t *idx, const float *rows, int n, int hidden,
                         cudaStream_t s);
void hb_cuda_swiglu(const float *g, const float *u, float *out, size_t n, cudaStream_t s);
// rows of [gate | up] (2I floats a row) -> rows of silu(gate) * up in bf16 (a cuBLAS input)
void hb_cuda_swiglu_rows_bf16(const float *gu, __nv_bfloat16 *out, int rows, int I, cudaStream_t s);

#endif
