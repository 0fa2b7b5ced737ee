// attention_decode.cu - a decode step's RoPE, KV-cache write and attention in one kernel, for
// batches where every token is its slot's only one (so positions 0..P-1 of each slot were
// written by earlier steps). Math, token t at position P, KV head j and its query heads h
// (G = heads / kv_heads of them), d = head_dim, (c_i, s_i) = the RoPE table's row P:
//   rope(x):  (x_i, x_{i+d/2}) -> (x_i c_i - x_{i+d/2} s_i, x_{i+d/2} c_i + x_i s_i)
//   q_h = rope(q_h) / sqrt(d);  k_P = rope(k_j);  v_P = v_j;  cache row P of head j := k_P, v_P
//   run z of the positions 0..P (gridDim.z equal runs):
//     m_z = max_p q_h.k_p,  l_z = sum_p e^(q_h.k_p - m_z),  a_z = sum_p e^(q_h.k_p - m_z) v_p
//   o_h = sum_z e^(m_z - M) a_z / sum_z e^(m_z - M) l_z,  M = max_z m_z
// One block per (token, KV head, run), 8 warps, for the G query heads together (each K and V row
// read once). A lane owns 8 dimensions (one 16-byte load of bf16) of a row; each warp keeps its
// own online softmax over its rows (running maximum, exp-sum and value sums), 4 K rows and 4 V
// rows a lane in flight at once, with no barrier until the warps are merged at the end. The
// first chunk's rows are loaded before the wait on the previous kernel (they are older than
// this step, and every kernel of the stream waits before it lets its successor start, so the
// kernels that wrote them are complete); row P comes from the q/k/v product itself. Runs combine
// without another kernel: each block writes (a_z, m_z, l_z), and the last of a (token, KV
// head)'s blocks to finish (a counter) adds them; or, in the CUDA-core form where its blocks fit
// one an SM (batches 1 to 4), a (token, KV head)'s runs (at most DEC_CLUSTER_RUNS) are one thread-
// block cluster and store their (a_z, m_z, l_z) into its first block, which adds them: no trip
// through L2 and no counter (on the H200 the batch-1 step at context 512 took 1.871 against 1.89
// ms; as clusters, the tensor-core form at batch 8 ran a launch in 15.8 against 10.7 us, so it
// keeps the counter). From DEC_MMA_MIN_TOKENS tokens on, with
// head_dim 128 and bf16 entries, a tensor-core form of the same kernel runs (below): on the
// H200 at context 512 it took a launch at batch 32 / 64 from 26.1 / 48.9 to 23.2 / 44.2 us, but
// batch 1 from 7.3 to 8.2 us. Where its blocks are more than fit at two an SM (batch 64 at one
// run: 512 blocks), it runs in blocks of 4 warps, four an SM, so they all run in one wave. With
// pf both forms serve a prompt pass too, after the RoPE kernel
// has rotated q and written every token's row: then a block only attends (q scaled, rows 0..P
// all from the cache, loaded after the wait), one block a (token, KV head) as before.

#include <cooperative_groups.h>

#include "cuda_kernels.cuh"

namespace cg = cooperative_groups;

#define DEC_THREADS 256

// Eight cache entries, as loaded (converted where used, so loads stay in flight).
template <typename T> struct row8;
template <> struct row8<__nv_bfloat16> {
    uint4 r;
    __device__ void load(const __nv_bfloat16 *p) { r = *(const uint4 *)p; }
    __device__ void get(float *f) const
    {
        const __nv_bfloat162 *h = (const __nv_bfloat162 *)&r;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            float2 v = __bfloat1622float2(h[j]);
            f[2 * j] = v.x, f[2 * j + 1] = v.y;
        }
    }
};
template <> struct row8<float> {
    float4 a, b;
    __device__ void load(const float *p) { a = ((const float4 *)p)[0], b = ((const float4 *)p)[1]; }
    __device__ void get(float *f) const
    {
        f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
    }
};

// The start of both decode kernels, after the wait: the G query heads of token blockIdx.x
// rotated and scaled into qs (fp32, [G][HD]); when this run ends at P, k and v of row P (k
// rotated) written to the cache and kept, as stored, in kn and vn; then a barrier (after it
// the block's threads see row P in the cache too). pf (a prompt pass, after the RoPE kernel):
// q only scaled, nothing written. NT threads a block.
template <int G, int HD, typename T, int NT = DEC_THREADS>
__device__ __forceinline__ void decode_prologue(bool pf, float *qs, float *kn, float *vn, const float *q,
                                                const float *k, const float *v, int q_stride, int kv_stride,
                                                const float2 *rope, int P, int p_lo, int npos, T *kb, T *vb,
                                                int kvdim)
{
    const int kvh = blockIdx.y, h0 = kvh * G, half = HD / 2, tid = threadIdx.x;
    const float2 *cs = rope + (size_t)P * half;
    const float scale = rsqrtf((float)HD);
    const float *qt = q + (size_t)blockIdx.x * q_stride + (size_t)h0 * HD;
    if (pf) { /* q rotated and every row written by the RoPE kernel */
        for (int j = tid; j < G * HD; j += NT) qs[j] = qt[j] * scale;
        __syncthreads();
        return;
    }
    for (int j = tid; j < G * half; j += NT) {
        int g = j / half, i = j % half;
        float2 c = cs[i];
        float a = qt[g * HD + i], b = qt[g * HD + i + half];
        qs[g * HD + i] = (a * c.x - b * c.y) * scale;
        qs[g * HD + i + half] = (b * c.x + a * c.y) * scale;
    }
    if (npos > 0 && P < p_lo + npos) { /* this run ends at P: write row P */
        const float *kt = k + (size_t)blockIdx.x * kv_stride + kvh * HD;
        const float *vt = v + (size_t)blockIdx.x * kv_stride + kvh * HD;
        size_t rp = (size_t)(P - p_lo) * kvdim;
        for (int i = tid; i < half; i += NT) {
            float2 c = cs[i];
            float a = kt[i], b = kt[i + half];
            kn[i] = store_kv(kb + rp + i, a * c.x - b * c.y);
            kn[i + half] = store_kv(kb + rp + i + half, b * c.x + a * c.y);
        }
        for (int i = tid; i < HD; i += NT) vn[i] = store_kv(vb + rp + i, vt[i]);
    }
    __syncthreads();
}

// Whether this launch runs a (token, KV head)'s runs as one thread-block cluster (the CUDA-core form
// where hb_cuda_decode_cluster_runs says so): the kernel's start and decode_merge both ask it
__device__ __forceinline__ bool runs_as_cluster()
{
    return gridDim.z > 1 && cg::this_cluster().num_blocks() == gridDim.z;
}

// The runs' combine, by one block: o_h = sum_z w_z a_z with w_z = e^(m_z - M) / sum_z e^(m_z - M) l_z,
// M = max_z m_z (the weights a warp a query head, lane z run z), added in run order, so any two
// callers give the same results bit for bit. run(z, g, k) is entry k of run z's (a_z, m_z, l_z)
// for query head g (k = HD: m_z, HD + 1: l_z); an empty run has m_z = -inf, l_z = 0 and is skipped.
template <int G, int HD, int NT, typename R>
__device__ __forceinline__ void combine_runs(R run, float (*wz)[DEC_MAX_SPLITS], int nz, float *out,
                                             __nv_bfloat16 *out_b, size_t th0)
{
    constexpr int NW = NT / 32;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
#pragma unroll
    for (int i = 0; i < (G + NW - 1) / NW; i++) { /* blocks of fewer warps than heads take more */
        const int gw = warp + i * NW;
        if (gw >= G) break;
        float mz = lane < nz ? run(lane, gw, HD) : -INFINITY, M = mz;
        for (int o = 16; o > 0; o >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, o));
        float w = lane < nz && mz > -INFINITY ? __expf(mz - M) : 0.f;
        float L = w * (lane < nz ? run(lane, gw, HD + 1) : 0.f);
        for (int o = 16; o > 0; o >>= 1) L += __shfl_xor_sync(0xffffffffu, L, o);
        if (lane < nz) wz[gw][lane] = w / L;
    }
    __syncthreads();
    for (int j = tid; j < G * HD; j += NT) {
        int g = j / HD, d = j % HD;
        float a = 0;
        for (int zz = 0; zz < nz; zz++)
            if (wz[g][zz] != 0.f) a += wz[g][zz] * run(zz, g, d);
        store_out(out, out_b, (th0 + g) * HD + d, a);
    }
}

// The end of both decode kernels: the warps' partial results (wacc [NW][G][HD] value sums, wm /
// wl each warp's maximum and exp-sum, already in shared memory) merged; one run writes o_h, a
// run of several writes (a_z, m_z, l_z) and the last block of the (token, KV head) to finish
// adds the runs. CL (the CUDA-core form): when launched as clusters of a (token, KV head)'s nz
// runs, each run stores (a_z, m_z, l_z) straight into the shared memory of the cluster's first
// block (once every block has started: the kernel arrives at a cluster barrier as it starts and
// waits on it here), and after a second cluster barrier that block adds them (the others are
// done): no trip through L2, no counter, no remote reads. (On the H200 the step with batch 1 / 2
// / 3 took 1.840 / 1.842 / 1.882 ms this way against 1.851 / 1.863 / 1.900 where every block read
// the others' runs between two cluster barriers and added a share of the outputs.)
template <int G, int HD, int NT = DEC_THREADS, bool CL = false>
__device__ __forceinline__ void decode_merge(const float *wacc, const float (*wm)[G], const float (*wl)[G],
                                             float (*wz)[DEC_MAX_SPLITS], int *last, float *out,
                                             __nv_bfloat16 *out_b, float *part, unsigned *count, int heads,
                                             int kv_heads)
{
    constexpr int NW = NT / 32;
    const int kvh = blockIdx.y, h0 = kvh * G, nz = gridDim.z, z = blockIdx.z, tid = threadIdx.x;
    __syncthreads();
    const size_t th0 = (size_t)blockIdx.x * heads + h0; /* (token, first query head) */
    float *all = nullptr, *mine = nullptr; /* a cluster's runs, [nz][G][HD + 2], in its first block */
    if constexpr (CL) {
        __shared__ float runs_all[DEC_CLUSTER_RUNS][G][HD + 2];
        if (runs_as_cluster()) {
            all = &runs_all[0][0][0];
            mine = cg::this_cluster().map_shared_rank(all, 0u) + (size_t)z * G * (HD + 2);
        }
    }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (mine) /* every block of the cluster has started (the kernel's first arrive), so its shared memory may be written */
        asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
#endif
    for (int j = tid; j < G * HD; j += NT) {
        int g = j / HD, d = j % HD;
        float M = -INFINITY;
        for (int w = 0; w < NW; w++) M = fmaxf(M, wm[w][g]);
        float a = 0, L = 0;
        for (int w = 0; w < NW; w++)
            if (wm[w][g] > -INFINITY) {
                float f = __expf(wm[w][g] - M);
                a += f * wacc[(w * G + g) * HD + d];
                L += f * wl[w][g];
            }
        if (nz == 1) {
            store_out(out, out_b, (th0 + g) * HD + d, a / L);
        } else if (mine) {
            mine[g * (HD + 2) + d] = a;
            if (d == 0) mine[g * (HD + 2) + HD] = M, mine[g * (HD + 2) + HD + 1] = L;
        } else { /* an empty run: M = -inf, L = 0, and the combine skips it */
            float *pp = part + ((th0 + g) * nz + z) * (HD + 2);
            pp[d] = a;
            if (d == 0) pp[HD] = M, pp[HD + 1] = L;
        }
    }
    if (nz == 1) return;
    if (mine) {
        cg::cluster_group cl = cg::this_cluster();
        cl.sync(); /* every run's (a_z, m_z, l_z) stored (release, acquire) */
        if (cl.block_rank() != 0) return;
        combine_runs<G, HD, NT>([&](int zz, int g, int k) { return all[((size_t)zz * G + g) * (HD + 2) + k]; }, wz,
                                nz, out, out_b, th0);
        return;
    }
    /* the last block of this (token, KV head) to get here adds the runs */
    __threadfence();
    __syncthreads();
    unsigned *cnt = count + (size_t)blockIdx.x * kv_heads + kvh;
    if (tid == 0) *last = atomicAdd(cnt, 1u) == (unsigned)nz - 1;
    __syncthreads();
    if (!*last) return;
    __threadfence();
    combine_runs<G, HD, NT>(
        [&](int zz, int g, int k) { return __ldcg(part + ((th0 + g) * nz + zz) * (HD + 2) + k); }, wz, nz, out,
        out_b, th0);
    if (tid == 0) *cnt = 0; /* ready for the next layer */
}

// TP lanes a position (head_dim = 8 TP), RW positions a warp-wide load, U loads of K and of V a
// lane in flight (a chunk of CHUNK rows for the block).
template <typename T, int TP, int G>
__global__ void __launch_bounds__(DEC_THREADS, 2)
    attention_decode_kernel(const float *q, const float *k, const float *v, int q_stride,
                            int kv_stride, const dev_token *tok, const float2 *rope, T *kcache,
                            T *vcache, float *out, __nv_bfloat16 *out_b, float *part,
                            unsigned *count, int heads, int kv_heads, int max_batch, int max_seq,
                            int layer, bool pf)
{
    constexpr int HD = 8 * TP, RW = 32 / TP, NW = DEC_THREADS / 32, U = DEC_UNROLL;
    constexpr int STEP = NW * RW, CHUNK = STEP * U;
    extern __shared__ float smem[];
    __shared__ float wz[G][DEC_MAX_SPLITS], wm[NW][G], wl[NW][G];
    __shared__ int last;
    const int kvh = blockIdx.y, nz = gridDim.z, z = blockIdx.z;
    const int kvdim = kv_heads * HD, tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int d8 = (lane % TP) * 8, rb = warp * RW + lane / TP; /* this lane's row in each step */
    /* the step's tokens were copied before its first kernel */
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if (runs_as_cluster()) /* started: decode_merge waits for every block's */
        asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
#endif
    const dev_token t = tok[blockIdx.x];
    const int P = t.pos, chunk = (P + 1 + nz - 1) / nz, p_lo = z * chunk;
    const int npos = min(P + 1 - p_lo, chunk); /* <= 0: an empty run */
    const size_t row0 = cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * HD;
    T *kb = kcache + row0, *vb = vcache + row0;
    const int PE = P + pf; /* rows below PE come from the cache (pf: row P too) */
    row8<T> kr[U], vr[U];
    if (pf) pdl_enter(); /* the RoPE kernel just wrote the rows */
#pragma unroll
    for (int u = 0; u < U; u++) { /* the first chunk's rows older than P, before the wait (pf: after) */
        int r = rb + u * STEP;
        if (r < npos && p_lo + r < PE) {
            kr[u].load(kb + (size_t)r * kvdim + d8);
            vr[u].load(vb + (size_t)r * kvdim + d8);
        }
    }
    if (!pf) pdl_enter();
    float *qs = smem, *kn = qs + G * HD, *vn = kn + HD, *wacc = vn + HD; /* wacc: [NW][G][HD] */
    decode_prologue<G, HD>(pf, qs, kn, vn, q, k, v, q_stride, kv_stride, rope, P, p_lo, npos, kb, vb, kvdim);
    /* each warp: an online softmax over its rows (max m, exp-sum l, value sum acc per head) */
    float m[G], l[G], acc[G][8];
#pragma unroll
    for (int g = 0; g < G; g++) {
        m[g] = -INFINITY, l[g] = 0;
#pragma unroll
        for (int e = 0; e < 8; e++) acc[g][e] = 0;
    }
    for (int base = 0; base < npos; base += CHUNK) {
        if (base > 0)
#pragma unroll
            for (int u = 0; u < U; u++) {
                int r = base + rb + u * STEP;
                if (r < npos && p_lo + r < PE) {
                    kr[u].load(kb + (size_t)r * kvdim + d8);
                    vr[u].load(vb + (size_t)r * kvdim + d8);
                }
            }
        float s[U][G];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int r = base + rb + u * STEP;
            float kf[8];
            if (r < npos && p_lo + r < PE) kr[u].get(kf);
            else
#pragma unroll
                for (int e = 0; e < 8; e++) kf[e] = r < npos ? kn[d8 + e] : 0.f;
#pragma unroll
            for (int g = 0; g < G; g++) {
                float x = 0;
#pragma unroll
                for (int e = 0; e < 8; e++) x += qs[g * HD + d8 + e] * kf[e];
#pragma unroll
                for (int o = TP / 2; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
                s[u][g] = r < npos ? x : -INFINITY;
            }
        }
#pragma unroll
        for (int g = 0; g < G; g++) {
            float cm = s[0][g];
#pragma unroll
            for (int u = 1; u < U; u++) cm = fmaxf(cm, s[u][g]);
#pragma unroll
            for (int o = TP; o < 32; o <<= 1) cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, o));
            float mn = fmaxf(m[g], cm); /* the same in the whole warp */
            if (mn == -INFINITY) continue;
            float f = __expf(m[g] - mn);
            m[g] = mn, l[g] *= f;
#pragma unroll
            for (int e = 0; e < 8; e++) acc[g][e] *= f;
#pragma unroll
            for (int u = 0; u < U; u++) {
                s[u][g] = __expf(s[u][g] - mn);
                l[g] += s[u][g];
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            int r = base + rb + u * STEP;
            if (r >= npos) continue;
            float vf[8];
            if (p_lo + r < PE) vr[u].get(vf);
            else
#pragma unroll
                for (int e = 0; e < 8; e++) vf[e] = vn[d8 + e];
#pragma unroll
            for (int g = 0; g < G; g++) {
#pragma unroll
                for (int e = 0; e < 8; e++) acc[g][e] += s[u][g] * vf[e];
            }
        }
    }
    /* the warp's rows added (they share the warp's maximum), then the warps merged */
#pragma unroll
    for (int g = 0; g < G; g++) {
#pragma unroll
        for (int o = TP; o < 32; o <<= 1) {
            l[g] += __shfl_xor_sync(0xffffffffu, l[g], o);
#pragma unroll
            for (int e = 0; e < 8; e++) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], o);
        }
        if (lane < TP)
#pragma unroll
            for (int e = 0; e < 8; e++) wacc[(warp * G + g) * HD + d8 + e] = acc[g][e];
        if (lane == 0) wm[warp][g] = m[g], wl[warp][g] = l[g];
    }
    decode_merge<G, HD, DEC_THREADS, true>(wacc, wm, wl, wz, &last, out, out_b, part, count, heads, kv_heads);
}

// The tensor-core form, for head_dim 128 with bf16 cache entries and G <= 4 (base-3b's shape):
// the same blocks, runs and results, with the products on MMAs (bf16 in, fp32 accumulate; q and
// the probabilities rounded to bf16 for them, as flash attention does). A warp takes 8 rows at
// a time; the G query heads are the A rows (the other 16 - G zero), and a lane (g = lane / 4,
// c = lane % 4) loads its K and V pieces straight into fragment layout:
//   scores (m16n8k16, 8 of them): lane g holds K row g, 16 bytes at columns 32 j + 8 c (j =
//     0..3), and the k axis of each MMA is permuted to match (slots 2c, 2c + 1, 2c + 8, 2c + 9
//     of MMA 2j are columns 32 j + 8 c + 0..3, of MMA 2j + 1 + 4..7; q likewise), so lane
//     (g, c) ends with head g's scores of rows 2c and 2c + 1;
//   P V (m16n8k8, 16 of them): those two probabilities are the lane's A fragment as they are;
//     its B fragment is V rows 2c, 2c + 1 at one dim, so the lane loads dims 16 g .. 16 g + 15
//     of both rows and n8 tile t of the output is dims 16 n + t (n = 0..7): lane (g, c)
//     accumulates head g's dims 32 c + t and 32 c + 16 + t.
// Each lane group keeps head g's online softmax over the warp's rows.
__device__ __forceinline__ void mma_k16(float &d0, float &d1, unsigned a0, unsigned a2, unsigned b0, unsigned b1)
{
    /* rows g + 8 of the product (zero A rows) go to scratch registers */
    asm("{\n.reg .f32 x0, x1;\n"
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, x0, x1}, {%2, %3, %4, %3}, "
        "{%5, %6}, {%0, %1, %7, %7};\n}"
        : "+f"(d0), "+f"(d1)
        : "r"(a0), "r"(0u), "r"(a2), "r"(b0), "r"(b1), "f"(0.f));
}

__device__ __forceinline__ void mma_k8(float &d0, float &d1, unsigned a0, unsigned b0)
{
    asm("{\n.reg .f32 x0, x1;\n"
        "mma.sync.aligned.m16n8k8.row.col.f32.bf16.bf16.f32 {%0, %1, x0, x1}, {%2, %3}, {%4}, "
        "{%0, %1, %5, %5};\n}"
        : "+f"(d0), "+f"(d1)
        : "r"(a0), "r"(0u), "r"(b0), "f"(0.f));
}

template <int G, int NT = DEC_THREADS, bool PRE = false>
__global__ void __launch_bounds__(NT, PRE ? 4 : 512 / NT)
    attention_decode_mma_kernel(const float *q, const float *k, const float *v, int q_stride,
                                int kv_stride, const dev_token *tok, const float2 *rope,
                                __nv_bfloat16 *kcache, __nv_bfloat16 *vcache, float *out,
                                __nv_bfloat16 *out_b, float *part, unsigned *count, int heads,
                                int kv_heads, int max_batch, int max_seq, int layer, bool pf)
{
    constexpr int HD = 128, NW = NT / 32;
    extern __shared__ float smem[];
    __shared__ float wz[G][DEC_MAX_SPLITS], wm[NW][G], wl[NW][G];
    __shared__ int last;
    const int kvh = blockIdx.y, nz = gridDim.z, z = blockIdx.z;
    const int kvdim = kv_heads * HD, warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2,
              c = lane & 3;
    const dev_token t = tok[blockIdx.x];
    const int P = t.pos, chunk = (P + 1 + nz - 1) / nz, p_lo = z * chunk;
    const int npos = min(P + 1 - p_lo, chunk); /* <= 0: an empty run */
    const size_t row0 = cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * HD;
    const __nv_bfloat16 *kr = kcache + row0 + 8 * c, *vr = vcache + row0 + 16 * g; /* this lane's columns */
    /* a group of 8 rows from r0 on (rows past the run read its last row, then masked; through L2,
     * as row P was written by this block): lane g's K row g, V rows 2c and 2c + 1 */
    uint4 ka[4], va[2][2];
    auto load_group = [&](int r0, uint4(&kx)[4], uint4(&vx)[2][2]) {
        const int rk = min(r0 + g, npos - 1), rv0 = min(r0 + 2 * c, npos - 1), rv1 = min(r0 + 2 * c + 1, npos - 1);
#pragma unroll
        for (int j = 0; j < 4; j++) kx[j] = __ldcg((const uint4 *)(kr + (size_t)rk * kvdim + 32 * j));
        vx[0][0] = __ldcg((const uint4 *)(vr + (size_t)rv0 * kvdim));
        vx[0][1] = __ldcg((const uint4 *)(vr + (size_t)rv0 * kvdim + 8));
        vx[1][0] = __ldcg((const uint4 *)(vr + (size_t)rv1 * kvdim));
        vx[1][1] = __ldcg((const uint4 *)(vr + (size_t)rv1 * kvdim + 8));
    };
    /* the warp's first group before the wait and the prologue when all its rows are older than
     * this step (written by earlier steps' kernels, which are complete), as the CUDA-core form does
     * (on the H200 a launch at batch 8 / 32 / 64 took 10.6 / 21.6 / 39.2 against 11.1 / 22.4 / 40.0
     * us; the step at batch 8 and 32 0.3-0.4 % shorter, at 64 the same) */
    const bool early = !pf && warp * 8 + 8 <= npos && p_lo + warp * 8 + 8 <= P;
    if (early) load_group(warp * 8, ka, va);
    pdl_enter();
    float *qs = smem, *kn = qs + G * HD, *vn = kn + HD, *wacc = vn + HD; /* wacc: [NW][G][HD] */
    decode_prologue<G, HD, __nv_bfloat16, NT>(pf, qs, kn, vn, q, k, v, q_stride, kv_stride, rope, P, p_lo, npos,
                                              kcache + row0, vcache + row0, kvdim);
    /* head g's A fragments, packed to bf16 once in shared memory and read as each group of rows
     * needs them (held in registers they cost 16 a lane, and the kernel spilled): row g, uint4
     * 4 j + c holds MMA 2j's (a0, a2) and MMA 2j + 1's; rows G..7 zero; rows 20 uint4 apart, so
     * the 8 rows a load touches fall in different banks */
    __shared__ uint4 qpk[8][20];
    for (int i = threadIdx.x; i < 8 * 16; i += NT) {
        const int gg = i >> 4, jc = i & 15;
        uint4 u = make_uint4(0u, 0u, 0u, 0u);
        if (gg < G) {
            const float *qr = qs + gg * HD + 32 * (jc >> 2) + 8 * (jc & 3);
            u = make_uint4(pack_bf16(qr[0], qr[1]), pack_bf16(qr[2], qr[3]), pack_bf16(qr[4], qr[5]),
                           pack_bf16(qr[6], qr[7]));
        }
        qpk[gg][jc] = u;
    }
    __syncthreads();
    float m = -INFINITY, l = 0.f, o[16][2];
#pragma unroll
    for (int i = 0; i < 16; i++) o[i][0] = o[i][1] = 0.f;
    /* the products of a group of 8 rows from r0 on, loaded in kx, vx */
    auto group = [&](int r0, const uint4(&kx)[4], const uint4(&vx)[2][2]) {
        float s0 = 0.f, s1 = 0.f; /* head g, rows r0 + 2c, r0 + 2c + 1 */
#pragma unroll
        for (int j = 0; j < 4; j++) {
            const uint4 qa = qpk[g][4 * j + c];
            mma_k16(s0, s1, qa.x, qa.y, kx[j].x, kx[j].y);
            mma_k16(s0, s1, qa.z, qa.w, kx[j].z, kx[j].w);
        }
        if (r0 + 2 * c >= npos) s0 = -INFINITY;
        if (r0 + 2 * c + 1 >= npos) s1 = -INFINITY;
        float cm = fmaxf(s0, s1);
        cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, 1));
        cm = fmaxf(cm, __shfl_xor_sync(0xffffffffu, cm, 2));
        const float mn = fmaxf(m, cm); /* finite: row r0 < npos is in every group of 8 */
        const float f = __expf(m - mn);
        m = mn;
        s0 = __expf(s0 - mn), s1 = __expf(s1 - mn);
        l = l * f + s0 + s1;
        const unsigned pa = pack_bf16(s0, s1);
#pragma unroll
        for (int tt = 0; tt < 16; tt++) {
            const int w = (tt & 7) >> 1, hsel = tt & 1 ? 0x7632 : 0x5410, half = tt >> 3;
            const unsigned w0 = (&vx[0][half].x)[w], w1 = (&vx[1][half].x)[w];
            o[tt][0] *= f, o[tt][1] *= f;
            mma_k8(o[tt][0], o[tt][1], pa, __byte_perm(w0, w1, hsel));
        }
    };
    if constexpr (PRE) { /* the next group's rows requested before this one's products (two groups a
                          * warp in flight; blocks of fewer warps with more registers) */
        if (!early && warp * 8 < npos) load_group(warp * 8, ka, va);
#pragma unroll 1
        for (int r0 = warp * 8; r0 < npos; r0 += NW * 8) {
            uint4 kc[4], vc[2][2];
#pragma unroll
            for (int j = 0; j < 4; j++) kc[j] = ka[j];
            vc[0][0] = va[0][0], vc[0][1] = va[0][1], vc[1][0] = va[1][0], vc[1][1] = va[1][1];
            if (r0 + NW * 8 < npos) load_group(r0 + NW * 8, ka, va);
            group(r0, kc, vc);
        }
    } else {
#pragma unroll 1
        for (int r0 = warp * 8; r0 < npos; r0 += NW * 8) {
            if (!early || r0 != warp * 8) load_group(r0, ka, va); /* the 8 rows' loads first */
            group(r0, ka, va);
        }
    }
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (g < G) {
#pragma unroll
        for (int tt = 0; tt < 16; tt++) {
            wacc[(warp * G + g) * HD + 32 * c + tt] = o[tt][0];
            wacc[(warp * G + g) * HD + 32 * c + 16 + tt] = o[tt][1];
        }
        if (c == 0) wm[warp][g] = m, wl[warp][g] = l;
    }
    decode_merge<G, HD, NT>(wacc, wm, wl, wz, &last, out, out_b, part, count, heads, kv_heads);
}

static size_t decode_smem(int G, int hd)
{
    return ((size_t)G * hd + 2 * (size_t)hd + (size_t)(DEC_THREADS / 32) * G * hd) * sizeof(float);
}

bool hb_cuda_decode_fusable(int heads, int kv_heads, int head_dim)
{
    if (hb_cuda_att_kernel_forced()) return false; /* the separate RoPE path */
    int G = heads / kv_heads;
    bool dims = head_dim == 8 || head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128;
    return dims && G <= ATT_MAX_GROUP; /* any context: the scores are not kept */
}

int hb_cuda_decode_splits(int n, int heads, int kv_heads, int max_pos, int sms, int part_runs)
{
    /* as many runs as keep the blocks within DEC_BLOCKS_PER_SM an SM (one wave), at most
     * DEC_POLICY_SPLITS: the sweep of bench/cuda_kernel_bench (bf16, context 512, H200, 132
     * SMs): batch 1, 8 KV heads: 8.7 / 7.4 / 7.1 / 8.3 / 9.6 us in 4 / 8 / 16 / 17 / 32 runs;
     * batch 8: 18.5 / 13.9 / 11.9 / 16.4 us in 1 / 2 / 4 / 8; batch 32 and 64 fastest in 1 */
    int blocks = n * kv_heads;
    if (blocks <= 0) return 1;
    int nz = DEC_BLOCKS_PER_SM * sms / blocks;
    int by_len = (max_pos + 1 + ATT_MIN_RUN - 1) / ATT_MIN_RUN;
    if (nz > by_len) nz = by_len;
    if (nz > DEC_POLICY_SPLITS) nz = DEC_POLICY_SPLITS;
    if ((size_t)nz * n * heads > (size_t)part_runs) nz = part_runs / (n * heads);
    return nz < 2 ? 1 : nz;
}

template <typename T, int TP, int G>
static void launch_decode(dim3 grid, unsigned cz, size_t smem, cudaStream_t s, const float *q, const float *k,
                          const float *v, int q_stride, int kv_stride, const dev_token *tok,
                          const float2 *rope, void *kc, void *vc, float *out, __nv_bfloat16 *out_b,
                          float *part, unsigned *count, int heads, int kv_heads, int max_batch,
                          int max_seq, int layer, bool pf)
{
    hb_launch_clusters(attention_decode_kernel<T, TP, G>, grid, DEC_THREADS, smem, s, dim3(1, 1, cz), q, k, v, q_stride,
                       kv_stride, tok, rope, (T *)kc, (T *)vc, out, out_b, part, count, heads, kv_heads, max_batch, max_seq, layer, pf);
}

template <typename T, int TP>
static void launch_decode_g(int G, dim3 grid, unsigned cz, size_t smem, cudaStream_t s, const float *q,
                            const float *k, const float *v, int q_stride, int kv_stride,
                            const dev_token *tok, const float2 *rope, void *kc, void *vc,
                            float *out, __nv_bfloat16 *out_b, float *part, unsigned *count,
                            int heads, int kv_heads, int max_batch, int max_seq, int layer, bool pf)
{
    hb_dispatch_1to4(G, [&](auto g) {
        launch_decode<T, TP, decltype(g)::value>(grid, cz, smem, s, q, k, v, q_stride, kv_stride, tok, rope, kc,
                                                 vc, out, out_b, part, count, heads, kv_heads, max_batch,
                                                 max_seq, layer, pf);
    });
}

template <typename T>
static void launch_decode_t(int hd, int G, dim3 grid, unsigned cz, size_t smem, cudaStream_t s, const float *q,
                            const float *k, const float *v, int q_stride, int kv_stride,
                            const dev_token *tok, const float2 *rope, void *kc, void *vc,
                            float *out, __nv_bfloat16 *out_b, float *part, unsigned *count,
                            int heads, int kv_heads, int max_batch, int max_seq, int layer, bool pf)
{
#define HB_DEC(TP)                                                                                    \
    launch_decode_g<T, TP>(G, grid, cz, smem, s, q, k, v, q_stride, kv_stride, tok, rope, kc, vc, out,   \
                           out_b, part, count, heads, kv_heads, max_batch, max_seq, layer, pf)
    switch (hd) {
    case 8: HB_DEC(1); break;
    case 16: HB_DEC(2); break;
    case 32: HB_DEC(4); break;
    case 64: HB_DEC(8); break;
    default: HB_DEC(16); break;
    }
#undef HB_DEC
}

int hb_cuda_dec_mma = -1;
int hb_cuda_dec_mma_min = DEC_MMA_MIN_TOKENS;
int hb_cuda_dec_cluster = -1;

/* the current device's SMs (0 where it cannot be read), asked once a device */
static int sm_count()
{
    static std::atomic<int> known[HB_DEVICE_CACHE];
    return hb_device_once(known, [](int dev) {
        int n = 0;
        return cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess ? n : 0;
    });
}

bool hb_cuda_decode_mma(int n, int heads, int kv_heads, int head_dim, bool kv_bf16)
{
    return hb_env_on(hb_cuda_dec_mma, "HB_DEC_MMA") && n >= hb_cuda_dec_mma_min && kv_bf16 && head_dim == 128 &&
           heads / kv_heads <= ATT_MAX_GROUP;
}

int hb_cuda_decode_cluster_runs(int n, int kv_heads, int splits)
{
    /* at most DEC_CLUSTER_RUNS, and cut to fit one block an SM, but not below DEC_CLUSTER_MIN_CUT
     * (on the H200 at context 512: batch 3 in 5 runs as a cluster took 1.937 against 1.977 ms in
     * 11 through the counter, batch 4 in 4 the same; batches 6 and 7 in 2 runs took 2.17 against
     * 2.05 and 2.09 ms in 5 and 4) */
    const int cap = splits < DEC_CLUSTER_RUNS ? splits : DEC_CLUSTER_RUNS, blocks = n * kv_heads;
    const int fit = blocks > 0 ? sm_count() / blocks : 0, runs = cap < fit ? cap : fit;
    if (!hb_env_on(hb_cuda_dec_cluster, "HB_DEC_CLUSTER") || runs < 2 || (runs < cap && runs < DEC_CLUSTER_MIN_CUT)) return 1;
    return runs;
}

void hb_cuda_attention_decode(const float *q, const float *k, const float *v, int q_stride,
                              int kv_stride, const dev_token *tok, int n, const float2 *rope,
                              void *kcache, void *vcache, bool kv_bf16, float *out,
                              __nv_bfloat16 *out_b, float *part, unsigned *count, int splits,
                              int heads, int kv_heads, int head_dim, int max_batch, int max_seq,
                              int layer, bool pf, cudaStream_t s)
{
    dim3 grid(n, kv_heads, splits);
    size_t smem = decode_smem(heads / kv_heads, head_dim);
    if (hb_cuda_decode_mma(n, heads, kv_heads, head_dim, kv_bf16)) {
        __nv_bfloat16 *kc = (__nv_bfloat16 *)kcache, *vc = (__nv_bfloat16 *)vcache;
        /* more blocks than fit at two an SM (batch 64: 512): blocks of 3 warps, four an SM, so all
         * run in one wave instead of two (on the H200, in blocks of 4 warps, a launch at batch 64
         * took 38.7 against 42.7 us, the step 3.28 against 3.38 ms), each warp with its next group
         * of rows in flight while it multiplies this one (PRE: four blocks of 3 warps an SM leave
         * the registers for it; a launch 38.0 against 38.8 us, the step 3.25-3.29 against 3.31 ms) */
        const bool w4 = (long)n * kv_heads * splits > (long)DEC_BLOCKS_PER_SM * sm_count();
        hb_dispatch_1to4(heads / kv_heads, [&](auto g) {
            constexpr int G = decltype(g)::value;
            hb_launch(w4 ? attention_decode_mma_kernel<G, 96, true> : attention_decode_mma_kernel<G>, grid,
                      w4 ? 96 : DEC_THREADS, smem, s, q, k, v, q_stride, kv_stride, tok, rope, kc, vc, out, out_b,
                      part, count, heads, kv_heads, max_batch, max_seq, layer, pf);
        });
        return;
    }
    const int cz = hb_cuda_decode_cluster_runs(n, kv_heads, splits);
    if (cz > 1) grid.z = (unsigned)cz;
    if (kv_bf16)
        launch_decode_t<__nv_bfloat16>(head_dim, heads / kv_heads, grid, (unsigned)cz, smem, s, q, k, v, q_stride, kv_stride, tok, rope,
                                       kcache, vcache, out, out_b, part, count, heads, kv_heads,
                                       max_batch, max_seq, layer, pf);
    else
        launch_decode_t<float>(head_dim, heads / kv_heads, grid, (unsigned)cz, smem, s, q, k, v, q_stride, kv_stride, tok, rope, kcache,
                               vcache, out, out_b, part, count, heads, kv_heads, max_batch, max_seq,
                               layer, pf);
}
