// cuda_kernel_bench.cu - every kernel family of the CUDA backend timed on the base-3b shapes of
// one audio decode step (batch 1, context 512), with the bandwidth each reaches and its share of
// a step; the same kernels' CPU-reference checks live in tests/gpu.
//
// usage: cuda_kernel_bench [CONTEXT]
// With HB_GEMV_SWEEP set in the environment it times every one-token GEMV configuration (the
// evidence for hb_gemv1_chosen); with HB_ATT_SWEEP, attention at batch 1 and 8 cut into 1..32
// runs (the evidence for hb_cuda_attention_splits).
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <vector>

#include "../src/engine/cuda/cuda_kernels.cuh"

static float time_ms(void (*fn)(void *), void *ctx, int reps = 50)
{
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> t;
    for (int r = 0; r < reps + 5; r++) {
        cudaEventRecord(a);
        fn(ctx);
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        if (r >= 5) t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

#define ATT_BATCH 64 // the KV cache of the attention timings holds this many slots

struct att_ctx {
    float *q, *k, *v, *out, *part;
    dev_token *tok;
    int n, splits;
    bool bf16; // cache entries
    int sms;
};

static void run_att(void *p)
{
    att_ctx *a = (att_ctx *)p;
    hb_cuda_attention(a->q, 24 * 128, a->tok, a->n, a->k, a->v, a->bf16, a->out, nullptr, a->part, a->splits, 24, 8,
                      128, ATT_BATCH, 1024, 0, 1023, a->sms, 0);
}

struct norm_ctx {
    float *x, *w, *out;
    dev_token *tok;
};

static void run_norm(void *p)
{
    norm_ctx *n = (norm_ctx *)p;
    hb_cuda_rmsnorm_path(n->x, n->tok, 1, n->w, n->w, n->out, 3072, 1e-5f, 0);
}

/* Median time of one GEMV launch when `copies` launches over as many weight copies run back to
 * back (the weights of a step are all different, so none is served from L2; launches queue behind
 * each other as in the engine's stream). */
static float gemv_ms(int cfg, char *w, size_t wbytes, int copies, const float *x, float *y, int N,
                     int K)
{
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> t;
    for (int r = 0; r < 12; r++) {
        cudaEventRecord(a);
        for (int c = 0; c < copies; c++) hb_cuda_gemv1_cfg(cfg, w + (size_t)c * wbytes, x, y, N, K, false, 0);
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        if (r >= 2) t.push_back(ms / copies);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

int main(int argc, char **argv)
{
    int ctx = argc > 1 ? atoi(argv[1]) : 512;
    if (ctx < 1 || ctx > 1023) {
        fprintf(stderr, "context must be in [1, 1023]\n");
        return 2;
    }
    const int H = 3072, I = 8192, A = 8 * 1026, copies = 28;
    char *w;
    float *x, *y, *k, *v, *q, *o, *nw;
    size_t wmax = (size_t)2 * I * H * 2; // the largest matrix: gate and up together
    if (cudaMalloc((void **)&w, wmax * copies) != cudaSuccess) {
        fprintf(stderr, "cannot allocate %zu MB of weights\n", wmax * copies >> 20);
        return 1;
    }
    cudaMemset(w, 0, wmax * copies);
    cudaMalloc((void **)&x, (size_t)I * 4);
    cudaMalloc((void **)&y, (size_t)2 * I * 4);
    cudaMemset(x, 0, (size_t)I * 4);
    size_t kvb = (size_t)ATT_BATCH * 1024 * 1024 * 4;
    cudaMalloc((void **)&k, kvb);
    cudaMalloc((void **)&v, kvb);
    cudaMemset(k, 0, kvb);
    cudaMemset(v, 0, kvb);
    cudaMalloc((void **)&q, ATT_BATCH * 24 * 128 * 4);
    cudaMalloc((void **)&o, ATT_BATCH * 24 * 128 * 4);
    cudaMalloc((void **)&nw, H * 4);
    cudaMemset(q, 0, ATT_BATCH * 24 * 128 * 4);
    dev_token ht[ATT_BATCH], *dt;
    for (int i = 0; i < ATT_BATCH; i++) ht[i] = {i, ctx, 1, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1};
    cudaMalloc((void **)&dt, sizeof ht);
    cudaMemcpy(dt, ht, sizeof ht, cudaMemcpyHostToDevice);
    struct {
        const char *name;
        int N, K, per_step;
    } mats[] = {{"q/k/v (one product)", 5120, 3072, 28}, {"o_proj", 3072, 3072, 28},
                {"gate/up (one product)", 2 * I, 3072, 28}, {"down_proj", 3072, I, 28},
                {"audio head", A, 3072, 1}};
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("%s; base-3b shapes, batch 1, context %d\n", p.name, ctx);
    printf("GEMVs: %d launches back to back over %d weight copies, median of 10 (time a launch), "
           "overlapped launches (PDL) unless said\n", copies, copies);
    printf("%-24s %10s %10s %12s %8s %12s\n", "kernel", "bytes", "time", "bandwidth", "a step", "step share");
    double total = 0;
    bool sweep = getenv("HB_GEMV_SWEEP") != NULL;
    for (auto &m : mats) {
        double bytes = (double)m.N * m.K * 2 + m.K * 4.0 + m.N * 4.0;
        size_t wb = ((size_t)m.N * m.K * 2 + 255) / 256 * 256;
        hb_cuda_pdl = 0; /* the engine's configuration without overlapped launches first */
        float plain = gemv_ms(hb_gemv1_chosen(m.K), w, wb, copies, x, y, m.N, m.K);
        printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s   (launches in plain stream order)\n", m.name,
               bytes / 1e6, plain, bytes / plain / 1e6);
        hb_cuda_pdl = 1;
        for (int c = 0; c < hb_gemv1_ncfgs; c++) {
            if (!sweep && c != hb_gemv1_chosen(m.K)) continue;
            float ms = gemv_ms(c, w, wb, copies, x, y, m.N, m.K);
            char name[64];
            const hb_gemv_cfg &g = hb_gemv1_cfgs[c];
            if (sweep && g.split > 1)
                snprintf(name, sizeof name, "%s [%d warps a row, unroll %d]%s", m.name, g.split,
                         g.unroll, c == hb_gemv1_chosen(m.K) ? " *" : "");
            else if (sweep)
                snprintf(name, sizeof name, "%s [%d rows/warp, unroll %d, %d warps%s]%s", m.name,
                         g.rows_per_warp, g.unroll, g.warps, g.hint ? ", hint" : "",
                         c == hb_gemv1_chosen(m.K) ? " *" : "");
            else snprintf(name, sizeof name, "%s", m.name);
            printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", name, bytes / 1e6, ms,
                   bytes / ms / 1e6, m.per_step, ms * m.per_step);
            if (c == hb_gemv1_chosen(m.K)) total += ms * m.per_step;
        }
    }
    /* attention with the engine's split policy, both kernels (* the engine's choice), fp32 and
     * bf16 cache entries, batch 1, 8, 32 and 64; bytes: each token's K and V rows (the per-head
     * kernel's three query heads of a KV head read them in turn, mostly from L2) */
    float *part;
    int part_runs = 4 * p.multiProcessorCount;
    cudaMalloc((void **)&part, (size_t)part_runs * 130 * 4);
    float ams = 0;
    int sms = p.multiProcessorCount;
    for (int n : {1, 8, 32, ATT_BATCH})
        for (const char *kern : {"head", "group"})
            for (int bf : {0, 1}) {
                int split = hb_cuda_attention_splits(n, 24, 1023, sms, part_runs);
                bool chosen = hb_cuda_attention_grouped(n, 24, 8, 128, 1023, split, sms) == (kern[0] == 'g');
                setenv("HB_ATT_KERNEL", kern, 1);
                double abytes = (double)n * 8 * (ctx + 1) * 128 * (bf ? 2 : 4) * 2;
                att_ctx a = {q, k, v, o, part, dt, n, split, bf != 0, sms};
                float ms = time_ms(run_att, &a);
                unsetenv("HB_ATT_KERNEL");
                char name[80];
                snprintf(name, sizeof name, "attention b%d %s %s, %d run%s%s", n, kern, bf ? "bf16" : "fp32",
                         split, split > 1 ? "s" : "", chosen ? " *" : "");
                printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", name, abytes / 1e6, ms,
                       abytes / ms / 1e6, n == 1 ? 28 : 0, n == 1 ? ms * 28 : 0.0);
                if (n == 1 && bf && chosen) ams = ms;
            }
    if (getenv("HB_ATT_SWEEP")) { /* runs against time, batch 1 and 8 (the policy's evidence) */
        for (const char *kern : {"head", "group"})
            for (int n : {1, 8})
                for (int splits : {1, 2, 4, 8, 11, 16}) {
                    if ((size_t)splits * n * 24 > (size_t)part_runs) continue;
                    setenv("HB_ATT_KERNEL", kern, 1);
                    att_ctx a = {q, k, v, o, part, dt, n, splits, true, sms};
                    printf("attention sweep (%s kernel, bf16): batch %d, %2d runs: %.4f ms\n", kern, n,
                           splits, time_ms(run_att, &a));
                    unsetenv("HB_ATT_KERNEL");
                }
    }
    total += ams * 28;
    norm_ctx n = {x, nw, y, dt};
    float nms = time_ms(run_norm, &n);
    printf("%-24s %8.3f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", "rmsnorm", 3.0 * H * 4 / 1e6, nms,
           3.0 * H * 4 / nms / 1e6, 57, nms * 57);
    total += nms * 57;
    printf("sum of the kernels of one step (GEMVs back to back, the others launched alone): %.3f ms\n", total);
    return 0;
}
