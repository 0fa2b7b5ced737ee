// sample.cu - tokens drawn on the device, so a decode step returns 8 codes (or one text token)
// a request instead of 8 x 1,026 (or 128,256) head outputs to be sampled by the host.
//
// Audio: one block per (row, codebook) applies the rule of hb_pick_sample (sampling.c) to that
// codebook's n head outputs l[0..n):
//   a fixed code (delay pattern) is taken as is;
//   greedy: the argmax over the allowed entries (stream BOS never, stream EOS not in exact
//     mode), lowest index on ties;
//   otherwise p_i = exp((l_i - max) / T) over the allowed entries, and either the inverse CDF of
//     u in index order (no filter), or: the entries with p_i > 0 in sorted order (l_i descending,
//     i ascending), cut to the first top_k, then to the shortest prefix whose sum reaches top_p of
//     the total, and the inverse CDF of u over that prefix in sorted order. The sorted order is
//     found only where a cut falls: the entries go to buckets by l_i (an order-keeping map), each
//     bucket's count and weight are summed, and only the bucket a cut falls in is sorted (in one
//     warp); a bucket of more than 32 entries (many equal logits) falls back to sorting them all
//     (a bitonic sort of 64-bit keys, mostly in registers);
//   RAS: a drawn content code seen ras_repeat times or more among hist is redrawn with u_ras by
//     the inverse CDF in index order.
// Sums are inclusive scans in double, or by buckets sums of p_i rounded to multiples of 2^-52 (the
// host adds one by one in double: they differ in the last bits, which changes a draw only when u
// lands within ~1e-13 of a boundary). The block also reports the
// first non-finite entry of its codebook, so the host can refuse garbage as it does for the
// outputs it samples itself.
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "cuda_kernels.cuh"

static_assert(sizeof(hb_pick) % 8 == 0, "hb_pick holds doubles");

#define DRAW_THREADS 256
#define DRAW_WIDE_THREADS 1024
static_assert(HB_DEVICE_DRAW_MAX_ROWS <= 8 * DRAW_THREADS, "sort_keys takes at most 8 entries a thread");

// v combined by op over the block (a warp's lanes, then the warps in order through scratch, one
// entry a warp); every thread gets it
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T *scratch)
{
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    v = scratch[0];
    for (int i = 1; i < nw; i++) v = op(v, scratch[i]);
    return v;
}

__device__ __forceinline__ int block_reduce_int(int v, bool is_max, int *scratch)
{
    return block_reduce(v, [is_max](int a, int b) { return is_max ? max(a, b) : min(a, b); }, scratch);
}

__device__ __forceinline__ int block_sum_int(int v, int *scratch)
{
    const int sum = block_reduce(v, [](int a, int b) { return a + b; }, scratch);
    __syncthreads(); /* scratch free again */
    return sum;
}

__device__ __forceinline__ float block_max_float(float v, float *scratch)
{
    return block_reduce(v, [](float a, float b) { return fmaxf(a, b); }, scratch);
}

// Inclusive scan of w[0..P) in place, P a multiple of blockDim: thread t sums its run of
// E = P / blockDim entries from t E on, the runs' totals are scanned across the block, then each
// thread writes its run's running sums.
__device__ void block_scan(double *w, int P, double *scratch)
{
    int t = threadIdx.x, lane = t & 31, warp = t >> 5, E = P / (int)blockDim.x;
    double *mine = w + (size_t)t * E, run = 0;
    for (int e = 0; e < E; e++) run += mine[e];
    double inc = run;
    for (int o = 1; o < 32; o <<= 1) {
        double y = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += y;
    }
    __syncthreads();
    if (lane == 31) scratch[warp] = inc;
    __syncthreads();
    double off = inc - run;
    for (int i = 0; i < warp; i++) off += scratch[i];
    for (int e = 0; e < E; e++) {
        off += mine[e];
        mine[e] = off;
    }
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
    block_scan(w, P, ds);
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

// keys[0..P) ascending by a bitonic network, P = E x blockDim (E a power of two): thread t holds
// entries t E .. t E + E - 1 in registers, so a compare-exchange of stride s < E stays in a
// thread, one of E <= s < 32 E is a shuffle between lanes, and only the strides of 32 E and more
// (across warps: 6 of the 66 stages at P = 2048) go through shared memory, with a barrier each.
// (The network run wholly in shared memory, a barrier a stage, made the draw 5 us slower.)
template <int E>
__device__ void bitonic_sort_regs(uint64_t *keys, int P)
{
    const int t = threadIdx.x;
    uint64_t v[E];
    __syncthreads(); /* keys written by every thread */
#pragma unroll
    for (int r = 0; r < E; r++) v[r] = keys[t * E + r];
    for (int size = 2; size <= P; size <<= 1) {
        int stride = size >> 1;
        if (stride >= 32 * E) { /* across warps */
#pragma unroll
            for (int r = 0; r < E; r++) keys[t * E + r] = v[r];
            __syncthreads();
            for (; stride >= 32 * E; stride >>= 1) {
                for (int p = t; p < P / 2; p += blockDim.x) {
                    int i = 2 * p - (p & (stride - 1)), j = i + stride;
                    bool up = (i & size) == 0;
                    uint64_t a = keys[i], b = keys[j];
                    if ((a > b) == up) {
                        keys[i] = b;
                        keys[j] = a;
                    }
                }
                __syncthreads();
            }
#pragma unroll
            for (int r = 0; r < E; r++) v[r] = keys[t * E + r];
            __syncthreads(); /* read before anyone writes keys again */
        }
        for (; stride >= E; stride >>= 1) { /* across lanes: the lower entry keeps the minimum going up */
#pragma unroll
            for (int r = 0; r < E; r++) {
                const int e = t * E + r;
                uint64_t o = __shfl_xor_sync(0xffffffffu, v[r], stride / E);
                bool keep_min = ((e & stride) == 0) == ((e & size) == 0);
                v[r] = keep_min ? (o < v[r] ? o : v[r]) : (o > v[r] ? o : v[r]);
            }
        }
#pragma unroll
        for (int s = E / 2; s > 0; s >>= 1) { /* within the thread */
            if (s >= size) continue;
#pragma unroll
            for (int r = 0; r < E; r++)
                if ((r & s) == 0) {
                    bool up = ((t * E + r) & size) == 0;
                    uint64_t a = v[r], b = v[r + s];
                    if ((a > b) == up) v[r] = b, v[r + s] = a;
                }
        }
    }
#pragma unroll
    for (int r = 0; r < E; r++) keys[t * E + r] = v[r];
    __syncthreads();
}

// E = P / blockDim is 2, 4 or 8 (hb_cuda_draw_codes: P <= HB_DEVICE_DRAW_MAX_ROWS, at least two
// entries a thread, and more than two only in blocks of DRAW_THREADS)
__device__ void sort_keys(uint64_t *keys, int P)
{
    switch (P / (int)blockDim.x) {
    case 2: bitonic_sort_regs<2>(keys, P); break;
    case 4: bitonic_sort_regs<4>(keys, P); break;
    default: bitonic_sort_regs<8>(keys, P); break;
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
    int m = block_sum_int(cnt, is);
    if (m == 0) return draw_greedy(l, n, pk, bos, eos, fs, is);
    sort_keys(keys, P);
    for (int j = threadIdx.x; j < P; j += blockDim.x)
        w[j] = j < m ? exp(((double)l[(uint32_t)keys[j]] - mx) / temp) : 0;
    __syncthreads();
    block_scan(w, P, ds);
    if (pk.top_k > 0 && pk.top_k < m) m = pk.top_k;
    if (pk.top_p < 1) {
        int j = block_first_above(w, m, (double)pk.top_p * w[m - 1], false, is);
        m = j < m ? j + 1 : m;
    }
    int j = block_first_above(w, m, pk.u * w[m - 1], true, is);
    return (int)(uint32_t)keys[j < m ? j : m - 1];
}

// ---- top-k / top-p by buckets (the common case, without sorting every entry) ----
//
// The sorted order is (l descending, index ascending), so d = mx - l (float) puts the entries in
// buckets b = min(NB - 1, floor(d NB / span)) whose order is the sorted order (a monotone map;
// equal logits share a bucket). Each bucket's count and weight are added up, the weights as
// integers, W = round(p 2^52) (p <= 1, so 2,048 of them add up to at most 2^63; integer sums are the same
// in any order, so the draw stays deterministic; they differ from the host's double sums by at
// most 2^-53 an entry, as the scans in double differ from them in the last bits). A cut by rank
// (top-k) or by cumulative weight (top-p, then the draw) then needs only the bucket it falls in
// sorted: its entries (at most BKT_MAX, else the draw falls back to the full sort) are gathered,
// sorted by key in one warp and summed from the bucket's base.
#define BKT_MAX 32

__device__ unsigned long long hb_draw_fallbacks; /* draws that took the full sort (kernel tests) */

struct bkt_hit {
    int rank, idx;          // the entry found: its place in sorted order, its index
    unsigned long long S;   // the weights of the entries up to it, itself included
};

// The first bucket b of [0, NB) with cond(pre[b + 1]), for a nondecreasing pre[0..NB] and a
// condition that stays true once true, or -1; everyone gets it.
template <typename T, typename C>
__device__ int bkt_first(const T *pre, int NB, C cond, int *slot)
{
    __syncthreads();
    if (threadIdx.x == 0) *slot = -1;
    __syncthreads();
    for (int b = threadIdx.x; b < NB; b += blockDim.x)
        if (cond(pre[b + 1]) && (b == 0 || !cond(pre[b]))) *slot = b; /* at most one such b */
    __syncthreads();
    return *slot;
}

// What the bucketed draw knows of a codebook: its entries' rule and the buckets' map
struct bkt_ctx {
    const float *l;
    int n, bos, eos, NB;
    float mx, scale;
    double temp;
    const hb_pick *pk;
    // the bucket entry i falls in if it takes part (float to int conversion saturates)
    __device__ int place(int i) const { return min(NB - 1, (int)((mx - l[i]) * scale)); }
    // entry i's bucket, or -1 (not allowed, or p = 0); its weight W in *wq when asked
    __device__ int bucket(int i, unsigned long long *wq) const
    {
        if (i >= n || !allowed(i, *pk, bos, eos)) return -1;
        const double p = exp(((double)l[i] - mx) / temp);
        if (!(p > 0)) return -1;
        if (wq) *wq = __double2ull_rn(ldexp(p, 52));
        return place(i);
    }
};

// Bucket b's entries sorted (by warp 0), then the first of them, in sorted order, whose rank
// (mode 0: rank == target_rank) or inclusive weight sum S (mode 1: S >= t, mode 2: S > t, S as a
// double) matches; false when the bucket holds more than BKT_MAX entries or none matches.
__device__ bool bkt_find(const bkt_ctx &cx, int b, int mode, int target_rank, double t, const int *cex,
                         const unsigned long long *wex, unsigned long long *lkey, unsigned long long *lw, int *sh,
                         bkt_hit *hit)
{
    __syncthreads();
    if (threadIdx.x == 0) sh[0] = 0, sh[1] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < cx.n; i += blockDim.x) {
        if (cx.place(i) != b) continue; /* the place first, without the exponential */
        unsigned long long wq;
        if (cx.bucket(i, &wq) != b) continue;
        int pos = atomicAdd(&sh[0], 1);
        if (pos < BKT_MAX) lkey[pos] = order_key(cx.l[i], i), lw[pos] = wq;
    }
    __syncthreads();
    const int c = sh[0];
    if (c > BKT_MAX) return false;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        unsigned long long key = lane < c ? lkey[lane] : ~0ull, w = lane < c ? lw[lane] : 0ull;
        for (int size = 2; size <= 32; size <<= 1) /* bitonic, a key a lane */
            for (int st = size >> 1; st > 0; st >>= 1) {
                unsigned long long ok = __shfl_xor_sync(0xffffffffu, key, st), ow = __shfl_xor_sync(0xffffffffu, w, st);
                bool keep_min = ((lane & st) == 0) == ((lane & size) == 0);
                if (keep_min ? ok < key : ok > key) key = ok, w = ow;
            }
        unsigned long long S = w; /* inclusive sums in sorted order */
        for (int o = 1; o < 32; o <<= 1) {
            unsigned long long y = __shfl_up_sync(0xffffffffu, S, o);
            if (lane >= o) S += y;
        }
        S += wex[b];
        const int rank = cex[b] + lane;
        bool m = lane < c && (mode == 0 ? rank == target_rank : mode == 1 ? (double)S >= t : (double)S > t);
        unsigned bal = __ballot_sync(0xffffffffu, m);
        if (bal && lane == __ffs(bal) - 1) {
            *hit = bkt_hit{rank, (int)(uint32_t)key, S};
            sh[1] = 1;
        }
    }
    __syncthreads();
    return sh[1] != 0;
}

// draw_filtered's rule by buckets; -1 where a bucket it needs is too large (then the full sort)
__device__ int draw_filtered_bkt(const float *l, int n, int P, const hb_pick &pk, int bos, int eos,
                                 uint64_t *keys, double *w, float *fs, int *is)
{
    __shared__ unsigned long long lkey[BKT_MAX], lw[BKT_MAX];
    __shared__ int sh[3];
    __shared__ bkt_hit hit;
    bkt_ctx cx = {l, n, bos, eos, P / 2, 0.f, 0.f, (double)pk.temperature, &pk};
    const int NB = cx.NB;
    cx.mx = allowed_max(l, n, pk, bos, eos, fs);
    float lmin = INFINITY;
    int cnt = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x)
        if (cx.bucket(i, nullptr) >= 0) lmin = fminf(lmin, l[i]), cnt++;
    lmin = -block_max_float(-lmin, fs);
    const int m = block_sum_int(cnt, is);
    if (m == 0) return draw_greedy(l, n, pk, bos, eos, fs, is);
    /* the histogram: counts in w's space, weights in keys' (NB + 1 entries each, P >= NB + 1) */
    int *cex = (int *)w;
    unsigned long long *wex = (unsigned long long *)keys;
    const float span = cx.mx - lmin;
    cx.scale = span > 0.f ? (float)NB / span : 0.f;
    for (int b = threadIdx.x; b <= NB; b += blockDim.x) cex[b] = 0, wex[b] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        unsigned long long wq;
        const int b = cx.bucket(i, &wq);
        if (b < 0) continue;
        atomicAdd(&cex[b], 1);
        atomicAdd(&wex[b], wq);
    }
    __syncthreads();
    /* exclusive prefix sums over the buckets (totals at NB): a thread a run of NB / threads */
    {
        const int R = (NB + (int)blockDim.x - 1) / (int)blockDim.x, b0 = min(NB, (int)threadIdx.x * R),
                  b1 = min(NB, b0 + R);
        int rc = 0;
        unsigned long long rw = 0;
        for (int b = b0; b < b1; b++) rc += cex[b], rw += wex[b];
        int ic = rc;
        unsigned long long iw = rw;
        const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
        for (int o = 1; o < 32; o <<= 1) {
            int yc = __shfl_up_sync(0xffffffffu, ic, o);
            unsigned long long yw = __shfl_up_sync(0xffffffffu, iw, o);
            if (lane >= o) ic += yc, iw += yw;
        }
        __shared__ int wc[32];
        __shared__ unsigned long long ww[32];
        __syncthreads();
        if (lane == 31) wc[warp] = ic, ww[warp] = iw;
        __syncthreads();
        int oc = ic - rc;
        unsigned long long ow = iw - rw;
        for (int i = 0; i < warp; i++) oc += wc[i], ow += ww[i];
        for (int b = b0; b < b1; b++) {
            int c = cex[b];
            unsigned long long x = wex[b];
            cex[b] = oc, wex[b] = ow;
            oc += c, ow += x;
        }
        __syncthreads();
        if (threadIdx.x == blockDim.x - 1) cex[NB] = oc, wex[NB] = ow; /* the last thread's run ends at NB */
        __syncthreads();
    }
    /* top-k: the first mk entries; last: the entry at rank mk - 1 (its index found when needed) */
    int mk = m;
    if (pk.top_k > 0 && pk.top_k < m) mk = pk.top_k;
    bkt_hit last = {m - 1, -1, wex[NB]};
    if (mk < m) {
        const int r = mk - 1;
        int b = bkt_first(cex, NB, [r](int c) { return c > r; }, &sh[2]);
        if (b < 0 || !bkt_find(cx, b, 0, r, 0, cex, wex, lkey, lw, sh, &hit)) return -1;
        last = hit;
    }
    /* top-p: the shortest prefix whose weight reaches top_p of the first mk entries' */
    if (pk.top_p < 1) {
        const double t = (double)pk.top_p * (double)last.S;
        int b = bkt_first(wex, NB, [t](unsigned long long S) { return (double)S >= t; }, &sh[2]);
        if (b >= 0) {
            if (!bkt_find(cx, b, 1, 0, t, cex, wex, lkey, lw, sh, &hit)) return -1;
            if (hit.rank < mk) last = hit, mk = hit.rank + 1;
        }
    }
    /* the draw: the first entry of the prefix whose sum exceeds u S; else its last entry */
    const double t = pk.u * (double)last.S;
    int b = bkt_first(wex, NB, [t](unsigned long long S) { return (double)S > t; }, &sh[2]);
    if (b >= 0) {
        if (!bkt_find(cx, b, 2, 0, t, cex, wex, lkey, lw, sh, &hit)) return -1;
        if (hit.rank < mk) return hit.idx;
    }
    if (last.idx >= 0) return last.idx;
    const int r = mk - 1;
    b = bkt_first(cex, NB, [r](int c) { return c > r; }, &sh[2]);
    if (b < 0 || !bkt_find(cx, b, 0, r, 0, cex, wex, lkey, lw, sh, &hit)) return -1;
    return hit.idx;
}

/* THREADS 256: four blocks a SM (64 registers), so batch 64's 512 blocks are one wave; 1024:
 * one block a SM, for draws of fewer blocks than SMs */
template <int THREADS>
__global__ void __launch_bounds__(THREADS, THREADS <= DRAW_THREADS ? 4 : 1)
    draw_codes_kernel(const float *logits, int n, int P, const hb_pick *picks, int bos, int eos,
                      int codebook_size, int32_t *out, bool bkt)
{
    pdl_enter();
    extern __shared__ uint64_t smem[];
    uint64_t *keys = smem;
    double *w = (double *)(smem + P);
    float *l = (float *)(w + P); /* the codebook's head outputs, read once into shared memory */
    __shared__ float fs[32];
    __shared__ int is[32];
    __shared__ double ds[32];
    int row = blockIdx.x / HB_NUM_CODEBOOKS, k = blockIdx.x % HB_NUM_CODEBOOKS;
    const hb_pick &pk = picks[blockIdx.x]; /* read in place (a copy went to local memory) */
    const float *lg = logits + (size_t)blockIdx.x * n;
    int32_t *o = out + (size_t)row * 2 * HB_NUM_CODEBOOKS;
    int bad = INT_MAX;
#pragma unroll 8
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = lg[i];
        l[i] = v;
        if (!isfinite(v)) bad = min(bad, i);
    }
    bad = block_reduce_int(bad, false, is); /* its barriers publish l */
    int code;
    if (pk.forced >= 0 || bad != INT_MAX) code = pk.forced >= 0 ? pk.forced : 0;
    else if (!(pk.temperature > 0)) code = draw_greedy(l, n, pk, bos, eos, fs, is);
    else if (pk.top_k > 0 || pk.top_p < 1) {
        code = bkt ? draw_filtered_bkt(l, n, P, pk, bos, eos, keys, w, fs, is) : -1;
        if (code < 0) { /* a bucket too large (many equal logits): the full sort */
            if (threadIdx.x == 0 && bkt) atomicAdd(&hb_draw_fallbacks, 1ull);
            code = draw_filtered(l, n, P, pk, bos, eos, keys, w, fs, is, ds);
        }
    }
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

unsigned long long hb_cuda_draw_fallbacks(void)
{
    unsigned long long v = 0;
    cudaMemcpyFromSymbol(&v, hb_draw_fallbacks, sizeof v);
    return v;
}

void hb_cuda_draw_codes(const float *logits, int nrows, int n, const hb_pick *picks, int bos,
                        int eos, int codebook_size, int32_t *out, int sms, cudaStream_t s)
{
    int P = 64;
    while (P < n) P <<= 1;
    int blocks = nrows * HB_NUM_CODEBOOKS;
    /* keys and weights (16 bytes an entry), then the head outputs: 40 KiB at most */
    size_t smem = (size_t)P * 16 + (size_t)n * 4;
    /* no more blocks than SMs (batches up to 16 on 132 SMs): a block's latency is the draw's,
     * so up to DRAW_WIDE_THREADS threads (two entries each; H200: a batch-8 step 2.293 -> 2.255
     * ms); else at most DRAW_THREADS (P / 256 entries each): with 1024 threads only two blocks
     * fit a SM, and batch 64's 512 blocks took two waves (121 us a step on the H200) */
    static int wide_ok = -1, bkt_ok = -1; /* HB_DRAW_WIDE=0: never; HB_DRAW_BKT=0: top-k / top-p
                                           * cuts always by the full sort; for measuring */
    bool wide = hb_env_on(wide_ok, "HB_DRAW_WIDE") && blocks <= sms, bkt = hb_env_on(bkt_ok, "HB_DRAW_BKT");
    int cap = wide ? DRAW_WIDE_THREADS : DRAW_THREADS, threads = P / 2 < cap ? P / 2 : cap;
    auto kernel = threads > DRAW_THREADS ? draw_codes_kernel<DRAW_WIDE_THREADS> : draw_codes_kernel<DRAW_THREADS>;
    hb_launch(kernel, blocks, threads, smem, s, logits, n, P, picks, bos, eos, codebook_size, out, bkt);
}

// ------------------------------------------------------------------------------ text rows ----
//
// A text row has 128k entries: too many to sort in shared memory, so a draw takes three steps.
// text_prep: one block a row checks the row (first non-finite entry), takes fixed tokens and
// greedy draws (argmax over the allowed entries, lowest index on ties), and writes each entry's
// 64-bit key, the row above its logit's order bits (all ones for an entry banned, with p = 0,
// or of a row drawn otherwise), with its index as the value. One radix sort of all rows' pairs
// (cub's, stable, so ties keep index order and each row keeps its V places). text_draw: one block
// a row computes p in the order the rule needs (index order without a filter, sorted order with
// top-k / top-p) into a double per entry, and finds the cut and the draw by the inverse CDF: each
// thread sums a run of entries, thread 0 adds the runs in order and walks the run that crosses.

struct text_row {
    float mx;    // maximum allowed logit
    int m;       // entries with p > 0 (the sorted prefix)
    int mode;    // 0: done, 1: draw in index order, 2: draw in sorted order
};

__device__ __forceinline__ bool text_allowed(int i, const hb_text_pick &pk)
{
    for (int b = 0; b < pk.nban; b++)
        if (pk.ban[b] == i) return false;
    return true;
}

__global__ void text_prep_kernel(const float *logits, int V, const hb_text_pick *picks,
                                 unsigned long long *keys, int *vals, text_row *rows, int32_t *out)
{
    pdl_enter();
    __shared__ float fs[32];
    __shared__ int is[32];
    int row = blockIdx.x;
    const hb_text_pick pk = picks[row];
    const float *l = logits + (size_t)row * V;
    unsigned long long *kr = keys + (size_t)row * V, hi = (unsigned long long)row << 32;
    int *vr = vals + (size_t)row * V;
    int bad = INT_MAX;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (!isfinite(l[i])) bad = min(bad, i);
    bad = block_reduce_int(bad, false, is);
    bool filter = pk.top_k > 0 || pk.top_p < 1;
    int mode = pk.forced < 0 && pk.forced != HB_PICK_NONE && bad == INT_MAX && pk.temperature > 0
                   ? (filter ? 2 : 1)
                   : 0;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x)
        if (text_allowed(i, pk)) mx = fmaxf(mx, l[i]);
    mx = block_max_float(mx, fs);
    int token = pk.forced >= 0 ? pk.forced : 0;
    if (mode == 0 && pk.forced == -1 && bad == INT_MAX) { /* greedy */
        int idx = INT_MAX;
        for (int i = threadIdx.x; i < V; i += blockDim.x)
            if (text_allowed(i, pk) && l[i] == mx) idx = min(idx, i);
        idx = block_reduce_int(idx, false, is);
        token = idx == INT_MAX ? 0 : idx;
    }
    int cnt = 0;
    double temp = pk.temperature;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        bool in = mode == 2 && text_allowed(i, pk) && exp(((double)l[i] - mx) / temp) > 0;
        kr[i] = hi | (in ? order_key(l[i], i) >> 32 : 0xffffffffull);
        vr[i] = i;
        cnt += in;
    }
    cnt = block_sum_int(cnt, is);
    if (threadIdx.x == 0) {
        rows[row] = text_row{mx, cnt, mode};
        out[2 * row] = token;
        out[2 * row + 1] = bad == INT_MAX ? -1 : bad;
    }
}

// Each thread sums its run of C = ceil(len / threads) entries of p into tsum; returns C.
__device__ int text_run_sums(const double *p, int len, double *tsum)
{
    int C = (len + blockDim.x - 1) / blockDim.x, lo = threadIdx.x * C, hi = min(len, lo + C);
    double acc = 0;
    for (int j = lo; j < hi; j++) acc += p[j];
    __syncthreads();
    tsum[threadIdx.x] = acc;
    __syncthreads();
    return C;
}

// The first j < len with cum(j) > target (strict) or >= target, cum summed from p[0..len) by
// runs of entries a thread, the runs added in order; len - 1 when rounding leaves none.
__device__ int text_find(const double *p, int len, double target, bool strict, double *tsum,
                         int *slot)
{
    int C = text_run_sums(p, len, tsum);
    if (threadIdx.x == 0) {
        double run = 0;
        int found = len - 1;
        for (int t = 0; t < (int)blockDim.x; t++) {
            double next = run + tsum[t];
            if (strict ? next > target : next >= target) {
                int l0 = t * C, h0 = min(len, l0 + C);
                double c = run;
                found = h0 - 1;
                for (int j = l0; j < h0; j++) {
                    c += p[j];
                    if (strict ? c > target : c >= target) {
                        found = j;
                        break;
                    }
                }
                break;
            }
            run = next;
        }
        *slot = found;
    }
    __syncthreads();
    return *slot;
}

// The sum of p[0..len) in the same order text_find adds it.
__device__ double text_total(const double *p, int len, double *tsum, double *slot)
{
    text_run_sums(p, len, tsum);
    if (threadIdx.x == 0) {
        double run = 0;
        for (int t = 0; t < (int)blockDim.x; t++) run += tsum[t];
        *slot = run;
    }
    __syncthreads();
    return *slot;
}

__global__ void text_draw_kernel(const float *logits, int V, const hb_text_pick *picks,
                                 const int *sorted, double *pbuf, const text_row *rows,
                                 int32_t *out)
{
    pdl_enter();
    __shared__ double tsum[1024];
    __shared__ double dslot;
    __shared__ int islot;
    int row = blockIdx.x;
    const text_row st = rows[row];
    if (st.mode == 0) return;
    const hb_text_pick pk = picks[row];
    const float *l = logits + (size_t)row * V;
    const int *kr = sorted + (size_t)row * V; /* the row's indices in draw order */
    double *p = pbuf + (size_t)row * V, temp = pk.temperature;
    int len = st.mode == 2 ? st.m : V;
    for (int j = threadIdx.x; j < len; j += blockDim.x) {
        int i = st.mode == 2 ? kr[j] : j;
        p[j] = st.mode == 2 || text_allowed(i, pk) ? exp(((double)l[i] - st.mx) / temp) : 0;
    }
    __syncthreads();
    int token;
    if (len == 0) {
        token = 0;
    } else if (st.mode == 1) { /* inverse CDF in index order */
        double sum = text_total(p, len, tsum, &dslot);
        token = text_find(p, len, pk.u * sum, true, tsum, &islot);
    } else {
        int m = pk.top_k > 0 && pk.top_k < len ? pk.top_k : len;
        double sum = text_total(p, m, tsum, &dslot);
        if (pk.top_p < 1) {
            m = text_find(p, m, (double)pk.top_p * sum, false, tsum, &islot) + 1;
            sum = text_total(p, m, tsum, &dslot);
        }
        int j = text_find(p, m, pk.u * sum, true, tsum, &islot);
        token = kr[j];
    }
    if (threadIdx.x == 0) out[2 * row] = token;
}

static int row_bits(int rows)
{
    int b = 1;
    while ((1 << b) < rows) b++;
    return b;
}

size_t hb_cuda_text_sort_bytes(int rows, int V)
{
    size_t bytes = 0;
    cub::DeviceRadixSort::SortPairs(nullptr, bytes, (const unsigned long long *)nullptr,
                                    (unsigned long long *)nullptr, (const int *)nullptr,
                                    (int *)nullptr, (int64_t)rows * V, 0, 64);
    return bytes; /* for all 64 bits: at least what fewer bits need */
}

cudaError_t hb_cuda_draw_text(const float *logits, int nrows, int V, const hb_text_pick *picks,
                              hb_text_scratch *sc, int32_t *out, cudaStream_t s)
{
    hb_launch(text_prep_kernel, nrows, 1024, 0, s, logits, V, picks, sc->keys, sc->vals,
              (text_row *)sc->rows, out);
    size_t bytes = sc->sort_bytes;
    cudaError_t e = cub::DeviceRadixSort::SortPairs(
        sc->sort_tmp, bytes, (const unsigned long long *)sc->keys, sc->sorted,
        (const int *)sc->vals, sc->sorted_vals, (int64_t)nrows * V, 0, 32 + row_bits(nrows), s);
    if (e != cudaSuccess) return e;
    hb_launch(text_draw_kernel, nrows, 1024, 0, s, logits, V, picks, (const int *)sc->sorted_vals,
              (double *)sc->keys, (const text_row *)sc->rows, out);
    return cudaSuccess;
}
