// test_kernels.cu - CUDA kernels against a CPU reference (double precision), on random inputs:
//   - attention: the fused decode kernel (RoPE + KV write + attention, split runs added by the
//     last block; its tensor-core form and its CUDA-core form) and the separate path (the RoPE kernel, then the per-head or grouped attention
//     kernel), fp32 and bf16 cache entries, the base-3b, small and tiny head shapes, several
//     batch sizes, positions and run counts;
//   - RMSNorm in each form the backend uses (path weights, gathered rows, the residual add fused
//     in, bf16 output by row or in order), row lengths taking the register path and the loop;
//   - the SwiGLU of [gate | up] rows to bf16, both kernels;
//   - the audio draw against the host's rule, every sampling mode, its cuts by buckets (spread
//     logits) and by each form of the full sort (coarse logits, many ties);
//   - the batched GEMV (tensor-core MMAs) in every configuration and token-group width;
//   - a prompt pass's attention, tiled (and the grouped kernel), one prompt and a batch whose
//     tiles mix slots, against the rotated q and the cache as the RoPE kernel left them.
// Exit 77 (skipped) without a CUDA device.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "../../src/engine/cuda/cuda_kernels.cuh"

#define SKIP 77
#define MAX_SEQ 320
#define MAX_BATCH 64

static unsigned long long rng_state = 88172645463325252ull;
static float frand(void) /* xorshift64, uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 11) * (1.0 / 9007199254740992.0)) * 2.f - 1.f;
}

static float bf16_round(float x) { return __bfloat162float(__float2bfloat16(x)); }

static int failures;

#define CK(call)                                                                          \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, cudaGetErrorString(e_));   \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* A cache of random entries (as stored: bf16 or fp32), with the values as floats when asked. */
static void random_cache(bool bf, size_t n, std::vector<char> &kraw, std::vector<char> &vraw,
                         std::vector<float> *kc, std::vector<float> *vc)
{
    size_t esz = bf ? 2 : 4;
    kraw.resize(n * esz), vraw.resize(n * esz);
    if (kc) kc->resize(n), vc->resize(n);
    for (size_t i = 0; i < n; i++) {
        float a = frand(), b = frand();
        if (bf) {
            ((__nv_bfloat16 *)kraw.data())[i] = __float2bfloat16(a);
            ((__nv_bfloat16 *)vraw.data())[i] = __float2bfloat16(b);
            a = bf16_round(a), b = bf16_round(b);
        } else {
            ((float *)kraw.data())[i] = a;
            ((float *)vraw.data())[i] = b;
        }
        if (kc) (*kc)[i] = a, (*vc)[i] = b;
    }
}

/* The device side of an attention case: the cache, q/k/v rows, output, runs and tokens. */
struct att_dev {
    char *k, *v;
    float *qkv, *out, *part;
    dev_token *tok;
    int part_runs;
    att_dev(size_t cache_bytes, size_t qkv_floats, size_t out_floats, int heads, int hd, int sms,
            const std::vector<dev_token> &toks)
    {
        part_runs = 4 * (MAX_BATCH * heads > sms ? MAX_BATCH * heads : sms);
        CK(cudaMalloc((void **)&k, cache_bytes));
        CK(cudaMalloc((void **)&v, cache_bytes));
        CK(cudaMalloc((void **)&qkv, qkv_floats * 4));
        CK(cudaMalloc((void **)&out, out_floats * 4));
        CK(cudaMalloc((void **)&part, (size_t)part_runs * (hd + 2) * 4));
        CK(cudaMalloc((void **)&tok, toks.size() * sizeof(dev_token)));
        CK(cudaMemcpy(tok, toks.data(), toks.size() * sizeof(dev_token), cudaMemcpyHostToDevice));
    }
    ~att_dev() { cudaFree(k), cudaFree(v), cudaFree(qkv), cudaFree(out), cudaFree(part), cudaFree(tok); }
};

/* The output back from the device (out.size() floats), and the worst error of its first
 * ref.size() against the reference relative to scale (a NaN, e.g. an output never written, counts
 * as infinite). */
static double worst_error(std::vector<float> &out, const float *dout, const std::vector<double> &ref, double scale)
{
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(out.data(), dout, out.size() * 4, cudaMemcpyDeviceToHost));
    double worst = 0;
    for (size_t i = 0; i < out.size() && i < ref.size(); i++) {
        double e = fabs(out[i] - ref[i]) / scale;
        if (!(e <= worst)) worst = e;
    }
    return worst;
}

struct shape {
    int heads, kv_heads, hd;
};

/* One case: n tokens (distinct slots, positions pos[i]), a cache of random rows; every path's
 * output against the reference, and row P of the cache as the fused kernel writes it. */
static void run_case(const shape &sh, bool bf, int n, const std::vector<int> &pos, int splits,
                     const float2 *d_rope, const std::vector<float2> &rope, int sms)
{
    int H = sh.heads, KVH = sh.kv_heads, D = sh.hd, G = H / KVH, half = D / 2;
    int kvdim = KVH * D, stride = (H + 2 * KVH) * D;
    size_t cache_n = (size_t)MAX_BATCH * MAX_SEQ * kvdim, esz = bf ? 2 : 4;
    std::vector<float> kc, vc, qkv((size_t)n * stride);
    std::vector<char> kraw, vraw;
    random_cache(bf, cache_n, kraw, vraw, &kc, &vc);
    for (float &x : qkv) x = 2.f * frand();
    std::vector<dev_token> tok((size_t)n);
    for (int i = 0; i < n; i++) tok[(size_t)i] = {(i * 7) % MAX_BATCH, pos[(size_t)i], 1, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1};
    /* the host's rows P from the token's own k and v (rotated in fp32 and rounded as the cache
     * stores them), and its rotated q */
    std::vector<float> rowk((size_t)n * kvdim), rowv((size_t)n * kvdim), qrs((size_t)n * H * D);
    for (int i = 0; i < n; i++) {
        int P = pos[(size_t)i];
        const float *qt = &qkv[(size_t)i * stride], *kt = qt + H * D, *vt = kt + KVH * D;
        const float2 *cs = &rope[(size_t)P * half];
        std::vector<float> kr((size_t)kvdim);
        for (int h = 0; h < H + KVH; h++)
            for (int j = 0; j < half; j++) {
                const float *src = h < H ? qt + h * D : kt + (h - H) * D;
                float *dst = h < H ? &qrs[((size_t)i * H + h) * D] : &kr[(size_t)(h - H) * D];
                float a = src[j], b = src[j + half];
                dst[j] = a * cs[j].x - b * cs[j].y;
                dst[j + half] = b * cs[j].x + a * cs[j].y;
            }
        for (int d = 0; d < kvdim; d++) {
            rowk[(size_t)i * kvdim + d] = bf ? bf16_round(kr[(size_t)d]) : kr[(size_t)d];
            rowv[(size_t)i * kvdim + d] = bf ? bf16_round(vt[d]) : vt[d];
        }
    }
    /* the reference attention (double) with rows P as given: the host's, or as a path wrote them
     * to the device's cache (they may differ from the host's by a rounding step) */
    auto reference = [&](const std::vector<float> &rk, const std::vector<float> &rv) {
        std::vector<double> ref((size_t)n * H * D);
        for (int i = 0; i < n; i++) {
            int P = pos[(size_t)i], slot = tok[(size_t)i].slot;
            for (int h = 0; h < H; h++) {
                int j = h / G;
                const float *qr = &qrs[((size_t)i * H + h) * D];
                std::vector<double> sc((size_t)P + 1);
                double mx = -1e300;
                for (int p = 0; p <= P; p++) {
                    const float *kp = p < P ? &kc[((size_t)slot * MAX_SEQ + p) * kvdim + j * D]
                                            : &rk[(size_t)i * kvdim + j * D];
                    double acc = 0;
                    for (int d = 0; d < D; d++) acc += (double)qr[d] * kp[d];
                    sc[(size_t)p] = acc / sqrt((double)D);
                    mx = sc[(size_t)p] > mx ? sc[(size_t)p] : mx;
                }
                double l = 0;
                for (int p = 0; p <= P; p++) l += (sc[(size_t)p] = exp(sc[(size_t)p] - mx));
                for (int d = 0; d < D; d++) {
                    double acc = 0;
                    for (int p = 0; p <= P; p++) {
                        const float *vp = p < P ? &vc[((size_t)slot * MAX_SEQ + p) * kvdim + j * D]
                                                : &rv[(size_t)i * kvdim + j * D];
                        acc += sc[(size_t)p] * vp[d];
                    }
                    ref[((size_t)i * H + h) * D + d] = acc / l;
                }
            }
        }
        return ref;
    };
    std::vector<double> ref = reference(rowk, rowv);
    double scale = 0;
    for (double r : ref) scale = fabs(r) > scale ? fabs(r) : scale;
    att_dev dd(cache_n * esz, qkv.size(), (size_t)n * H * D, H, D, sms, tok);
    char *dk = dd.k, *dv = dd.v;
    float *dqkv = dd.qkv, *dout = dd.out, *dpart = dd.part;
    dev_token *dtok = dd.tok;
    int part_runs = dd.part_runs;
    unsigned *dcount;
    CK(cudaMalloc((void **)&dcount, (size_t)MAX_BATCH * KVH * 4));
    CK(cudaMemset(dcount, 0, (size_t)MAX_BATCH * KVH * 4));
    std::vector<float> out((size_t)n * H * D);
    /* the fused kernel in its tensor-core form where it applies (q and the probabilities in
     * bf16: a bf16-level tolerance), and in its CUDA-core form, its runs added as a cluster where
     * its blocks fit one an SM, and through the counter */
    hb_cuda_dec_mma_min = 1; /* whatever the batch */
    bool mma = hb_cuda_decode_mma(n, H, KVH, D, bf);
    const int cz = hb_cuda_decode_cluster_runs(n, KVH, splits); /* the CUDA-core form's runs as a cluster */
    const char *paths[] = {mma ? "fused, tensor cores" : cz > 1 ? "fused, runs as a cluster" : "fused",
                           "fused again (counters reset)", "rope (loop) + per-head", "rope (vector) + grouped",
                           cz > 1 ? "fused, CUDA cores, runs as a cluster" : "fused, CUDA cores",
                           "fused, CUDA cores, runs through the counter"};
    for (int path = 0; path < 6; path++) {
        if (path == 4 && !mma) continue; /* path 0 was the CUDA-core form */
        if (path == 5 && cz == 1) continue; /* path 0 or 4 took the counter */
        CK(cudaMemcpy(dk, kraw.data(), cache_n * esz, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dv, vraw.data(), cache_n * esz, cudaMemcpyHostToDevice));
        CK(cudaMemcpy(dqkv, qkv.data(), qkv.size() * 4, cudaMemcpyHostToDevice));
        CK(cudaMemset(dout, 0xff, (size_t)n * H * D * 4)); /* NaN: a missing output shows */
        int runs = 1;
        if (path < 2 || path >= 4) {
            runs = (path == 4 || (path < 2 && !mma)) && cz > 1 ? cz : splits;
            hb_cuda_dec_mma = path >= 4 ? 0 : 1;
            hb_cuda_dec_cluster = path == 5 ? 0 : 1;
            for (int rep = 0; rep <= (path == 1); rep++)
                hb_cuda_attention_decode(dqkv, dqkv + H * D, dqkv + (H + KVH) * D, stride, stride, dtok, n,
                                         d_rope, dk, dv, bf, dout, nullptr, dpart, dcount, splits, H, KVH,
                                         D, MAX_BATCH, MAX_SEQ, 0, false, 0);
        } else {
            setenv("HB_ATT_KERNEL", path == 2 ? "head" : "group", 1);
            runs = hb_cuda_attention_splits(n, H, MAX_SEQ - 1, sms, part_runs);
            hb_cuda_rope_vec = path == 3; /* the RoPE kernel's loop form on path 2, its vector form on 3 */
            hb_cuda_rope_kv(dqkv, dqkv + H * D, dqkv + (H + KVH) * D, stride, stride, dtok, n, d_rope, H,
                            KVH, D, dk, dv, bf, MAX_BATCH, MAX_SEQ, 0, 0);
            hb_cuda_rope_vec = 1;
            hb_cuda_attention(dqkv, stride, dtok, n, dk, dv, bf, dout, nullptr, dpart, runs, H, KVH, D,
                              MAX_BATCH, MAX_SEQ, 0, MAX_SEQ - 1, sms, 0);
            unsetenv("HB_ATT_KERNEL");
        }
        CK(cudaDeviceSynchronize());
        /* row P of every token as written to the cache, relative to the entry above magnitude 1
         * (the device's RoPE may fuse a multiply-add that the host rounds twice, and a bf16 entry
         * then rounds to its neighbour: one step, up to 2^-7 of the value, 0.016 at magnitude
         * 2-2.8); the outputs are then checked against a reference that attends to those rows */
        double row_err = 0;
        std::vector<float> dk_rows(rowk.size()), dv_rows(rowv.size());
        std::vector<char> got((size_t)kvdim * esz);
        for (int i = 0; i < n; i++) {
            size_t off = ((size_t)tok[(size_t)i].slot * MAX_SEQ + pos[(size_t)i]) * kvdim;
            for (int which = 0; which < 2; which++) {
                CK(cudaMemcpy(got.data(), (which ? dv : dk) + off * esz, (size_t)kvdim * esz, cudaMemcpyDeviceToHost));
                for (int d = 0; d < kvdim; d++) {
                    float g = bf ? __bfloat162float(((__nv_bfloat16 *)got.data())[d]) : ((float *)got.data())[d];
                    float w = (which ? rowv : rowk)[(size_t)i * kvdim + d];
                    (which ? dv_rows : dk_rows)[(size_t)i * kvdim + d] = g;
                    double e = fabs((double)g - w) / fmax(1.0, fabs((double)w));
                    if (!(e <= row_err)) row_err = e;
                }
            }
        }
        const bool same_rows = dk_rows == rowk && dv_rows == rowv;
        double worst = worst_error(out, dout, same_rows ? ref : reference(dk_rows, dv_rows), scale);
        hb_cuda_dec_mma = 1;
        hb_cuda_dec_cluster = 1;
        double tol = mma && path < 2 ? 1e-2 : 1e-4;
        bool ok = worst <= tol && row_err <= (bf ? 1e-2 : 1e-5);
        printf("%s heads %d/%d d %d, %s entries, batch %d, %d run%s, %s: worst %.2g of %.3g, cache row P %.2g\n",
               ok ? "ok  " : "FAIL", H, KVH, D, bf ? "bf16" : "fp32", n, runs, runs > 1 ? "s" : "", paths[path],
               worst, scale, row_err);
        if (!ok) failures++;
    }
    hb_cuda_dec_mma_min = DEC_MMA_MIN_TOKENS;
    cudaFree(dcount);
}

/* RMSNorm: every form against the reference, for one row length. */
static void norm_case(int hidden)
{
    const int n = 5, rows = 9; /* x has 9 rows; the launch covers 5 of them */
    const float eps = 1e-5f;
    std::vector<float> x((size_t)rows * hidden), add((size_t)rows * hidden), wt(hidden), wa(hidden);
    for (float &v : x) v = 3.f * frand();
    for (float &v : add) v = frand();
    for (float &v : wt) v = 1.f + 0.5f * frand();
    for (float &v : wa) v = 1.f + 0.5f * frand();
    std::vector<dev_token> tok((size_t)n);
    for (int i = 0; i < n; i++) tok[(size_t)i] = {i, 0, i % 2, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1};
    std::vector<int32_t> idx = {7, 2, 4, 0, 8};
    float *dx, *dadd, *dwt, *dwa, *dout;
    dev_token *dtok;
    int32_t *didx;
    CK(cudaMalloc((void **)&dx, x.size() * 4));
    CK(cudaMalloc((void **)&dadd, add.size() * 4));
    CK(cudaMalloc((void **)&dwt, (size_t)hidden * 4));
    CK(cudaMalloc((void **)&dwa, (size_t)hidden * 4));
    CK(cudaMalloc((void **)&dout, x.size() * 4));
    CK(cudaMalloc((void **)&dtok, tok.size() * sizeof(dev_token)));
    CK(cudaMalloc((void **)&didx, idx.size() * 4));
    CK(cudaMemcpy(dadd, add.data(), add.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dwt, wt.data(), (size_t)hidden * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dwa, wa.data(), (size_t)hidden * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dtok, tok.data(), tok.size() * sizeof(dev_token), cudaMemcpyHostToDevice));
    CK(cudaMemcpy(didx, idx.data(), idx.size() * 4, cudaMemcpyHostToDevice));
    const char *forms[] = {"path weights", "gathered rows", "residual add by launch row, bf16 out in order",
                           "residual add by x row, bf16 out by x row"};
    for (int f = 0; f < 4; f++) {
        CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
        CK(cudaMemset(dout, 0, x.size() * 4));
        bool bf = f >= 2, by_row = f == 3;
        if (f == 0) hb_cuda_rmsnorm_path(dx, dtok, n, dwt, dwa, dout, hidden, eps, 0);
        else if (f == 1) hb_cuda_rmsnorm_gather(dx, didx, n, dwt, dout, hidden, eps, 0);
        else hb_cuda_rmsnorm_bf16(dx, dadd, by_row, nullptr, didx, n, dwt, dwt, (__nv_bfloat16 *)dout, by_row,
                                  hidden, eps, 0);
        CK(cudaDeviceSynchronize());
        std::vector<float> gx(x.size()), go(x.size());
        std::vector<__nv_bfloat16> gb(x.size());
        CK(cudaMemcpy(gx.data(), dx, x.size() * 4, cudaMemcpyDeviceToHost));
        if (bf) CK(cudaMemcpy(gb.data(), dout, x.size() * 2, cudaMemcpyDeviceToHost));
        else CK(cudaMemcpy(go.data(), dout, x.size() * 4, cudaMemcpyDeviceToHost));
        double worst = 0, xerr = 0;
        std::vector<double> xr(x.begin(), x.end());
        for (int r = 0; r < n; r++) {
            int row = f == 0 ? r : idx[(size_t)r];
            double *xrow = &xr[(size_t)row * hidden], ss = 0;
            if (bf)
                for (int d = 0; d < hidden; d++) xrow[d] += add[(size_t)(by_row ? row : r) * hidden + d];
            for (int d = 0; d < hidden; d++) ss += xrow[d] * xrow[d];
            double inv = 1 / sqrt(ss / hidden + eps);
            const std::vector<float> &w = f == 0 && tok[(size_t)r].audio ? wa : wt;
            size_t o = (size_t)(by_row ? row : r) * hidden;
            for (int d = 0; d < hidden; d++) {
                double want = w[(size_t)d] * xrow[d] * inv;
                double got = bf ? (double)__bfloat162float(gb[o + d]) : go[o + d];
                double e = fabs(got - want) / (fabs(want) + 1e-3);
                if (!(e <= worst)) worst = e;
            }
        }
        for (size_t i = 0; i < x.size(); i++) { /* x itself: the residual add, and nothing else */
            double e = fabs(gx[i] - xr[i]);
            if (!(e <= xerr)) xerr = e;
        }
        bool ok = worst <= (bf ? 8e-3 : 1e-5) && xerr <= 1e-5;
        printf("%s rmsnorm, %d floats a row, %s: worst relative error %.2g, x %.2g\n", ok ? "ok  " : "FAIL",
               hidden, forms[f], worst, xerr);
        if (!ok) failures++;
    }
    cudaFree(dx), cudaFree(dadd), cudaFree(dwt), cudaFree(dwa), cudaFree(dout), cudaFree(dtok), cudaFree(didx);
}

/* [gate | up] rows to silu(gate) * up in bf16. */
static void swiglu_case(int I)
{
    const int rows = 3;
    std::vector<float> gu((size_t)rows * 2 * I);
    for (float &v : gu) v = 4.f * frand();
    float *dgu;
    __nv_bfloat16 *dout;
    CK(cudaMalloc((void **)&dgu, gu.size() * 4));
    CK(cudaMalloc((void **)&dout, (size_t)rows * I * 2));
    CK(cudaMemcpy(dgu, gu.data(), gu.size() * 4, cudaMemcpyHostToDevice));
    hb_cuda_swiglu_rows_bf16(dgu, dout, rows, I, 0);
    CK(cudaDeviceSynchronize());
    std::vector<__nv_bfloat16> got((size_t)rows * I);
    CK(cudaMemcpy(got.data(), dout, got.size() * 2, cudaMemcpyDeviceToHost));
    double worst = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < I; i++) {
            double g = gu[(size_t)r * 2 * I + i], u = gu[(size_t)r * 2 * I + I + i];
            double want = g / (1 + exp(-g)) * u, e = fabs(__bfloat162float(got[(size_t)r * I + i]) - want) / (fabs(want) + 1e-3);
            if (!(e <= worst)) worst = e;
        }
    bool ok = worst <= 8e-3;
    printf("%s swiglu rows to bf16, I %d: worst relative error %.2g\n", ok ? "ok  " : "FAIL", I, worst);
    if (!ok) failures++;
    cudaFree(dgu), cudaFree(dout);
}

/* The audio draw on the device against the host's rule (hb_pick_sample), codebooks of n head
 * outputs (n - 2 codes, then the stream BOS and EOS): greedy, plain temperature, top-p, top-k,
 * both, RAS resamples, fixed codes, EOS banned or not. Logits on a coarse grid (coarse: ties,
 * broken by index, are common, and a codebook's top-k / top-p cut may fall in a bucket of more
 * equal values than the bucketed cut takes, so that it falls back to the full sort) or spread
 * (no fallback expected: the buckets alone). The n chosen give each form of the sort: 2 entries
 * a thread (n <= 512, 32 and 256 threads), 4 and 8, up to the largest codebook drawn on the
 * device; and with no more blocks than SMs, the wide blocks (up to 1024 threads, 2 entries each). */
static void draw_case(int n, int nrows, int sms, bool coarse)
{
    const int K = HB_NUM_CODEBOOKS, blocks = nrows * K, bos = n - 2, eos = n - 1;
    hb_sample_ws ws;
    hb_error err;
    if (hb_sample_ws_init(&ws, n, &err) != HB_OK) {
        printf("FAIL draw n %d: %s\n", n, err.msg);
        failures++;
        return;
    }
    std::vector<uint8_t> ban((size_t)n, 0);
    std::vector<float> l((size_t)blocks * n);
    for (float &v : l) v = coarse ? roundf(frand() * 12.f) * 0.5f : frand() * 6.f;
    std::vector<hb_pick> pk((size_t)blocks);
    for (int b = 0; b < blocks; b++) {
        hb_pick &p = pk[(size_t)b];
        memset(&p, 0, sizeof p);
        int mode = b % 7;
        p.forced = mode == 6 ? b % (n - 2) : -1;
        p.ban_eos = b % 3 == 0;
        p.temperature = mode == 0 ? 0.f : 0.4f + 0.1f * (float)(b % 9);
        p.top_k = mode == 2 ? 40 : mode == 3 ? 3 + b % 50 : 0;
        p.top_p = mode == 1 || mode == 3 ? 0.8f + 0.02f * (float)(b % 10) : mode == 4 ? 0.95f : 1.f;
        p.ras_repeat = mode == 5 || mode == 4 ? 1 + b % 2 : 0;
        p.u = (frand() + 1.0) * 0.5, p.u_ras = (frand() + 1.0) * 0.5;
        p.nhist = p.ras_repeat ? p.ras_repeat + b % (HB_PICK_HIST - 1) : 0;
        /* a history of random codes; every other one also holds the first draw's code
         * ras_repeat times (the host's, without RAS), so that resamples happen */
        for (int i = 0; i < p.nhist; i++) p.hist[i] = (int)((frand() + 1.f) * 0.5f * (float)(n - 2)) % (n - 2);
        if (p.ras_repeat && b % 2 == 0) {
            hb_pick once = p;
            once.ras_repeat = 0;
            int32_t first = hb_pick_sample(l.data() + (size_t)b * n, n, &once, bos, eos, n - 2, ban.data(), &ws);
            for (int i = 0; i < p.ras_repeat; i++) p.hist[p.nhist - 1 - i] = first;
        }
    }
    float *dl;
    hb_pick *dp;
    int32_t *dout;
    CK(cudaMalloc((void **)&dl, l.size() * 4));
    CK(cudaMalloc((void **)&dp, pk.size() * sizeof(hb_pick)));
    CK(cudaMalloc((void **)&dout, (size_t)nrows * 2 * K * 4));
    CK(cudaMemcpy(dl, l.data(), l.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dp, pk.data(), pk.size() * sizeof(hb_pick), cudaMemcpyHostToDevice));
    const unsigned long long fb0 = hb_cuda_draw_fallbacks();
    hb_cuda_draw_codes(dl, nrows, n, dp, bos, eos, n - 2, dout, sms, 0);
    CK(cudaDeviceSynchronize());
    const unsigned long long fallbacks = hb_cuda_draw_fallbacks() - fb0;
    std::vector<int32_t> got((size_t)nrows * 2 * K);
    CK(cudaMemcpy(got.data(), dout, got.size() * 4, cudaMemcpyDeviceToHost));
    int bad = 0, first = -1, resampled = 0;
    for (int b = 0; b < blocks; b++) {
        int row = b / K, k = b % K;
        int32_t want = hb_pick_sample(l.data() + (size_t)b * n, n, &pk[(size_t)b], bos, eos, n - 2, ban.data(), &ws);
        hb_pick once = pk[(size_t)b];
        once.ras_repeat = 0;
        resampled += want != hb_pick_sample(l.data() + (size_t)b * n, n, &once, bos, eos, n - 2, ban.data(), &ws);
        if (got[(size_t)row * 2 * K + k] != want || got[(size_t)row * 2 * K + K + k] != -1) {
            if (first < 0) first = b;
            bad++;
        }
    }
    hb_sample_ws_free(&ws);
    const bool fb_ok = coarse || fallbacks == 0; /* spread logits: the buckets alone */
    printf("%s audio draw, %d entries a codebook, %s logits, %d draws (%s; %d RAS resamples, %llu cuts by the "
           "full sort): %d differ from the host's\n",
           bad || !resampled || !fb_ok ? "FAIL" : "ok  ", n, coarse ? "coarse" : "spread", blocks,
           blocks <= sms ? "up to 1024 threads a block" : "up to 256 threads a block", resampled, fallbacks, bad);
    if (!resampled) failures++; /* the case must exercise the resample */
    if (!fb_ok) failures++;
    if (bad) {
        int row = first / K, k = first % K;
        printf("     block %d: device %d, host mode %d\n", first, got[(size_t)row * 2 * K + k], first % 7);
        failures++;
    }
    cudaFree(dl), cudaFree(dp), cudaFree(dout);
}

/* A product's inputs: N x K weights and n x K activations, bf16 values drawn uniform in [-1, 1),
 * on the device (*dw, *dx), and (ref not null) the reference y[t][r] in double from the same
 * rounded values */
static void random_product(int n, int N, int K, std::vector<double> *ref, __nv_bfloat16 **dw, __nv_bfloat16 **dx)
{
    std::vector<__nv_bfloat16> w((size_t)N * K), x((size_t)n * K);
    std::vector<float> wf(w.size()), xf(x.size());
    for (size_t i = 0; i < w.size(); i++) w[i] = __float2bfloat16(frand()), wf[i] = __bfloat162float(w[i]);
    for (size_t i = 0; i < x.size(); i++) x[i] = __float2bfloat16(frand()), xf[i] = __bfloat162float(x[i]);
    if (ref) { /* null: no reference wanted */
        ref->assign((size_t)n * N, 0.0);
        for (int t = 0; t < n; t++)
            for (int r = 0; r < N; r++) {
                double acc = 0;
                for (int k = 0; k < K; k++) acc += (double)xf[(size_t)t * K + k] * wf[(size_t)r * K + k];
                (*ref)[(size_t)t * N + r] = acc;
            }
    }
    CK(cudaMalloc((void **)dw, w.size() * 2));
    CK(cudaMalloc((void **)dx, x.size() * 2));
    CK(cudaMemcpy(*dw, w.data(), w.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(*dx, x.data(), x.size() * 2, cudaMemcpyHostToDevice));
}

/* A product's output y (ybytes of floats from dy, after the kernel) against ref: worst_error, and
 * in *guard whether the floats past the output are still the NaN they were set to */
static double product_error(const std::vector<double> &ref, const float *dy, size_t ybytes, double scale,
                            bool *guard)
{
    std::vector<float> got(ybytes / 4);
    const double worst = worst_error(got, dy, ref, scale);
    *guard = true;
    for (size_t i = ref.size(); i < got.size(); i++) *guard = *guard && isnan(got[i]);
    return worst;
}

/* The batched GEMV (tensor-core MMAs) in every configuration: n tokens of bf16 activations
 * against N rows of bf16 weights (N not always a multiple of the 16-row block) over K columns. */
static void mmv_case(int n, int N, int K)
{
    std::vector<double> ref;
    __nv_bfloat16 *dw, *dx;
    random_product(n, N, K, &ref, &dw, &dx);
    float *dy;
    size_t ybytes = ((size_t)n * N + 64) * 4; /* and a guard past the end */
    CK(cudaMalloc((void **)&dy, ybytes));
    double scale = sqrt((double)K) / 3; /* the spread of a sum of K products of U(-1, 1) values */
    for (int c = 0; c < hb_mmv_ncfgs; c++) {
        CK(cudaMemset(dy, 0xff, ybytes)); /* NaN everywhere: a row not written shows */
        hb_cuda_mmv_cfg(c, dw, dx, dy, n, N, K, 0);
        bool guard;
        const double worst = product_error(ref, dy, ybytes, scale, &guard);
        bool ok = worst <= 1e-4 && guard; /* fp32 sums of up to 8192 products */
        printf("%s batched GEMV [%d warps, unroll %d, %d rows, L2 hint %d] n %d N %d K %d: worst error %.2g of the scale%s\n",
               ok ? "ok  " : "FAIL", hb_mmv_cfgs[c].warps, hb_mmv_cfgs[c].unroll, 16 * hb_mmv_cfgs[c].row_tiles, hb_mmv_cfgs[c].l2_hint, n, N, K, worst,
               guard ? "" : ", wrote past the output");
        if (!ok) failures++;
    }
    cudaFree(dw), cudaFree(dx), cudaFree(dy);
}

/* The one-token GEMVs reading bf16 activations (one-token passes' down_proj in the batched path),
 * every configuration, against N rows (not always a multiple of a block's rows) over K columns. */
static void gemv1_bf16x_case(int N, int K)
{
    std::vector<double> ref;
    __nv_bfloat16 *dw, *dx;
    random_product(1, N, K, &ref, &dw, &dx);
    float *dy;
    size_t ybytes = ((size_t)N + 64) * 4; /* and a guard past the end */
    CK(cudaMalloc((void **)&dy, ybytes));
    double scale = sqrt((double)K) / 3;
    for (int c = 0; c < hb_gemv1_ncfgs; c++) {
        CK(cudaMemset(dy, 0xff, ybytes)); /* NaN everywhere: a row not written shows */
        hb_cuda_gemv1_bf16x_cfg(c, dw, dx, dy, N, K, 0);
        bool guard;
        const double worst = product_error(ref, dy, ybytes, scale, &guard);
        bool ok = worst <= 1e-4 && guard;
        const hb_gemv_cfg &g = hb_gemv1_cfgs[c];
        printf("%s one-token GEMV, bf16 activations [%d rows a warp, unroll %d, %d warps, split %d]%s N %d K %d: "
               "worst error %.2g of the scale%s\n",
               ok ? "ok  " : "FAIL", g.rows_per_warp, g.unroll, g.warps, g.split, c == hb_gemv1_chosen(K) ? " *" : "",
               N, K, worst, guard ? "" : ", wrote past the output");
        if (!ok) failures++;
    }
    cudaFree(dw), cudaFree(dx), cudaFree(dy);
}

/* The weight-streaming GEMM: n tokens against N rows (N not always a multiple of the 128-row
 * tile) over K columns, K cut over 1 to 8 blocks of a cluster (more than K has steps too: those
 * blocks add zeros) and the split the backend runs; each result twice, bit for bit the same.
 * Odd n writes y one float past an aligned address (no 16-byte stores there). */
static void wsgemm_case(int n, int N, int K)
{
    const int yo = n & 1;
    std::vector<double> ref;
    __nv_bfloat16 *dw, *dx;
    random_product(n, N, K, &ref, &dw, &dx);
    float *dy;
    size_t ybytes = ((size_t)n * N + 64) * 4; /* and a guard past the end */
    CK(cudaMalloc((void **)&dy, ybytes + 4 * yo));
    double scale = sqrt((double)K) / 3;
    const int chosen = hb_wsgemm_split(n, N, K);
    for (int wg = 0; wg <= (hb_cuda_wsgemm_wg_runs() ? 1 : 0); wg++)
    for (int wn = 1; wn <= 2; wn++)
    for (int split : {1, 3, 8, chosen}) {
        std::vector<float> got[2];
        for (int rep = 0; rep < 2; rep++) {
            CK(cudaMemset(dy, 0xff, ybytes + 4 * yo)); /* NaN everywhere: a row not written shows */
            hb_cuda_wsgemm_cfg(hb_wsg_cfg{split, wn, (split & 1) != 0, wg != 0}, dw, dx, dy + yo, n, N, K, 0);
            CK(cudaGetLastError());
            CK(cudaDeviceSynchronize());
            got[rep].resize(ybytes / 4);
            CK(cudaMemcpy(got[rep].data(), dy + yo, ybytes, cudaMemcpyDeviceToHost));
        }
        double worst = 0;
        for (size_t i = 0; i < ref.size(); i++) {
            double e = fabs(got[0][i] - ref[i]) / scale;
            if (!(e <= worst)) worst = e;
        }
        bool guard = true, same = memcmp(got[0].data(), got[1].data(), ref.size() * 4) == 0;
        for (size_t i = ref.size(); i < got[0].size(); i++) guard = guard && isnan(got[0][i]);
        bool ok = worst <= 1e-4 && guard && same;
        printf("%s weight-streaming GEMM [%s, %d warps, split %d%s] n %d N %d K %d%s: worst error %.2g of the "
               "scale%s%s\n",
               ok ? "ok  " : "FAIL", wg ? "wgmma" : "mma.sync", 4 * wn, split,
               split == chosen ? ", the backend's split" : "", n, N, K,
               yo ? ", y unaligned" : "", worst,
               guard ? "" : ", wrote past the output", same ? "" : ", two runs differ");
        if (!ok) failures++;
    }
    cudaFree(dw), cudaFree(dx), cudaFree(dy);
}

/* The one-token GEMV with its rows copied on chip first: N rows (a partial last block when the
 * device's SM count does not divide N) over K columns, y written or added to (the residual add),
 * nothing written past y; shapes too large for it are refused without a launch. */
static void resident_case(int N, int K, int sms)
{
    std::vector<double> ref;
    __nv_bfloat16 *dw, *dxb;
    random_product(1, N, K, &ref, &dw, &dxb);
    std::vector<__nv_bfloat16> xb((size_t)K);
    CK(cudaMemcpy(xb.data(), dxb, (size_t)K * 2, cudaMemcpyDeviceToHost));
    std::vector<float> x((size_t)K), y0((size_t)N + 64, NAN);
    for (int k = 0; k < K; k++) x[(size_t)k] = __bfloat162float(xb[(size_t)k]);
    for (int r = 0; r < N; r++) y0[(size_t)r] = frand() * 10;
    float *dx, *dy;
    CK(cudaMalloc((void **)&dx, (size_t)K * 4));
    CK(cudaMalloc((void **)&dy, y0.size() * 4));
    CK(cudaMemcpy(dx, x.data(), (size_t)K * 4, cudaMemcpyHostToDevice));
    const double scale = sqrt((double)K) / 3;
    const int R = hb_cuda_gemv1_resident_rows(N, K, sms);
    for (int acc = 0; acc < 2; acc++) {
        CK(cudaMemcpy(dy, y0.data(), y0.size() * 4, cudaMemcpyHostToDevice));
        const bool ran = hb_cuda_gemv1_resident(dw, dx, dy, N, K, acc != 0, sms, 0);
        CK(cudaGetLastError());
        CK(cudaDeviceSynchronize());
        std::vector<float> got(y0.size());
        CK(cudaMemcpy(got.data(), dy, got.size() * 4, cudaMemcpyDeviceToHost));
        double worst = 0;
        bool guard = true, untouched = true;
        for (int r = 0; r < N; r++) {
            const double want = ref[(size_t)r] + (acc ? y0[(size_t)r] : 0.0);
            const double e = fabs(got[(size_t)r] - want) / scale;
            if (!(e <= worst)) worst = e;
            untouched = untouched && got[(size_t)r] == y0[(size_t)r];
        }
        for (size_t i = (size_t)N; i < got.size(); i++) guard = guard && isnan(got[i]);
        /* it runs exactly when its rows fit (R > 0); refused, y is left as it was */
        const bool ok = ran == (R > 0) && guard && (ran ? worst <= 1e-4 : untouched);
        printf("%s resident one-token GEMV N %d K %d, %d SMs%s: %s%s\n", ok ? "ok  " : "FAIL", N, K, sms,
               acc ? ", added to y" : "", ran ? "" : "refused (too large)",
               guard ? "" : ", wrote past the output");
        if (ran) printf("     %d rows a block, worst error %.2g of the scale\n", R, worst);
        if (!ok) failures++;
    }
    cudaFree(dw), cudaFree(dxb), cudaFree(dx), cudaFree(dy);
}

/* A gate/up product with the SwiGLU in its epilogue (fused: w, x -> bf16 out) against its plain
 * product (plain: w, x -> fp32 y) followed by the SwiGLU kernel: bit for bit the same bf16
 * activations, nothing written past them (a guard of 64 values). what: the line's description. */
template <typename P, typename F>
static void swiglu_pair_case(const char *what, int n, int I, int K, P &&plain, F &&fused)
{
    __nv_bfloat16 *dw, *dx, *da, *db;
    float *dy;
    random_product(n, 2 * I, K, nullptr, &dw, &dx); /* the plain products are checked on their own */
    size_t abytes = ((size_t)n * I + 64) * 2;
    CK(cudaMalloc((void **)&dy, (size_t)n * 2 * I * 4));
    CK(cudaMalloc((void **)&da, abytes));
    CK(cudaMalloc((void **)&db, abytes));
    CK(cudaMemset(da, 0xff, abytes));
    CK(cudaMemset(db, 0xff, abytes));
    plain(dw, dx, dy);
    hb_cuda_swiglu_rows_bf16(dy, da, n, I, 0);
    fused(dw, dx, db);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<unsigned short> a(abytes / 2), b(abytes / 2);
    CK(cudaMemcpy(a.data(), da, abytes, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(b.data(), db, abytes, cudaMemcpyDeviceToHost));
    size_t diff = 0;
    for (size_t i = 0; i < (size_t)n * I; i++) diff += a[i] != b[i];
    bool guard = true;
    for (size_t i = (size_t)n * I; i < b.size(); i++) guard = guard && b[i] == 0xffff;
    bool ok = diff == 0 && guard;
    printf("%s %s with the SwiGLU fused n %d I %d K %d: %zu of %zu values differ from the product then the "
           "SwiGLU kernel%s\n",
           ok ? "ok  " : "FAIL", what, n, I, K, diff, (size_t)n * I, guard ? "" : ", wrote past the output");
    if (!ok) failures++;
    cudaFree(dw), cudaFree(dx), cudaFree(dy), cudaFree(da), cudaFree(db);
}

/* The weight-streaming GEMM's SwiGLU form against its plain product of the same split. */
static void wsgemm_swiglu_case(int n, int I, int K)
{
    const int was = hb_cuda_wsg_wg;
    for (int wg = 0; wg <= (hb_cuda_wsgemm_wg_runs() ? 1 : 0); wg++) { /* the engine's form, each MMA kind */
        hb_cuda_wsg_wg = wg;
        char what[80];
        snprintf(what, sizeof what, "weight-streaming GEMM [%s, split %d]", wg ? "wgmma" : "mma.sync",
                 hb_wsgemm_swiglu_split(n, I, K));
        swiglu_pair_case(what, n, I, K, [&](auto w, auto x, float *y) { hb_cuda_wsgemm(w, x, y, n, 2 * I, K, 0); },
                         [&](auto w, auto x, __nv_bfloat16 *o) { hb_cuda_wsgemm_swiglu(w, x, o, n, I, K, 0); });
    }
    hb_cuda_wsg_wg = was;
}

/* The batched GEMV's SwiGLU form (I not always a multiple of the 16-row tile) against its plain
 * product in the same configuration (16 warps, one group in flight, 32 rows, the 256-byte hint). */
static void mmv_swiglu_case(int n, int I, int K)
{
    int cfg = -1;
    for (int c = 0; c < hb_mmv_ncfgs; c++)
        if (hb_mmv_cfgs[c].warps == 16 && hb_mmv_cfgs[c].unroll == 1 && hb_mmv_cfgs[c].row_tiles == 2 &&
            hb_mmv_cfgs[c].l2_hint == 2)
            cfg = c;
    if (cfg < 0 || !hb_cuda_mmv_swiglu_fits(n, I, K)) {
        printf("FAIL batched GEMV with the SwiGLU fused n %d I %d K %d: %s\n", n, I, K,
               cfg < 0 ? "no configuration of 16 warps and 32 rows to compare with" : "refused");
        failures++;
        return;
    }
    swiglu_pair_case("batched GEMV", n, I, K, [&](auto w, auto x, float *y) { hb_cuda_mmv_cfg(cfg, w, x, y, n, 2 * I, K, 0); },
                     [&](auto w, auto x, __nv_bfloat16 *o) { hb_cuda_mmv_swiglu(w, x, o, n, I, K, 0); });
}

/* The MLP's input norm folded into o_proj and gate/up: n tokens, hidden N, o_proj's K, gate/up's I.
 * o_proj's residual add, bf16(x w) and sums of squares, then gate/up's SwiGLU activations (from
 * the bf16(x w) the device wrote, scaled by 1 / rms) against a double reference; nothing written
 * past bf16(x w) and the activations (guards of 64 values). */
static void fold_norm_case(int n, int N, int K, int I)
{
    const float eps = 1e-5f;
    const int np = hb_mmv_norm_parts(n, N, K, I);
    if (np != (N + 15) / 16) {
        printf("FAIL folded norm n %d N %d K %d I %d: %d partial sums a token, not %d\n", n, N, K, I, np, (N + 15) / 16);
        failures++;
        return;
    }
    std::vector<double> ref;
    __nv_bfloat16 *dwo, *dxin;
    random_product(n, N, K, &ref, &dwo, &dxin);
    std::vector<float> x((size_t)n * N), w((size_t)N), guf((size_t)2 * I * N);
    std::vector<__nv_bfloat16> gu(guf.size());
    for (float &v : x) v = 3.f * frand();
    for (float &v : w) v = 1.f + 0.5f * frand();
    for (size_t i = 0; i < gu.size(); i++) gu[i] = __float2bfloat16(frand()), guf[i] = __bfloat162float(gu[i]);
    float *dx, *dw, *dpart;
    __nv_bfloat16 *dxw, *dgu, *dact;
    const size_t xw_n = (size_t)n * N + 64, act_n = (size_t)n * I + 64;
    CK(cudaMalloc((void **)&dx, x.size() * 4));
    CK(cudaMalloc((void **)&dw, w.size() * 4));
    CK(cudaMalloc((void **)&dpart, (size_t)n * np * 4));
    CK(cudaMalloc((void **)&dxw, xw_n * 2));
    CK(cudaMalloc((void **)&dgu, gu.size() * 2));
    CK(cudaMalloc((void **)&dact, act_n * 2));
    CK(cudaMemcpy(dx, x.data(), x.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dw, w.data(), w.size() * 4, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dgu, gu.data(), gu.size() * 2, cudaMemcpyHostToDevice));
    CK(cudaMemset(dpart, 0xff, (size_t)n * np * 4)); /* NaN: a sum not written shows */
    CK(cudaMemset(dxw, 0xff, xw_n * 2));
    CK(cudaMemset(dact, 0xff, act_n * 2));
    const hb_mmv_norm nm = {dx, dw, dxw, dpart, np, eps};
    hb_cuda_mmv_resnorm(dwo, dxin, n, N, K, nm, 0);
    hb_cuda_mmv_swiglu_normed(dgu, dxw, dact, n, I, N, nm, 0);
    CK(cudaGetLastError());
    CK(cudaDeviceSynchronize());
    std::vector<float> gx(x.size()), gpart((size_t)n * np);
    std::vector<__nv_bfloat16> gxw(xw_n), gact(act_n);
    CK(cudaMemcpy(gx.data(), dx, gx.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gpart.data(), dpart, gpart.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gxw.data(), dxw, xw_n * 2, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(gact.data(), dact, act_n * 2, cudaMemcpyDeviceToHost));
    const double scale = sqrt((double)K) / 3;
    double xerr = 0, xwerr = 0, sserr = 0, aerr = 0;
    bool guard = true;
    for (size_t i = (size_t)n * N; i < xw_n; i++) guard = guard && __bfloat16_as_ushort(gxw[i]) == 0xffff;
    for (size_t i = (size_t)n * I; i < act_n; i++) guard = guard && __bfloat16_as_ushort(gact[i]) == 0xffff;
    for (int t = 0; t < n; t++) {
        double ss = 0, got_ss = 0;
        for (int r = 0; r < N; r++) {
            const size_t i = (size_t)t * N + r;
            const double xr = x[i] + ref[i], e = fabs(gx[i] - xr) / scale;
            if (!(e <= xerr)) xerr = e;
            const double want = xr * w[(size_t)r], ew = fabs(__bfloat162float(gxw[i]) - want) / (fabs(want) + 1e-2 * scale);
            if (!(ew <= xwerr)) xwerr = ew;
            ss += xr * xr;
        }
        for (int b = 0; b < np; b++) got_ss += gpart[(size_t)t * np + b];
        const double es = fabs(got_ss - ss) / ss;
        if (!(es <= sserr)) sserr = es;
        const double inv = 1 / sqrt(ss / N + eps);
        std::vector<double> want((size_t)I);
        double mean = 0;
        for (int r = 0; r < I; r++) {
            double g = 0, u = 0;
            for (int k = 0; k < N; k++) {
                const double a = __bfloat162float(gxw[(size_t)t * N + k]);
                g += a * guf[(size_t)r * N + k], u += a * guf[((size_t)I + r) * N + k];
            }
            g *= inv, u *= inv;
            want[(size_t)r] = g / (1 + exp(-g)) * u;
            mean += fabs(want[(size_t)r]) / I;
        }
        for (int r = 0; r < I; r++) {
            const double e = fabs(__bfloat162float(gact[(size_t)t * I + r]) - want[(size_t)r]) /
                             (fabs(want[(size_t)r]) + 1e-2 * mean);
            if (!(e <= aerr)) aerr = e;
        }
    }
    const bool ok = xerr <= 1e-4 && xwerr <= 8e-3 && sserr <= 1e-5 && aerr <= 1e-2 && guard;
    printf("%s folded norm n %d N %d K %d I %d (%d sums a token): residual %.2g of the scale, bf16(x w) %.2g, "
           "sum of squares %.2g, activations %.2g (relative)%s\n",
           ok ? "ok  " : "FAIL", n, N, K, I, np, xerr, xwerr, sserr, aerr, guard ? "" : ", wrote past the outputs");
    if (!ok) failures++;
    cudaFree(dwo), cudaFree(dxin), cudaFree(dx), cudaFree(dw), cudaFree(dpart), cudaFree(dxw), cudaFree(dgu),
        cudaFree(dact);
}

/* A prompt pass: the RoPE kernel writes the tokens' rows, then the tiled kernel, the grouped one
 * and the decode kernel attending only (both of its forms where the tensor-core one applies; runs
 * as the backend splits them, none past MAX_BATCH tokens) against a reference computed from the
 * rotated q and the cache as the device holds them. runs: (slot, first position, tokens) in
 * batch order. */
struct pf_run {
    int slot, pos0, count;
};

static void prefill_case(const shape &sh, bool bf, const std::vector<pf_run> &runs, const float2 *d_rope,
                         int sms)
{
    int H = sh.heads, KVH = sh.kv_heads, D = sh.hd, G = H / KVH;
    int kvdim = KVH * D, stride = (H + 2 * KVH) * D;
    size_t cache_n = (size_t)MAX_BATCH * MAX_SEQ * kvdim, esz = bf ? 2 : 4;
    std::vector<dev_token> tok;
    for (const pf_run &r : runs)
        for (int i = 0; i < r.count; i++) tok.push_back({r.slot, r.pos0 + i, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1});
    int n = (int)tok.size();
    std::vector<char> kraw, vraw;
    random_cache(bf, cache_n, kraw, vraw, nullptr, nullptr);
    std::vector<float> qkv((size_t)n * stride);
    for (float &x : qkv) x = 2.f * frand();
    att_dev dd(cache_n * esz, qkv.size(), (size_t)n * H * D, H, D, sms, tok);
    char *dk = dd.k, *dv = dd.v;
    float *dqkv = dd.qkv, *dout = dd.out, *dpart = dd.part;
    dev_token *dtok = dd.tok;
    int part_runs = dd.part_runs;
    CK(cudaMemcpy(dk, kraw.data(), cache_n * esz, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dv, vraw.data(), cache_n * esz, cudaMemcpyHostToDevice));
    CK(cudaMemcpy(dqkv, qkv.data(), qkv.size() * 4, cudaMemcpyHostToDevice));
    hb_cuda_rope_kv(dqkv, dqkv + H * D, dqkv + (H + KVH) * D, stride, stride, dtok, n, d_rope, H, KVH, D, dk, dv,
                    bf, MAX_BATCH, MAX_SEQ, 0, 0);
    CK(cudaDeviceSynchronize());
    CK(cudaMemcpy(qkv.data(), dqkv, qkv.size() * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(kraw.data(), dk, cache_n * esz, cudaMemcpyDeviceToHost));
    CK(cudaMemcpy(vraw.data(), dv, cache_n * esz, cudaMemcpyDeviceToHost));
    auto entry = [&](const std::vector<char> &raw, size_t i) {
        return bf ? (double)__bfloat162float(((const __nv_bfloat16 *)raw.data())[i]) : (double)((const float *)raw.data())[i];
    };
    std::vector<double> ref((size_t)n * H * D);
    for (int t = 0; t < n; t++)
        for (int h = 0; h < H; h++) {
            int P = tok[(size_t)t].pos, j = h / G;
            size_t row0 = (size_t)tok[(size_t)t].slot * MAX_SEQ * kvdim + (size_t)j * D;
            const float *qh = &qkv[(size_t)t * stride + (size_t)h * D];
            std::vector<double> sc((size_t)P + 1);
            double mx = -1e300, l = 0;
            for (int p = 0; p <= P; p++) {
                double a = 0;
                for (int d = 0; d < D; d++) a += (double)qh[d] * entry(kraw, row0 + (size_t)p * kvdim + d);
                sc[(size_t)p] = a / sqrt((double)D);
                mx = sc[(size_t)p] > mx ? sc[(size_t)p] : mx;
            }
            for (int p = 0; p <= P; p++) l += (sc[(size_t)p] = exp(sc[(size_t)p] - mx));
            for (int d = 0; d < D; d++) {
                double a = 0;
                for (int p = 0; p <= P; p++) a += sc[(size_t)p] * entry(vraw, row0 + (size_t)p * kvdim + d);
                ref[((size_t)t * H + h) * D + d] = a / l;
            }
        }
    double scale = 0;
    for (double r : ref) scale = fabs(r) > scale ? fabs(r) : scale;
    std::vector<float> out((size_t)n * H * D);
    unsigned *dcount;
    CK(cudaMalloc((void **)&dcount, (size_t)n * KVH * 4));
    CK(cudaMemset(dcount, 0, (size_t)n * KVH * 4));
    hb_cuda_dec_mma_min = 1; /* whatever the batch */
    const bool mma = hb_cuda_decode_mma(n, H, KVH, D, bf);
    const int dsplits = n <= MAX_BATCH ? hb_cuda_decode_splits(n, H, KVH, MAX_SEQ - 1, sms, part_runs) : 1;
    const bool pf_mma = hb_cuda_prefill_mma(H, KVH, D, bf);
    const char *names[] = {"tiled", "grouped", mma ? "decode kernel, tensor cores" : "decode kernel",
                           "decode kernel, CUDA cores", "tiled, tensor cores"};
    std::vector<int> paths = {0, 1, 2};
    if (mma) paths.push_back(3);
    if (pf_mma) paths.push_back(4);
    for (int path : paths) {
        CK(cudaMemset(dout, 0xff, out.size() * 4));
        if (path == 4) {
            hb_cuda_attention_prefill_mma(dqkv, stride, dtok, n, dk, dv, dout, nullptr, H, KVH, MAX_BATCH, MAX_SEQ,
                                          0, 0);
        } else if (path >= 2) {
            hb_cuda_dec_mma = path == 3 ? 0 : 1;
            hb_cuda_attention_decode(dqkv, dqkv + H * D, dqkv + (H + KVH) * D, stride, stride, dtok, n, d_rope,
                                     dk, dv, bf, dout, nullptr, dpart, dcount, dsplits, H, KVH, D, MAX_BATCH,
                                     MAX_SEQ, 0, true, 0);
            hb_cuda_dec_mma = 1;
        } else if (path == 0) {
            hb_cuda_attention_prefill(dqkv, stride, dtok, n, dk, dv, bf, dout, nullptr, H, KVH, D, MAX_BATCH,
                                      MAX_SEQ, 0, 0);
        } else {
            setenv("HB_ATT_KERNEL", "group", 1);
            int runs_z = hb_cuda_attention_splits(n, H, MAX_SEQ - 1, sms, part_runs);
            hb_cuda_attention(dqkv, stride, dtok, n, dk, dv, bf, dout, nullptr, dpart, runs_z, H, KVH, D, MAX_BATCH,
                              MAX_SEQ, 0, MAX_SEQ - 1, sms, 0);
            unsetenv("HB_ATT_KERNEL");
        }
        double worst = worst_error(out, dout, ref, scale);
        bool ok = worst <= ((mma && path == 2) || path == 4 ? 1e-2 : 1e-4); /* the MMAs take q and the probabilities in bf16 */
        printf("%s prompt pass, heads %d/%d d %d, %s entries, %d tokens in %zu run%s, %s%s: worst %.2g of %.3g\n",
               ok ? "ok  " : "FAIL", H, KVH, D, bf ? "bf16" : "fp32", n, runs.size(), runs.size() > 1 ? "s" : "",
               names[path], (path == 2 || path == 3) && dsplits > 1 ? ", split" : "", worst, scale);
        if (!ok) failures++;
    }
    /* the decode kernel's run counters are left at zero for the next pass */
    std::vector<unsigned> cnt((size_t)n * KVH);
    CK(cudaMemcpy(cnt.data(), dcount, cnt.size() * 4, cudaMemcpyDeviceToHost));
    bool zero = true;
    for (unsigned c : cnt) zero = zero && c == 0;
    if (!zero) {
        printf("FAIL prompt pass, heads %d/%d d %d: the decode kernel left its run counters set\n", H, KVH, D);
        failures++;
    }
    hb_cuda_dec_mma_min = DEC_MMA_MIN_TOKENS;
    cudaFree(dcount);
}

/* Every case but the attention kernels' */
static void other_cases(int sms)
{
    for (int hidden : {3072, 64, 4100, 70}) norm_case(hidden); /* the last two: the loop form */
    for (int I : {8192, 6}) swiglu_case(I);
    unsigned long long fb0 = hb_cuda_draw_fallbacks();
    for (bool coarse : {true, false}) {
        for (int n : {34, 300, 700, 1026, HB_DEVICE_DRAW_MAX_ROWS}) draw_case(n, 24, sms, coarse);
        for (int n : {700, 1026, HB_DEVICE_DRAW_MAX_ROWS}) draw_case(n, sms / 8, sms, coarse); /* one block a SM or fewer */
    }
    /* the coarse grid's ties must have sent some cuts to the full sort, so that both forms ran */
    const unsigned long long fbs = hb_cuda_draw_fallbacks() - fb0;
    printf("%s audio draws: %llu cuts by the full sort over all cases (both forms must run)\n", fbs ? "ok  " : "FAIL", fbs);
    if (!fbs) failures++;
    /* the batched GEMV: each token-group width (8, 16), partial groups, a partial row block,
     * K from one 32-column group to the down_proj's 8192 */
    const int mmv[][3] = {{2, 5120, 3072}, {8, 64, 96}, {3, 40, 32}, {16, 3072, 8192}, {9, 100, 160},
                          {16, 48, 3072}, {13, 17, 64}, {1, 33, 256}, {5, 70, 96}};
    for (auto &m : mmv) mmv_case(m[0], m[1], m[2]);
    /* the one-token GEMVs with bf16 activations: base-3b's down_proj, rows not a multiple of a
     * block's, K of q/k/v, and K of one 8-column piece a lane or fewer pieces than warps */
    const int g1[][2] = {{3072, 8192}, {1001, 8192}, {37, 3072}, {5, 256}, {3, 8}};
    for (auto &m : g1) gemv1_bf16x_case(m[0], m[1]);
    /* the weight-streaming GEMM: both token tiles (32, 64) full and partial, partial row tiles,
     * K of one 64-column step to the down_proj's 8192 */
    const int wsg[][3] = {{17, 5120, 3072}, {32, 100, 192}, {33, 3072, 8192}, {64, 300, 3072},
                          {64, 5120, 256}, {20, 129, 64}, {1, 40, 128}, {48, 16384, 320}};
    for (auto &m : wsg) wsgemm_case(m[0], m[1], m[2]);
    /* the resident GEMV: base-3b's o_proj on this device, a last block of fewer rows, rows of
     * one 8-column piece, fewer rows than SMs, and q/k/v's shape, too large for it */
    const int res[][3] = {{3072, 3072, sms}, {1001, 3072, 132}, {7, 8, 132}, {50, 512, 132}, {5120, 3072, sms}};
    for (auto &m : res) resident_case(m[0], m[1], m[2]);
    const int wsg_swiglu[][3] = {{32, 8192, 3072}, {17, 1024, 384}, {9, 64, 128}, {48, 192, 640}};
    for (auto &m : wsg_swiglu) wsgemm_swiglu_case(m[0], m[1], m[2]);
    /* one token, a full token group, both groups, I not a multiple of 16, K of one group */
    const int mmv_swiglu[][3] = {{1, 8192, 3072}, {8, 1024, 384}, {9, 40, 96}, {16, 8192, 3072}, {3, 37, 32}};
    for (auto &m : mmv_swiglu) mmv_swiglu_case(m[0], m[1], m[2]);
    /* the folded norm: base-3b's shapes at one token and a full group of 8, a K of one 32-column
     * group, I not a multiple of 16, the most sums a token (N 4096); and what it refuses: 9
     * tokens, more rows than 4096, a gate/up K (N) not a multiple of 32 */
    const int fold[][4] = {{1, 3072, 3072, 8192}, {8, 3072, 3072, 1024}, {3, 64, 32, 37}, {5, 4096, 96, 40}};
    for (auto &m : fold) fold_norm_case(m[0], m[1], m[2], m[3]);
    const bool refused = !hb_mmv_norm_parts(9, 3072, 3072, 8192) && !hb_mmv_norm_parts(1, 4128, 3072, 8192) &&
                         !hb_mmv_norm_parts(2, 100, 32, 16);
    printf("%s folded norm refused for 9 tokens, 4128 rows and a gate/up K of 100\n", refused ? "ok  " : "FAIL");
    if (!refused) failures++;
}

/* No argument: every case. "prompts": only base-3b's prompt passes with bf16 entries (every
 * attention path of a prompt, short enough to run under compute-sanitizer). */
int main(int argc, char **argv)
{
    const bool prompts = argc > 1 && strcmp(argv[1], "prompts") == 0;
    if (argc > 2 || (argc == 2 && !prompts)) {
        fprintf(stderr, "test_cuda_kernels: unknown argument '%s' (none, or 'prompts')\n", argv[argc - 1]);
        return 2;
    }
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("skipped: no CUDA device\n");
        return SKIP;
    }
    int sms = 0;
    CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    hb_cuda_pf_mma = 1; /* the tensor-core prompt kernel is tested whatever HB_PF_MMA says */
    if (!prompts)
        other_cases(sms);
    /* base-3b's heads; head_dim 128 with 1, 2 and 4 query heads a KV head; other head dims */
    const shape shapes[] = {{24, 8, 128}, {4, 4, 128}, {8, 4, 128}, {16, 4, 128}, {6, 2, 64}, {4, 2, 16}, {8, 8, 32}};
    for (const shape &sh : shapes) {
        if (prompts && &sh != shapes) break; /* base-3b's only */
        int half = sh.hd / 2;
        std::vector<float2> rope((size_t)MAX_SEQ * half);
        for (int p = 0; p < MAX_SEQ; p++)
            for (int j = 0; j < half; j++) { /* rope_theta 500000 without the llama3 scaling */
                double f = pow(500000.0, -2.0 * j / sh.hd), ang = (double)p * (float)f;
                rope[(size_t)p * half + j] = make_float2((float)cos(ang), (float)sin(ang));
            }
        float2 *d_rope;
        CK(cudaMalloc((void **)&d_rope, rope.size() * sizeof(float2)));
        CK(cudaMemcpy(d_rope, rope.data(), rope.size() * sizeof(float2), cudaMemcpyHostToDevice));
        struct {
            int n;
            std::vector<int> pos;
            int splits;
        } cases[] = {{1, {0}, 1}, {1, {257}, 1}, {1, {257}, 16}, {1, {200}, 32}, {1, {5}, 8},
                     {3, {0, 77, 318}, 4}, {3, {100, 250, 318}, 11}, {5, {40, 99, 160, 210, 318}, 6},
                     {9, {63, 64, 65, 1, 2, 127, 128, 129, 300}, 2},
                     {64, std::vector<int>(64, 160), 1}, {64, std::vector<int>(64, 160), 2}};
        for (auto &c : cases)
            for (int bf = 0; bf < 2 && !prompts; bf++) {
                if (!hb_cuda_decode_fusable(sh.heads, sh.kv_heads, sh.hd)) {
                    printf("FAIL heads %d/%d d %d: the fused kernel does not take these shapes\n", sh.heads,
                           sh.kv_heads, sh.hd);
                    failures++;
                    break;
                }
                run_case(sh, bf != 0, c.n, c.pos, c.splits, d_rope, rope, sms);
            }
        /* prompt passes: one prompt of 40 tokens; a batch mixing a prompt's end, a continued prompt
         * (earlier rows already cached) and single tokens, so tiles hold several slots; one prompt
         * of 129 tokens (the first-frame benchmark's, with its BOS frame: 9 tiles, 3 chunks) */
        const std::vector<pf_run> prompt_runs[] = {{{3, 0, 40}},
                                               {{1, 0, 7}, {5, 100, 20}, {9, 3, 1}, {12, 250, 37}, {2, 0, 1}},
                                               {{4, 0, 129}}};
        for (const auto &pr : prompt_runs)
            for (int bf = prompts ? 1 : 0; bf < 2; bf++)
                if (hb_cuda_prefill_tiled(sh.heads, sh.kv_heads, sh.hd)) {
                    prefill_case(sh, bf != 0, pr, d_rope, sms);
                } else {
                    printf("FAIL heads %d/%d d %d: the tiled kernel does not take these shapes\n", sh.heads,
                           sh.kv_heads, sh.hd);
                    failures++;
                }
        cudaFree(d_rope);
    }
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
