// cuda_kernels.cuh - the CUDA backend's kernels (one family per .cu file), host-callable
// launchers. Activations are fp32; weights are bf16 (the release's dtype) or fp32 (parity tests);
// every product accumulates in fp32.
#ifndef HB_CUDA_KERNELS_CUH
#define HB_CUDA_KERNELS_CUH

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stdint.h>

extern "C" {
#include "../engine_internal.h"
}

// The token batch as the kernels see it (same layout as hb_token).
struct dev_token {
    int32_t slot, pos, audio, text_id, codes[HB_NUM_CODEBOOKS], logits;
};
static_assert(sizeof(dev_token) == sizeof(hb_token), "dev_token must mirror hb_token");

// embed.cu: x[i] = embed[text_id] or sum_k audio_embed[k * rows + code_k]
void hb_cuda_embed(const dev_token *tok, int n, const void *embed, const void *audio_embed,
                   bool bf16, int hidden, int rows, float *x, cudaStream_t s);

// norm.cu: RMSNorm of rows. Path variant: token i uses w_audio when tok[i].audio. Gather
// variant: out row r is the norm of x row idx[r].
void hb_cuda_rmsnorm_path(const float *x, const dev_token *tok, int n, const float *w_text,
                          const float *w_audio, float *out, int hidden, float eps, cudaStream_t s);
void hb_cuda_rmsnorm_gather(const float *x, const int32_t *idx, int n, const float *w, float *out,
                            int hidden, float eps, cudaStream_t s);

// gemv.cu: y[t][r] = sum_k x[t][k] W[r][k] for t < n (any n: 8 tokens per weight pass).
void hb_cuda_gemv(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                  cudaStream_t s);
// The same with y += W x when accumulate (a residual add in the epilogue).
void hb_cuda_gemv_acc(const void *w, bool bf16, const float *x, float *y, int n, int N, int K,
                      bool accumulate, cudaStream_t s);

// The matrix product used by the backend: the GEMV kernel, or cuBLAS for bf16 weights and two
// or more tokens (xb: a bf16 staging buffer of at least n x K elements).
struct hb_gemm_ctx {
    cublasHandle_t handle;
    __nv_bfloat16 *xb;
};
cublasStatus_t hb_cuda_matmul(const hb_gemm_ctx *g, const void *w, bool bf16, const float *x,
                              float *y, int n, int N, int K, cudaStream_t s);

// rope.cu: rotates q and k of each token at its position (half-split layout) and stores k, v
// in the slot's cache.
void hb_cuda_rope_kv(float *q, float *k, const float *v, const dev_token *tok, int n,
                     const float *inv_freq, int heads, int kv_heads, int head_dim, float *kcache,
                     float *vcache, int max_batch, int max_seq, int layer, cudaStream_t s);

// Grouped-query attention of each token over positions 0..pos of its slot. With splits > 1
// the positions are cut into that many runs, each written to split_part ((head_dim + 2) floats
// a run: the value sum, the score maximum, the exp-sum) and then combined into out.
#define ATT_MIN_RUN 32    // no run shorter than this many positions
#define ATT_MAX_SPLITS 16 // no more runs than this
// How many runs for n tokens: enough for about two blocks an SM when n x heads is fewer blocks
// than the GPU has SMs, 2 when it is fewer than twice as many, else 1; part_blocks is how many
// runs split_part holds (4 x SMs is always enough).
int hb_cuda_attention_splits(int n, int heads, int max_pos, int sms, int part_blocks);
void hb_cuda_attention(const float *q, const dev_token *tok, int n, const float *kcache,
                       const float *vcache, float *out, float *split_part, int splits, int heads,
                       int kv_heads, int head_dim, int max_batch, int max_seq, int layer,
                       int max_pos, cudaStream_t s);

// sample.cu: the audio codes of nrows head-output rows (8 codebooks of n entries each), drawn by
// picks (8 a row) as hb_pick_sample does; out gets 16 int32 a row (codes, then the first
// non-finite entry of each codebook or -1). n at most HB_DEVICE_DRAW_MAX_ROWS.
void hb_cuda_draw_codes(const float *logits, int nrows, int n, const hb_pick *picks, int bos,
                        int eos, int codebook_size, int32_t *out, cudaStream_t s);

// elementwise.cu
void hb_cuda_add(float *x, const float *y, size_t n, cudaStream_t s);
void hb_cuda_scatter_add(float *x, const int32_t *idx, const float *rows, int n, int hidden,
                         cudaStream_t s);
void hb_cuda_swiglu(const float *g, const float *u, float *out, size_t n, cudaStream_t s);

#endif
