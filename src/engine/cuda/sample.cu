// sample.cu - audio codes drawn on the device, so a decode step returns 8 codes a request
// instead of 8 x 1,026 head outputs to be sampled by the host.
//
// One block per (row, codebook) applies the rule of hb_pick_sample (sampling.c) to that
// codebook's n head outputs l[0..n):
//   a fixed code (delay pattern) is taken as is;
//   greedy: the argmax over the allowed entries (stream BOS never, stream EOS not in exact
//     mode), lowest index on ties;
//   otherwise p_i = exp((l_i - max) / T) over the allowed entries, and either the inverse CDF of
//     u in index order (no filter), or: the entries with p_i > 0 sorted by (l_i descending, i
//     ascending) (a bitonic sort of 64-bit keys in shared memory), cut to the first top_k, then
//     to the shortest prefix whose sum reaches top_p of the total, and the inverse CDF of u over
//     that prefix in sorted order;
//   RAS: a drawn content code seen ras_repeat times or more among hist is redrawn with u_ras by
//     the inverse CDF in index order.
// Sums are inclusive scans in double (the host adds one by one: the two differ in the last bits,
// which changes a draw only when u lands within ~1e-16 of a boundary). The block also reports the
// first non-finite entry of its codebook, so the host can refuse garbage as it does for the
// outputs it samples itself.
#include <limits.h>
#include <math.h>

#include "cuda_kernels.cuh"

static_assert(sizeof(hb_pick) % 8 == 0, "hb_pick holds doubles");

__device__ __forceinline__ int block_reduce_int(int v, bool is_max, int *scratch)
{
    for (int o = 16; o > 0; o >>= 1) {
        int w = __shfl_xor_sync(0xffffffffu, v, o);
        v = is_max ? max(v, w) : min(v, w);
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int i = 1; i < nw; i++) v = is_max ? max(v, scratch[i]) : min(v, scratch[i]);
    return v;
}

__device__ __forceinline__ float block_max_float(float v, float *scratch)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int i = 1; i < nw; i++) v = fmaxf(v, scratch[i]);
    return v;
}

// Inclusive scan of w[0..2 * blockDim) in place; thread t holds w[2t], w[2t + 1].
__device__ void block_scan2(double *w, double *scratch)
{
    int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    double a = w[2 * t], b = a + w[2 * t + 1], inc = b;
    for (int o = 1; o < 32; o <<= 1) {
        double y = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += y;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = inc;
    __syncthreads();
    double off = inc - b;
    for (int i = 0; i < warp; i++) off += scratch[i];
    w[2 * t] = off + a;
    w[2 * t + 1] = off + b;
    __syncthreads();
}

// The first index j < m with w[j] > target (strict) or >= target, by binary search over a
// nondecreasing w; m when there is none. Thread 0 searches, everyone gets the answer.
__device__ int block_first_above(const double *w, int m, double target, bool strict, int *slot)
{
    __syncthreads(); // slot may still be read by a reduction
    if (threadIdx.x == 0) {
        int lo = 0, hi = m;
        while (lo < hi) {
            int mid = (lo + hi) >> 1;
            bool above = strict ? w[mid] > target : w[mid] >= target;
            if (above) hi = mid;
            else lo = mid + 1;
        }
        *slot = lo;
    }
    __syncthreads();
    int r = *slot;
    __syncthreads();
    return r;
}

__device__ __forceinline__ bool allowed(int i, const hb_pick &pk, int bos, int eos)
{
    return i != bos && !(pk.ban_eos && i == eos);
}

// argmax over the allowed entries, lowest index on ties
__device__ int draw_greedy(const float *l, int n, const hb_pick &pk, int bos, int eos, float *fs,
                           int *is)
{
    float best = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (allowed(i, pk, bos, eos) && l[i] > best) best = l[i];
    best = block_max_float(best, fs);
    int idx = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (allowed(i, pk, bos, eos) && l[i] == best) idx = min(idx, i);
    idx = block_reduce_int(idx, false, is);
    return idx == INT_MAX ? 0 : idx; /* none: rows with non-finite entries are refused anyway */
}

__device__ float allowed_max(const float *l, int n, const hb_pick &pk, int bos, int eos, float *fs)
{
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (allowed(i, pk, bos, eos)) mx = fmaxf(mx, l[i]);
    return block_max_float(mx, fs);
}

// inverse CDF of u in index order over exp((l - max) / temp) of the allowed entries
__device__ int draw_plain(const float *l, int n, int P, const hb_pick &pk, double temp, double u,
                          int bos, int eos, double *w, float *fs, int *is, double *ds)
{
    if (!(temp > 0)) temp = 1;
    double mx = allowed_max(l, n, pk, bos, eos, fs);
    int last = -1;
    for (int i = threadIdx.x; i < P; i += blockDim.x) {
        double p = i < n && allowed(i, pk, bos, eos) ? exp(((double)l[i] - mx) / temp) : 0;
        w[i] = p;
        if (p > 0) last = i;
    }
    last = block_reduce_int(last, true, is);
    __syncthreads();
    block_scan2(w, ds);
    if (last < 0) return draw_greedy(l, n, pk, bos, eos, fs, is);
    int j = block_first_above(w, n, u * w[P - 1], true, is);
    return j < n ? j : last;
}

__device__ __forceinline__ uint64_t order_key(float v, int i)
{
    uint32_t u = __float_as_uint(v);
    u = (u >> 31) ? ~u : (u | 0x80000000u); // ascending unsigned = ascending float
    return ((uint64_t)(~u) << 32) | (uint32_t)i;   // ascending key = descending value, then index
}

__device__ void bitonic_sort(uint64_t *keys, int P)
{
    for (int size = 2; size <= P; size <<= 1)
        for (int stride = size >> 1; stride > 0; stride >>= 1) {
            for (int t = threadIdx.x; t < P / 2; t += blockDim.x) {
                int i = 2 * t - (t & (stride - 1)), j = i + stride;
                bool up = (i & size) == 0;
                uint64_t a = keys[i], b = keys[j];
                if ((a > b) == up) {
                    keys[i] = b;
                    keys[j] = a;
                }
            }
            __syncthreads();
        }
}

// top-k / top-p over the sorted allowed entries, then the inverse CDF of u in sorted order
__device__ int draw_filtered(const float *l, int n, int P, const hb_pick &pk, int bos, int eos,
                             uint64_t *keys, double *w, float *fs, int *is, double *ds)
{
    double temp = pk.temperature, mx = allowed_max(l, n, pk, bos, eos, fs);
    int cnt = 0;
    for (int i = threadIdx.x; i < P; i += blockDim.x) {
        bool in = i < n && allowed(i, pk, bos, eos) && exp(((double)l[i] - mx) / temp) > 0;
        keys[i] = in ? order_key(l[i], i) : ~0ull;
        cnt += in;
    }
    for (int o = 16; o > 0; o >>= 1) cnt += __shfl_xor_sync(0xffffffffu, cnt, o);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) is[threadIdx.x >> 5] = cnt;
    __syncthreads();
    int m = 0;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) m += is[i];
    __syncthreads();
    if (m == 0) return draw_greedy(l, n, pk, bos, eos, fs, is);
    bitonic_sort(keys, P);
    for (int j = threadIdx.x; j < P; j += blockDim.x)
        w[j] = j < m ? exp(((double)l[(uint32_t)keys[j]] - mx) / temp) : 0;
    __syncthreads();
    block_scan2(w, ds);
    if (pk.top_k > 0 && pk.top_k < m) m = pk.top_k;
    if (pk.top_p < 1) {
        int j = block_first_above(w, m, (double)pk.top_p * w[m - 1], false, is);
        m = j < m ? j + 1 : m;
    }
    int j = block_first_above(w, m, pk.u * w[m - 1], true, is);
    return (int)(uint32_t)keys[j < m ? j : m - 1];
}

__global__ void draw_codes_kernel(const float *logits, int n, int P, const hb_pick *picks, int bos,
                                  int eos, int codebook_size, int32_t *out)
{
    pdl_enter();
    extern __shared__ uint64_t smem[];
    uint64_t *keys = smem;
    double *w = (double *)(smem + P);
    __shared__ float fs[32];
    __shared__ int is[32];
    __shared__ double ds[32];
    int row = blockIdx.x / HB_NUM_CODEBOOKS, k = blockIdx.x % HB_NUM_CODEBOOKS;
    const hb_pick pk = picks[blockIdx.x];
    const float *l = logits + (size_t)blockIdx.x * n;
    int32_t *o = out + (size_t)row * 2 * HB_NUM_CODEBOOKS;
    int bad = INT_MAX;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (!isfinite(l[i])) bad = min(bad, i);
    bad = block_reduce_int(bad, false, is);
    int code;
    if (pk.forced >= 0 || bad != INT_MAX) code = pk.forced >= 0 ? pk.forced : 0;
    else if (!(pk.temperature > 0)) code = draw_greedy(l, n, pk, bos, eos, fs, is);
    else if (pk.top_k > 0 || pk.top_p < 1) code = draw_filtered(l, n, P, pk, bos, eos, keys, w, fs, is, ds);
    else code = draw_plain(l, n, P, pk, pk.temperature, pk.u, bos, eos, w, fs, is, ds);
    if (pk.forced < 0 && bad == INT_MAX && pk.ras_repeat > 0 && code < codebook_size) {
        int seen = 0;
        for (int i = 0; i < pk.nhist; i++) seen += pk.hist[i] == code;
        if (seen >= pk.ras_repeat)
            code = draw_plain(l, n, P, pk, pk.temperature, pk.u_ras, bos, eos, w, fs, is, ds);
    }
    if (threadIdx.x == 0) {
        o[k] = code;
        o[HB_NUM_CODEBOOKS + k] = bad == INT_MAX ? -1 : bad;
    }
}

void hb_cuda_draw_codes(const float *logits, int nrows, int n, const hb_pick *picks, int bos,
                        int eos, int codebook_size, int32_t *out, cudaStream_t s)
{
    int P = 64;
    while (P < n) P <<= 1;
    hb_launch(draw_codes_kernel, nrows * HB_NUM_CODEBOOKS, P / 2, (size_t)P * 16, s, logits, n, P,
              picks, bos, eos, codebook_size, out);
}
