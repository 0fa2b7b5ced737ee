// gemv_batch.cu - the matrix product of a few tokens (1 to HB_MMV_MAX_TOKENS), bf16 weights and
// bf16 activations, fp32 output (at 32 tokens it measured at half cuBLASLt's speed, so 16 is the
// limit):  y[t][r] = sum_k x[t][k] W[r][k].
//
// Like the one-token GEMV this is bound by reading W once, so the kernel is built around the
// weight stream and lets the tensor cores do the arithmetic, which is then almost free:
//   - a block owns 16 RT rows of W; its warps cut K between them (warp w takes every W-th group
//     of U x 32 columns), so even N = 3072 gives 96-192 blocks of 4-16 warps in flight;
//   - per 32 columns a lane (g = lane / 4, q = lane % 4) loads 16 bytes of row g and of row g + 8
//     at column q * 8, and 16 bytes of token g's activations at the same column: with the k axis
//     of an m16n8k16 MMA permuted (slots 2q, 2q+1, 2q+8, 2q+9 of the first MMA are columns
//     q*8 + 0..3, of the second q*8 + 4..7; a sum over k does not care about the order) those
//     registers are the A (W rows) and B (x columns) fragments as loaded, no shuffles;
//   - NB groups of 8 tokens reuse each A fragment (16 tokens: two MMAs per fragment), and the RT
//     16-row tiles of a warp reuse each B fragment;
//   - the warps' 16 x 8 NB partial sums meet in shared memory; threads then write y.
// Weights are streamed past L1 (no allocation, L2 prefetch hint), a warp's first group requested
// before the wait on the previous kernel (hb_gemv_early); the activations are tiny and every block
// reads them, so they come through L1/L2.
// The SwiGLU form (gate/up of the MLP, W = [gate; up], 2I rows): a block's two 16-row tiles are
// gate rows r0..r0+15 and up rows I+r0..I+r0+15, and the epilogue writes
//   out[t][r] = bf16(hb_swiglu(g, u)),  g = y[t][r], u = y[t][I + r]
// as swiglu_rows_kernel (kernels.cu) computes it from the plain product: each row's sum is the
// same (the same warps add the same groups in the same order), so the values are bit for bit equal.
#include "cuda_kernels.cuh"

// 16 bytes of activations through L1 (every block reads them); volatile like ld_stream16, so that all
// of a group's loads are issued, in order, before its first MMA
__device__ __forceinline__ uint4 ldx(const uint4 *p)
{
    uint4 v;
    asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

// The weights of UU groups of 32 columns from group s0 on
template <int RT, int UU, int HINT>
__device__ __forceinline__ void mmv_load_w(const uint4 *const (&wr)[RT][2], int s0, uint4 (&a)[UU][RT][2])
{
#pragma unroll
    for (int u = 0; u < UU; u++) {
        int off = (s0 + u) * 4; /* 32 columns = 4 uint4 */
#pragma unroll
        for (int i = 0; i < RT; i++) {
            a[u][i][0] = ld_stream16<HINT>(wr[i][0] + off);
            a[u][i][1] = ld_stream16<HINT>(wr[i][1] + off);
        }
    }
}

// Those groups' activations loaded, then the MMAs on weights a (every load issued before the
// first MMA)
template <int NB, int RT, int UU>
__device__ __forceinline__ void mmv_mul(const uint4 (&a)[UU][RT][2], const uint4 *const (&xr)[NB], int s0,
                                        float (&acc)[RT][NB][4])
{
    uint4 xv[UU][NB];
#pragma unroll
    for (int u = 0; u < UU; u++)
#pragma unroll
        for (int j = 0; j < NB; j++) xv[u][j] = ldx(xr[j] + (s0 + u) * 4);
#pragma unroll
    for (int u = 0; u < UU; u++)
#pragma unroll
        for (int i = 0; i < RT; i++)
#pragma unroll
            for (int j = 0; j < NB; j++) {
                const uint4 &lo = a[u][i][0], &hi = a[u][i][1], &b = xv[u][j];
                mma16816(acc[i][j], lo.x, hi.x, lo.y, hi.y, b.x, b.y);
                mma16816(acc[i][j], lo.z, hi.z, lo.w, hi.w, b.z, b.w);
            }
}

template <int NB, int RT, int UU, int HINT>
__device__ __forceinline__ void mmv_groups(const uint4 *const (&wr)[RT][2], const uint4 *const (&xr)[NB],
                                           int s0, float (&acc)[RT][NB][4])
{
    uint4 a[UU][RT][2];
    mmv_load_w<RT, UU, HINT>(wr, s0, a);
    mmv_mul<NB, RT, UU>(a, xr, s0, acc);
}

// 32-bit loads issued in program order (volatile), used much later
__device__ __forceinline__ float ld_early(const float *p)
{
    float v;
    asm volatile("ld.global.f32 %0, [%1];" : "=f"(v) : "l"(p));
    return v;
}

// SW: the SwiGLU form (RT 2; N is I, out yb [n][I] in bf16); else y [n][N] in fp32.
// NRM, the MLP's input norm folded into the products around it (hb_mmv_norm): the plain form (o_proj)
// writes no y but x[t][r] += y[t][r], xw[t][r] = bf16(x[t][r] w_r) and part[t][block] = the sum of
// x[t][r]^2 over its rows; the SwiGLU form (gate/up, fed xw) scales g and u by rsqrt(sum_b
// part[t][b] / K + eps) before the SwiGLU.
template <int NB, int RT, int W, int U, int HINT, bool SW = false, bool NRM = false>
__global__ void __launch_bounds__(32 * W) mmv_kernel(const __nv_bfloat16 *__restrict__ w,
                                                     const __nv_bfloat16 *__restrict__ x,
                                                     float *__restrict__ y, __nv_bfloat16 *__restrict__ yb,
                                                     int N, int K, int n, bool early, hb_mmv_norm nm)
{
    static_assert(!SW || RT == 2, "the SwiGLU form pairs a gate tile with an up tile");
    static_assert(!NRM || (SW || NB * 8 * 16 * RT <= 32 * W), "one epilogue entry a thread");
    __shared__ float red[W][NB * 8][16 * RT]; // a warp's partial sums, [token][row]
    __shared__ float inv_s[NRM && SW ? NB * 8 : 1];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, q = lane & 3;
    int r0 = blockIdx.x * 16 * (SW ? 1 : RT), steps = K / 32;
    /* NRM plain: this thread's residual entry and norm weight, requested with the first weights
     * when early (the caller's x was last written by a kernel complete before the previous one
     * started: in the engine the norm two launches back, whose end q/k/v waited for) */
    float x_pre = 0.f, w_pre = 0.f;
    auto load_pre = [&] {
        int e = threadIdx.x, t = e / (16 * RT), r = e % (16 * RT);
        if (e < NB * 8 * 16 * RT && t < n && r0 + r < N) {
            x_pre = ld_early(nm.x + (size_t)t * N + r0 + r);
            w_pre = ld_early(nm.w + r0 + r);
        }
    };
    /* rows past N and tokens past n read row N - 1 and token n - 1 (no branches around the
     * loads); their sums are never stored */
    const uint4 *wr[RT][2]; /* rows r0 + 16 i + g and r0 + 16 i + g + 8 (SW: tile i at i N + r0) */
#pragma unroll
    for (int i = 0; i < RT; i++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = SW ? i * N + min(r0 + 8 * h + g, N - 1) : min(r0 + 16 * i + 8 * h + g, N - 1);
            wr[i][h] = (const uint4 *)(w + (size_t)row * K) + q;
        }
    const uint4 *xr[NB];
#pragma unroll
    for (int j = 0; j < NB; j++) xr[j] = (const uint4 *)(x + (size_t)min(j * 8 + g, n - 1) * K) + q;
    float acc[RT][NB][4];
#pragma unroll
    for (int i = 0; i < RT; i++)
#pragma unroll
        for (int j = 0; j < NB; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;
    int s0 = warp * U;
    uint4 a0[U][RT][2]; /* the first group's weights, before the wait when early (they do not
                         * depend on the previous kernel) */
    const bool whole = s0 + U <= steps;
    if (early && whole) mmv_load_w<RT, U, HINT>(wr, s0, a0);
    if constexpr (NRM && !SW)
        if (early) load_pre();
    pdl_enter();
    if constexpr (NRM && !SW)
        if (!early) load_pre();
    constexpr int PL = HB_NORM_MAX_PARTS / 32; /* a lane's partial sums */
    float pv[PL]; /* NRM SwiGLU: warp t < n requests token t's partial sums of squares now, adds them
                  * (in a fixed order) after the products */
    if constexpr (NRM && SW) {
#pragma unroll
        for (int i = 0; i < PL; i++) {
            int j = lane + 32 * i;
            pv[i] = warp < n && j < nm.nparts ? ld_early(nm.part + (size_t)warp * nm.nparts + j) : 0.f;
        }
    }
    if (whole) {
        if (!early) mmv_load_w<RT, U, HINT>(wr, s0, a0);
        mmv_mul<NB, RT, U>(a0, xr, s0, acc);
        s0 += W * U;
    }
    for (; s0 + U <= steps; s0 += W * U) mmv_groups<NB, RT, U, HINT>(wr, xr, s0, acc);
    for (int s = s0; s < steps && s < s0 + U; s++) mmv_groups<NB, RT, 1, HINT>(wr, xr, s, acc); /* a partial group */
    /* the accumulator: c0, c1 row g tokens 2q, 2q + 1; c2, c3 row g + 8, the same tokens */
#pragma unroll
    for (int i = 0; i < RT; i++)
#pragma unroll
        for (int j = 0; j < NB; j++) {
            int t = j * 8 + 2 * q, r = 16 * i + g;
            red[warp][t][r] = acc[i][j][0];
            red[warp][t + 1][r] = acc[i][j][1];
            red[warp][t][r + 8] = acc[i][j][2];
            red[warp][t + 1][r + 8] = acc[i][j][3];
        }
    if constexpr (NRM && SW) {
        if (warp < n && warp < NB * 8) {
            float ss = 0.f;
#pragma unroll
            for (int i = 0; i < PL; i++) ss += pv[i];
            for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
            if (lane == 0) inv_s[warp] = rsqrtf(ss / K + nm.eps);
        }
    }
    __syncthreads();
    if constexpr (NRM && !SW) {
        int e = threadIdx.x, t = e / (16 * RT), r = e % (16 * RT);
        if (e < NB * 8 * 16 * RT) { /* whole warps (NB * 8 * 16 * RT is a multiple of 32) */
            float sq = 0.f;
            if (t < n && r0 + r < N) {
                float v = x_pre;
#pragma unroll
                for (int k = 0; k < W; k++) v += red[k][t][r];
                nm.x[(size_t)t * N + r0 + r] = v;
                nm.xw[(size_t)t * N + r0 + r] = __float2bfloat16(v * w_pre);
                sq = v * v;
            }
            for (int o = 8 * RT; o > 0; o >>= 1) sq += __shfl_xor_sync(0xffffffffu, sq, o);
            if (r == 0 && t < n) nm.part[(size_t)t * gridDim.x + blockIdx.x] = sq;
        }
    } else if constexpr (SW) {
        for (int e = threadIdx.x; e < NB * 8 * 16; e += 32 * W) {
            int t = e / 16, r = e % 16;
            if (t >= n || r0 + r >= N) continue;
            float a = 0.f, u = 0.f;
#pragma unroll
            for (int k = 0; k < W; k++) a += red[k][t][r], u += red[k][t][r + 16];
            if constexpr (NRM) a *= inv_s[t], u *= inv_s[t];
            yb[(size_t)t * N + r0 + r] = __float2bfloat16(hb_swiglu(a, u));
        }
    } else {
        for (int e = threadIdx.x; e < NB * 8 * 16 * RT; e += 32 * W) {
            int t = e / (16 * RT), r = e % (16 * RT);
            if (t >= n || r0 + r >= N) continue;
            float v = 0.f;
#pragma unroll
            for (int k = 0; k < W; k++) v += red[k][t][r];
            y[(size_t)t * N + r0 + r] = v;
        }
    }
}

// The table is the dispatch too: launch_nb instantiates the kernel for each entry.
constexpr hb_mmv_cfg hb_mmv_cfgs[] = {{4, 4, 1, 2}, {8, 2, 1, 2}, {8, 4, 1, 2}, {16, 2, 1, 2}, {8, 2, 2, 2},
                                      {16, 1, 2, 2}, {4, 4, 1, 0}, {8, 2, 1, 0}, {8, 4, 1, 0}, {8, 2, 1, 1},
                                      {8, 4, 1, 1}, {16, 1, 2, 0}, {16, 4, 1, 2}};
const int hb_mmv_ncfgs = (int)(sizeof hb_mmv_cfgs / sizeof hb_mmv_cfgs[0]);

static constexpr int cfg_index(int warps, int unroll, int row_tiles, int l2_hint)
{
    for (int i = 0; i < (int)(sizeof hb_mmv_cfgs / sizeof hb_mmv_cfgs[0]); i++)
        if (hb_mmv_cfgs[i].warps == warps && hb_mmv_cfgs[i].unroll == unroll &&
            hb_mmv_cfgs[i].row_tiles == row_tiles && hb_mmv_cfgs[i].l2_hint == l2_hint)
            return i;
    return -1;
}

bool hb_cuda_mmv_fits(int n, int N, int K)
{
    return n >= 1 && n <= HB_MMV_MAX_TOKENS && N >= 1 && K >= 32 && K % 32 == 0;
}

int hb_mmv_chosen(int n, int N, int K)
{
    /* 16 warps: up to 4096 rows (o_proj, down_proj) 16 rows a block, 4 groups in flight, so a
     * block requests 64 KB before the wait on the previous kernel (on the H200 a batch-1 step took
     * 1.826-1.832 against 1.882-1.885 ms with 2 groups, batch 8 2.019-2.024 against 2.067 ms);
     * more rows (q/k/v, gate/up) 32 rows a block, 1 group (q/k/v with 16 rows and 4 groups or 8
     * warps and 4 groups: batch 1 1.85 and 1.84 against 1.83 ms; with 32 rows and 2 groups 1.92
     * against 1.88 before the change above); the 256-byte hint */
    constexpr int small = cfg_index(16, 4, 1, 2), large = cfg_index(16, 1, 2, 2);
    static_assert(small >= 0 && large >= 0, "the chosen configurations are in the table");
    (void)n, (void)K;
    return N <= 4096 ? small : large;
}

template <int NB, int RT, int W, int U, int HINT>
static void launch(const __nv_bfloat16 *w, const __nv_bfloat16 *x, float *y, int N, int K, int n,
                   cudaStream_t s)
{
    static_assert(W * NB * 8 * 16 * RT * 4 <= 48 * 1024, "the partial sums must fit 48 KiB");
    hb_launch(mmv_kernel<NB, RT, W, U, HINT>, (N + 16 * RT - 1) / (16 * RT), 32 * W, 0, s, w, x, y,
              (__nv_bfloat16 *)nullptr, N, K, n, hb_gemv_early != 0, hb_mmv_norm{});
}

template <int NB, int I = 0>
static void launch_nb(int cfg, const __nv_bfloat16 *w, const __nv_bfloat16 *x, float *y, int N, int K,
                      int n, cudaStream_t s)
{
    if constexpr (I < (int)(sizeof hb_mmv_cfgs / sizeof hb_mmv_cfgs[0])) {
        constexpr hb_mmv_cfg c = hb_mmv_cfgs[I];
        if (cfg == I) return launch<NB, c.row_tiles, c.warps, c.unroll, c.l2_hint>(w, x, y, N, K, n, s);
        launch_nb<NB, I + 1>(cfg, w, x, y, N, K, n, s);
    }
}

void hb_cuda_mmv_cfg(int cfg, const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K,
                     cudaStream_t s)
{
    const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
    if (n <= 8) launch_nb<1>(cfg, wb, x, y, N, K, n, s);
    else launch_nb<2>(cfg, wb, x, y, N, K, n, s);
}

void hb_cuda_mmv(const void *w, const __nv_bfloat16 *x, float *y, int n, int N, int K, cudaStream_t s)
{
    hb_cuda_mmv_cfg(hb_mmv_chosen(n, N, K), w, x, y, n, N, K, s);
}

bool hb_cuda_mmv_swiglu_fits(int n, int I, int K) { return I >= 1 && hb_cuda_mmv_fits(n, 2 * I, K); }

void hb_cuda_mmv_swiglu(const void *w, const __nv_bfloat16 *x, __nv_bfloat16 *out, int n, int I, int K,
                        cudaStream_t s)
{
    /* the engine's configuration for the plain gate/up product (2I rows > 4096): 16 warps, 32 rows
     * (here 16 of gate and 16 of up) a block, one group in flight, the 256-byte hint (two groups:
     * on the H200 a batch-1 step took 1.996 against 1.882 ms) */
    const __nv_bfloat16 *wb = (const __nv_bfloat16 *)w;
    const int blocks = (I + 15) / 16;
    if (n <= 8)
        hb_launch(mmv_kernel<1, 2, 16, 1, 2, true>, blocks, 512, 0, s, wb, x, (float *)nullptr, out, I, K, n,
                  hb_gemv_early != 0, hb_mmv_norm{});
    else
        hb_launch(mmv_kernel<2, 2, 16, 1, 2, true>, blocks, 512, 0, s, wb, x, (float *)nullptr, out, I, K, n,
                  hb_gemv_early != 0, hb_mmv_norm{});
}

int hb_mmv_norm_parts(int n, int N, int K, int I)
{
    /* o_proj in the engine's configuration for N <= 4096 rows (16 warps, 16 rows a block, 4 groups
     * in flight), one group of 8 tokens; gate/up's lanes request 8 partial sums each */
    const int blocks = (N + 15) / 16;
    return n >= 1 && n <= HB_NORM_MAX_TOKENS && N <= 4096 && blocks <= HB_NORM_MAX_PARTS && hb_cuda_mmv_fits(n, N, K) &&
                   hb_cuda_mmv_swiglu_fits(n, I, N)
               ? blocks
               : 0;
}

void hb_cuda_mmv_resnorm(const void *w, const __nv_bfloat16 *x, int n, int N, int K, const hb_mmv_norm &nm,
                         cudaStream_t s)
{
    hb_launch(mmv_kernel<1, 1, 16, 4, 2, false, true>, (N + 15) / 16, 512, 0, s, (const __nv_bfloat16 *)w, x,
              (float *)nullptr, (__nv_bfloat16 *)nullptr, N, K, n, hb_gemv_early != 0, nm);
}

void hb_cuda_mmv_swiglu_normed(const void *w, const __nv_bfloat16 *xw, __nv_bfloat16 *out, int n, int I, int K,
                               const hb_mmv_norm &nm, cudaStream_t s)
{
    hb_launch(mmv_kernel<1, 2, 16, 1, 2, true, true>, (I + 15) / 16, 512, 0, s, (const __nv_bfloat16 *)w, xw,
              (float *)nullptr, out, I, K, n, hb_gemv_early != 0, nm);
}
