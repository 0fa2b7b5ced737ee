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
    const bool tvalid = ty < tn;
    const int mypos_all = tvalid ? tok[t0 + ty].pos : -1;
    for (int a = 0; a < tn;) { /* runs of tokens of one slot */
        const int slot = tok[t0 + a].slot;
        int b = a + 1, maxp = tok[t0 + a].pos;
        while (b < tn && tok[t0 + b].slot == slot) maxp = max(maxp, tok[t0 + b].pos), b++;
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
        a = b;
    }
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
