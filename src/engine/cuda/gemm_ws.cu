// gemm_ws.cu - the matrix product of a batch's tokens (up to HB_WSG_MAX_TOKENS), bf16 weights and
// activations, fp32 output: y[t][r] = sum_k x[t][k] W[r][k].
//
// At 9 to 64 tokens the product is still bound by reading W once (9 to 64 flops a weight byte),
// so the kernel is built around streaming W, where cuBLASLt measured 2.0 to 3.5 TB/s on the H200:
//   - a block owns WS_BN (128) rows of W and every token, and cuts K into WS_BK (64)-column steps;
//     a ring of WS_STAGES (4) steps of W and x tiles is filled by cp.async (16 bytes a thread,
//     the 256-byte L2 prefetch), so three steps of loads stay in flight while one is multiplied;
//     W's first steps are requested before the wait on the previous kernel (PDL), x's after;
//   - the tiles sit in shared memory in 128-byte rows with their 16-byte pieces swizzled (piece
//     c of row r at c ^ (r % 8)), so each ldmatrix of 8 rows touches every bank once;
//   - 4 warps (or 8, WN 2), each 32 rows of W (two m16 A fragments) against its tokens (n8 B
//     fragments from ldmatrix.x4): m16n8k16 MMAs, bf16 in, fp32 accumulate;
//   - few rows leave few blocks (o_proj: 24 tiles of 128 rows for 132 SMs), so a tile's K is
//     cut between the S blocks of a thread-block cluster: the largest S up to 8 whose clusters
//     all fit the GPU at once (cudaOccupancyMaxActiveClusters; one cluster more than fit runs as
//     a second wave and doubles the time). Each block leaves its partial tile in its shared
//     memory and, after a cluster barrier, sums a share of the tile over the S blocks' memories
//     (distributed shared memory, always in rank order: the same result every run) and writes
//     it to y, coalesced.
// The backend runs it for 9 to 32 tokens (HB_WSG_DEFAULT): there it beat cuBLASLt in the step
// (batch 16 2.48 -> 2.39 ms, batch 32 2.77 -> 2.69 ms on the H200); at 64 tokens cuBLASLt was
// faster (q/k/v 14.0 against 11.6 us chained with mma.sync), so larger batches stay with cuBLASLt.
// For gate/up the SwiGLU can run in the epilogue (SWIGLU: a tile is 64 gate rows and the same 64
// up rows, and the block writes silu(gate) up in bf16 for down_proj), which saves the SwiGLU
// kernel: batch 16 2.388 -> 2.311 ms, batch 32 2.692 -> 2.616 ms on the H200; at 33-64 tokens
// it edges out cuBLASLt and the SwiGLU kernel (batch 64 3.380 / 3.386 -> 3.365 / 3.342 ms), so the
// backend fuses gate/up up to 64 tokens (HB_WSG_SWIGLU).
// Where built for sm_90a and run on a compute capability 9.0 GPU, the engine's form multiplies
// with warpgroup MMAs instead (WG: wgmma.m64nTNk16 reading both tiles from the same swizzled ring
// through shared-memory descriptors, one warpgroup for the tile's two 64-row halves, each step's
// MMAs waited for before the next barrier, so the ring's reuse is unchanged; HB_WSG_WGMMA=0: the
// mma.sync form). On the H200, chained launches at 64 tokens: gate/up 31.0 -> 30.1 us, q/k/v
// 13.9 -> 12.7, o_proj 10.7 -> 10.0, down_proj 19.5 -> 18.7 (cuBLASLt 11.6 / 9.4 / 18.5, so q/k/v
// and o_proj at 33-64 tokens stay with it; down_proj there runs this kernel, HB_WSG_DOWN, since
// in the step, with W's first steps before the wait, it took batches 33-64 0.7-1.8 % shorter);
// at 32 tokens 0.1-0.4 us a launch. In the engine the
// batch-16 / 32 / 64 steps went 2.310 / 2.588 / 3.257-3.280 -> 2.290 / 2.566 / 3.227-3.236 ms.
// The loads, not the MMAs, bound the kernel at 64 tokens.
#include <cooperative_groups.h>

#include <algorithm>
#include <atomic>

#include "cuda_kernels.cuh"

namespace cg = cooperative_groups;

constexpr int WS_BN = 128, WS_BK = 64, WS_STAGES = 4, WS_WARPS_M = 4, WS_MAX_SPLIT = 8;

__device__ __forceinline__ void ldsm4(uint32_t addr, unsigned (&r)[4])
{
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

// Warpgroup MMAs (wgmma, sm_90a only: HB_WGMMA builds; elsewhere the kernel's WG form is never
// launched). A and B are read from shared memory through descriptors of the ring's layout: rows
// of 128 bytes whose 16-byte pieces are swizzled by row % 8 (the hardware's 128-byte swizzle,
// tiles 1024-byte aligned), 8-row groups 1024 bytes apart; a 16-column step of K moves the start
// 32 bytes along the row.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define WS_HAVE_WG 1
#else
#define WS_HAVE_WG 0
#endif
__device__ __forceinline__ uint64_t wg_desc(uint32_t addr)
{
    return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)1 << 16 | (uint64_t)(1024 >> 4) << 32 | (uint64_t)1 << 62;
}
__device__ __forceinline__ void wg_fence()
{
#if WS_HAVE_WG
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wg_commit_wait()
{
#if WS_HAVE_WG
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
#endif
}
// cp.async's writes (generic proxy) made visible to the wgmma reads (async proxy)
__device__ __forceinline__ void fence_proxy_async()
{
#if WS_HAVE_WG
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}
// d (64 rows of W x TN tokens, fp32; per thread d[4 j + c]: row 16 warp + lane / 4 (+ 8 for c >= 2),
// token 8 j + 2 (lane % 4) + c % 2) += A (64 x 16, desc a) B^T (TN x 16, desc b)
template <int TN> __device__ __forceinline__ void wg_mma(float *d, uint64_t a, uint64_t b);
template <> __device__ __forceinline__ void wg_mma<64>(float *d, uint64_t a, uint64_t b)
{
#if WS_HAVE_WG
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
                 "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31}, "
                 "%32, %33, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
                   "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
                   "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
                 : "l"(a), "l"(b), "r"(1));
#endif
}
template <> __device__ __forceinline__ void wg_mma<32>(float *d, uint64_t a, uint64_t b)
{
#if WS_HAVE_WG
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
                 "wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16 "
                 "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, "
                 "%16, %17, p, 1, 1, 0, 0;\n}\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
                   "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
                 : "l"(a), "l"(b), "r"(1));
#endif
}

// The S blocks' 16 bytes at float offset off of their partial tiles (red, in each block's shared
// memory): every block's requested before any is added (remote reads are slow one at a time),
// then added in rank order, so every run gives the same sum.
__device__ __forceinline__ float4 rank_sum(const cg::cluster_group &cl, float *red, int off, int S)
{
    float4 v[WS_MAX_SPLIT];
#pragma unroll
    for (int s = 0; s < WS_MAX_SPLIT; s++)
        if (s < S) v[s] = *(const float4 *)(cl.map_shared_rank(red, s) + off);
    float4 a = v[0];
#pragma unroll
    for (int s = 1; s < WS_MAX_SPLIT; s++)
        if (s < S) a.x += v[s].x, a.y += v[s].y, a.z += v[s].z, a.w += v[s].w;
    return a;
}

// TN: the token tile (32 or 64; tokens past n are zeros and never stored); WN: warps along the
// tokens (4 WN warps: warp w takes rows 32 (w % 4) .. + 31 and tokens TN / WN (w / 4) .. + TN / WN - 1);
// WG: warpgroup MMAs, WN warpgroups (WN 1: the tile's 128 rows; 2: warpgroup w / 4 its rows
// 64 (w / 4) .. + 63), every token; warp w % 4 of a warpgroup holds 16 of its rows.
// SWIGLU: W is [gate; up] (N = 2I rows); tile b holds gate rows 64 b .. + 63 and the same up rows,
// and the block writes yb[t][64 b + i] = silu(gate) up in bf16 ([n][I]) instead of y.
template <int TN, int WN, bool EARLY, bool SWIGLU, bool WG>
__global__ void __launch_bounds__(WS_WARPS_M * 32 * WN, 2)
    wsgemm_kernel(const __nv_bfloat16 *__restrict__ w, const __nv_bfloat16 *__restrict__ x,
                  float *__restrict__ y, __nv_bfloat16 *__restrict__ yb, int N, int K, int n)
{
    constexpr int T = WS_WARPS_M * 32 * WN, ROWS = T / 8; /* threads; tile rows one load covers */
    constexpr int WB = WS_BN * WS_BK * 2, SB = WB + TN * WS_BK * 2, WT = TN / WN, NJ = WG ? TN / 8 : WT / 8,
                  MI = WG && WN == 2 ? 1 : 2, RS = WS_BN + 4, LW = WS_BN / ROWS, LX = (TN + ROWS - 1) / ROWS;
    static_assert(TN * RS * 4 <= WS_STAGES * SB, "the partial tile fits the ring it replaces");
    static_assert(WT % 16 == 0 && WS_BN % ROWS == 0, "whole ldmatrix token pairs; whole load rounds");
    extern __shared__ __align__(128) unsigned char smem_raw[];
    /* WG: the ring 1024-byte aligned (the swizzle's period; smem_of gives the room) */
    unsigned char *smem = smem_raw;
    if (WG) smem += (1024 - ((uint32_t)__cvta_generic_to_shared(smem_raw) & 1023)) & 1023;
    cg::cluster_group cl = cg::this_cluster();
    const int S = (int)cl.num_blocks(), rank = (int)cl.block_rank();
    const int row0 = (int)(blockIdx.x / S) * WS_BN, iters = K / WS_BK;
    const int HB = WS_BN / 2, c0 = (int)(blockIdx.x / S) * HB, I = N / 2; /* SWIGLU's columns */
    const int it0 = rank * iters / S, nit = (rank + 1) * iters / S - it0;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, wm = warp % WS_WARPS_M, wn = warp / WS_WARPS_M;
    const uint32_t sb = (uint32_t)__cvta_generic_to_shared(smem);
    /* loads: thread tid copies piece tid % 8 of tile rows tid / 8 + ROWS j; (tid / 8 + ROWS j) % 8
     * is the same for every j, so one swizzled offset */
    const int lr = tid >> 3, lc = tid & 7;
    const uint32_t soff = lr * 128 + ((lc ^ (lr & 7)) << 4);
    const __nv_bfloat16 *wsrc[LW], *xsrc[LX];
    unsigned wok = 0, xok = 0;
#pragma unroll
    for (int j = 0; j < LW; j++) {
        const int tr = lr + ROWS * j, r = SWIGLU ? (tr < HB ? c0 + tr : I + c0 + tr - HB) : row0 + tr;
        wsrc[j] = w + (size_t)min(r, N - 1) * K + (size_t)it0 * WS_BK + lc * 8;
        wok |= (r < N ? 1u : 0u) << j;
    }
#pragma unroll
    for (int j = 0; j < LX; j++) {
        const int t = lr + ROWS * j;
        xsrc[j] = x + (size_t)min(t, n - 1) * K + (size_t)it0 * WS_BK + lc * 8;
        xok |= (t < n ? 1u : 0u) << j;
    }
    auto load_w = [&](int stage, int i) { /* step it0 + i of W into ring slot stage */
        const uint32_t d = sb + stage * SB + soff;
        const int k = i * WS_BK;
#pragma unroll
        for (int j = 0; j < LW; j++) cp_async16(d + j * ROWS * 128, wsrc[j] + k, wok >> j & 1);
    };
    auto load_x = [&](int stage, int i) {
        const uint32_t d = sb + stage * SB + WB + soff;
        const int k = i * WS_BK;
#pragma unroll
        for (int j = 0; j < LX; j++)
            if (lr + ROWS * j < TN) cp_async16(d + j * ROWS * 128, xsrc[j] + k, xok >> j & 1);
    };
    float acc[MI][NJ][4];
#pragma unroll
    for (int mi = 0; mi < MI; mi++)
#pragma unroll
        for (int j = 0; j < NJ; j++) acc[mi][j][0] = acc[mi][j][1] = acc[mi][j][2] = acc[mi][j][3] = 0.f;
    if (EARLY) { /* W does not depend on the previous kernel: its first steps before the wait */
#pragma unroll
        for (int s = 0; s < WS_STAGES - 1; s++) {
            if (s < nit) load_w(s, s);
            cp_commit();
        }
    }
    pdl_enter(); /* x is the previous kernel's output */
#pragma unroll
    for (int s = 0; s < WS_STAGES - 1; s++) {
        if (s < nit) {
            if (!EARLY) load_w(s, s);
            load_x(s, s);
        }
        cp_commit(); /* empty groups too: the wait below counts groups (EARLY: step i's x is
                      * still the group WS_STAGES - 2 before the newest, as without) */
    }
    /* step i of the ring: once it has landed for every thread (WG: made visible to the warpgroup
     * MMAs too) and step i - 1's slot is free (its MMAs done), step i + WS_STAGES - 1 requested
     * into that slot; step i's slot address */
    auto ring_step = [&](int i) {
        cp_wait<WS_STAGES - 2>(); /* step i has landed (for this thread) */
        if (WG) fence_proxy_async();
        __syncthreads(); /* for every thread; and step i - 1's slot is free */
        if (i + WS_STAGES - 1 < nit) {
            load_w((i + WS_STAGES - 1) % WS_STAGES, i + WS_STAGES - 1);
            load_x((i + WS_STAGES - 1) % WS_STAGES, i + WS_STAGES - 1);
        }
        cp_commit();
        return sb + (uint32_t)((i % WS_STAGES) * SB);
    };
    if constexpr (WG) { /* warpgroup wn's 64 rows (WN 2), or both 64-row halves (WN 1) */
        if (!WS_HAVE_WG) __trap(); /* not built for sm_90a: never launched (hb_cuda_wsgemm_wg_runs) */
        for (int i = 0; i < nit; i++) {
            const uint32_t base = ring_step(i); /* step i - 1's MMAs were waited for below */
            wg_fence();
#pragma unroll
            for (int kk = 0; kk < WS_BK / 16; kk++)
#pragma unroll
                for (int mi = 0; mi < MI; mi++)
                    wg_mma<TN>(&acc[mi][0][0], wg_desc(base + (WN == 2 ? wn : mi) * 64 * 128 + kk * 32),
                               wg_desc(base + WB + kk * 32));
            wg_commit_wait();
        }
    } else {
        /* ldmatrix rows: A (W) lanes 0-15 rows 0-15 at k 0-7, lanes 16-31 the same rows at k 8-15
         * (a0..a3); B (x) lanes 0-7 tokens 0-7 k 0-7, 8-15 the same at k 8-15, 16-31 tokens 8-15 */
        const int ar = wm * 32 + (lane & 15), ach = lane >> 4;
        const int br = wn * WT + (lane & 7) + ((lane >> 4) << 3), bch = (lane >> 3) & 1;
        for (int i = 0; i < nit; i++) {
            const uint32_t base = ring_step(i);
#pragma unroll
            for (int kk = 0; kk < WS_BK / 16; kk++) {
                unsigned a[2][4];
#pragma unroll
                for (int mi = 0; mi < 2; mi++) {
                    const int r = ar + 16 * mi;
                    ldsm4(base + r * 128 + (((2 * kk + ach) ^ (r & 7)) << 4), a[mi]);
                }
#pragma unroll
                for (int nb = 0; nb < WT / 16; nb++) {
                    unsigned b[4];
                    const int r = br + 16 * nb;
                    ldsm4(base + WB + r * 128 + (((2 * kk + bch) ^ (r & 7)) << 4), b);
#pragma unroll
                    for (int mi = 0; mi < 2; mi++) {
                        mma16816(acc[mi][2 * nb], a[mi][0], a[mi][1], a[mi][2], a[mi][3], b[0], b[1]);
                        mma16816(acc[mi][2 * nb + 1], a[mi][0], a[mi][1], a[mi][2], a[mi][3], b[2], b[3]);
                    }
                }
            }
        }
    }
    cp_wait<0>();
    __syncthreads(); /* the ring is free: the partial tile [TN][RS] goes where it was */
    float *red = (float *)smem;
    const int g = lane >> 2, q = lane & 3;
#pragma unroll
    for (int mi = 0; mi < MI; mi++)
#pragma unroll
        for (int j = 0; j < NJ; j++) { /* c0, c1: row g, tokens 2q, 2q + 1; c2, c3: row g + 8 */
            const int r = WG ? (WN == 2 ? wn : mi) * 64 + wm * 16 + g : wm * 32 + mi * 16 + g,
                      t = WG ? j * 8 + 2 * q : wn * WT + j * 8 + 2 * q;
            red[t * RS + r] = acc[mi][j][0];
            red[(t + 1) * RS + r] = acc[mi][j][1];
            red[t * RS + r + 8] = acc[mi][j][2];
            red[(t + 1) * RS + r + 8] = acc[mi][j][3];
        }
    cl.sync(); /* every block's partial tile is in place */
    /* this block's share of the tile, 4 columns a thread, summed over the blocks (rank_sum) */
    if constexpr (SWIGLU) { /* gate and up of 4 columns, then 4 bf16 (I a multiple of 64) */
        for (int e = rank * T + tid; e < n * (HB / 4); e += S * T) {
            const int t = e / (HB / 4), c = 4 * (e % (HB / 4));
            const float4 a = rank_sum(cl, red, t * RS + c, S), b = rank_sum(cl, red, t * RS + HB + c, S);
            __nv_bfloat162 *o = (__nv_bfloat162 *)(yb + (size_t)t * I + c0 + c);
            o[0] = __floats2bfloat162_rn(hb_swiglu(a.x, b.x), hb_swiglu(a.y, b.y));
            o[1] = __floats2bfloat162_rn(hb_swiglu(a.z, b.z), hb_swiglu(a.w, b.w));
        }
    } else {
        const bool vec = (N & 3) == 0 && ((uintptr_t)y & 15) == 0; /* float4 stores line up */
        for (int e = rank * T + tid; e < n * (WS_BN / 4); e += S * T) {
            const int t = e / (WS_BN / 4), c = 4 * (e % (WS_BN / 4)), r = row0 + c;
            if (r >= N) continue;
            const float4 sum = rank_sum(cl, red, t * RS + c, S);
            float *dst = y + (size_t)t * N + r;
            if (vec && r + 3 < N) {
                *(float4 *)dst = sum;
            } else {
                const float f[4] = {sum.x, sum.y, sum.z, sum.w};
                for (int k = 0; k < 4 && r + k < N; k++) dst[k] = f[k];
            }
        }
    }
    cl.sync(); /* no block leaves while another still reads its memory */
}

bool hb_cuda_wsgemm_fits(int n, int N, int K)
{
    return n >= 1 && n <= HB_WSG_MAX_TOKENS && N >= 1 && K >= WS_BK && K % WS_BK == 0;
}

template <int TN, bool WG = false> static constexpr int smem_of()
{
    return WS_STAGES * (WS_BN * WS_BK * 2 + TN * WS_BK * 2) + (WG ? 1024 : 0); /* WG: room to align */
}

/* The kernel for TN, WN, EARLY, SWIGLU, WG on the current device, allowed its shared memory (once a device) */
template <int TN, int WN, bool EARLY, bool SWIGLU = false, bool WG = false>
static auto kernel_ready() -> decltype(&wsgemm_kernel<TN, WN, EARLY, SWIGLU, WG>)
{
    static std::atomic<unsigned long long> ready;
    hb_allow_smem(ready, wsgemm_kernel<TN, WN, EARLY, SWIGLU, WG>, smem_of<TN, WG>());
    return wsgemm_kernel<TN, WN, EARLY, SWIGLU, WG>;
}

template <int TN, int WN, bool EARLY, bool SWIGLU = false, bool WG = false>
static void launch(const __nv_bfloat16 *w, const __nv_bfloat16 *x, float *y, __nv_bfloat16 *yb, int n, int N,
                   int K, int split, cudaStream_t s)
{
    const int tiles = (N + WS_BN - 1) / WS_BN;
    hb_launch_cluster(kernel_ready<TN, WN, EARLY, SWIGLU, WG>(), tiles * split, WS_WARPS_M * 32 * WN,
                      smem_of<TN, WG>(), s, split, w, x, y, yb, N, K, n);
}

int hb_cuda_wsg_wg = -1;

bool hb_cuda_wsgemm_wg_runs(void)
{
#ifndef HB_WGMMA
    return false; /* not built for sm_90a */
#else
    static std::atomic<int> known[HB_DEVICE_CACHE];
    return hb_device_once(known, [](int dev) {
               int major = 0, minor = 0;
               cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev);
               cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, dev);
               return major == 9 && minor == 0 ? 1 : 0;
           }) == 1;
#endif
}

/* Whether the engine's form runs warpgroup MMAs: where they run, unless HB_WSG_WGMMA=0 */
static bool engine_wg() { return hb_env_on(hb_cuda_wsg_wg, "HB_WSG_WGMMA") && hb_cuda_wsgemm_wg_runs(); }

/* The engine's form: 4 warps, W's first steps before the PDL wait (measured best at 32 tokens) */
constexpr int WS_WN = 1;
constexpr bool WS_EARLY = true;

/* How many clusters of `split` blocks of the engine's kernel for TN (the SwiGLU form or the plain
 * one, warpgroup MMAs or mma.sync) fit the current device at once (cluster placement leaves some
 * SMs' room unused: 6-block clusters fit 39 on the H200, not 44); asked once a device */
template <int TN, bool SWIGLU, bool WG> static int max_clusters(int split)
{
    static std::atomic<int> known[WS_MAX_SPLIT + 1][HB_DEVICE_CACHE];
    return hb_device_once(known[split], [split](int) {
        cudaLaunchConfig_t cfg = {};
        cfg.gridDim = dim3(split * 64);
        cfg.blockDim = dim3(WS_WARPS_M * 32 * WS_WN);
        cfg.dynamicSmemBytes = smem_of<TN, WG>();
        cudaLaunchAttribute at;
        at.id = cudaLaunchAttributeClusterDimension;
        at.val.clusterDim.x = (unsigned)split, at.val.clusterDim.y = 1, at.val.clusterDim.z = 1;
        cfg.attrs = &at;
        cfg.numAttrs = 1;
        int c = 0;
        if (cudaOccupancyMaxActiveClusters(&c, (const void *)kernel_ready<TN, WS_WN, WS_EARLY, SWIGLU, WG>(),
                                           &cfg) != cudaSuccess) {
            cudaGetLastError();
            c = -1; /* unknown: only unsplit tiles are sure to fit */
        }
        return c;
    });
}

/* the largest split whose clusters of the kernel the engine launches for n tokens all run at once
 * (more would leave a second wave of a few clusters), with at least 4 steps a block */
template <bool SWIGLU> static int engine_split(int n, int N, int K)
{
    const int tiles = (N + WS_BN - 1) / WS_BN, iters = K / WS_BK;
    const bool wg = engine_wg();
    auto fit = [&](int s) {
        if (n <= 32) return wg ? max_clusters<32, SWIGLU, true>(s) : max_clusters<32, SWIGLU, false>(s);
        return wg ? max_clusters<64, SWIGLU, true>(s) : max_clusters<64, SWIGLU, false>(s);
    };
    for (int s = std::min(WS_MAX_SPLIT, iters / 4); s > 1; s--)
        if (fit(s) >= tiles) return s;
    return 1;
}

int hb_wsgemm_split(int n, int N, int K) { return engine_split<false>(n, N, K); }

int hb_wsgemm_swiglu_split(int n, int I, int K) { return engine_split<true>(n, 2 * I, K); }

template <int TN>
static void launch_tn(const hb_wsg_cfg &c, const __nv_bfloat16 *w, const __nv_bfloat16 *x, float *y, int n,
                      int N, int K, cudaStream_t s)
{
    if (c.wg && hb_cuda_wsgemm_wg_runs()) { /* else the mma.sync form */
        if (c.wn == 2) launch<TN, 2, true, false, true>(w, x, y, nullptr, n, N, K, c.split, s);
        else launch<TN, 1, true, false, true>(w, x, y, nullptr, n, N, K, c.split, s);
        return;
    }
    switch ((c.wn == 2) * 2 + (c.early ? 1 : 0)) {
    case 0: launch<TN, 1, false>(w, x, y, nullptr, n, N, K, c.split, s); break;
    case 1: launch<TN, 1, true>(w, x, y, nullptr, n, N, K, c.split, s); break;
    case 2: launch<TN, 2, false>(w, x, y, nullptr, n, N, K, c.split, s); break;
    default: launch<TN, 2, true>(w, x, y, nullptr, n, N, K, c.split, s); break;
    }
}

void hb_cuda_wsgemm_cfg(const hb_wsg_cfg &c, const void *w, const __nv_bfloat16 *x, float *y, int n, int N,
                        int K, cudaStream_t s)
{
    const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
    if (n <= 32) launch_tn<32>(c, wb, x, y, n, N, K, s);
    else launch_tn<64>(c, wb, x, y, n, N, K, s);
}

void hb_cuda_wsgemm(const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K, cudaStream_t s)
{
    hb_cuda_wsgemm_cfg(hb_wsg_cfg{hb_wsgemm_split(n, N, K), WS_WN, WS_EARLY, engine_wg()}, w, x, y, n, N, K, s);
}

bool hb_cuda_wsgemm_swiglu_fits(int n, int I, int K)
{
    return I >= 1 && I % (WS_BN / 2) == 0 && hb_cuda_wsgemm_fits(n, 2 * I, K);
}

void hb_cuda_wsgemm_swiglu(const void *w, const __nv_bfloat16 *x, __nv_bfloat16 *out, int n, int I, int K,
                           cudaStream_t s)
{
    const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
    const int split = hb_wsgemm_swiglu_split(n, I, K);
    auto go = [&](auto wg) {
        constexpr bool WG = decltype(wg)::value;
        if (n <= 32) launch<32, WS_WN, WS_EARLY, true, WG>(wb, x, nullptr, out, n, 2 * I, K, split, s);
        else launch<64, WS_WN, WS_EARLY, true, WG>(wb, x, nullptr, out, n, 2 * I, K, split, s);
    };
    if (engine_wg()) go(std::true_type());
    else go(std::false_type());
}
