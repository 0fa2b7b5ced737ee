// cuda_kernel_bench.cu - every kernel family of the CUDA backend timed on the base-3b shapes of
// one audio decode step (batch 1, context 512), with the bandwidth each reaches and its share of
// a step (the audio draw also at 8, 32 and 64 rows, in each sampling mode); the same kernels'
// CPU-reference checks live in tests/gpu.
//
// usage: cuda_kernel_bench [CONTEXT]
// With HB_GEMV_SWEEP set in the environment it times every one-token GEMV configuration (the
// evidence for hb_gemv1_chosen); with HB_ATT_SWEEP, the fused decode attention at batch 1, 8, 32
// and 64 cut into 1..32 runs (the evidence for hb_cuda_decode_splits); with HB_GEMM_SWEEP, every
// batched product from 1 to 512 tokens by cublasGemmEx, cuBLASLt and each batched-GEMV
// configuration (else batches 1, 8, 32 and 64 and the engine's configuration); HB_GEMM_NS=1,8
// (say) times those batch sizes only.
#include <algorithm>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include <cublasLt.h>

#include "../src/engine/cuda/cuda_kernels.cuh"

/* bf16 values in [-0.05, 0.05) from a hash of the index: weights and activations as an engine
 * has them (timings may depend on the data) */
__global__ void fill_random(__nv_bfloat16 *p, size_t n, unsigned seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed * 0x9e3779b9u;
        h ^= h >> 15, h *= 0x85ebca6bu, h ^= h >> 13;
        p[i] = __float2bfloat16(((h & 0xffff) / 65536.f - 0.5f) * 0.1f);
    }
}

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
#define ATT_SEQ 1024
#define ATT_LAUNCHES 28 // a step's layers: launches back to back, each over other slots

struct att_ctx {
    float *qkv, *out, *part;
    unsigned *count;
    float2 *rope;
    void *k, *v;
    dev_token *tok; // ATT_LAUNCHES arrays of ATT_BATCH tokens (launch c: slots c n .. c n + n - 1, mod 64)
    int n, splits;
    bool bf16, fused; // cache entries; the fused decode kernel or RoPE + attention
    int sms;
};

static void run_att(void *p)
{
    att_ctx *a = (att_ctx *)p;
    const int Q = 24 * 128, KV = 8 * 128, S = Q + 2 * KV;
    for (int c = 0; c < ATT_LAUNCHES; c++) {
        const dev_token *t = a->tok + (size_t)c * ATT_BATCH;
        if (a->fused) {
            hb_cuda_attention_decode(a->qkv, a->qkv + Q, a->qkv + Q + KV, S, S, t, a->n, a->rope, a->k, a->v,
                                     a->bf16, a->out, nullptr, a->part, a->count, a->splits, 24, 8, 128,
                                     ATT_BATCH, ATT_SEQ, 0, false, 0);
        } else {
            hb_cuda_rope_kv(a->qkv, a->qkv + Q, a->qkv + Q + KV, S, S, t, a->n, a->rope, 24, 8, 128, a->k, a->v,
                            a->bf16, ATT_BATCH, ATT_SEQ, 0, 0);
            hb_cuda_attention(a->qkv, S, t, a->n, a->k, a->v, a->bf16, a->out, nullptr, a->part, a->splits, 24,
                              8, 128, ATT_BATCH, ATT_SEQ, 0, ATT_SEQ - 1, a->sms, 0);
        }
    }
}

struct draw_ctx {
    const float *logits;
    const hb_pick *picks;
    int32_t *codes;
    int rows, sms;
};

static void run_draw(void *p)
{
    draw_ctx *d = (draw_ctx *)p;
    hb_cuda_draw_codes(d->logits, d->rows, 1026, d->picks, 1024, 1025, 1024, d->codes, d->sms, 0);
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
template <typename F> static float chain_ms(int copies, F &&launch)
{
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> t;
    for (int r = 0; r < 12; r++) {
        cudaEventRecord(a);
        for (int c = 0; c < copies; c++) launch(c);
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        if (r >= 2) t.push_back(ms / copies);
    }
    cudaEventDestroy(a), cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}
static float gemv_ms(int cfg, char *w, size_t wbytes, int copies, const float *x, float *y, int N,
                     int K)
{
    return chain_ms(copies, [&](int c) { hb_cuda_gemv1_cfg(cfg, w + (size_t)c * wbytes, x, y, N, K, false, 0); });
}

/* Batched products as cuBLAS runs them (cublasGemmEx, the engine's call) and as cuBLASLt's
 * first 8 heuristic algorithms run them: `copies` launches back to back over as many weight
 * copies, the median time a launch. */
struct gemm_bench {
    cublasHandle_t h;
    cublasLtHandle_t lt;
    void *ws;
    size_t ws_bytes;
    __nv_bfloat16 *xb;
    float *y;
    void *flush; // cleared before a launch timed alone, to push the weights out of L2
    size_t flush_bytes;
    int sms;
    hb_wsg_cfg wsg; // the weight-streaming GEMM's configuration (split 0: the engine's)
};
#define WSGEMM (-2) // gemm_ms's mmv_cfg for the weight-streaming GEMM

/* A launch's median time: alone (the L2 flushed by a memset before each timed launch, as the
 * engine's cuBLASLt tuning does; the memset's dirty lines are written back during the launch,
 * so this is slow for everyone), or chained (`copies` launches back to back over as many weight
 * copies, a launch's share; each launch's ramp hides behind the one before). In a step the
 * products sit between the two: on the H200 at 8 tokens, ncu gave q/k/v 11.5 us with cuBLASLt
 * (alone 16.2, chained 11.4) and the batched GEMV's gate/up 29.1 us (alone 32.6, chained 27.4).
 * Only the engine decides (bench_engine with HB_MMV=0 against the default). */
static float gemm_ms(const gemm_bench &g, const cublasLtMatmulAlgo_t *algo, cublasLtMatmulDesc_t op,
                     cublasLtMatrixLayout_t la, cublasLtMatrixLayout_t lb, cublasLtMatrixLayout_t lc,
                     char *w, size_t wbytes, int copies, int n, int N, int K, int mmv_cfg, bool alone)
{
    cudaEvent_t a, b;
    cudaEventCreate(&a);
    cudaEventCreate(&b);
    std::vector<float> t;
    const float one = 1.f, zero = 0.f;
    hb_gemm_ctx ctx = {g.h, g.xb, nullptr, 0, 0};
    int reps = alone ? 11 : 7, launches = alone ? 1 : copies;
    for (int r = 0; r < reps; r++) {
        if (alone) cudaMemsetAsync(g.flush, r, g.flush_bytes, 0);
        cudaEventRecord(a);
        for (int c = 0; c < launches; c++) {
            const char *wc = w + (size_t)((c + r) % copies) * wbytes;
            if (mmv_cfg == WSGEMM && g.wsg.split) hb_cuda_wsgemm_cfg(g.wsg, wc, g.xb, g.y, n, N, K, 0);
            else if (mmv_cfg == WSGEMM) hb_cuda_wsgemm(wc, g.xb, g.y, n, N, K, 0);
            else if (mmv_cfg >= 0) hb_cuda_mmv_cfg(mmv_cfg, wc, g.xb, g.y, n, N, K, 0);
            else if (!algo) hb_cuda_matmul_bf16in(&ctx, wc, g.xb, g.y, n, N, K, 0);
            else cublasLtMatmul(g.lt, op, &one, wc, la, g.xb, lb, &zero, g.y, lc, g.y, lc, algo, g.ws, g.ws_bytes, 0);
        }
        cudaEventRecord(b);
        cudaEventSynchronize(b);
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        if (r >= 2) t.push_back(ms / launches);
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

/* The MLP's input norm at 1 and 8 tokens, chained over the weight copies: o_proj (the batched
 * GEMV), the norm kernel (x += o, bf16(w x / rms)) and gate/up with the SwiGLU, against o_proj
 * and gate/up with the norm folded into them (the engine's form; HB_FOLD_NORM=0 runs the first) */
static void fold_section(const gemm_bench &g, char *w, int copies)
{
    const int H = 3072, I = 8192, T = HB_NORM_MAX_TOKENS;
    const float eps = 1e-5f;
    const size_t wg = (size_t)2 * I * H * 2; /* a weight copy; o_proj and gate/up from copies apart */
    float *x, *nw, *part;
    __nv_bfloat16 *xw, *act;
    cudaMalloc((void **)&x, (size_t)T * H * 4);
    cudaMalloc((void **)&nw, (size_t)H * 4);
    cudaMalloc((void **)&part, (size_t)T * HB_NORM_MAX_PARTS * 4);
    cudaMalloc((void **)&xw, (size_t)T * H * 2);
    cudaMalloc((void **)&act, (size_t)T * I * 2);
    cudaMemset(x, 0, (size_t)T * H * 4);
    std::vector<float> ones((size_t)H, 1.f);
    cudaMemcpy(nw, ones.data(), (size_t)H * 4, cudaMemcpyHostToDevice);
    for (int n : {1, T}) {
        const int np = hb_mmv_norm_parts(n, H, H, I);
        if (!np) continue;
        auto gate = [&](int c) { return w + (size_t)((c + copies / 2) % copies) * wg; };
        auto oproj = [&](int c) { return w + (size_t)c * wg; };
        float three = chain_ms(copies, [&](int c) {
            hb_cuda_mmv(oproj(c), g.xb, g.y, n, H, H, 0);
            hb_cuda_rmsnorm_bf16(x, g.y, true, nullptr, nullptr, n, nw, nw, xw, false, H, eps, 0);
            hb_cuda_mmv_swiglu(gate(c), xw, act, n, I, H, 0);
        });
        const hb_mmv_norm nm = {x, nw, xw, part, np, eps};
        float two = chain_ms(copies, [&](int c) {
            hb_cuda_mmv_resnorm(oproj(c), g.xb, n, H, H, nm, 0);
            hb_cuda_mmv_swiglu_normed(gate(c), xw, act, n, I, H, nm, 0);
        });
        printf("the MLP's norm at %d token%s: o_proj, the norm kernel and gate/up chained %6.1f us; the norm "
               "folded into o_proj and gate/up * %6.1f us (%+.1f us)\n",
               n, n > 1 ? "s" : "", three * 1e3, two * 1e3, (two - three) * 1e3);
    }
    cudaFree(x), cudaFree(nw), cudaFree(part), cudaFree(xw), cudaFree(act);
}

static void gemm_section(char *w, int copies, bool sweep)
{
    gemm_bench g = {};
    cublasCreate(&g.h);
    cublasLtCreate(&g.lt);
    g.ws_bytes = (size_t)32 << 20;
    cudaMalloc(&g.ws, g.ws_bytes);
    cublasSetWorkspace(g.h, g.ws, g.ws_bytes);
    cudaMalloc((void **)&g.xb, (size_t)512 * 8192 * 2);
    cudaMalloc((void **)&g.y, (size_t)512 * 16384 * 4);
    fill_random<<<1024, 256>>>(g.xb, (size_t)512 * 8192, 2);
    g.flush_bytes = HB_LT_FLUSH_BYTES;
    cudaDeviceGetAttribute(&g.sms, cudaDevAttrMultiProcessorCount, 0);
    cudaMalloc(&g.flush, g.flush_bytes);
    struct {
        const char *name;
        int N, K;
    } mats[] = {{"q/k/v", 5120, 3072}, {"o_proj", 3072, 3072}, {"gate/up", 16384, 3072}, {"down_proj", 3072, 8192}};
    printf("batched products (bf16 in, fp32 out), a launch's median alone (L2 flushed) and chained (%d "
           "back to back): cublasGemmEx / cuBLASLt heuristic #0 / the fastest of its first 8 alone (the "
           "engine above %d tokens); up to %d tokens the batched GEMV (the engine's configuration *%s); "
           "the weight-streaming GEMM (the engine's from %d to %d tokens)\n",
           copies, HB_WSG_DEFAULT, HB_MMV_MAX_TOKENS, sweep ? ", every one with HB_GEMM_SWEEP" : "",
           HB_MMV_DEFAULT + 1, HB_WSG_DEFAULT);
    std::vector<int> ns = {1, 2, 4, 8, 16, 32, 64, 128, 512};
    if (!sweep) ns = {1, 8, 32, 64};
    if (const char *e = getenv("HB_GEMM_NS")) { /* e.g. "1,8": only these batch sizes */
        ns.clear();
        for (const char *p = e; *p;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p || v < 1 || v > 512) {
                fprintf(stderr, "HB_GEMM_NS is '%s'; it must be batch sizes from 1 to 512, comma-separated\n", e);
                exit(2);
            }
            ns.push_back((int)v);
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') {
                fprintf(stderr, "HB_GEMM_NS is '%s'; it must be batch sizes from 1 to 512, comma-separated\n", e);
                exit(2);
            }
        }
    }
    for (int n : ns)
        for (auto &m : mats) {
            size_t wb = ((size_t)m.N * m.K * 2 + 255) / 256 * 256;
            double bytes = (double)m.N * m.K * 2, flop = 2.0 * n * m.N * m.K;
            float ex = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, -1, true);
            cublasLtMatmulDesc_t op;
            cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
            cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
            cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
            cublasLtMatrixLayout_t la, lb, lc;
            cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, m.K, m.N, m.K);
            cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, m.K, n, m.K);
            cublasLtMatrixLayoutCreate(&lc, CUDA_R_32F, m.N, n, m.N);
            cublasLtMatmulPreference_t pref;
            cublasLtMatmulPreferenceCreate(&pref);
            uint64_t wsb = g.ws_bytes;
            cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb);
            cublasLtMatmulHeuristicResult_t res[8];
            int got = 0;
            cublasLtMatmulAlgoGetHeuristic(g.lt, op, la, lb, lc, lc, pref, 8, res, &got);
            float first = 0, best = 1e9f, best_chained = 0;
            int bi = -1;
            for (int i = 0; i < got; i++) {
                float ms = gemm_ms(g, &res[i].algo, op, la, lb, lc, w, wb, copies, n, m.N, m.K, -1, true);
                if (i == 0) first = ms;
                if (ms < best) best = ms, bi = i;
            }
            if (bi >= 0) best_chained = gemm_ms(g, &res[bi].algo, op, la, lb, lc, w, wb, copies, n, m.N, m.K, -1, false);
            printf("gemm n %3d %-10s alone: GemmEx %6.1f us (%5.2f TB/s, %4.0f TFLOP/s), Lt#0 %6.1f us, Lt best #%d of %d %6.1f us (%5.2f TB/s); chained %6.1f us\n",
                   n, m.name, ex * 1e3, bytes / ex / 1e9, flop / ex / 1e9, first * 1e3, bi, got, best * 1e3,
                   bytes / best / 1e9, best_chained * 1e3);
            /* one token's long rows (down_proj) run the one-token split-K GEMV in the engine */
            const bool by_gemv1 = n == 1 && m.K >= HB_GEMV1_LONG_K && m.K % 8 == 0;
            if (by_gemv1) {
                const size_t wb = ((size_t)m.N * m.K * 2 + 255) / 256 * 256;
                float ch = chain_ms(copies, [&](int c) {
                    hb_cuda_gemv1_bf16x_cfg(hb_gemv1_chosen(m.K), w + (size_t)c * wb, g.xb, g.y, m.N, m.K, 0);
                });
                printf("gemm n %3d %-10s one-token split-K GEMV, bf16 activations * chained %6.1f us (%5.2f TB/s)\n",
                       n, m.name, ch * 1e3, bytes / ch / 1e9);
            }
            for (int c = 0; c < hb_mmv_ncfgs && hb_cuda_mmv_fits(n, m.N, m.K); c++) {
                bool chosen = c == hb_mmv_chosen(n, m.N, m.K) && !by_gemv1;
                if (!sweep && !chosen) continue;
                float ms = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, c, true);
                float ch = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, c, false);
                printf("gemm n %3d %-10s batched GEMV [%2d warps, unroll %d, %2d rows, L2 hint %d]%s alone %6.1f us (%5.2f TB/s), %.2fx Lt best; chained %6.1f us\n",
                       n, m.name, hb_mmv_cfgs[c].warps, hb_mmv_cfgs[c].unroll, 16 * hb_mmv_cfgs[c].row_tiles, hb_mmv_cfgs[c].l2_hint,
                       chosen ? " *" : "  ", ms * 1e3, bytes / ms / 1e9, best / ms, ch * 1e3);
            }
            if (m.N == 16384 && n <= HB_MMV_DEFAULT && hb_cuda_mmv_swiglu_fits(n, m.N / 2, m.K)) {
                /* gate/up and the SwiGLU: the product then the kernel, against the fused form */
                __nv_bfloat16 *act = g.xb + (size_t)n * m.K; /* past the activations */
                const int I = m.N / 2, cfg = hb_mmv_chosen(n, m.N, m.K);
                float two = chain_ms(copies, [&](int c) {
                    hb_cuda_mmv_cfg(cfg, w + (size_t)c * wb, g.xb, g.y, n, m.N, m.K, 0);
                    hb_cuda_swiglu_rows_bf16(g.y, act, n, I, 0);
                });
                float one = chain_ms(copies, [&](int c) { hb_cuda_mmv_swiglu(w + (size_t)c * wb, g.xb, act, n, I, m.K, 0); });
                printf("gemm n %3d %-10s batched GEMV then the SwiGLU kernel, chained %6.1f us; the SwiGLU fused *"
                       " chained %6.1f us (%5.2f TB/s)\n", n, m.name, two * 1e3, one * 1e3, bytes / one / 1e9);
            }
            if (hb_cuda_wsgemm_fits(n, m.N, m.K) && n > HB_MMV_DEFAULT) {
                float ms = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, WSGEMM, true);
                float ch = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, WSGEMM, false);
                printf("gemm n %3d %-10s weight-streaming GEMM [split %d]%s alone %6.1f us (%5.2f TB/s), %.2fx Lt best; chained %6.1f us (%5.2f TB/s)\n",
                       n, m.name, hb_wsgemm_split(n, m.N, m.K), n <= HB_WSG_DEFAULT ? " *" : "  ", ms * 1e3, bytes / ms / 1e9, best / ms, ch * 1e3,
                       bytes / ch / 1e9);
                for (int v = 0; v < (hb_cuda_wsgemm_wg_runs() ? 6 : 4) && getenv("HB_WSG_SWEEP"); v++)
                    for (int split = 1; split <= 8; split++) {
                        /* mma.sync: 4 or 8 warps, W's first steps after or before the wait; wgmma:
                         * one or two warpgroups, early */
                        g.wsg = v < 4 ? hb_wsg_cfg{split, 1 + (v >> 1), (v & 1) != 0, false}
                                      : hb_wsg_cfg{split, v - 3, true, true};
                        ms = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, WSGEMM, true);
                        ch = gemm_ms(g, nullptr, nullptr, nullptr, nullptr, nullptr, w, wb, copies, n, m.N, m.K, WSGEMM, false);
                        printf("gemm n %3d %-10s weight-streaming GEMM [%s, %d warps, early %d, split %d]   alone %6.1f us (%5.2f TB/s); chained %6.1f us (%5.2f TB/s)\n",
                               n, m.name, g.wsg.wg ? "wgmma" : "mma.sync", 4 * g.wsg.wn, g.wsg.early, split, ms * 1e3, bytes / ms / 1e9, ch * 1e3, bytes / ch / 1e9);
                    }
                g.wsg = hb_wsg_cfg{};
            }
            cublasLtMatmulPreferenceDestroy(pref);
            cublasLtMatrixLayoutDestroy(la);
            cublasLtMatrixLayoutDestroy(lb);
            cublasLtMatrixLayoutDestroy(lc);
            cublasLtMatmulDescDestroy(op);
        }
    fold_section(g, w, copies);
    cudaFree(g.ws);
    cudaFree(g.flush);
    cudaFree(g.xb);
    cudaFree(g.y);
    cublasLtDestroy(g.lt);
    cublasDestroy(g.h);
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
    float *x, *y, *k, *v, *o, *nw;
    size_t wmax = (size_t)2 * I * H * 2; // the largest matrix: gate and up together
    if (cudaMalloc((void **)&w, wmax * copies) != cudaSuccess) {
        fprintf(stderr, "cannot allocate %zu MB of weights\n", wmax * copies >> 20);
        return 1;
    }
    fill_random<<<4096, 256>>>((__nv_bfloat16 *)w, wmax * copies / 2, 1); /* weights as in an engine */
    cudaMalloc((void **)&x, (size_t)I * 4);
    cudaMalloc((void **)&y, (size_t)2 * I * 4);
    cudaMemset(x, 0, (size_t)I * 4);
    size_t kvb = (size_t)ATT_BATCH * 1024 * 1024 * 4;
    cudaMalloc((void **)&k, kvb);
    cudaMalloc((void **)&v, kvb);
    cudaMemset(k, 0, kvb);
    cudaMemset(v, 0, kvb);
    cudaMalloc((void **)&o, ATT_BATCH * 24 * 128 * 4);
    cudaMalloc((void **)&nw, H * 4);
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
    { /* o_proj with its rows copied on chip (gemv1_resident_kernel): in the engine the copy runs
       * during decode attention; here, back to back, the copy and the product in turn (only one
       * such block fits an SM), so its bandwidth alone, by the size of a bulk copy */
        const int N = 3072, K = 3072;
        const size_t wb = ((size_t)N * K * 2 + 255) / 256 * 256;
        const double bytes = (double)N * K * 2 + K * 4.0 + N * 4.0;
        const int keep = hb_gemv_resident_chunk;
        for (int chunk : {4096, 16384, 36864, 147456}) {
            hb_gemv_resident_chunk = chunk;
            const float ms = chain_ms(copies, [&](int c) {
                hb_cuda_gemv1_resident(w + (size_t)c * wb, x, y, N, K, true, p.multiProcessorCount, 0);
            });
            printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s   (resident, alone; bulk copies of %d KB%s)\n", "o_proj", bytes / 1e6,
                   ms, bytes / ms / 1e6, chunk / 1024, chunk == keep ? ", the engine's" : "");
        }
        hb_gemv_resident_chunk = keep;
    }
    /* attention as a decode step runs it, 28 launches back to back (each over other slots, so
     * little comes from L2), a launch's median time: the fused decode kernel (RoPE, KV write,
     * attention, runs added by the last block) against the separate path (the RoPE kernel, then
     * the per-head or grouped kernel and the runs' combine kernel), each with the engine's split
     * policy; bytes: each token's K and V rows */
    float *part, *qkv;
    unsigned *count;
    float2 *rope;
    int sms = p.multiProcessorCount, part_runs = 4 * (ATT_BATCH * 24 > sms ? ATT_BATCH * 24 : sms);
    cudaMalloc((void **)&part, (size_t)part_runs * 130 * 4);
    cudaMalloc((void **)&count, ATT_BATCH * 8 * 4);
    cudaMemset(count, 0, ATT_BATCH * 8 * 4);
    cudaMalloc((void **)&qkv, (size_t)ATT_BATCH * 5120 * 4);
    cudaMemset(qkv, 0, (size_t)ATT_BATCH * 5120 * 4);
    {
        std::vector<float2> tab((size_t)ATT_SEQ * 64);
        for (int i = 0; i < ATT_SEQ * 64; i++) tab[(size_t)i] = make_float2(1.f, 0.f);
        cudaMalloc((void **)&rope, tab.size() * sizeof(float2));
        cudaMemcpy(rope, tab.data(), tab.size() * sizeof(float2), cudaMemcpyHostToDevice);
    }
    std::vector<dev_token> toks((size_t)ATT_LAUNCHES * ATT_BATCH);
    dev_token *dtoks;
    cudaMalloc((void **)&dtoks, toks.size() * sizeof(dev_token));
    float ams = 0;
    bool att_sweep = getenv("HB_ATT_SWEEP") != NULL;
    for (int n : {1, 8, 32, ATT_BATCH}) {
        for (int c = 0; c < ATT_LAUNCHES; c++)
            for (int i = 0; i < ATT_BATCH; i++)
                toks[(size_t)c * ATT_BATCH + i] = {(c * n + i) % ATT_BATCH, ctx, 1, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1};
        cudaMemcpy(dtoks, toks.data(), toks.size() * sizeof(dev_token), cudaMemcpyHostToDevice);
        int dsplit = hb_cuda_decode_splits(n, 24, 8, ATT_SEQ - 1, sms, part_runs);
        int split = hb_cuda_attention_splits(n, 24, ATT_SEQ - 1, sms, part_runs);
        for (int bf : {1, 0}) {
            double abytes = (double)n * 8 * (ctx + 1) * 128 * (bf ? 2 : 4) * 2;
            for (int way = 0; way < 4; way++) { /* fused, rope + per-head, rope + grouped, fused on CUDA cores */
                bool sep = way == 1 || way == 2, mma = hb_cuda_decode_mma(n, 24, 8, 128, bf != 0);
                if (way == 3 && !mma) continue;
                if (sep) setenv("HB_ATT_KERNEL", way == 1 ? "head" : "group", 1);
                hb_cuda_dec_mma = way == 3 ? 0 : 1;
                att_ctx a = {qkv, o, part, count, rope, k, v, dtoks, n, sep ? split : dsplit, bf != 0, !sep, sms};
                float ms = time_ms(run_att, &a, 10) / ATT_LAUNCHES;
                hb_cuda_dec_mma = 1;
                if (sep) unsetenv("HB_ATT_KERNEL");
                /* the CUDA-core form adds at most DEC_CLUSTER_RUNS runs as a cluster where they fit */
                const int cz = !sep && (way == 3 || !mma) ? hb_cuda_decode_cluster_runs(n, 8, a.splits) : 1;
                const int runs = cz > 1 ? cz : a.splits;
                char name[112];
                snprintf(name, sizeof name, "attention b%d %s, %s, %d run%s%s", n, bf ? "bf16" : "fp32",
                         way == 0 ? (mma ? "fused, tensor cores *" : "fused *")
                         : way == 1 ? "rope + per-head" : way == 2 ? "rope + grouped" : "fused, CUDA cores",
                         runs, runs > 1 ? "s" : "", cz > 1 ? " (a cluster)" : "");
                printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", name, abytes / 1e6, ms,
                       abytes / ms / 1e6, n == 1 ? 28 : 0, n == 1 ? ms * 28 : 0.0);
                if (n == 1 && bf && way == 0) ams = ms;
            }
        }
        if (att_sweep) /* the fused kernel's runs against time (the policy's evidence) */
            for (int splits : {1, 2, 4, 8, 16, 24, 32}) {
                if ((size_t)splits * n * 24 > (size_t)part_runs) continue;
                att_ctx a = {qkv, o, part, count, rope, k, v, dtoks, n, splits, true, true, sms};
                printf("attention sweep (fused, bf16): batch %d, %2d runs: %.4f ms%s\n", n, splits,
                       time_ms(run_att, &a, 10) / ATT_LAUNCHES, splits == dsplit ? " *" : "");
            }
    }
    { /* a prompt's attention after the RoPE kernel (one request at positions 0..n-1, bf16 cache),
       * 28 launches back to back, a launch's median: the tensor-core prompt kernel (the engine's
       * for base-3b), the tiled CUDA-core kernel, and the decode kernel attending only */
        const int Q = 24 * 128, KV = 8 * 128, S = Q + 2 * KV;
        float *pq, *po;
        dev_token *pt;
        cudaMalloc((void **)&pq, (size_t)512 * S * 4);
        cudaMalloc((void **)&po, (size_t)512 * Q * 4);
        cudaMalloc((void **)&pt, 512 * sizeof(dev_token));
        fill_random<<<256, 256>>>((__nv_bfloat16 *)k, (size_t)512 * KV, 3); /* slot 0's rows */
        fill_random<<<256, 256>>>((__nv_bfloat16 *)v, (size_t)512 * KV, 4);
        cudaMemset(pq, 0, (size_t)512 * S * 4);
        for (int n : {129, 512}) {
            std::vector<dev_token> pts((size_t)n);
            for (int i = 0; i < n; i++) pts[(size_t)i] = {0, i, 0, 0, {0, 0, 0, 0, 0, 0, 0, 0}, 1};
            cudaMemcpy(pt, pts.data(), pts.size() * sizeof(dev_token), cudaMemcpyHostToDevice);
            const double bytes = (double)n * KV * 2 * 2; /* K and V rows, each read once at best */
            for (int way = 0; way < 3; way++) {
                const float ms = chain_ms(28, [&](int) {
                    if (way == 0)
                        hb_cuda_attention_prefill_mma(pq, S, pt, n, k, v, po, nullptr, 24, 8, ATT_BATCH, ATT_SEQ, 0, 0);
                    else if (way == 1)
                        hb_cuda_attention_prefill(pq, S, pt, n, k, v, true, po, nullptr, 24, 8, 128, ATT_BATCH,
                                                  ATT_SEQ, 0, 0);
                    else
                        hb_cuda_attention_decode(pq, pq + Q, pq + Q + KV, S, S, pt, n, rope, k, v, true, po,
                                                 nullptr, part, count, 1, 24, 8, 128, ATT_BATCH, ATT_SEQ, 0, true, 0);
                });
                char name[96];
                snprintf(name, sizeof name, "prompt attention n%d, %s", n,
                         way == 0 ? "tensor cores *" : way == 1 ? "tiled" : "decode kernel");
                printf("%-24s %8.1f MB %7.4f ms %8.0f GB/s\n", name, bytes / 1e6, ms, bytes / ms / 1e6);
            }
        }
        cudaFree(pq), cudaFree(po), cudaFree(pt);
    }
    total += ams * 28;
    norm_ctx n = {x, nw, y, dt};
    float nms = time_ms(run_norm, &n);
    printf("%-24s %8.3f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", "rmsnorm", 3.0 * H * 4 / 1e6, nms,
           3.0 * H * 4 / nms / 1e6, 57, nms * 57);
    total += nms * 57;
    { /* the audio draw, one block a codebook (8 a row), logits uniform in [-4, 4) */
        const int rows = ATT_BATCH, n = 1026;
        std::vector<float> hl((size_t)rows * 8 * n);
        unsigned st = 12345;
        for (float &f : hl) st = st * 1664525u + 1013904223u, f = (float)(st >> 8) / 16777216.f * 8.f - 4.f;
        float *dl;
        hb_pick *dp;
        int32_t *dc;
        cudaMalloc((void **)&dl, hl.size() * 4);
        cudaMalloc((void **)&dp, (size_t)rows * 8 * sizeof(hb_pick));
        cudaMalloc((void **)&dc, (size_t)rows * 16 * 4);
        cudaMemcpy(dl, hl.data(), hl.size() * 4, cudaMemcpyHostToDevice);
        struct {
            const char *name;
            float temperature, top_p;
            int top_k;
        } modes[] = {{"greedy", 0.f, 1.f, 0}, {"temperature 0.7", 0.7f, 1.f, 0}, {"top-k 50", 0.7f, 1.f, 50},
                     {"top-p 0.95 *", 0.7f, 0.95f, 0}};
        for (auto &m : modes) {
            std::vector<hb_pick> hp((size_t)rows * 8);
            for (size_t i = 0; i < hp.size(); i++) {
                hb_pick &q = hp[i];
                memset(&q, 0, sizeof q);
                q.forced = -1, q.temperature = m.temperature, q.top_p = m.top_p, q.top_k = m.top_k;
                q.u = (double)((i * 7919) % 1000) / 1000.0;
            }
            cudaMemcpy(dp, hp.data(), hp.size() * sizeof(hb_pick), cudaMemcpyHostToDevice);
            for (int r : {1, 8, 32, 64}) {
                draw_ctx d = {dl, dp, dc, r, sms};
                float ms = time_ms(run_draw, &d);
                char name[64];
                snprintf(name, sizeof name, "audio draw b%d, %s", r, m.name);
                printf("%-24s %8.3f MB %7.4f ms %8.0f GB/s %8d %9.3f ms\n", name, r * 8 * n * 4 / 1e6, ms,
                       r * 8 * n * 4 / ms / 1e6, r == 1 ? 1 : 0, r == 1 ? ms : 0.0);
                if (r == 1 && m.top_p < 1) total += ms;
            }
        }
        cudaFree(dl), cudaFree(dp), cudaFree(dc);
    }
    printf("sum of the kernels of one step (GEMVs back to back, the others launched alone): %.3f ms\n", total);
    gemm_section(w, copies, getenv("HB_GEMM_SWEEP") != NULL);
    return 0;
}
