// attention_prefill.cu - attention of a prompt's tokens, tiled (flash-style): a block takes 16
// consecutive tokens of the batch and one KV head, and walks that slot's cached positions in
// chunks of 64 rows staged in shared memory, so each K/V row is read once for the 16 tokens
// (times the G query heads sharing the KV head) instead of once a token. Math, per token t at
// position P_t, query head h (q already rotated by the RoPE kernel, which also wrote the cache):
//   S_tp = q_h . k_p / sqrt(d) for p <= P_t (else -inf);  running over chunks c:
//   m' = max(m, max_p S_tp),  l' = l e^(m - m') + sum_p e^(S_tp - m'),
//   o' = o e^(m - m') + sum_p e^(S_tp - m') v_p;   output o / l.
// Threads: 16 x 16; thread (ty, tx) owns token ty of the tile (its G heads as rows), score
// columns 4 tx .. 4 tx + 3 of a chunk and output dimensions tx d/16 .. of the head. A tile may
// hold tokens of several slots (one request's prompt ends, the next begins): it takes the runs
// of equal slots in turn, the other tokens masked.
#include "cuda_kernels.cuh"

#define PF_KC 64   // cache rows a chunk
#define PF_THREADS 256

// The tile's T tokens' slots and positions into shared memory, read at once (not one after
// another as the runs are scanned); -1 past the tile's tn tokens. A barrier must follow.
template <int T>
__device__ __forceinline__ void tile_tokens(const dev_token *tok, int t0, int tn, int *tslot, int *tpos)
{
    const int t = threadIdx.x;
    if (t < T) tslot[t] = t < tn ? tok[t0 + t].slot : -1, tpos[t] = t < tn ? tok[t0 + t].pos : -1;
}

// The end of the run of the tile's tokens of one slot that starts at a, and its highest position
__device__ __forceinline__ int run_end(const int *tslot, const int *tpos, int a, int tn, int *maxp)
{
    int b = a + 1, mp = tpos[a];
    while (b < tn && tslot[b] == tslot[a]) mp = max(mp, tpos[b]), b++;
    *maxp = mp;
    return b;
}

template <int HD, int G> struct pf_layout {
    static constexpr int R = G * HB_PF_TILE, KS = HD + 1, VS = HD + 4, PS = PF_KC + 1, DPT = HD / 16;
    static constexpr size_t floats = (size_t)R * KS + (size_t)PF_KC * KS + (size_t)PF_KC * VS + (size_t)R * PS;
};

template <typename T, int HD, int G>
__global__ void __launch_bounds__(PF_THREADS, 2)
    attention_prefill_kernel(const float *q, int q_stride, const dev_token *tok, int n, const T *kcache,
                             const T *vcache, float *out, __nv_bfloat16 *out_b, int heads, int kv_heads,
                             int max_batch, int max_seq, int layer)
{
    using L = pf_layout<HD, G>;
    constexpr int R = L::R, KS = L::KS, VS = L::VS, PS = L::PS, DPT = L::DPT;
    extern __shared__ float sm[];
    float *Qs = sm, *Ks = Qs + R * KS, *Vs = Ks + PF_KC * KS, *Ps = Vs + PF_KC * VS;
    pdl_enter();
    const int kvh = blockIdx.y, h0 = kvh * G, t0 = blockIdx.x * HB_PF_TILE, tid = threadIdx.x;
    const int tx = tid & 15, ty = tid >> 4, kvdim = kv_heads * HD, tn = min(HB_PF_TILE, n - t0);
    const float scale = rsqrtf((float)HD);
    for (int j = tid; j < R * HD; j += PF_THREADS) { /* row r = token r / G, head r % G */
        int r = j / HD, d = j % HD, t = r / G, g = r % G;
        Qs[r * KS + d] = t < tn ? q[(size_t)(t0 + t) * q_stride + (size_t)(h0 + g) * HD + d] * scale : 0.f;
    }
    __shared__ int tslot[HB_PF_TILE], tpos[HB_PF_TILE];
    tile_tokens<HB_PF_TILE>(tok, t0, tn, tslot, tpos);
    __syncthreads();
    const bool tvalid = ty < tn;
    const int mypos_all = tvalid ? tpos[ty] : -1;
    for (int a = 0, b, maxp; a < tn; a = b) { /* runs of tokens of one slot */
        const int slot = tslot[a];
        b = run_end(tslot, tpos, a, tn, &maxp);
        const bool mine = ty >= a && ty < b;
        const int mypos = mine ? mypos_all : -1;
        const size_t base = cache_off(layer, slot, 0, max_batch, max_seq, kvdim) + (size_t)kvh * HD;
        float m[G], l[G], o[G][DPT];
#pragma unroll
        for (int i = 0; i < G; i++) {
            m[i] = -INFINITY, l[i] = 0;
#pragma unroll
            for (int j = 0; j < DPT; j++) o[i][j] = 0;
        }
        for (int c0 = 0; c0 <= maxp; c0 += PF_KC) {
            __syncthreads(); /* the previous chunk's readers are done (and Qs is written) */
            for (int j = tid; j < PF_KC * (HD / 8); j += PF_THREADS) {
                int rr = j / (HD / 8), d8 = (j % (HD / 8)) * 8, p = c0 + rr;
                float kf[8] = {0, 0, 0, 0, 0, 0, 0, 0}, vf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                if (p <= maxp) {
                    size_t off = base + (size_t)p * kvdim + d8;
                    load8(kcache + off, kf);
                    load8(vcache + off, vf);
                }
#pragma unroll
                for (int e = 0; e < 8; e++) Ks[rr * KS + d8 + e] = kf[e], Vs[rr * VS + d8 + e] = vf[e];
            }
            __syncthreads();
            float s[G][4];
#pragma unroll
            for (int i = 0; i < G; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) s[i][j] = 0;
#pragma unroll 8
            for (int d = 0; d < HD; d++) {
                float qv[G], kv[4];
#pragma unroll
                for (int i = 0; i < G; i++) qv[i] = Qs[(ty * G + i) * KS + d];
#pragma unroll
                for (int j = 0; j < 4; j++) kv[j] = Ks[(tx * 4 + j) * KS + d];
#pragma unroll
                for (int i = 0; i < G; i++)
#pragma unroll
                    for (int j = 0; j < 4; j++) s[i][j] += qv[i] * kv[j];
            }
#pragma unroll
            for (int i = 0; i < G; i++) { /* the online softmax of row (ty, i) over 16 lanes */
                float cm = -INFINITY;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    if (c0 + tx * 4 + j > mypos) s[i][j] = -INFINITY;
                    cm = fmaxf(cm, s[i][j]);
                }
#pragma unroll
                for (int off = 1; off < 16; off <<= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, off));
                float mn = fmaxf(m[i], cm), f = mn == -INFINITY ? 1.f : __expf(m[i] - mn), rs = 0;
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    float p = mn == -INFINITY ? 0.f : __expf(s[i][j] - mn);
                    Ps[(ty * G + i) * PS + tx * 4 + j] = p;
                    rs += p;
                }
#pragma unroll
                for (int off = 1; off < 16; off <<= 1) rs += __shfl_xor_sync(0xffffffffu, rs, off);
                m[i] = mn, l[i] = l[i] * f + rs;
#pragma unroll
                for (int j = 0; j < DPT; j++) o[i][j] *= f;
            }
            __syncthreads();
            int cmax = min(PF_KC, maxp - c0 + 1);
            for (int c = 0; c < cmax; c++) {
                float pv[G], vv[DPT];
#pragma unroll
                for (int i = 0; i < G; i++) pv[i] = Ps[(ty * G + i) * PS + c];
#pragma unroll
                for (int j = 0; j < DPT; j++) vv[j] = Vs[c * VS + tx * DPT + j];
#pragma unroll
                for (int i = 0; i < G; i++)
#pragma unroll
                    for (int j = 0; j < DPT; j++) o[i][j] += pv[i] * vv[j];
            }
        }
        if (mine)
#pragma unroll
            for (int i = 0; i < G; i++)
#pragma unroll
                for (int j = 0; j < DPT; j++)
                    store_out(out, out_b, ((size_t)(t0 + ty) * heads + h0 + i) * HD + tx * DPT + j, o[i][j] / l[i]);
    }
}

// The tensor-core form (head_dim 128, bf16 cache entries, G <= 4): a block takes 16 consecutive
// tokens of the batch and one KV head, like the kernel above, with G x S warps (S = 4, or 2 for
// G = 4). The slot's cached rows come through shared memory in chunks of 64 (K rows at a
// 320-byte pitch, V rows at 272, so the fragment reads below meet no or two-way bank conflicts),
// copied asynchronously, PF_STAGES chunks in flight. Warp (h, s) holds query head
// h0 + h of the 16 tokens as the A rows of its MMAs (q scaled and rounded to bf16 once, in
// shared memory) and takes groups of 16 positions of each chunk (group s, s + S, ...). With
// lane = 4 g + c, for a group:
//   scores S (16 tokens x 16 positions): two n8 tiles of 8 m16n8k16 MMAs over the 128
//     dimensions, the k axis of each permuted as in the decode kernel's tensor-core form, so the
//     lane's 16-byte reads of K rows g and g + 8 (columns 32 j + 8 c) are its B fragments as they
//     are; the lane ends with tokens g and g + 8 at positions 2c, 2c + 1, 2c + 8, 2c + 9;
//   each token row's online softmax over its 4 lanes (masked: positions past the token's own);
//   P V: 16 m16n8k16 MMAs, the lane's probabilities (bf16) its A fragment as they are, its B
//     fragment V rows 2c, 2c + 1 (and 2c + 8, 2c + 9) at one dimension (the lane reads
//     dimensions 16 g .. 16 g + 15 of the four rows; output tile t is dimensions 16 n + t), so
//     the lane accumulates tokens g and g + 8 at dimensions 32 c + t and 32 c + 16 + t.
// The S warps' (m, l, o) of a head then meet in shared memory and are added in warp order (the
// results do not depend on timing). Runs of tokens of one slot in a tile are taken in turn.
#define PF_HD 128
#define PF_QS 20  /* uint4 a q row in shared memory: 16 used, rows 20 apart (no bank conflicts) */
#define PF_OS (PF_HD + 4)
#define PF_CK 64  /* cache rows a chunk */
#define PF_KP 320 /* bytes a staged K row */
#define PF_VP 272 /* bytes a staged V row */
#define PF_STAGES 4 /* chunks in flight */
template <int G> struct pf_splits {
    static constexpr int S = G == 4 ? 2 : 4; /* at most 12 warps (the registers of one block an SM) */
};

template <int G> struct pf_mma_layout {
    static constexpr int S = pf_splits<G>::S;
    static constexpr size_t q = (size_t)G * 16 * PF_QS * 16, w = (size_t)2 * G * S * 16 * 4;
    static constexpr size_t stage = (size_t)PF_CK * (PF_KP + PF_VP), merge = (size_t)G * S * 16 * PF_OS * 4;
    /* the chunks' stages, and after the last chunk the warps' outputs, in one region */
    static constexpr size_t bytes = q + w + (PF_STAGES * stage > merge ? PF_STAGES * stage : merge);
};

template <int G>
__global__ void __launch_bounds__(32 * G * pf_splits<G>::S, 1)
    attention_prefill_mma_kernel(const float *q, int q_stride, const dev_token *tok, int n,
                                 const __nv_bfloat16 *kcache, const __nv_bfloat16 *vcache, float *out,
                                 __nv_bfloat16 *out_b, int heads, int kv_heads, int max_batch, int max_seq,
                                 int layer)
{
    using L = pf_mma_layout<G>;
    constexpr int S = L::S, NT = 32 * G * S;
    extern __shared__ __align__(16) unsigned char psm[];
    uint4(*qpk)[16][PF_QS] = (uint4(*)[16][PF_QS])psm;
    float *wm = (float *)(psm + L::q), *wl = wm + G * S * 16;
    unsigned char *stg = psm + L::q + L::w; /* stage st: K rows at st * stage, V rows after them */
    float *wo = (float *)stg;
    const uint32_t stg_s = (uint32_t)__cvta_generic_to_shared(stg);
    pdl_enter(); /* the RoPE kernel has rotated q and written the rows */
    const int kvh = blockIdx.y, h0 = kvh * G, t0 = blockIdx.x * 16, tn = min(16, n - t0), tid = threadIdx.x;
    const int warp = tid >> 5, lane = tid & 31, g = lane >> 2, c = lane & 3, hh = warp / S, sp = warp % S;
    const int kvdim = kv_heads * PF_HD;
    const float scale = rsqrtf((float)PF_HD);
    __shared__ int tslot[16], tpos[16];
    tile_tokens<16>(tok, t0, tn, tslot, tpos);
    for (int i = tid; i < G * 16 * 16; i += NT) { /* (head, token row, piece jc): dims 32 (jc / 4) + 8 (jc % 4) .. +7 */
        const int h = i >> 8, r = (i >> 4) & 15, jc = i & 15;
        uint4 u = make_uint4(0u, 0u, 0u, 0u);
        if (r < tn) {
            const float4 *qr = (const float4 *)(q + (size_t)(t0 + r) * q_stride + (size_t)(h0 + h) * PF_HD +
                                                32 * (jc >> 2) + 8 * (jc & 3));
            const float4 a = qr[0], b = qr[1];
            u = make_uint4(pack_bf16(a.x * scale, a.y * scale), pack_bf16(a.z * scale, a.w * scale),
                           pack_bf16(b.x * scale, b.y * scale), pack_bf16(b.z * scale, b.w * scale));
        }
        qpk[h][r][jc] = u;
    }
    __syncthreads(); /* q and the tokens in place */
    for (int a = 0, b, maxp; a < tn; a = b) { /* runs of tokens of one slot */
        const int slot = tslot[a];
        b = run_end(tslot, tpos, a, tn, &maxp);
        const int P0 = g >= a && g < b ? tpos[g] : -1; /* -1: not in this run, all masked */
        const int P1 = g + 8 >= a && g + 8 < b ? tpos[g + 8] : -1;
        const size_t base = cache_off(layer, slot, 0, max_batch, max_seq, kvdim) + (size_t)kvh * PF_HD;
        const int nch = maxp / PF_CK + 1;
        /* chunk ci's rows (past maxp: maxp's, masked) into stage ci % PF_STAGES, 16 bytes a copy;
         * a group committed for every chunk number, past the last one empty, so the waits below
         * count the same way in every iteration */
        const int cr = tid >> 5, ckv = (tid >> 4) & 1, cpc = tid & 15; /* this thread's row, K or V, piece */
        const __nv_bfloat16 *csrc = (ckv ? vcache : kcache) + base + cpc * 8;
        const uint32_t cdst = stg_s + (ckv ? PF_CK * PF_KP : 0) + cpc * 16, cpitch = ckv ? PF_VP : PF_KP;
        auto issue = [&](int ci) {
            if (ci < nch) {
                const uint32_t d0 = cdst + (uint32_t)((ci % PF_STAGES) * L::stage);
#pragma unroll 4
                for (int r = cr; r < PF_CK; r += NT / 32)
                    cp_async16(d0 + r * cpitch, csrc + (size_t)min(ci * PF_CK + r, maxp) * kvdim, true);
            }
            cp_commit();
        };
        __syncthreads(); /* the previous run's merge has read the region */
#pragma unroll
        for (int ci = 0; ci < PF_STAGES; ci++) issue(ci);
        float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f, o[16][4];
#pragma unroll
        for (int t = 0; t < 16; t++) o[t][0] = o[t][1] = o[t][2] = o[t][3] = 0.f;
#pragma unroll 1
        for (int ci = 0; ci < nch; ci++) {
            cp_wait<PF_STAGES - 1>();
            __syncthreads(); /* chunk ci in place for every warp */
            const unsigned char *ks = stg + (size_t)(ci % PF_STAGES) * L::stage, *vs = ks + PF_CK * PF_KP;
#pragma unroll 1
            for (int sg = sp; sg < PF_CK / 16; sg += S) {
                const int p0 = ci * PF_CK + sg * 16; /* the group's first position */
                if (p0 > maxp) break;
                /* two accumulators a tile (the MMAs of even and odd column pieces), so the chains
                 * are half as long */
                float sa[4] = {0.f, 0.f, 0.f, 0.f}, sb[4] = {0.f, 0.f, 0.f, 0.f};
                float ta[4] = {0.f, 0.f, 0.f, 0.f}, tb[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    const uint4 qa = qpk[hh][g][4 * j + c], qb = qpk[hh][g + 8][4 * j + c];
                    const uint4 ka = *(const uint4 *)(ks + (sg * 16 + g) * PF_KP + 64 * j + 16 * c);
                    const uint4 kb = *(const uint4 *)(ks + (sg * 16 + 8 + g) * PF_KP + 64 * j + 16 * c);
                    mma16816(sa, qa.x, qb.x, qa.y, qb.y, ka.x, ka.y);
                    mma16816(ta, qa.z, qb.z, qa.w, qb.w, ka.z, ka.w);
                    mma16816(sb, qa.x, qb.x, qa.y, qb.y, kb.x, kb.y);
                    mma16816(tb, qa.z, qb.z, qa.w, qb.w, kb.z, kb.w);
                }
#pragma unroll
                for (int e = 0; e < 4; e++) sa[e] += ta[e], sb[e] += tb[e];
                const int pa = p0 + 2 * c, pb = pa + 8;
                if (pa > P0) sa[0] = -INFINITY;
                if (pa + 1 > P0) sa[1] = -INFINITY;
                if (pa > P1) sa[2] = -INFINITY;
                if (pa + 1 > P1) sa[3] = -INFINITY;
                if (pb > P0) sb[0] = -INFINITY;
                if (pb + 1 > P0) sb[1] = -INFINITY;
                if (pb > P1) sb[2] = -INFINITY;
                if (pb + 1 > P1) sb[3] = -INFINITY;
                float c0 = fmaxf(fmaxf(sa[0], sa[1]), fmaxf(sb[0], sb[1]));
                float c1 = fmaxf(fmaxf(sa[2], sa[3]), fmaxf(sb[2], sb[3]));
                c0 = fmaxf(c0, __shfl_xor_sync(0xffffffffu, c0, 1));
                c1 = fmaxf(c1, __shfl_xor_sync(0xffffffffu, c1, 1));
                c0 = fmaxf(c0, __shfl_xor_sync(0xffffffffu, c0, 2));
                c1 = fmaxf(c1, __shfl_xor_sync(0xffffffffu, c1, 2));
                const float n0 = fmaxf(m0, c0), n1 = fmaxf(m1, c1); /* -inf: no position of the row yet */
                const float f0 = n0 == -INFINITY ? 1.f : __expf(m0 - n0);
                const float f1 = n1 == -INFINITY ? 1.f : __expf(m1 - n1);
                const float u0 = n0 == -INFINITY ? 0.f : n0, u1 = n1 == -INFINITY ? 0.f : n1; /* e^-inf = 0 */
                const float ea0 = __expf(sa[0] - u0), ea1 = __expf(sa[1] - u0), eb0 = __expf(sb[0] - u0),
                            eb1 = __expf(sb[1] - u0);
                const float ea2 = __expf(sa[2] - u1), ea3 = __expf(sa[3] - u1), eb2 = __expf(sb[2] - u1),
                            eb3 = __expf(sb[3] - u1);
                m0 = n0, m1 = n1;
                l0 = l0 * f0 + ea0 + ea1 + eb0 + eb1, l1 = l1 * f1 + ea2 + ea3 + eb2 + eb3;
                const unsigned a0 = pack_bf16(ea0, ea1), a1 = pack_bf16(ea2, ea3), a2 = pack_bf16(eb0, eb1),
                               a3 = pack_bf16(eb2, eb3);
                /* V rows 2c, 2c + 1, 2c + 8, 2c + 9 of the group, dimensions 16 g .. 16 g + 15 */
                uint4 v[4][2];
#pragma unroll
                for (int rr = 0; rr < 4; rr++) {
                    const unsigned char *vr = vs + (sg * 16 + 2 * c + (rr & 1) + 8 * (rr >> 1)) * PF_VP + 32 * g;
                    v[rr][0] = *(const uint4 *)vr;
                    v[rr][1] = *(const uint4 *)(vr + 16);
                }
#pragma unroll
                for (int t = 0; t < 16; t++) {
                    const int w = (t & 7) >> 1, half = t >> 3;
                    const unsigned hsel = t & 1 ? 0x7632 : 0x5410;
                    const unsigned b0 = __byte_perm((&v[0][half].x)[w], (&v[1][half].x)[w], hsel);
                    const unsigned b1 = __byte_perm((&v[2][half].x)[w], (&v[3][half].x)[w], hsel);
                    o[t][0] *= f0, o[t][1] *= f0, o[t][2] *= f1, o[t][3] *= f1;
                    mma16816(o[t], a0, a1, a2, a3, b0, b1);
                }
            }
            __syncthreads(); /* every warp is done with this stage before it is refilled */
            issue(ci + PF_STAGES);
        }
        cp_wait<0>(); /* the empty groups */
        l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
        l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
        l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
        const int ws = hh * S + sp;
        if (c == 0) wm[ws * 16 + g] = m0, wm[ws * 16 + g + 8] = m1, wl[ws * 16 + g] = l0, wl[ws * 16 + g + 8] = l1;
        float *my = wo + (size_t)ws * 16 * PF_OS;
#pragma unroll
        for (int t = 0; t < 16; t += 4) { /* o[t][e], t = 0..15: 16 consecutive dimensions */
            *(float4 *)&my[g * PF_OS + 32 * c + t] = make_float4(o[t][0], o[t + 1][0], o[t + 2][0], o[t + 3][0]);
            *(float4 *)&my[g * PF_OS + 32 * c + 16 + t] = make_float4(o[t][1], o[t + 1][1], o[t + 2][1], o[t + 3][1]);
            *(float4 *)&my[(g + 8) * PF_OS + 32 * c + t] = make_float4(o[t][2], o[t + 1][2], o[t + 2][2], o[t + 3][2]);
            *(float4 *)&my[(g + 8) * PF_OS + 32 * c + 16 + t] =
                make_float4(o[t][3], o[t + 1][3], o[t + 2][3], o[t + 3][3]);
        }
        __syncthreads();
        if (tid < G * 16) { /* each (head, row): its warps' weights e^(m_z - M) / sum_z e^(m_z - M) l_z */
            const int h = tid >> 4, r = tid & 15;
            float M = -INFINITY, Lz = 0.f, f[S];
#pragma unroll
            for (int z = 0; z < S; z++) M = fmaxf(M, wm[(h * S + z) * 16 + r]);
#pragma unroll
            for (int z = 0; z < S; z++) {
                const float mz = wm[(h * S + z) * 16 + r];
                f[z] = mz == -INFINITY ? 0.f : __expf(mz - M); /* a warp with no position of this token */
                Lz += f[z] * wl[(h * S + z) * 16 + r];
            }
#pragma unroll
            for (int z = 0; z < S; z++) wm[(h * S + z) * 16 + r] = Lz > 0.f ? f[z] / Lz : 0.f;
        }
        __syncthreads();
        for (int i = tid; i < G * 16 * PF_HD / 4; i += NT) { /* the warps added in order, 4 dimensions a thread */
            const int h = i / (4 * PF_HD), r = (i / (PF_HD / 4)) & 15, d = 4 * (i % (PF_HD / 4));
            if (r < a || r >= b) continue;
            float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
            for (int z = 0; z < S; z++) {
                const float wz = wm[(h * S + z) * 16 + r];
                if (wz == 0.f) continue;
                const float4 v = *(const float4 *)&wo[((size_t)(h * S + z) * 16 + r) * PF_OS + d];
                acc.x += wz * v.x, acc.y += wz * v.y, acc.z += wz * v.z, acc.w += wz * v.w;
            }
            const size_t oi = ((size_t)(t0 + r) * heads + h0 + h) * PF_HD + d;
            if (out_b) {
                *(uint2 *)&out_b[oi] = make_uint2(pack_bf16(acc.x, acc.y), pack_bf16(acc.z, acc.w));
            } else {
                *(float4 *)&out[oi] = acc;
            }
        }
    }
}

int hb_cuda_pf_mma = -1;

bool hb_cuda_prefill_mma(int heads, int kv_heads, int head_dim, bool kv_bf16)
{
    return hb_env_on(hb_cuda_pf_mma, "HB_PF_MMA") && !hb_cuda_att_kernel_forced() && head_dim == PF_HD && kv_bf16 && kv_heads > 0 &&
           heads % kv_heads == 0 && heads / kv_heads <= 4;
}

void hb_cuda_attention_prefill_mma(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                                   const void *vcache, float *out, __nv_bfloat16 *out_b, int heads, int kv_heads,
                                   int max_batch, int max_seq, int layer, cudaStream_t s)
{
    if (n <= 0) return;
    hb_dispatch_1to4(heads / kv_heads, [&](auto gc) {
        constexpr int G = decltype(gc)::value;
        const size_t smem = pf_mma_layout<G>::bytes;
        static std::atomic<unsigned long long> ready;
        hb_allow_smem(ready, attention_prefill_mma_kernel<G>, (int)smem);
        hb_launch(attention_prefill_mma_kernel<G>, dim3((n + 15) / 16, kv_heads), 32 * G * pf_splits<G>::S, smem, s, q,
                  q_stride, tok, n, (const __nv_bfloat16 *)kcache, (const __nv_bfloat16 *)vcache, out, out_b, heads,
                  kv_heads, max_batch, max_seq, layer);
    });
}

bool hb_cuda_prefill_tiled(int heads, int kv_heads, int head_dim)
{
    if (hb_cuda_att_kernel_forced()) return false; /* the untiled kernels */
    int G = heads / kv_heads;
    return G <= 4 && (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128);
}

template <typename T, int HD, int G>
static void launch_pf(int n, int kv_heads, cudaStream_t s, const float *q, int q_stride, const dev_token *tok,
                      const void *kc, const void *vc, float *out, __nv_bfloat16 *out_b, int heads,
                      int max_batch, int max_seq, int layer)
{
    size_t smem = pf_layout<HD, G>::floats * sizeof(float);
    auto kern = attention_prefill_kernel<T, HD, G>;
    /* more than 48 KiB of shared memory: allowed once per device (a pass is always run eagerly
     * before it is captured, so this is never first called inside a capture) */
    static std::atomic<unsigned long long> ready;
    hb_allow_smem(ready, kern, (int)smem);
    hb_launch(kern, dim3((n + HB_PF_TILE - 1) / HB_PF_TILE, kv_heads), PF_THREADS, smem, s, q, q_stride, tok, n,
              (const T *)kc, (const T *)vc, out, out_b, heads, kv_heads, max_batch, max_seq, layer);
}

template <typename T, int HD>
static void launch_pf_g(int G, int n, int kv_heads, cudaStream_t s, const float *q, int q_stride,
                        const dev_token *tok, const void *kc, const void *vc, float *out,
                        __nv_bfloat16 *out_b, int heads, int max_batch, int max_seq, int layer)
{
    hb_dispatch_1to4(G, [&](auto g) {
        launch_pf<T, HD, decltype(g)::value>(n, kv_heads, s, q, q_stride, tok, kc, vc, out, out_b, heads,
                                             max_batch, max_seq, layer);
    });
}

template <typename T>
static void launch_pf_t(int hd, int G, int n, int kv_heads, cudaStream_t s, const float *q, int q_stride,
                        const dev_token *tok, const void *kc, const void *vc, float *out,
                        __nv_bfloat16 *out_b, int heads, int max_batch, int max_seq, int layer)
{
#define HB_PF(HH) \
    launch_pf_g<T, HH>(G, n, kv_heads, s, q, q_stride, tok, kc, vc, out, out_b, heads, max_batch, max_seq, layer)
    switch (hd) {
    case 16: HB_PF(16); break;
    case 32: HB_PF(32); break;
    case 64: HB_PF(64); break;
    default: HB_PF(128); break;
    }
#undef HB_PF
}

void hb_cuda_attention_prefill(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                               const void *vcache, bool kv_bf16, float *out, __nv_bfloat16 *out_b,
                               int heads, int kv_heads, int head_dim, int max_batch, int max_seq,
                               int layer, cudaStream_t s)
{
    if (n <= 0) return;
    int G = heads / kv_heads;
    if (kv_bf16)
        launch_pf_t<__nv_bfloat16>(head_dim, G, n, kv_heads, s, q, q_stride, tok, kcache, vcache, out, out_b,
                                   heads, max_batch, max_seq, layer);
    else
        launch_pf_t<float>(head_dim, G, n, kv_heads, s, q, q_stride, tok, kcache, vcache, out, out_b, heads,
                           max_batch, max_seq, layer);
}
