// cuda_kernel_bench.cu - every kernel family of the CUDA backend timed alone on the base-3b
// shapes of one audio decode step (batch 1, context 512), with the bandwidth each reaches and
// its share of a step; the same kernels' CPU-reference checks live in tests/gpu.
//
// usage: cuda_kernel_bench [CONTEXT]
// With HB_ATT_SWEEP set in the environment it also times attention at batch 1 and 8 cut into
// 1..16 runs: the evidence for hb_cuda_attention_splits.
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

struct gemv_ctx {
    const void *w;
    const float *x;
    float *y;
    int N, K;
};

static void run_gemv(void *p)
{
    gemv_ctx *g = (gemv_ctx *)p;
    hb_cuda_gemv(g->w, true, g->x, g->y, 1, g->N, g->K, 0);
}

#define ATT_BATCH 8 // the KV cache of the attention timings holds this many slots

struct att_ctx {
    float *q, *k, *v, *out, *part;
    dev_token *tok;
    int n, splits;
};

static void run_att(void *p)
{
    att_ctx *a = (att_ctx *)p;
    hb_cuda_attention(a->q, a->tok, a->n, a->k, a->v, a->out, a->part, a->splits, 24, 8, 128,
                      ATT_BATCH, 1024, 0, 1023, 0);
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

int main(int argc, char **argv)
{
    int ctx = argc > 1 ? atoi(argv[1]) : 512;
    if (ctx < 1 || ctx > 1023) {
        fprintf(stderr, "context must be in [1, 1023]\n");
        return 2;
    }
    const int H = 3072, I = 8192, A = 8 * 1026;
    void *w;
    float *x, *y, *k, *v, *q, *o, *nw;
    size_t wbytes = (size_t)I * H * 2;
    cudaMalloc(&w, wbytes);
    cudaMemset(w, 0, wbytes);
    cudaMalloc((void **)&x, (size_t)I * 4);
    cudaMalloc((void **)&y, (size_t)A * 4);
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
    } mats[] = {{"q_proj", 3072, 3072, 28}, {"k_proj / v_proj", 1024, 3072, 56},
                {"o_proj", 3072, 3072, 28},  {"gate / up", 8192, 3072, 56},
                {"down_proj", 3072, 8192, 28}, {"audio head", A, 3072, 1}};
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    printf("%s; base-3b shapes, batch 1, context %d; median of 50 launches each\n", p.name, ctx);
    printf("%-18s %10s %10s %12s %8s %12s\n", "kernel", "bytes", "time", "bandwidth", "a step", "step share");
    double total = 0;
    for (auto &m : mats) {
        gemv_ctx g = {w, x, y, m.N, m.K};
        float ms = time_ms(run_gemv, &g);
        double bytes = (double)m.N * m.K * 2 + m.K * 4.0 + m.N * 4.0;
        printf("%-18s %8.1f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", m.name, bytes / 1e6, ms,
               bytes / ms / 1e6, m.per_step, ms * m.per_step);
        total += ms * m.per_step;
    }
    /* attention in one run a (token, head), then split as the engine runs it at batch 1 */
    float *part;
    int part_blocks = 4 * p.multiProcessorCount;
    cudaMalloc((void **)&part, (size_t)ATT_BATCH * 24 * ATT_MAX_SPLITS * 130 * 4);
    double abytes = 24.0 * (ctx + 1) * 128 * 4 * 2; // each query head reads its K and V rows
    int split = hb_cuda_attention_splits(1, 24, 1023, p.multiProcessorCount, part_blocks);
    float ams = 0;
    for (int splits : {1, split}) {
        att_ctx a = {q, k, v, o, part, dt, 1, splits};
        ams = time_ms(run_att, &a);
        char name[32];
        snprintf(name, sizeof name, "attention, %d run%s", splits, splits > 1 ? "s" : "");
        printf("%-18s %8.1f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", name, abytes / 1e6, ams,
               abytes / ams / 1e6, 28, ams * 28);
    }
    if (getenv("HB_ATT_SWEEP")) { /* runs against time, batch 1 and 8 (the policy's evidence) */
        for (int n : {1, ATT_BATCH})
            for (int splits : {1, 2, 3, 4, 6, 8, 11, 16}) {
                att_ctx a = {q, k, v, o, part, dt, n, splits};
                printf("attention sweep: batch %d, %2d runs: %.4f ms\n", n, splits, time_ms(run_att, &a));
            }
    }
    total += ams * 28;
    norm_ctx n = {x, nw, y, dt};
    float nms = time_ms(run_norm, &n);
    printf("%-18s %8.3f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", "rmsnorm", 3.0 * H * 4 / 1e6, nms,
           3.0 * H * 4 / nms / 1e6, 57, nms * 57);
    total += nms * 57;
    printf("sum of the kernels of one step (launched alone): %.3f ms\n", total);
    return 0;
}
