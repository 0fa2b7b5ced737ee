// kernels.cu - embedding gather, RMSNorm, RoPE + KV write, decode/prefill attention and the
// elementwise kernels of the CUDA backend. Math (per token):
//   embed:     x = E[id]  or  x = sum_k A[k * rows + code_k]
//   rmsnorm:   out = w * x / sqrt(mean(x^2) + eps)            (fp32)
//   rope:      (a, b) = (v[i], v[i + d/2]) -> (a cos - b sin, b cos + a sin), angle = pos * f_i
//              (cos, sin from a table made once, in double precision)
//   attention: o_h = sum_p softmax_p(q_h . k_p / sqrt(d)) v_p over p <= pos, kv head h / group
//   swiglu:    out = g / (1 + e^-g) * u
#include <stdlib.h>
#include <string.h>

#include <algorithm>

#include "cuda_kernels.cuh"

__device__ __forceinline__ float load_w(const void *w, bool bf16, size_t i)
{
    return bf16 ? __bfloat162float(((const __nv_bfloat16 *)w)[i]) : ((const float *)w)[i];
}

__device__ __forceinline__ float block_sum(float v, float *red)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) red[warp] = v;
    __syncthreads();
    float t = threadIdx.x < nw ? red[threadIdx.x] : 0.f;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(0xffffffffu, t, o);
    if (threadIdx.x == 0) red[0] = t;
    __syncthreads();
    return red[0];
}

// Token blockIdx.x, dimensions blockIdx.y x 256 on: a thread an entry, its (up to 8) rows' loads
// independent. (A block a token, each thread looping over the row, waited on one entry's loads
// after another: 9 us for one token on the H200.)
#define EMBED_THREADS 256
__global__ void __launch_bounds__(EMBED_THREADS) embed_kernel(const dev_token *tok, const void *embed,
                                                              const void *audio_embed, bool bf16,
                                                              int hidden, int rows, float *x)
{
    pdl_enter();
    const dev_token t = tok[blockIdx.x];
    const int d = blockIdx.y * EMBED_THREADS + threadIdx.x;
    if (d >= hidden) return;
    float v = 0;
    if (!t.audio) {
        v = load_w(embed, bf16, (size_t)t.text_id * hidden + d);
    } else {
        float e[HB_NUM_CODEBOOKS];
#pragma unroll
        for (int k = 0; k < HB_NUM_CODEBOOKS; k++)
            e[k] = load_w(audio_embed, bf16, ((size_t)k * rows + t.codes[k]) * hidden + d);
#pragma unroll
        for (int k = 0; k < HB_NUM_CODEBOOKS; k++) v += e[k]; /* in codebook order */
    }
    x[(size_t)blockIdx.x * hidden + d] = v;
}

void hb_cuda_embed(const dev_token *tok, int n, const void *embed, const void *audio_embed,
                   bool bf16, int hidden, int rows, float *x, cudaStream_t s)
{
    hb_launch(embed_kernel, dim3(n, (hidden + EMBED_THREADS - 1) / EMBED_THREADS), EMBED_THREADS, 0, s, tok, embed,
              audio_embed, bf16, hidden, rows, x);
}

// Row r of the launch: x row idx[r] (or r). With add: that x row first gets add's row (add row
// idx[r] when add_by_row, else r) added in place, the residual fused into the norm. Output row
// idx[r] when out_by_row, else r.
__global__ void rmsnorm_kernel(float *x, const float *add, bool add_by_row, const dev_token *tok,
                               const int32_t *idx, const float *w_text, const float *w_audio,
                               void *out, bool out_by_row, bool out_bf16, int hidden, float eps)
{
    pdl_enter();
    __shared__ float red[32];
    int row = idx ? idx[blockIdx.x] : blockIdx.x;
    float *xr = x + (size_t)row * hidden;
    const float *w = (tok && tok[blockIdx.x].audio) ? w_audio : w_text;
    if (add) { /* each thread adds and then reads back only its own elements */
        const float *ar = add + (size_t)(add_by_row ? row : (int)blockIdx.x) * hidden;
        for (int d = threadIdx.x; d < hidden; d += blockDim.x) xr[d] += ar[d];
    }
    float ss = 0;
    for (int d = threadIdx.x; d < hidden; d += blockDim.x) ss += xr[d] * xr[d];
    ss = block_sum(ss, red);
    float inv = rsqrtf(ss / hidden + eps);
    size_t o = (size_t)(out_by_row ? row : (int)blockIdx.x) * hidden;
    if (out_bf16) /* straight into a cuBLAS input */
        for (int d = threadIdx.x; d < hidden; d += blockDim.x)
            ((__nv_bfloat16 *)out)[o + d] = __float2bfloat16(w[d] * (xr[d] * inv));
    else
        for (int d = threadIdx.x; d < hidden; d += blockDim.x) ((float *)out)[o + d] = w[d] * (xr[d] * inv);
}

// The same with the row in registers: NV float4 a thread (hidden = 4 x 256 x NV at most, a
// multiple of 4), every load of a row issued at once, the weights loaded before the wait on the
// previous kernel (the token list and index lists come from the step's copies, done before any
// kernel). The loop form above waits on each load in turn: 9.4 us for one 3072-float row on the
// H200 (ncu), a latency chain a layer runs twice.
#define NORM_THREADS 256
template <int NV>
__global__ void __launch_bounds__(NORM_THREADS)
    rmsnorm_vec_kernel(float *x, const float *add, bool add_by_row, const dev_token *tok,
                       const int32_t *idx, const float *w_text, const float *w_audio, void *out,
                       bool out_by_row, bool out_bf16, int hidden, float eps)
{
    __shared__ float red[32];
    int row = idx ? idx[blockIdx.x] : blockIdx.x, nv = hidden / 4;
    const float4 *w = (const float4 *)((tok && tok[blockIdx.x].audio) ? w_audio : w_text);
    float4 wv[NV], xv[NV];
#pragma unroll
    for (int j = 0; j < NV; j++) {
        int i = threadIdx.x + j * NORM_THREADS;
        if (i < nv) wv[j] = w[i];
    }
    pdl_enter();
    float4 *xr = (float4 *)(x + (size_t)row * hidden);
    const float4 *ar = add ? (const float4 *)(add + (size_t)(add_by_row ? row : (int)blockIdx.x) * hidden) : nullptr;
    float ss = 0;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        int i = threadIdx.x + j * NORM_THREADS;
        if (i < nv) {
            xv[j] = xr[i];
            if (ar) {
                float4 a = ar[i];
                xv[j].x += a.x, xv[j].y += a.y, xv[j].z += a.z, xv[j].w += a.w;
            }
        }
    }
#pragma unroll
    for (int j = 0; j < NV; j++) {
        int i = threadIdx.x + j * NORM_THREADS;
        if (i < nv) {
            if (ar) xr[i] = xv[j]; /* the residual add, in place */
            ss += xv[j].x * xv[j].x + xv[j].y * xv[j].y + xv[j].z * xv[j].z + xv[j].w * xv[j].w;
        }
    }
    ss = block_sum(ss, red);
    float inv = rsqrtf(ss / hidden + eps);
    size_t o = (size_t)(out_by_row ? row : (int)blockIdx.x) * hidden;
#pragma unroll
    for (int j = 0; j < NV; j++) {
        int i = threadIdx.x + j * NORM_THREADS;
        if (i >= nv) continue;
        float4 r = make_float4(wv[j].x * (xv[j].x * inv), wv[j].y * (xv[j].y * inv), wv[j].z * (xv[j].z * inv),
                               wv[j].w * (xv[j].w * inv));
        if (out_bf16) {
            __nv_bfloat162 *ob = (__nv_bfloat162 *)((__nv_bfloat16 *)out + o) + 2 * i;
            ob[0] = __floats2bfloat162_rn(r.x, r.y);
            ob[1] = __floats2bfloat162_rn(r.z, r.w);
        } else {
            ((float4 *)((float *)out + o))[i] = r;
        }
    }
}

static void launch_rmsnorm(int n, cudaStream_t s, float *x, const float *add, bool add_by_row,
                           const dev_token *tok, const int32_t *idx, const float *w_text,
                           const float *w_audio, void *out, bool out_by_row, bool out_bf16, int hidden,
                           float eps)
{
    int nv = hidden / 4, per = (nv + NORM_THREADS - 1) / NORM_THREADS;
    if (hidden % 4 != 0 || per > 4) {
        hb_launch(rmsnorm_kernel, n, 256, 0, s, x, add, add_by_row, tok, idx, w_text, w_audio, out,
                  out_by_row, out_bf16, hidden, eps);
        return;
    }
    hb_dispatch_1to4(per, [&](auto nv) {
        hb_launch(rmsnorm_vec_kernel<decltype(nv)::value>, n, NORM_THREADS, 0, s, x, add, add_by_row, tok, idx,
                  w_text, w_audio, out, out_by_row, out_bf16, hidden, eps);
    });
}

void hb_cuda_rmsnorm_path(float *x, const dev_token *tok, int n, const float *w_text,
                          const float *w_audio, float *out, int hidden, float eps, cudaStream_t s)
{
    launch_rmsnorm(n, s, x, nullptr, false, tok, nullptr, w_text, w_audio, (void *)out, false, false,
                   hidden, eps);
}

void hb_cuda_rmsnorm_gather(float *x, const int32_t *idx, int n, const float *w, float *out,
                            int hidden, float eps, cudaStream_t s)
{
    launch_rmsnorm(n, s, x, nullptr, false, nullptr, idx, w, w, (void *)out, false, false, hidden, eps);
}

void hb_cuda_rmsnorm_bf16(float *x, const float *add, bool add_by_row, const dev_token *tok,
                          const int32_t *idx, int n, const float *w_text, const float *w_audio,
                          __nv_bfloat16 *out, bool out_by_row, int hidden, float eps, cudaStream_t s)
{
    launch_rmsnorm(n, s, x, add, add_by_row, tok, idx, w_text, w_audio, (void *)out, out_by_row, true,
                   hidden, eps);
}

__device__ __forceinline__ float4 load4(const float *p) { return *(const float4 *)p; }
__device__ __forceinline__ float4 load4(const __nv_bfloat16 *p)
{
    uint2 raw = *(const uint2 *)p;
    float2 a = __bfloat1622float2(*(const __nv_bfloat162 *)&raw.x);
    float2 b = __bfloat1622float2(*(const __nv_bfloat162 *)&raw.y);
    return make_float4(a.x, a.y, b.x, b.y);
}

template <typename T>
__global__ void rope_kv_kernel(float *q, float *k, const float *v, int q_stride, int kv_stride,
                               const dev_token *tok, const float2 *rope, int heads,
                               int kv_heads, int hd, T *kcache, T *vcache, int max_batch,
                               int max_seq, int layer)
{
    pdl_enter();
    const dev_token t = tok[blockIdx.x];
    int half = hd / 2, kvdim = kv_heads * hd;
    float *qi = q + (size_t)blockIdx.x * q_stride, *ki = k + (size_t)blockIdx.x * kv_stride;
    const float *vi = v + (size_t)blockIdx.x * kv_stride;
    const float2 *cs = rope + (size_t)t.pos * half;
    for (int j = threadIdx.x; j < (heads + kv_heads) * half; j += blockDim.x) {
        int h = j / half, i = j % half;
        float *vec = h < heads ? qi + h * hd : ki + (h - heads) * hd;
        float2 c = cs[i];
        float a = vec[i], b = vec[i + half];
        vec[i] = a * c.x - b * c.y;
        vec[i + half] = b * c.x + a * c.y;
    }
    __syncthreads();
    size_t off = cache_off(layer, t.slot, t.pos, max_batch, max_seq, kvdim);
    for (int d = threadIdx.x; d < kvdim; d += blockDim.x) {
        store_kv(kcache + off + d, ki[d]);
        store_kv(vcache + off + d, vi[d]);
    }
}

// Four cache entries at p (8-byte aligned for bf16, 16 for fp32)
__device__ __forceinline__ void store4_kv(float *p, float4 v) { *(float4 *)p = v; }
__device__ __forceinline__ void store4_kv(__nv_bfloat16 *p, float4 v)
{
    __nv_bfloat162 *o = (__nv_bfloat162 *)p;
    o[0] = __floats2bfloat162_rn(v.x, v.y);
    o[1] = __floats2bfloat162_rn(v.z, v.w);
}

// The same with every load of a token issued before any store (the loop above waits on each
// round in turn: 8.9 us a layer for a 129-token prompt on the H200): thread j rotates dimensions
// 4 (j % (hd / 8)) .. + 3 of a half of head j / (hd / 8) (the q heads, then the KV heads) and
// writes a KV head's rotated k straight to the cache; threads below kv_heads hd / 4 copy 4 values
// of v. Needs hd a multiple of 8, strides and pointers 16-byte aligned, a block of at most 1024
// threads (hb_cuda_rope_kv checks).
template <typename T>
__global__ void rope_kv_vec_kernel(float *q, float *k, const float *v, int q_stride, int kv_stride,
                                   const dev_token *tok, const float2 *rope, int heads, int kv_heads, int hd,
                                   T *kcache, T *vcache, int max_batch, int max_seq, int layer)
{
    pdl_enter();
    const dev_token t = tok[blockIdx.x];
    const int half = hd / 2, nq = half / 4, kvdim = kv_heads * hd, j = threadIdx.x;
    const size_t off = cache_off(layer, t.slot, t.pos, max_batch, max_seq, kvdim);
    float4 vv = make_float4(0.f, 0.f, 0.f, 0.f);
    const bool vcopy = j < kvdim / 4;
    if (vcopy) vv = ((const float4 *)(v + (size_t)blockIdx.x * kv_stride))[j];
    if (j < (heads + kv_heads) * nq) {
        const int h = j / nq, i = 4 * (j % nq);
        float *vec = h < heads ? q + (size_t)blockIdx.x * q_stride + (size_t)h * hd
                               : k + (size_t)blockIdx.x * kv_stride + (size_t)(h - heads) * hd;
        const float4 a = *(const float4 *)(vec + i), b = *(const float4 *)(vec + i + half);
        const float4 c0 = *(const float4 *)(rope + (size_t)t.pos * half + i); /* (c, s) of i, i + 1 */
        const float4 c1 = *(const float4 *)(rope + (size_t)t.pos * half + i + 2);
        const float4 ra = make_float4(a.x * c0.x - b.x * c0.y, a.y * c0.z - b.y * c0.w, a.z * c1.x - b.z * c1.y,
                                      a.w * c1.z - b.w * c1.w);
        const float4 rb = make_float4(b.x * c0.x + a.x * c0.y, b.y * c0.z + a.y * c0.w, b.z * c1.x + a.z * c1.y,
                                      b.w * c1.z + a.w * c1.w);
        *(float4 *)(vec + i) = ra;
        *(float4 *)(vec + i + half) = rb;
        if (h >= heads) {
            T *kc = kcache + off + (size_t)(h - heads) * hd;
            store4_kv(kc + i, ra);
            store4_kv(kc + i + half, rb);
        }
    }
    if (vcopy) store4_kv(vcache + off + 4 * j, vv);
}

int hb_cuda_rope_vec = 1;

void hb_cuda_rope_kv(float *q, float *k, const float *v, int q_stride, int kv_stride,
                     const dev_token *tok, int n, const float2 *rope, int heads, int kv_heads,
                     int head_dim, void *kcache, void *vcache, bool kv_bf16, int max_batch,
                     int max_seq, int layer, cudaStream_t s)
{
    const int threads = std::max((heads + kv_heads) * head_dim / 8, kv_heads * head_dim / 4);
    const bool aligned = ((uintptr_t)q | (uintptr_t)k | (uintptr_t)v | (uintptr_t)rope) % 16 == 0 &&
                         q_stride % 4 == 0 && kv_stride % 4 == 0;
    if (hb_cuda_rope_vec && head_dim % 8 == 0 && aligned && threads <= 1024) {
        const int nt = (threads + 31) / 32 * 32;
        if (kv_bf16)
            hb_launch(rope_kv_vec_kernel<__nv_bfloat16>, n, nt, 0, s, q, k, v, q_stride, kv_stride, tok, rope,
                      heads, kv_heads, head_dim, (__nv_bfloat16 *)kcache, (__nv_bfloat16 *)vcache, max_batch,
                      max_seq, layer);
        else
            hb_launch(rope_kv_vec_kernel<float>, n, nt, 0, s, q, k, v, q_stride, kv_stride, tok, rope, heads,
                      kv_heads, head_dim, (float *)kcache, (float *)vcache, max_batch, max_seq, layer);
        return;
    }
    if (kv_bf16)
        hb_launch(rope_kv_kernel<__nv_bfloat16>, n, 256, 0, s, q, k, v, q_stride, kv_stride, tok,
                  rope, heads, kv_heads, head_dim, (__nv_bfloat16 *)kcache,
                  (__nv_bfloat16 *)vcache, max_batch, max_seq, layer);
    else
        hb_launch(rope_kv_kernel<float>, n, 256, 0, s, q, k, v, q_stride, kv_stride, tok, rope,
                  heads, kv_heads, head_dim, (float *)kcache, (float *)vcache, max_batch, max_seq,
                  layer);
}


// Scores sc[0..npos) of one head become exp(sc - max) in place; the maximum and the sum of the
// exponentials go to every thread. Ends with a barrier: every score is final.
__device__ void softmax_scores(float *sc, int npos, float *red, float *mx_out, float *sum_out)
{
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nw = blockDim.x >> 5;
    float mx = -INFINITY;
    for (int p = threadIdx.x; p < npos; p += blockDim.x) mx = fmaxf(mx, sc[p]);
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[warp] = mx;
    __syncthreads();
    mx = red[0];
    for (int w = 1; w < nw; w++) mx = fmaxf(mx, red[w]);
    __syncthreads();
    float sum = 0;
    for (int p = threadIdx.x; p < npos; p += blockDim.x) {
        float e = __expf(sc[p] - mx);
        sc[p] = e;
        sum += e;
    }
    *mx_out = mx;
    *sum_out = block_sum(sum, red);
}

// One block per (token, query head, split), 8 warps. (A block per KV head serving its query
// heads together, one pass with an online softmax, measured slower on the H200: 20 vs 15 us at
// batch 1 and 224 vs 155 us at batch 64 with bf16 entries, its warps waiting on each position's
// reductions; the query heads of a group run at once here and share the K/V rows through L2.)
// Scores: a warp per position, each lane 4
// elements of the head (float4), a shuffle reduction; kept in shared memory. Values: each warp
// sums its share of the positions, each lane 4 dimensions (float4), so the loads of different
// positions are independent and overlap; the 8 partial sums are added through shared memory.
// Split-K ("flash decoding"): when the tokens x heads are too few blocks to fill the GPU (one
// token is 24 blocks on 132 SMs), the positions are cut into gridDim.z equal runs; each block
// writes its unnormalised value sum with its score maximum m and exp-sum l, and
// attention_combine adds the runs: o = sum_s e^(m_s - M) acc_s / sum_s e^(m_s - M) l_s.
#define ATT_WARPS 8
// This block's run of its token's positions: p_lo .. p_lo + npos - 1 (run blockIdx.z of
// gridDim.z). An empty run (a short context) writes "nothing to add" into the split entries of
// query heads h0 .. h0 + nh - 1 and returns false.
__device__ bool block_run(const dev_token &t, float *split_part, int heads, int h0, int nh, int hd,
                          int *p_lo, int *npos)
{
    int nz = gridDim.z, chunk = (t.pos + 1 + nz - 1) / nz;
    *p_lo = blockIdx.z * chunk;
    *npos = min(t.pos + 1 - *p_lo, chunk);
    if (*npos > 0) return true;
    for (int g = 0; g < nh; g++) {
        float *pp = split_part + (((size_t)blockIdx.x * heads + h0 + g) * nz + blockIdx.z) * (hd + 2);
        for (int i = threadIdx.x; i < hd; i += blockDim.x) pp[i] = 0.f;
        if (threadIdx.x == 0) pp[hd] = -INFINITY, pp[hd + 1] = 0.f;
    }
    return false;
}

template <typename T>
__global__ void attention_kernel(const float *q, int q_stride, const dev_token *tok,
                                 const T *kcache, const T *vcache, float *out,
                                 __nv_bfloat16 *out_b, float *split_part, int heads, int kv_heads,
                                 int hd, int max_batch, int max_seq, int layer)
{
    pdl_enter();
    extern __shared__ float smem[];
    __shared__ float red[32];
    const dev_token t = tok[blockIdx.x];
    int h = blockIdx.y, kvh = h / (heads / kv_heads), kvdim = kv_heads * hd, nz = gridDim.z;
    int p_lo, npos;
    if (!block_run(t, split_part, heads, h, 1, hd, &p_lo, &npos)) return;
    size_t blk = ((size_t)blockIdx.x * heads + h) * nz + blockIdx.z;
    float *part = smem;                       // [ATT_WARPS][hd] partial value sums
    float *sc = smem + ATT_WARPS * hd;        // [npos] scores
    const float *qh = q + (size_t)blockIdx.x * q_stride + (size_t)h * hd;
    const T *kb = kcache + cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * hd;
    const T *vb = vcache + cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * hd;
    float scale = rsqrtf((float)hd);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    /* four positions per warp at a time: their loads are all issued before any reduction */
    for (int p0 = warp; p0 < npos; p0 += 4 * ATT_WARPS) {
        float s[4] = {0, 0, 0, 0};
        for (int i = lane * 4; i < hd; i += 128) {
            float4 a = *(const float4 *)(qh + i), b[4];
#pragma unroll
            for (int u = 0; u < 4; u++) {
                int p = p0 + u * ATT_WARPS;
                b[u] = p < npos ? load4(kb + (size_t)p * kvdim + i) : make_float4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < 4; u++) s[u] += a.x * b[u].x + a.y * b[u].y + a.z * b[u].z + a.w * b[u].w;
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            float v = s[u];
            for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
            int p = p0 + u * ATT_WARPS;
            if (lane == 0 && p < npos) sc[p] = v * scale;
        }
    }
    __syncthreads();
    float mx, sum;
    softmax_scores(sc, npos, red, &mx, &sum);
    for (int i = lane * 4; i < hd; i += 128) {
        float4 acc = make_float4(0, 0, 0, 0);
#pragma unroll 4
        for (int p = warp; p < npos; p += ATT_WARPS) {
            float w = sc[p];
            float4 v = load4(vb + (size_t)p * kvdim + i);
            acc.x += w * v.x;
            acc.y += w * v.y;
            acc.z += w * v.z;
            acc.w += w * v.w;
        }
        *(float4 *)(part + warp * hd + i) = acc;
    }
    __syncthreads();
    if (nz > 1) {
        float *pp = split_part + blk * (hd + 2);
        for (int i = threadIdx.x; i < hd; i += blockDim.x) {
            float a = 0;
            for (int w = 0; w < ATT_WARPS; w++) a += part[w * hd + i];
            pp[i] = a;
        }
        if (threadIdx.x == 0) pp[hd] = mx, pp[hd + 1] = sum;
        return;
    }
    float inv = 1.f / sum;
    size_t oh = ((size_t)blockIdx.x * heads + h) * hd;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float a = 0;
        for (int w = 0; w < ATT_WARPS; w++) a += part[w * hd + i];
        store_out(out, out_b, oh + i, a * inv);
    }
}


// The grouped kernel: one block per (token, KV head, split) for the G query heads that share the
// KV head, so each K and V row is read once (the per-head kernel reads it G times, through L2).
// Scores: a thread per position reads its whole K row (16-byte loads) and makes the G dot
// products against the queries in shared memory: no shuffles. Softmax per head in shared
// memory. Values: each warp sums its share of the positions for the G heads, a half-warp a
// position and each lane 8 dimensions; the 8 partial sums are added through shared memory.
// Same split-K output as the per-head kernel. Needs head_dim <= 128 (a multiple of 8) and G <= ATT_MAX_GROUP.
template <typename T>
__global__ void __launch_bounds__(32 * ATT_WARPS, 4)
    attention_group_kernel(const float *q, int q_stride, const dev_token *tok, const T *kcache,
                           const T *vcache, float *out, __nv_bfloat16 *out_b, float *split_part,
                           int heads, int kv_heads, int hd, int max_batch, int max_seq, int layer)
{
    pdl_enter();
    extern __shared__ float smem[];
    __shared__ float red[32], mxs[ATT_MAX_GROUP], sums[ATT_MAX_GROUP];
    const dev_token t = tok[blockIdx.x];
    int G = heads / kv_heads, kvh = blockIdx.y, kvdim = kv_heads * hd, h0 = kvh * G, nz = gridDim.z;
    int p_lo, npos;
    if (!block_run(t, split_part, heads, h0, G, hd, &p_lo, &npos)) return;
    float *qs = smem;                         // [G][hd] queries, scaled
    float *part = qs + G * hd;                // [ATT_WARPS][G][hd] partial value sums
    float *sc = part + ATT_WARPS * G * hd;    // [G][npos] scores
    const float *qb = q + (size_t)blockIdx.x * q_stride + (size_t)h0 * hd;
    const T *kb = kcache + cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * hd;
    const T *vb = vcache + cache_off(layer, t.slot, p_lo, max_batch, max_seq, kvdim) + kvh * hd;
    float scale = rsqrtf((float)hd);
    for (int j = threadIdx.x; j < G * hd; j += blockDim.x) qs[j] = qb[j] * scale;
    __syncthreads();
    for (int p = threadIdx.x; p < npos; p += blockDim.x) {
        const T *kr = kb + (size_t)p * kvdim;
        float acc[ATT_MAX_GROUP];
#pragma unroll
        for (int g = 0; g < ATT_MAX_GROUP; g++) acc[g] = 0;
#pragma unroll 16
        for (int i = 0; i < hd; i += 8) {
            float kf[8];
            load8(kr + i, kf);
#pragma unroll
            for (int g = 0; g < ATT_MAX_GROUP; g++) {
                if (g >= G) break;
                const float *qg = qs + g * hd + i;
#pragma unroll
                for (int e = 0; e < 8; e++) acc[g] += qg[e] * kf[e];
            }
        }
#pragma unroll
        for (int g = 0; g < ATT_MAX_GROUP; g++)
            if (g < G) sc[g * npos + p] = acc[g];
    }
    __syncthreads();
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int g = 0; g < G; g++) { /* softmax of head g's scores */
        float mx, sum;
        softmax_scores(sc + g * npos, npos, red, &mx, &sum);
        if (threadIdx.x == 0) mxs[g] = mx, sums[g] = sum;
    }
    /* values: a lane 8 dimensions (one 16-byte load of bf16), a half-warp a position, so a
     * warp has two positions in each load and eight in flight */
    int half = lane >> 4, d8 = (lane & 15) * 8;
    float acc[ATT_MAX_GROUP][8];
#pragma unroll
    for (int g = 0; g < ATT_MAX_GROUP; g++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[g][e] = 0;
    if (d8 < hd) {
#pragma unroll 4
        for (int p = 2 * warp + half; p < npos; p += 2 * ATT_WARPS) {
            float vf[8];
            load8(vb + (size_t)p * kvdim + d8, vf);
#pragma unroll
            for (int g = 0; g < ATT_MAX_GROUP; g++) {
                if (g >= G) break;
                float w = sc[g * npos + p];
#pragma unroll
                for (int e = 0; e < 8; e++) acc[g][e] += w * vf[e];
            }
        }
    }
#pragma unroll
    for (int g = 0; g < ATT_MAX_GROUP; g++)
#pragma unroll
        for (int e = 0; e < 8; e++) acc[g][e] += __shfl_xor_sync(0xffffffffu, acc[g][e], 16);
    if (half == 0 && d8 < hd)
#pragma unroll
        for (int g = 0; g < ATT_MAX_GROUP; g++)
            if (g < G)
#pragma unroll
                for (int e = 0; e < 8; e += 4)
                    *(float4 *)(part + ((size_t)warp * G + g) * hd + d8 + e) =
                        make_float4(acc[g][e], acc[g][e + 1], acc[g][e + 2], acc[g][e + 3]);
    __syncthreads();
    for (int j = threadIdx.x; j < G * hd; j += blockDim.x) {
        int g = j / hd, d = j % hd;
        float a = 0;
        for (int w = 0; w < ATT_WARPS; w++) a += part[((size_t)w * G + g) * hd + d];
        size_t th = (size_t)blockIdx.x * heads + h0 + g; // (token, query head)
        if (nz > 1) {
            float *pp = split_part + (th * nz + blockIdx.z) * (hd + 2);
            pp[d] = a;
            if (d == 0) pp[hd] = mxs[g], pp[hd + 1] = sums[g];
        } else {
            store_out(out, out_b, th * hd + d, a / sums[g]);
        }
    }
}

// One block per (token, head), a thread per dimension: the runs of the split kernel, in order.
__global__ void attention_combine_kernel(const float *split_part, float *out, __nv_bfloat16 *out_b,
                                         int nz, int hd)
{
    pdl_enter();
    const float *pp = split_part + (size_t)blockIdx.x * nz * (hd + 2);
    float M = -INFINITY;
    for (int z = 0; z < nz; z++) M = fmaxf(M, pp[z * (hd + 2) + hd]);
    float l = 0;
    for (int z = 0; z < nz; z++) l += __expf(pp[z * (hd + 2) + hd] - M) * pp[z * (hd + 2) + hd + 1];
    float inv = 1.f / l;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float a = 0;
        for (int z = 0; z < nz; z++) a += __expf(pp[z * (hd + 2) + hd] - M) * pp[z * (hd + 2) + i];
        store_out(out, out_b, (size_t)blockIdx.x * hd + i, a * inv);
    }
}

int hb_cuda_attention_splits(int n, int heads, int max_pos, int sms, int part_runs)
{
    int blocks = n * heads;
    if (blocks <= 0 || blocks >= 2 * sms) return 1;
    /* about one block an SM; between one and two blocks an SM already, two runs (the sweep of
     * bench/cuda_kernel_bench with bf16 entries on the H200: batch 1, 24 blocks: 19.2 / 13.0 /
     * 12.8 / 14.2 / 14.0 us in 1 / 4 / 8 / 11 / 16 runs; batch 8: 22.0 / 19.4 us in 1 / 2) */
    int nz = blocks >= sms ? 2 : (sms + blocks - 1) / blocks;
    int by_len = (max_pos + 1 + ATT_MIN_RUN - 1) / ATT_MIN_RUN; // runs of >= ATT_MIN_RUN positions
    if (nz > by_len) nz = by_len;
    if (nz > ATT_MAX_SPLITS) nz = ATT_MAX_SPLITS;
    if ((size_t)nz * blocks > (size_t)part_runs) nz = part_runs / blocks;
    return nz < 2 ? 1 : nz;
}

template <typename T>
static void launch_attention(bool grouped, dim3 grid, size_t smem, cudaStream_t s, const float *q,
                             int q_stride, const dev_token *tok, const T *kc, const T *vc,
                             float *out, __nv_bfloat16 *out_b, float *split_part, int heads,
                             int kv_heads, int hd, int max_batch, int max_seq, int layer)
{
    if (grouped)
        hb_launch(attention_group_kernel<T>, grid, 32 * ATT_WARPS, smem, s, q, q_stride, tok, kc, vc,
                  out, out_b, split_part, heads, kv_heads, hd, max_batch, max_seq, layer);
    else
        hb_launch(attention_kernel<T>, grid, 32 * ATT_WARPS, smem, s, q, q_stride, tok, kc, vc, out,
                  out_b, split_part, heads, kv_heads, hd, max_batch, max_seq, layer);
}

static size_t group_smem(int heads, int kv_heads, int hd, int run)
{
    int G = heads / kv_heads;
    return ((size_t)G * hd + (size_t)ATT_WARPS * G * hd + (size_t)G * run) * sizeof(float);
}

bool hb_cuda_att_kernel_forced(void)
{
    const char *force = getenv("HB_ATT_KERNEL");
    return force && (strcmp(force, "head") == 0 || strcmp(force, "group") == 0);
}

bool hb_cuda_attention_grouped(int n, int heads, int kv_heads, int head_dim, int max_pos,
                               int splits, int sms)
{
    const char *force = getenv("HB_ATT_KERNEL"); /* "head" or "group": for the benchmarks */
    int G = heads / kv_heads, run = splits > 1 ? (max_pos + 1 + splits - 1) / splits : max_pos + 1;
    bool can = G <= ATT_MAX_GROUP && head_dim <= 128 && head_dim % 8 == 0 &&
               group_smem(heads, kv_heads, head_dim, run) <= 48 * 1024;
    if (force && strcmp(force, "head") == 0) return false;
    if (force && strcmp(force, "group") == 0) return can;
    return can && n * heads >= ATT_GROUP_MIN_BLOCKS * sms;
}

void hb_cuda_attention(const float *q, int q_stride, const dev_token *tok, int n, const void *kcache,
                       const void *vcache, bool kv_bf16, float *out, __nv_bfloat16 *out_b,
                       float *split_part, int splits, int heads, int kv_heads, int head_dim, int max_batch,
                       int max_seq, int layer, int max_pos, int sms, cudaStream_t s)
{
    int run = splits > 1 ? (max_pos + 1 + splits - 1) / splits : max_pos + 1;
    bool grouped = hb_cuda_attention_grouped(n, heads, kv_heads, head_dim, max_pos, splits, sms);
    dim3 grid(n, grouped ? kv_heads : heads, splits);
    size_t smem = grouped ? group_smem(heads, kv_heads, head_dim, run)
                          : ((size_t)ATT_WARPS * head_dim + (size_t)run + 32) * sizeof(float);
    if (kv_bf16)
        launch_attention(grouped, grid, smem, s, q, q_stride, tok, (const __nv_bfloat16 *)kcache,
                         (const __nv_bfloat16 *)vcache, out, out_b, split_part, heads, kv_heads,
                         head_dim, max_batch, max_seq, layer);
    else
        launch_attention(grouped, grid, smem, s, q, q_stride, tok, (const float *)kcache,
                         (const float *)vcache, out, out_b, split_part, heads, kv_heads, head_dim,
                         max_batch, max_seq, layer);
    if (splits > 1)
        hb_launch(attention_combine_kernel, n * heads, head_dim < 1024 ? head_dim : 1024, 0, s,
                  split_part, out, out_b, splits, head_dim);
}

__global__ void add_kernel(float *x, const float *y, size_t n)
{
    pdl_enter();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

void hb_cuda_add(float *x, const float *y, size_t n, cudaStream_t s)
{
    int blocks = (int)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
    hb_launch(add_kernel, blocks, 256, 0, s, x, y, n);
}

__global__ void scatter_add_kernel(float *x, const int32_t *idx, const float *rows, int hidden)
{
    pdl_enter();
    float *xr = x + (size_t)idx[blockIdx.x] * hidden;
    const float *r = rows + (size_t)blockIdx.x * hidden;
    for (int d = threadIdx.x; d < hidden; d += blockDim.x) xr[d] += r[d];
}

void hb_cuda_scatter_add(float *x, const int32_t *idx, const float *rows, int n, int hidden,
                         cudaStream_t s)
{
    hb_launch(scatter_add_kernel, n, 256, 0, s, x, idx, rows, hidden);
}

__global__ void swiglu_kernel(const float *g, const float *u, float *out, size_t n)
{
    pdl_enter();
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        out[i] = hb_swiglu(g[i], u[i]);
    }
}

// gu: rows of [gate | up] (2I floats a row); out: rows of I bf16. Row blockIdx.y; four
// elements a thread (I a multiple of 4; float4 loads, no division by I).
__global__ void swiglu_rows_kernel(const float *gu, __nv_bfloat16 *out, int I)
{
    pdl_enter();
    int i = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i >= I) return;
    const float *g = gu + (size_t)blockIdx.y * 2 * I;
    float4 a = *(const float4 *)(g + i), u = *(const float4 *)(g + I + i);
    __nv_bfloat162 *o = (__nv_bfloat162 *)(out + (size_t)blockIdx.y * I + i);
    o[0] = __floats2bfloat162_rn(hb_swiglu(a.x, u.x), hb_swiglu(a.y, u.y));
    o[1] = __floats2bfloat162_rn(hb_swiglu(a.z, u.z), hb_swiglu(a.w, u.w));
}

// Any I: one element a thread, rows in blockIdx.y.
__global__ void swiglu_rows1_kernel(const float *gu, __nv_bfloat16 *out, int I)
{
    pdl_enter();
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= I) return;
    const float *g = gu + (size_t)blockIdx.y * 2 * I;
    out[(size_t)blockIdx.y * I + i] = __float2bfloat16(hb_swiglu(g[i], g[I + i]));
}

void hb_cuda_swiglu_rows_bf16(const float *gu, __nv_bfloat16 *out, int rows, int I, cudaStream_t s)
{
    if (rows <= 0) return;
    if (I % 4 == 0)
        hb_launch(swiglu_rows_kernel, dim3((I / 4 + 255) / 256, rows), 256, 0, s, gu, out, I);
    else
        hb_launch(swiglu_rows1_kernel, dim3((I + 255) / 256, rows), 256, 0, s, gu, out, I);
}

void hb_cuda_swiglu(const float *g, const float *u, float *out, size_t n, cudaStream_t s)
{
    int blocks = (int)((n + 255) / 256 < 4096 ? (n + 255) / 256 : 4096);
    hb_launch(swiglu_kernel, blocks, 256, 0, s, g, u, out, n);
}
