// cuda_backend.cu - the CUDA backend: the same forward pass as the CPU backend on an NVIDIA GPU.
//
// Weights live on the device in their storage dtype (bf16, or fp32 for parity tests; norm
// weights always fp32), in one allocation; the KV cache holds max_batch x max_seq positions a
// layer, bf16 entries with bf16 weights and fp32 with fp32 weights (the parity tests);
// activations are fp32. A forward pass is a fixed sequence of kernels on the stream (embed, then
// per layer: path norm, q/k/v products, RoPE + KV write, attention, output product + residual,
// and per path: gather norm, gate/up products, SwiGLU, down product, scatter-add; then the final
// norm and heads), launched so each may start while its predecessor finishes (programmatic
// dependent launch); where both paths have tokens, one path's MLP may run on a second stream
// beside the other's (side_path), forked and joined by events. Then one copy back to the host:
// the head outputs, or, when the engine plans the audio draws (sampling.h), only the 8 codes a
// request drawn on the device (sample.cu).
// Every device allocation is counted in the engine's allocator and cross-checked against
// cudaMemGetInfo by the tests.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

#include "cuda_kernels.cuh"

#define CUDA_TRY(call)                                                                          \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess)                                                                  \
            return hb_fail(err, HB_ERR_INTERNAL, "CUDA error at %s:%d: %s (%s)", __FILE__,      \
                           __LINE__, cudaGetErrorString(e_), #call);                           \
    } while (0)

int hb_cuda_pdl = 1;

struct layer_ptrs {
    const float *in_norm, *post_norm, *a_in_norm, *a_post_norm;
    const void *wq, *wk, *wv, *wo, *gate, *up, *down, *a_gate, *a_up, *a_down;
};

struct fwd_plan_key {
    size_t n;
    int cnt[2], want[2];
    bool draw;   // tokens and audio codes drawn on the device
    bool decode; // every token its slot's only one: the fused decode attention can run
    bool resident; // a streak step: tokens and picks made on the device from its state
};

// Where things lie in the pinned staging buffer: tokens and index lists going to the device,
// head outputs (text, and audio unless drawn) and drawn codes coming back, picks going.
struct stage_layout {
    size_t idx, out, picks, tpicks, codes, tcodes, total;
};

struct hb_backend {
    hb_model_config c;
    hb_role role;
    hb_mem *mem;
    int max_batch, max_seq, device;
    bool bf16;
    cudaStream_t stream;
    char *wblock;
    size_t wbytes;
    const void *embed, *audio_embed, *text_head, *audio_head;
    const float *norm;
    std::vector<layer_ptrs> layers;
    float2 *rope;            // (cos, sin) of every position and RoPE frequency
    char *kcache, *vcache;   // bf16 entries with bf16 weights, else fp32
    bool kv_bf16;
    size_t kv_bytes;
    // workspace for ws_tokens tokens
    size_t ws_tokens, ws_bytes;
    float *x, *h, *q, *k, *v, *att, *o, *g, *u, *gu;
    float *logits;           // head outputs, grown to what is asked for
    size_t logit_floats;
    char *pinned;            // pinned host staging (tokens, index lists, head outputs)
    size_t pinned_bytes;
    bool use_graphs;
    struct graph_entry {
        fwd_plan_key plan;
        cudaGraphExec_t exec;
    };
    std::vector<graph_entry> graphs;
    size_t graph_bytes, captures;
    double capture_s;
    void *cublas_ws;
    bool fused1;             // one-token passes: q/k/v and gate/up each in one product
    bool unfused_swiglu;     // HB_FUSE_SWIGLU=0: the SwiGLU as its own kernel (for measuring)
    bool resident_o;         // layer_tokens' one-token o_proj copied on chip during attention (HB_RESIDENT_O=0: not)
    bool one_mmv;            // bf16 one-token passes run layer_batched (HB_ONE_MMV=0: layer_tokens' GEMVs)
    int swiglu_max;          // batches up to which gate/up runs with the SwiGLU fused (weight-streaming GEMM)
    int down_max;            // batches up to which down_proj runs the weight-streaming GEMM (above wsg_max too,
                             // where gate/up runs with the SwiGLU fused)
    float *qkv1, *gu1;       // their outputs (one token)
    size_t qkv1_bytes;
    int sms;                 // streaming multiprocessors of the device
    float *att_part;         // split attention runs, att_part_blocks of (head_dim + 2) floats
    int att_part_blocks;
    unsigned *att_count;     // the fused decode attention's run counters (max_batch x kv_heads)
    hb_streak_row *streak;   // a streak's state, one row a request (max_batch)
    int32_t *streak_out;     // pinned: two queued steps' drawn codes (2 x max_batch x 16)
    cudaEvent_t streak_ev[2]; // each recorded after its step's codes are copied out
    fwd_plan_key streak_plan;
    int streak_head, streak_queued; // the ring slot taken next, steps queued
    bool fuse_decode;        // decode steps run RoPE, the KV write and attention in one kernel
    bool tiled_prefill;      // other passes run the tiled attention kernel after RoPE
    bool short_prefill;      // and where its tiles are fewer than the SMs, the decode kernel (HB_SHORT_PF=0: not)
    hb_gemm_ctx gemm;        // cuBLAS and its bf16 staging buffer (inside the workspace)
    __nv_bfloat16 *xa;       // batched passes: the next layer's normed input in bf16
    // a pass with tokens on both paths: a path whose MLP products all run our kernels
    // (side_path) runs its MLP on a second stream beside the other's (HB_SIDE_PATH=0: one after
    // the other), in its own buffers for HB_SIDE_TOKENS tokens (normed input, SwiGLU output,
    // down_proj output)
    cudaStream_t side;
    cudaEvent_t side_ev[2];  // the fork and the join
    char *side_block;
    size_t side_bytes;
    __nv_bfloat16 *side_xb, *side_act;
    float *side_g;
    // passes of 1-8 tokens on one path: the MLP's input norm folded into o_proj and gate/up
    // (hb_cuda_mmv_resnorm; HB_FOLD_NORM=0: the norm kernel, and no block), through bf16(x w) and
    // the sums of squares of HB_NORM_MAX_TOKENS tokens
    char *fold_block;
    size_t fold_bytes;
    __nv_bfloat16 *fold_xw;
    float *fold_part;
    dev_token *tok;
    int32_t *idx;
    hb_pick *picks;          // a step's planned audio draws (max_batch x 8)
    int32_t *codes;          // their outcome (max_batch x 16)
    hb_text_pick *tpicks;    // a step's planned text draws (max_batch)
    int32_t *tcodes;         // their outcome (max_batch x 2)
    hb_text_scratch tscr;    // the text draws' sort (allocated with a text head)
    void *tscr_block;
};

static size_t align16(size_t x) { return (x + 15) / 16 * 16; }

static stage_layout layout_of(const hb_model_config *c, size_t n, const fwd_plan_key &pl)
{
    stage_layout s;
    s.idx = align16(n * sizeof(hb_token));
    s.out = align16(s.idx + 2 * n * 4);
    size_t out = pl.draw ? 0 : (size_t)pl.want[0] * c->vocab + (size_t)pl.want[1] * hb_audio_vocab(c);
    s.picks = align16(s.out + out * 4);
    size_t ra = pl.draw ? (size_t)pl.want[1] : 0, rt = pl.draw ? (size_t)pl.want[0] : 0;
    s.tpicks = align16(s.picks + ra * HB_NUM_CODEBOOKS * sizeof(hb_pick));
    s.codes = align16(s.tpicks + rt * sizeof(hb_text_pick));
    s.tcodes = align16(s.codes + ra * 2 * HB_NUM_CODEBOOKS * 4);
    s.total = s.tcodes + rt * 2 * 4;
    return s;
}

static void dev_free(hb_backend *b, void *p, hb_mem_category cat, size_t bytes)
{
    if (!p) return;
    cudaFree(p);
    hb_mem_add(b->mem, cat, -(int64_t)bytes);
}

static void free_workspace(hb_backend *b)
{
    if (!b->ws_tokens) return;
    cudaFree(b->x); // one allocation holds every workspace buffer
    hb_mem_add(b->mem, HB_MEM_WORKSPACE, -(int64_t)b->ws_bytes);
    b->ws_tokens = 0;
    b->ws_bytes = 0;
}

static void drop_graphs(hb_backend *b);
/* a streak's pinned ring: two steps' drawn codes, 16 int32 a row; slot i's rows */
static size_t streak_out_bytes(const hb_backend *b) { return (size_t)b->max_batch * 2 * 2 * HB_NUM_CODEBOOKS * 4; }
static int32_t *streak_slot(const hb_backend *b, int i)
{
    return b->streak_out + (size_t)i * b->max_batch * 2 * HB_NUM_CODEBOOKS;
}
#define HB_SIDE_TOKENS HB_WSG_MAX_TOKENS /* the most tokens a side path's buffers hold */
#define CUBLAS_WS_BYTES HB_LT_FLUSH_BYTES /* also cleared to flush L2 while tuning cuBLASLt */

// device picks and codes of max_batch rows, audio and text, one allocation
static size_t draw_bytes(const hb_backend *b)
{
    return (size_t)b->max_batch * (HB_NUM_CODEBOOKS * (sizeof(hb_pick) + 2 * 4) +
                                   sizeof(hb_text_pick) + 2 * 4);
}

// the text draws' scratch (text heads only): 2 key/index pairs an entry, rows, cub's workspace
static size_t text_scratch_bytes(const hb_backend *b)
{
    size_t entries = (size_t)b->max_batch * b->c.vocab;
    return entries * 24 + (size_t)b->max_batch * HB_TEXT_ROW_BYTES + 256 + b->tscr.sort_bytes;
}

static void cuda_destroy(hb_backend *b)
{
    if (!b) return;
    cudaSetDevice(b->device);
    if (b->stream) cudaStreamSynchronize(b->stream); /* queued steps (a streak) end first */
    if (b->side) cudaStreamSynchronize(b->side);
    free_workspace(b);
    drop_graphs(b);
    if (b->logit_floats) dev_free(b, b->logits, HB_MEM_WORKSPACE, b->logit_floats * 4);
    if (b->pinned) {
        cudaFreeHost(b->pinned);
        hb_mem_add(b->mem, HB_MEM_OTHER, -(int64_t)b->pinned_bytes);
    }
    hb_cuda_lt_destroy(b->gemm.lt);
    if (b->gemm.handle) cublasDestroy(b->gemm.handle);
    dev_free(b, b->cublas_ws, HB_MEM_WORKSPACE, CUBLAS_WS_BYTES);
    dev_free(b, b->qkv1, HB_MEM_WORKSPACE, b->qkv1_bytes);
    dev_free(b, b->picks, HB_MEM_WORKSPACE, draw_bytes(b));
    dev_free(b, b->streak, HB_MEM_WORKSPACE, (size_t)b->max_batch * sizeof(hb_streak_row));
    if (b->streak_out) {
        cudaFreeHost(b->streak_out);
        hb_mem_add(b->mem, HB_MEM_OTHER, -(int64_t)streak_out_bytes(b));
    }
    for (int i = 0; i < 2; i++)
        if (b->streak_ev[i]) cudaEventDestroy(b->streak_ev[i]);
    dev_free(b, b->tscr_block, HB_MEM_WORKSPACE, text_scratch_bytes(b));
    dev_free(b, b->att_part, HB_MEM_WORKSPACE, (size_t)b->att_part_blocks * (b->c.head_dim + 2) * 4);
    dev_free(b, b->att_count, HB_MEM_WORKSPACE, (size_t)b->max_batch * b->c.kv_heads * 4);
    dev_free(b, b->wblock, HB_MEM_WEIGHTS, b->wbytes);
    dev_free(b, b->kcache, HB_MEM_KV, b->kv_bytes);
    dev_free(b, b->vcache, HB_MEM_KV, b->kv_bytes);
    dev_free(b, b->rope, HB_MEM_OTHER, (size_t)b->max_seq * (b->c.head_dim / 2) * sizeof(float2));
    dev_free(b, b->side_block, HB_MEM_WORKSPACE, b->side_bytes);
    dev_free(b, b->fold_block, HB_MEM_WORKSPACE, b->fold_bytes);
    for (int i = 0; i < 2; i++)
        if (b->side_ev[i]) cudaEventDestroy(b->side_ev[i]);
    if (b->side) cudaStreamDestroy(b->side);
    if (b->stream) cudaStreamDestroy(b->stream);
    delete b;
}

static hb_status dev_alloc(hb_backend *b, void **p, size_t bytes, hb_mem_category cat,
                           const char *what, hb_error *err)
{
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 256);
    if (e != cudaSuccess)
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %.1f MiB of GPU memory for %s: %s",
                       (double)bytes / 1048576, what, cudaGetErrorString(e));
    hb_mem_add(b->mem, cat, (int64_t)bytes);
    return HB_OK;
}

static const void **slot_of(hb_backend *b, const hb_tensor_spec *t)
{
    switch (t->slot) {
    case HB_TS_EMBED: return &b->embed;
    case HB_TS_AUDIO_EMBED: return &b->audio_embed;
    case HB_TS_TEXT_HEAD: return &b->text_head;
    case HB_TS_AUDIO_HEAD: return &b->audio_head;
    case HB_TS_NORM: return (const void **)&b->norm;
    default: break;
    }
    layer_ptrs *l = &b->layers[(size_t)t->layer]; /* a layer's tensors, in hb_tensor_slot order */
    const void **in_layer[] = {(const void **)&l->in_norm, (const void **)&l->post_norm,
                               (const void **)&l->a_in_norm, (const void **)&l->a_post_norm,
                               &l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down,
                               &l->a_gate, &l->a_up, &l->a_down};
    return in_layer[t->slot - HB_TS_IN_NORM];
}

/* A token count from the environment variable `name` (default def when unset), 0 to max */
static hb_status env_tokens(const char *name, int def, int max, int *out, hb_error *err)
{
    *out = def;
    const char *e = getenv(name);
    if (!e) return HB_OK;
    char *end;
    long v = strtol(e, &end, 10);
    if (end == e || *end || v < 0 || v > max)
        return hb_fail(err, HB_ERR_INVALID, "%s is '%s'; it must be a whole number of tokens from 0 to %d",
                       name, e, max);
    *out = (int)v;
    return HB_OK;
}

/* An on/off switch from the environment variable `name`: unset or "1" on, "0" off, else refused */
static hb_status env_switch(const char *name, bool *on, hb_error *err)
{
    const char *e = getenv(name);
    *on = !(e && strcmp(e, "0") == 0);
    if (e && strcmp(e, "0") != 0 && strcmp(e, "1") != 0)
        return hb_fail(err, HB_ERR_INVALID, "%s is '%s'; it must be 0 or 1", name, e);
    return HB_OK;
}

/* A choice from the environment variable `name`: unset, or one of names (then *set), else
 * refused, naming the value */
static hb_status env_choice(const char *name, const char *const *names, bool *set, hb_error *err)
{
    const char *e = getenv(name);
    *set = false;
    if (!e) return HB_OK;
    char list[128] = "";
    for (const char *const *n = names; *n; n++) {
        if (strcmp(e, *n) == 0) {
            *set = true;
            return HB_OK;
        }
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", n == names ? "" : " or ", *n);
    }
    return hb_fail(err, HB_ERR_INVALID, "%s is '%s'; it must be %s or unset", name, e, list);
}

static hb_status cuda_create(const hb_model_config *cfg, hb_role role, const hb_safetensors *st,
                             int max_batch, int max_seq, const hb_engine_opts *o, hb_mem *mem,
                             uint64_t *weights_hash, hb_backend **out, hb_error *err)
{
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
        return hb_fail(err, HB_ERR_UNSUPPORTED, "backend 'cuda': no CUDA device is present");
    int dev = o ? o->device : 0;
    if (dev < 0 || dev >= ndev)
        return hb_fail(err, HB_ERR_INVALID, "CUDA device %d does not exist (%d present)", dev, ndev);
    if (max_seq > 10000)
        return hb_fail(err, HB_ERR_UNSUPPORTED, "max_seq_len %d exceeds the 10000 positions the "
                       "CUDA attention kernel keeps in shared memory", max_seq);
    hb_backend *b = new hb_backend();
    b->c = *cfg;
    b->role = role;
    b->mem = mem;
    b->max_batch = max_batch;
    b->max_seq = max_seq;
    b->device = dev;
    b->layers.resize((size_t)cfg->layers);
    hb_status rc = HB_OK;
    if (cudaSetDevice(dev) != cudaSuccess || cudaStreamCreateWithFlags(&b->stream, cudaStreamNonBlocking) != cudaSuccess)
        rc = hb_fail(err, HB_ERR_INTERNAL, "cannot use CUDA device %d", dev);
    if (!rc && cublasCreate(&b->gemm.handle) != CUBLAS_STATUS_SUCCESS)
        rc = hb_fail(err, HB_ERR_INTERNAL, "cannot create a cuBLAS handle");
    /* a fixed cuBLAS workspace: graphs may not capture cuBLAS allocating its own */
    if (!rc) rc = dev_alloc(b, &b->cublas_ws, CUBLAS_WS_BYTES, HB_MEM_WORKSPACE, "cuBLAS", err);
    if (!rc && cublasSetWorkspace(b->gemm.handle, b->cublas_ws, CUBLAS_WS_BYTES) != CUBLAS_STATUS_SUCCESS)
        rc = hb_fail(err, HB_ERR_INTERNAL, "cannot give cuBLAS its workspace");
    /* HB_GEMM=cublas: cublasGemmEx for every batch; HB_ATT_KERNEL=head|group: one attention
     * kernel for every pass (read where the kernel is chosen); for measuring */
    static const char *const gemm_names[] = {"cublas", NULL}, *const att_names[] = {"head", "group", NULL};
    bool gemm_cublas = false, att_named = false;
    if (!rc) rc = env_choice("HB_GEMM", gemm_names, &gemm_cublas, err);
    if (!rc) rc = env_choice("HB_ATT_KERNEL", att_names, &att_named, err);
    if (!rc && !gemm_cublas) b->gemm.lt = hb_cuda_lt_create(b->cublas_ws, CUBLAS_WS_BYTES);
    /* HB_MMV=N: the batched GEMV for 2..N tokens (0: cuBLAS for every batch); HB_WSG=N: the
     * weight-streaming GEMM up to N tokens (0: cuBLASLt above mmv_max); for measuring */
    if (!rc) rc = env_tokens("HB_MMV", HB_MMV_DEFAULT, HB_MMV_MAX_TOKENS, &b->gemm.mmv_max, err);
    if (!rc) rc = env_tokens("HB_WSG", HB_WSG_DEFAULT, HB_WSG_MAX_TOKENS, &b->gemm.wsg_max, err);
    /* HB_WSG_SWIGLU=N: gate/up with the SwiGLU fused by the weight-streaming GEMM up to N tokens
     * (by default up to 64: at 33-64 tokens the fused form, saving the SwiGLU kernel, edges out
     * cuBLASLt and the kernel, where the plain product alone does not; none with HB_WSG=0) */
    if (!rc) rc = env_tokens("HB_WSG_SWIGLU", b->gemm.wsg_max ? HB_WSG_MAX_TOKENS : 0, HB_WSG_MAX_TOKENS,
                             &b->swiglu_max, err);
    /* HB_WSG_DOWN=N: down_proj by the weight-streaming GEMM up to N tokens, where the other single
     * products go to cuBLASLt above HB_WSG's N (by default up to 64: at 33-64 tokens it took the
     * H200's step 0.7-1.8 % shorter; q/k/v there was 4.3 us a layer slower, o_proj level; none
     * with HB_WSG=0) */
    if (!rc) rc = env_tokens("HB_WSG_DOWN", b->gemm.wsg_max ? HB_WSG_MAX_TOKENS : 0, HB_WSG_MAX_TOKENS,
                             &b->down_max, err);
    b->use_graphs = o && o->cuda_graphs;
    /* HB_PDL=0: plain stream order, no overlapped launches; HB_FUSE_SWIGLU=0: the SwiGLU as its
     * own kernel; HB_DEC_MMA=0, HB_DEC_CLUSTER=0, HB_DRAW_WIDE=0, HB_DRAW_BKT=0, HB_WSG_WGMMA=0
     * and HB_PF_MMA=0 (read where their kernels are launched): no tensor-core decode attention,
     * decode attention's runs always added through a counter (never as clusters), no wide draw
     * blocks, the draws' top-k / top-p cuts always by the full sort, the weight-streaming GEMM's
     * MMAs by mma.sync (not warpgroup MMAs), no tensor-core prompt attention; for measuring */
    bool pdl = true, fuse_swiglu = true, checked = true;
    if (!rc) rc = env_switch("HB_PDL", &pdl, err);
    if (!rc) hb_cuda_pdl = pdl;
    if (!rc) rc = env_switch("HB_FUSE_SWIGLU", &fuse_swiglu, err);
    b->unfused_swiglu = !fuse_swiglu;
    if (!rc) rc = env_switch("HB_DEC_MMA", &checked, err);
    if (!rc) rc = env_switch("HB_DEC_CLUSTER", &checked, err);
    if (!rc) rc = env_switch("HB_DRAW_WIDE", &checked, err);
    if (!rc) rc = env_switch("HB_DRAW_BKT", &checked, err);
    if (!rc) rc = env_switch("HB_WSG_WGMMA", &checked, err);
    if (!rc) rc = env_switch("HB_PF_MMA", &checked, err);
    /* HB_RESIDENT_O=0: the one-token o_proj streams its weights after attention like the other
     * GEMVs, instead of copying them into shared memory while attention runs; for measuring */
    if (!rc) rc = env_switch("HB_RESIDENT_O", &b->resident_o, err);
    /* HB_ONE_MMV=0: one-token passes through layer_tokens (the GEMVs with fused epilogues)
     * instead of the batched path at one token; HB_ONE_LONG=0: in the batched path, one token's
     * down_proj by the batched GEMV instead of the one-token split-K GEMV; for measuring */
    if (!rc) rc = env_switch("HB_ONE_MMV", &b->one_mmv, err);
    b->gemm.one_long = true;
    if (!rc) rc = env_switch("HB_ONE_LONG", &b->gemm.one_long, err);
    /* HB_FOLD_NORM=0: the MLP's input norm as its own kernel at 1-8 tokens too; for measuring */
    bool fold_norm = true;
    if (!rc) rc = env_switch("HB_FOLD_NORM", &fold_norm, err);
    /* HB_SHORT_PF=0: prompts too short for the tiled attention kernel run the grouped or per-head
     * kernel instead of the decode kernel (attending only); for measuring */
    if (!rc) rc = env_switch("HB_SHORT_PF", &b->short_prefill, err);
    /* HB_SIDE_PATH=0: a pass's two paths run their MLPs one after the other; for measuring */
    bool side_path = true;
    if (!rc) rc = env_switch("HB_SIDE_PATH", &side_path, err);
    bool early = true; /* HB_GEMV_EARLY=0: the GEMVs' first weights after the wait; for measuring */
    if (!rc) rc = env_switch("HB_GEMV_EARLY", &early, err);
    hb_gemv_early = early;
    size_t nt = hb_model_tensors(cfg, NULL);
    std::vector<hb_tensor_spec> specs(nt);
    hb_model_tensors(cfg, specs.data());
    // the storage dtype of the first owned 2-D tensor decides: bf16 stays bf16, others go fp32
    b->bf16 = false;
    for (size_t i = 0; i < nt && !rc; i++) {
        const hb_st_tensor *t = hb_st_find(st, specs[i].name);
        if (t && specs[i].ndim == 2 && hb_role_owns(role, specs[i].kind)) {
            b->bf16 = t->dtype == HB_DT_BF16;
            break;
        }
    }
    size_t total = 0;
    std::vector<size_t> offs(nt, 0);
    for (size_t i = 0; i < nt; i++) {
        if (!hb_role_owns(role, specs[i].kind)) continue;
        size_t n = (size_t)specs[i].shape[0] * (size_t)(specs[i].ndim == 2 ? specs[i].shape[1] : 1);
        size_t esz = specs[i].ndim == 2 && b->bf16 ? 2 : 4;
        offs[i] = total;
        total += (n * esz + 255) / 256 * 256;
    }
    if (!rc) rc = dev_alloc(b, (void **)&b->wblock, total, HB_MEM_WEIGHTS, "weights", err);
    b->wbytes = total;
    uint64_t h = HB_HASH_INIT;
    std::vector<float> conv;
    for (size_t i = 0; i < nt && !rc; i++) {
        const hb_tensor_spec *s = &specs[i];
        if (!hb_role_owns(role, s->kind)) continue;
        const hb_st_tensor *t = hb_st_find(st, s->name);
        if (!t) {
            rc = hb_fail(err, HB_ERR_MISMATCH, "weights lack tensor '%s' that the config implies", s->name);
            break;
        }
        if (t->ndim != s->ndim || t->shape[0] != s->shape[0] || (s->ndim == 2 && t->shape[1] != s->shape[1])) {
            rc = hb_fail(err, HB_ERR_MISMATCH, "tensor '%s' does not have the shape the config implies", s->name);
            break;
        }
        size_t n = (size_t)s->shape[0] * (size_t)(s->ndim == 2 ? s->shape[1] : 1);
        h = hb_hash_bytes(h, t->data, t->nbytes);
        char *dst = b->wblock + offs[i];
        if (s->ndim == 2 && b->bf16 && t->dtype == HB_DT_BF16) {
            if (cudaMemcpy(dst, t->data, n * 2, cudaMemcpyHostToDevice) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot copy '%s' to the GPU", s->name);
        } else if (s->ndim == 2 && b->bf16) { // mixed storage: convert to bf16 on the host
            conv.resize(n);
            hb_convert_to_f32(t->dtype, t->data, conv.data(), n);
            std::vector<uint16_t> bf(n);
            hb_convert_from_f32(HB_DT_BF16, conv.data(), bf.data(), n);
            if (cudaMemcpy(dst, bf.data(), n * 2, cudaMemcpyHostToDevice) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot copy '%s' to the GPU", s->name);
        } else {
            conv.resize(n);
            hb_convert_to_f32(t->dtype, t->data, conv.data(), n);
            if (cudaMemcpy(dst, conv.data(), n * 4, cudaMemcpyHostToDevice) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot copy '%s' to the GPU", s->name);
        }
        *slot_of(b, s) = dst;
    }
    if (weights_hash) *weights_hash = h;
    int kvdim = cfg->kv_heads * cfg->head_dim;
    /* the tensors of a layer lie in declaration order (q, k, v, o; gate, up, down), so q/k/v and
     * gate/up are each one matrix when no padding separates them: then a one-token pass does
     * each in one product */
    if (!rc) {
        size_t esz = b->bf16 ? 2 : 4, H = (size_t)cfg->hidden, Qd = (size_t)cfg->heads * cfg->head_dim;
        bool ok = true;
        for (const layer_ptrs &L : b->layers) {
            ok &= (const char *)L.wk == (const char *)L.wq + Qd * H * esz &&
                  (const char *)L.wv == (const char *)L.wk + (size_t)kvdim * H * esz;
            if (L.up) ok &= (const char *)L.up == (const char *)L.gate + (size_t)cfg->intermediate * H * esz;
            if (L.a_up)
                ok &= (const char *)L.a_up == (const char *)L.a_gate + (size_t)cfg->audio_intermediate * H * esz;
        }
        b->fused1 = ok;
        size_t I = (size_t)(cfg->intermediate > cfg->audio_intermediate ? cfg->intermediate : cfg->audio_intermediate);
        b->qkv1_bytes = (Qd + 2 * (size_t)kvdim + 2 * I) * 4;
        rc = dev_alloc(b, (void **)&b->qkv1, b->qkv1_bytes, HB_MEM_WORKSPACE, "one-token buffers", err);
        if (!rc) b->gu1 = b->qkv1 + Qd + 2 * (size_t)kvdim;
    }
    /* split attention: at most ~2 sms / blocks + 1 runs of fewer than sms blocks, 2 runs of
     * fewer than 2 sms blocks (see hb_cuda_attention_splits) */
    if (!rc && cudaDeviceGetAttribute(&b->sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess)
        rc = hb_fail(err, HB_ERR_INTERNAL, "cannot read the SM count of CUDA device %d", dev);
    if (!rc) { /* room for 4 runs of every (token, query head) of a full batch */
        b->att_part_blocks = 4 * (b->sms > max_batch * cfg->heads ? b->sms : max_batch * cfg->heads);
        rc = dev_alloc(b, (void **)&b->att_part, (size_t)b->att_part_blocks * (cfg->head_dim + 2) * 4,
                       HB_MEM_WORKSPACE, "split attention runs", err);
    }
    if (!rc) {
        size_t cb = (size_t)max_batch * cfg->kv_heads * 4;
        rc = dev_alloc(b, (void **)&b->att_count, cb, HB_MEM_WORKSPACE, "split attention counters", err);
        if (!rc && cudaMemset(b->att_count, 0, cb) != cudaSuccess)
            rc = hb_fail(err, HB_ERR_INTERNAL, "cannot clear the split attention counters");
    }
    if (!rc) rc = dev_alloc(b, (void **)&b->picks, draw_bytes(b), HB_MEM_WORKSPACE, "device draws", err);
    if (!rc) rc = dev_alloc(b, (void **)&b->streak, (size_t)max_batch * sizeof(hb_streak_row), HB_MEM_WORKSPACE,
                            "the streak state", err);
    if (!rc) {
        size_t ob = streak_out_bytes(b);
        if (cudaMallocHost((void **)&b->streak_out, ob) != cudaSuccess)
            rc = hb_fail(err, HB_ERR_NOMEM, "cannot pin %zu bytes of host memory", ob);
        else hb_mem_add(b->mem, HB_MEM_OTHER, (int64_t)ob);
        for (int i = 0; i < 2 && !rc; i++)
            if (cudaEventCreateWithFlags(&b->streak_ev[i], cudaEventDisableTiming) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot create a CUDA event");
    }
    if (!rc) {
        b->codes = (int32_t *)(b->picks + (size_t)max_batch * HB_NUM_CODEBOOKS);
        b->tpicks = (hb_text_pick *)(b->codes + (size_t)max_batch * 2 * HB_NUM_CODEBOOKS);
        b->tcodes = (int32_t *)(b->tpicks + max_batch);
    }
    if (!rc && b->text_head) {
        b->tscr.sort_bytes = hb_cuda_text_sort_bytes(max_batch, cfg->vocab);
        rc = dev_alloc(b, &b->tscr_block, text_scratch_bytes(b), HB_MEM_WORKSPACE,
                       "the text draws' sort", err);
        if (!rc) {
            size_t entries = (size_t)max_batch * cfg->vocab;
            char *q = (char *)b->tscr_block;
            b->tscr.keys = (unsigned long long *)q;
            b->tscr.sorted = b->tscr.keys + entries;
            b->tscr.vals = (int *)(b->tscr.sorted + entries);
            b->tscr.sorted_vals = b->tscr.vals + entries;
            b->tscr.rows = b->tscr.sorted_vals + entries;
            size_t tmp_off = (entries * 24 + (size_t)max_batch * HB_TEXT_ROW_BYTES + 255) / 256 * 256;
            b->tscr.sort_tmp = q + tmp_off; /* 256-byte aligned, as cub asks */
        }
    }
    /* the side path's stream, events and buffers, where one engine holds both paths' MLPs */
    if (!rc && side_path && b->bf16 && hb_role_owns(role, HB_TK_TEXT_MLP) && hb_role_owns(role, HB_TK_AUDIO_MLP)) {
        size_t H = (size_t)cfg->hidden, T = HB_SIDE_TOKENS;
        size_t I = (size_t)(cfg->intermediate > cfg->audio_intermediate ? cfg->intermediate : cfg->audio_intermediate);
        size_t xb = (T * H * 2 + 255) / 256 * 256, act = (T * I * 2 + 255) / 256 * 256;
        b->side_bytes = xb + act + T * H * 4;
        rc = dev_alloc(b, (void **)&b->side_block, b->side_bytes, HB_MEM_WORKSPACE, "the side path's buffers", err);
        if (!rc) {
            b->side_xb = (__nv_bfloat16 *)b->side_block;
            b->side_act = (__nv_bfloat16 *)(b->side_block + xb);
            b->side_g = (float *)(b->side_block + xb + act);
            if (cudaStreamCreateWithFlags(&b->side, cudaStreamNonBlocking) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot create a CUDA stream");
        }
        for (int i = 0; i < 2 && !rc; i++)
            if (cudaEventCreateWithFlags(&b->side_ev[i], cudaEventDisableTiming) != cudaSuccess)
                rc = hb_fail(err, HB_ERR_INTERNAL, "cannot create a CUDA event");
    }
    if (!rc && b->bf16 && fold_norm) {
        size_t xw = ((size_t)HB_NORM_MAX_TOKENS * cfg->hidden * 2 + 255) / 256 * 256;
        b->fold_bytes = xw + (size_t)HB_NORM_MAX_TOKENS * HB_NORM_MAX_PARTS * 4;
        rc = dev_alloc(b, (void **)&b->fold_block, b->fold_bytes, HB_MEM_WORKSPACE, "the folded norm's buffers", err);
        if (!rc) b->fold_xw = (__nv_bfloat16 *)b->fold_block, b->fold_part = (float *)(b->fold_block + xw);
    }
    b->kv_bf16 = b->bf16; /* bf16 weights: bf16 cache entries (half the bytes attention reads) */
    b->kv_bytes = (size_t)cfg->layers * max_batch * max_seq * kvdim * (b->kv_bf16 ? 2 : 4);
    if (!rc) rc = dev_alloc(b, (void **)&b->kcache, b->kv_bytes, HB_MEM_KV, "the KV cache", err);
    if (!rc) rc = dev_alloc(b, (void **)&b->vcache, b->kv_bytes, HB_MEM_KV, "the KV cache", err);
    if (!rc) { /* the RoPE table: (cos, sin) of pos x f_i, in double precision, then rounded */
        size_t half = (size_t)cfg->head_dim / 2, bytes = (size_t)max_seq * half * sizeof(float2);
        std::vector<float> f(half);
        hb_rope_inv_freq(cfg, f.data()); // the same frequencies as the CPU backend
        std::vector<float2> tab((size_t)max_seq * half);
        for (size_t p = 0; p < (size_t)max_seq; p++)
            for (size_t i = 0; i < half; i++) {
                double ang = (double)p * (double)f[i];
                tab[p * half + i] = make_float2((float)cos(ang), (float)sin(ang));
            }
        rc = dev_alloc(b, (void **)&b->rope, bytes, HB_MEM_OTHER, "the RoPE table", err);
        if (!rc && cudaMemcpy(b->rope, tab.data(), bytes, cudaMemcpyHostToDevice) != cudaSuccess)
            rc = hb_fail(err, HB_ERR_INTERNAL, "cannot copy the RoPE table");
    }
    b->fuse_decode = hb_cuda_decode_fusable(cfg->heads, cfg->kv_heads, cfg->head_dim);
    b->tiled_prefill = hb_cuda_prefill_tiled(cfg->heads, cfg->kv_heads, cfg->head_dim);
    if (rc) {
        cuda_destroy(b);
        return rc;
    }
    *out = b;
    return HB_OK;
}

static hb_status grow_workspace(hb_backend *b, size_t n, hb_error *err)
{
    if (n <= b->ws_tokens) return HB_OK;
    free_workspace(b);
    const hb_model_config *c = &b->c;
    size_t H = (size_t)c->hidden, Q = (size_t)c->heads * c->head_dim, KV = (size_t)c->kv_heads * c->head_dim;
    size_t I = (size_t)(c->intermediate > c->audio_intermediate ? c->intermediate : c->audio_intermediate);
    /* q holds one q/k/v product's rows, g a [gate | up] product's */
    size_t floats[] = {H, H, Q + 2 * KV, KV, KV, Q, H, 2 * I, I, I};
    size_t total = 0;
    for (size_t f : floats) total += (n * f * 4 + 255) / 256 * 256;
    size_t maxk = I > Q ? I : Q;
    maxk = maxk > H ? maxk : H;
    total += (n * maxk * 2 + 255) / 256 * 256; // bf16 activations for cuBLAS
    total += (n * H * 2 + 255) / 256 * 256;    // bf16 layer inputs (batched passes)
    total += (n * sizeof(dev_token) + 2 * n * 4 + 255) / 256 * 256; // tokens + index lists
    char *p;
    hb_status rc = dev_alloc(b, (void **)&p, total, HB_MEM_WORKSPACE, "the workspace", err);
    if (rc) return rc;
    float **ptrs[] = {&b->x, &b->h, &b->q, &b->k, &b->v, &b->att, &b->o, &b->g, &b->u, &b->gu};
    for (size_t i = 0; i < 10; i++) {
        *ptrs[i] = (float *)p;
        p += (n * floats[i] * 4 + 255) / 256 * 256;
    }
    b->gemm.xb = (__nv_bfloat16 *)p;
    p += (n * maxk * 2 + 255) / 256 * 256;
    b->xa = (__nv_bfloat16 *)p;
    p += (n * H * 2 + 255) / 256 * 256;
    b->tok = (dev_token *)p; /* then the index lists (MLP by path, heads by path) */
    b->idx = (int32_t *)(p + n * sizeof(dev_token));
    b->ws_tokens = n;
    b->ws_bytes = total;
    return HB_OK;
}

static hb_status grow_logits(hb_backend *b, size_t floats, hb_error *err)
{
    if (floats <= b->logit_floats) return HB_OK;
    if (b->logit_floats) dev_free(b, b->logits, HB_MEM_WORKSPACE, b->logit_floats * 4);
    b->logit_floats = 0;
    hb_status rc = dev_alloc(b, (void **)&b->logits, floats * 4, HB_MEM_WORKSPACE, "the head outputs", err);
    if (!rc) b->logit_floats = floats;
    return rc;
}

#define MATMUL_BF(w, xb, y, n, N, K)                                                            \
    do {                                                                                        \
        if (hb_cuda_matmul_bf16in(&b->gemm, w, xb, y, n, N, K, s) != CUBLAS_STATUS_SUCCESS)     \
            return hb_fail(err, HB_ERR_INTERNAL, "cuBLAS failed at %s:%d", __FILE__, __LINE__); \
    } while (0)

#define MATMUL(w, x, y, n, N, K)                                                                \
    do {                                                                                        \
        if (hb_cuda_matmul(&b->gemm, w, b->bf16, x, y, n, N, K, s) != CUBLAS_STATUS_SUCCESS)    \
            return hb_fail(err, HB_ERR_INTERNAL, "cuBLAS failed at %s:%d", __FILE__, __LINE__); \
    } while (0)

/* The host-side description of one forward pass: what the kernels need besides the data. */
/* n tokens; cnt: tokens on the text and the audio path; want: head rows asked for, per path */
typedef fwd_plan_key fwd_plan;
typedef hb_backend::graph_entry graph_entry;

static bool same_plan(const fwd_plan &a, const fwd_plan &b)
{
    return a.n == b.n && a.cnt[0] == b.cnt[0] && a.cnt[1] == b.cnt[1] && a.want[0] == b.want[0] &&
           a.want[1] == b.want[1] && a.draw == b.draw && a.decode == b.decode && a.resident == b.resident;
}

/* Pinned host staging: the tokens and index lists go to the device from here, and the head
 * outputs come back here, so the copies can be part of a CUDA graph. */
static hb_status grow_pinned(hb_backend *b, size_t need, hb_error *err)
{
    if (need <= b->pinned_bytes) return HB_OK;
    if (b->pinned) {
        cudaFreeHost(b->pinned);
        hb_mem_add(b->mem, HB_MEM_OTHER, -(int64_t)b->pinned_bytes);
    }
    b->pinned = nullptr;
    b->pinned_bytes = 0;
    need = need * 2; // room to grow
    cudaError_t e = cudaMallocHost((void **)&b->pinned, need);
    if (e != cudaSuccess) return hb_fail(err, HB_ERR_NOMEM, "cannot pin %zu bytes of host memory: %s", need, cudaGetErrorString(e));
    hb_mem_add(b->mem, HB_MEM_OTHER, (int64_t)need);
    b->pinned_bytes = need;
    return HB_OK;
}

static void drop_graphs(hb_backend *b)
{
    for (auto &g : b->graphs) cudaGraphExecDestroy(g.exec);
    b->graphs.clear();
    hb_mem_add(b->mem, HB_MEM_GRAPHS, -(int64_t)b->graph_bytes);
    b->graph_bytes = 0;
}

/* RoPE, the KV-cache write and attention of layer l: one kernel for a decode batch (each token
 * its slot's only one), else the RoPE kernel and then, for head_dim 128 with bf16 entries, the
 * tensor-core prompt kernel at any length (on the H200 a 129-token prompt's attention took 10.8
 * against 17.6 us a layer, a 512-token one's 38 against 189; HB_PF_MMA=0: not); otherwise the
 * tiled attention kernel when its tiles (16 tokens, one KV head) are at least one a SM, else the
 * decode kernel attending only, or the per-head or grouped kernel (always with HB_ATT_KERNEL;
 * with HB_SHORT_PF=0 where the tiles are too few). On the H200 the tiled kernel took a 512-token
 * prompt from 11.2 to 10.5 ms but a 128-token one (64 tiles) from 3.8 to 4.5 ms. Output to out,
 * or in bf16 to out_b. */
static void attention(hb_backend *b, const fwd_plan &pl, float *q, float *k, float *v, int qs,
                      int kvs, float *out, __nv_bfloat16 *out_b, int l)
{
    const hb_model_config *c = &b->c;
    int n = (int)pl.n, maxp = b->max_seq - 1;
    if (pl.decode) {
        int splits = hb_cuda_decode_splits(n, c->heads, c->kv_heads, maxp, b->sms, b->att_part_blocks);
        hb_cuda_attention_decode(q, k, v, qs, kvs, b->tok, n, b->rope, b->kcache, b->vcache, b->kv_bf16,
                                 out, out_b, b->att_part, b->att_count, splits, c->heads, c->kv_heads,
                                 c->head_dim, b->max_batch, b->max_seq, l, false, b->stream);
        return;
    }
    hb_cuda_rope_kv(q, k, v, qs, kvs, b->tok, n, b->rope, c->heads, c->kv_heads, c->head_dim,
                    b->kcache, b->vcache, b->kv_bf16, b->max_batch, b->max_seq, l, b->stream);
    if (hb_cuda_prefill_mma(c->heads, c->kv_heads, c->head_dim, b->kv_bf16)) { /* tensor cores, any length */
        hb_cuda_attention_prefill_mma(q, qs, b->tok, n, b->kcache, b->vcache, out, out_b, c->heads, c->kv_heads,
                                      b->max_batch, b->max_seq, l, b->stream);
        return;
    }
    if (b->tiled_prefill && (n + HB_PF_TILE - 1) / HB_PF_TILE * c->kv_heads >= b->sms) { /* enough tiles to fill the GPU */
        hb_cuda_attention_prefill(q, qs, b->tok, n, b->kcache, b->vcache, b->kv_bf16, out, out_b, c->heads,
                                  c->kv_heads, c->head_dim, b->max_batch, b->max_seq, l, b->stream);
        return;
    }
    if (b->fuse_decode && b->short_prefill) { /* the decode kernel, attending only; its runs'
                                               * counters are there for max_batch tokens */
        int splits = n <= b->max_batch ? hb_cuda_decode_splits(n, c->heads, c->kv_heads, maxp, b->sms,
                                                                b->att_part_blocks) : 1;
        hb_cuda_attention_decode(q, k, v, qs, kvs, b->tok, n, b->rope, b->kcache, b->vcache, b->kv_bf16,
                                 out, out_b, b->att_part, b->att_count, splits, c->heads, c->kv_heads,
                                 c->head_dim, b->max_batch, b->max_seq, l, true, b->stream);
        return;
    }
    hb_cuda_attention(q, qs, b->tok, n, b->kcache, b->vcache, b->kv_bf16, out, out_b, b->att_part,
                      hb_cuda_attention_splits(n, c->heads, maxp, b->sms, b->att_part_blocks),
                      c->heads, c->kv_heads, c->head_dim, b->max_batch, b->max_seq, l, maxp, b->sms,
                      b->stream);
}

/* One layer token by token or with the generic products: fp32-weight passes, and one-token
 * passes with HB_ONE_MMV=0 (GEMVs with the residual adds in their epilogues). */
static hb_status layer_tokens(hb_backend *b, const fwd_plan &pl, int l, hb_error *err)
{
    const hb_model_config *c = &b->c;
    cudaStream_t s = b->stream;
    size_t n = pl.n;
    int H = c->hidden, Q = c->heads * c->head_dim, KV = c->kv_heads * c->head_dim;
    float eps = (float)c->rms_eps;
    const layer_ptrs &L = b->layers[(size_t)l];
    hb_cuda_rmsnorm_path(b->x, b->tok, (int)n, L.in_norm ? L.in_norm : L.a_in_norm,
                         L.a_in_norm ? L.a_in_norm : L.in_norm, b->h, H, eps, s);
    bool one = n == 1 && b->fused1;
    float *q = b->q, *k = b->k, *v = b->v;
    if (one) { /* one product for q, k and v; the residual add fused into o_proj */
        q = b->qkv1, k = b->qkv1 + Q, v = b->qkv1 + Q + KV;
        hb_cuda_gemv(L.wq, b->bf16, b->h, q, 1, Q + 2 * KV, H, s);
    } else {
        MATMUL(L.wq, b->h, q, (int)n, Q, H);
        MATMUL(L.wk, b->h, k, (int)n, KV, H);
        MATMUL(L.wv, b->h, v, (int)n, KV, H);
    }
    int qs = one ? Q + 2 * KV : Q, kvs = one ? Q + 2 * KV : KV; /* token strides */
    attention(b, pl, q, k, v, qs, kvs, b->att, nullptr, l);
    if (one) {
        if (!(b->bf16 && b->resident_o && hb_cuda_gemv1_resident(L.wo, b->att, b->x, H, Q, true, b->sms, s)))
            hb_cuda_gemv_acc(L.wo, b->bf16, b->att, b->x, 1, H, Q, true, s);
    } else {
        MATMUL(L.wo, b->att, b->o, (int)n, H, Q);
        hb_cuda_add(b->x, b->o, n * (size_t)H, s);
    }
    for (int p = 0; p < 2; p++) {
        int cnt = pl.cnt[p], I = p ? c->audio_intermediate : c->intermediate;
        const int32_t *idx = b->idx + (p ? pl.cnt[0] : 0); /* the path's rows, text then audio */
        if (!cnt) continue;
        hb_cuda_rmsnorm_gather(b->x, idx, cnt, p ? L.a_post_norm : L.post_norm, b->h, H, eps, s);
        if (one) { /* gate and up in one product (with the SwiGLU, for bf16); the residual
                    * add fused into down_proj */
            if (b->bf16 && !b->unfused_swiglu) {
                hb_cuda_gemv1_swiglu(p ? L.a_gate : L.gate, b->h, b->gu, I, H, s);
            } else {
                hb_cuda_gemv(p ? L.a_gate : L.gate, b->bf16, b->h, b->gu1, 1, 2 * I, H, s);
                hb_cuda_swiglu(b->gu1, b->gu1 + I, b->gu, (size_t)I, s);
            }
            hb_cuda_gemv_acc(p ? L.a_down : L.down, b->bf16, b->gu, b->x, 1, H, I, true, s);
            continue;
        }
        MATMUL(p ? L.a_gate : L.gate, b->h, b->g, cnt, I, H);
        MATMUL(p ? L.a_up : L.up, b->h, b->u, cnt, I, H);
        hb_cuda_swiglu(b->g, b->u, b->gu, (size_t)cnt * I, s);
        MATMUL(p ? L.a_down : L.down, b->gu, b->o, cnt, H, I);
        hb_cuda_scatter_add(b->x, idx, b->o, cnt, H, s);
    }
    return HB_OK;
}

/* How a path's gate/up of cnt tokens (intermediate size I) runs with the SwiGLU in its epilogue:
 * 1 the batched GEMV, 2 the weight-streaming GEMM, 0 not fused (the product into [cnt][gate |
 * up], then the SwiGLU kernel) */
static int fused_gate_up(const hb_backend *b, int cnt, int I)
{
    const int H = b->c.hidden;
    if (b->unfused_swiglu) return 0;
    if (cnt <= b->gemm.mmv_max && hb_cuda_mmv_swiglu_fits(cnt, I, H)) return 1;
    return cnt <= b->swiglu_max && hb_cuda_wsgemm_swiglu_fits(cnt, I, H) ? 2 : 0;
}

/* Whether a path's down_proj of cnt tokens (intermediate size I) runs the weight-streaming GEMM
 * above wsg_max (down_max) */
static bool down_wsg(const hb_backend *b, int cnt, int I)
{
    return cnt > b->gemm.wsg_max && cnt <= b->down_max && hb_cuda_wsgemm_fits(cnt, b->c.hidden, I);
}

/* The path (0 text, 1 audio) whose MLP runs on the side stream in this pass, or -1: both paths
 * have tokens, and this one's products (gate/up with the SwiGLU, down_proj) all run our kernels,
 * for at most HB_SIDE_TOKENS tokens (its buffers); the audio path first. */
static int side_path(const hb_backend *b, const fwd_plan &pl)
{
    if (!b->side || !pl.cnt[0] || !pl.cnt[1]) return -1;
    const hb_model_config *c = &b->c;
    for (int p = 1; p >= 0; p--) {
        int cnt = pl.cnt[p], I = p ? c->audio_intermediate : c->intermediate;
        if (cnt <= HB_SIDE_TOKENS && fused_gate_up(b, cnt, I) &&
            (down_wsg(b, cnt, I) || hb_cuda_matmul_bf16in_ours(&b->gemm, cnt, c->hidden, I))) /* down_proj */
            return p;
    }
    return -1;
}

/* A path's MLP buffers: its normed input (bf16), the SwiGLU output (bf16), the products' output */
struct mlp_bufs {
    __nv_bfloat16 *xb, *act;
    float *g;
};

/* Path p's MLP in layer l on stream s: x += o for its rows and their norm, gate/up with the
 * SwiGLU, down_proj, then x += down and the next layer's input norm of those rows */
static hb_status path_mlp(hb_backend *b, const fwd_plan &pl, int l, int p, const mlp_bufs &mb, cudaStream_t s,
                          hb_error *err, int nparts = 0)
{
    const hb_model_config *c = &b->c;
    int H = c->hidden, cnt = pl.cnt[p], I = p ? c->audio_intermediate : c->intermediate;
    float eps = (float)c->rms_eps;
    const layer_ptrs &L = b->layers[(size_t)l];
    const int32_t *idx = b->idx + (p ? pl.cnt[0] : 0); /* the path's rows, text then audio */
    const float *post = p ? L.a_post_norm : L.post_norm;
    /* x += o for this path's rows, and their norm (gathered) as the MLP input */
    if (!nparts) hb_cuda_rmsnorm_bf16(b->x, b->o, true, nullptr, idx, cnt, post, post, mb.xb, false, H, eps, s);
    const int fused = fused_gate_up(b, cnt, I);
    if (fused) { /* the SwiGLU in the product's epilogue, into act */
        if (nparts) /* the norm folded into o_proj (layer_batched) and here */
            hb_cuda_mmv_swiglu_normed(p ? L.a_gate : L.gate, b->fold_xw, mb.act, cnt, I, H,
                                      hb_mmv_norm{nullptr, nullptr, nullptr, b->fold_part, nparts, eps}, s);
        else if (fused == 1)
            hb_cuda_mmv_swiglu(p ? L.a_gate : L.gate, mb.xb, mb.act, cnt, I, H, s);
        else
            hb_cuda_wsgemm_swiglu(p ? L.a_gate : L.gate, mb.xb, mb.act, cnt, I, H, s);
        if (down_wsg(b, cnt, I)) hb_cuda_wsgemm(p ? L.a_down : L.down, mb.act, mb.g, cnt, H, I, s);
        else MATMUL_BF(p ? L.a_down : L.down, mb.act, mb.g, cnt, H, I);
    } else {
        MATMUL_BF(p ? L.a_gate : L.gate, mb.xb, mb.g, cnt, 2 * I, H); /* [cnt][gate | up] */
        hb_cuda_swiglu_rows_bf16(mb.g, mb.xb, cnt, I, s);
        MATMUL_BF(p ? L.a_down : L.down, mb.xb, mb.g, cnt, H, I);
    }
    if (l + 1 < c->layers) { /* x += down for these rows, and the next layer's input norm */
        const layer_ptrs &N = b->layers[(size_t)l + 1];
        const float *w = p ? (N.a_in_norm ? N.a_in_norm : N.in_norm) : (N.in_norm ? N.in_norm : N.a_in_norm);
        hb_cuda_rmsnorm_bf16(b->x, mb.g, false, nullptr, idx, cnt, w, w, b->xa, true, H, eps, s);
    } else {
        hb_cuda_scatter_add(b->x, idx, mb.g, cnt, H, s);
    }
    return HB_OK;
}

/* One layer of a pass with bf16 weights, one token too unless HB_ONE_MMV=0 (on the H200 a
 * batch-1 step took 1.89 ms this way against 2.02 through layer_tokens' GEMVs; o_proj copied on
 * chip during attention, as layer_tokens does, made it slower here, 1.93 ms; docs/PERFORMANCE.md):
 * the products fed bf16 activations written by the kernels before them (no conversions), q/k/v
 * and gate/up each one product, the residual adds fused into the norms that follow them (the
 * MLP's input norm after o_proj, which at 1-8 tokens on one path is folded into o_proj and
 * gate/up instead; after down_proj, the next layer's input norm, which the first layer does
 * alone). With tokens on both paths, the side path's MLP (side_path) runs on the second
 * stream from o_proj's end to the next layer's q/k/v (on the H200 a mixed batch of 4 text and 4
 * audio requests took 3.73 against 3.99 ms a step, 32 + 32 5.40 against 5.64 ms). */
static hb_status layer_batched(hb_backend *b, const fwd_plan &pl, int l, hb_error *err)
{
    const hb_model_config *c = &b->c;
    cudaStream_t s = b->stream;
    int n = (int)pl.n, H = c->hidden, Q = c->heads * c->head_dim, KV = c->kv_heads * c->head_dim;
    float eps = (float)c->rms_eps;
    const layer_ptrs &L = b->layers[(size_t)l];
    if (l == 0)
        hb_cuda_rmsnorm_bf16(b->x, nullptr, false, b->tok, nullptr, n,
                             L.in_norm ? L.in_norm : L.a_in_norm,
                             L.a_in_norm ? L.a_in_norm : L.in_norm, b->xa, false, H, eps, s);
    int QKV = Q + 2 * KV;
    float *qkv = b->q; /* [n][Q + 2 KV] */
    MATMUL_BF(L.wq, b->xa, qkv, n, QKV, H);
    attention(b, pl, qkv, qkv + Q, qkv + Q + KV, QKV, QKV, nullptr, b->gemm.xb, l);
    const int sp = side_path(b, pl);
    /* one path whose gate/up runs the batched GEMV with the SwiGLU (so its rows are x's, in
     * order): the MLP's input norm folded into o_proj and gate/up (a kernel and its link fewer;
     * on the H200 the batch-1 / 8 step took 1.760 / 2.003 against 1.793 / 2.038 ms) */
    int nparts = 0;
    if (b->fold_block && sp < 0 && (!pl.cnt[0] || !pl.cnt[1])) {
        const int p1 = pl.cnt[1] ? 1 : 0, I = p1 ? c->audio_intermediate : c->intermediate;
        if (fused_gate_up(b, n, I) == 1) nparts = hb_mmv_norm_parts(n, H, Q, I);
        if (nparts)
            hb_cuda_mmv_resnorm(L.wo, b->gemm.xb, n, H, Q,
                                hb_mmv_norm{b->x, p1 ? L.a_post_norm : L.post_norm, b->fold_xw, b->fold_part,
                                            nparts, eps},
                                s);
    }
    if (!nparts) MATMUL_BF(L.wo, b->gemm.xb, b->o, n, H, Q);
    if (sp >= 0) { /* the side path starts once o_proj is done */
        CUDA_TRY(cudaEventRecord(b->side_ev[0], s));
        CUDA_TRY(cudaStreamWaitEvent(b->side, b->side_ev[0], 0));
    }
    for (int i = 0; i < 2; i++) {
        const int p = sp == 1 ? 1 - i : i; /* the side path queued first */
        if (!pl.cnt[p]) continue;
        mlp_bufs mb = {b->gemm.xb, (__nv_bfloat16 *)b->gu, b->g};
        if (p == sp) mb = {b->side_xb, b->side_act, b->side_g};
        hb_status rc = path_mlp(b, pl, l, p, mb, p == sp ? b->side : s, err, nparts);
        if (rc) return rc;
    }
    if (sp >= 0) { /* the next kernel on the stream reads both paths' rows */
        CUDA_TRY(cudaEventRecord(b->side_ev[1], b->side));
        CUDA_TRY(cudaStreamWaitEvent(s, b->side_ev[1], 0));
    }
    return HB_OK;
}

/* Every device operation of a forward pass, in stream order; capturable. */
static hb_status enqueue(hb_backend *b, const fwd_plan &pl, hb_error *err)
{
    const hb_model_config *c = &b->c;
    cudaStream_t s = b->stream;
    size_t n = pl.n;
    int H = c->hidden, rows = hb_codebook_rows(c);
    char *stage = b->pinned;
    stage_layout sl = layout_of(c, n, pl);
    if (pl.resident) { /* the tokens and picks from the streak's state; its index lists are up */
        hb_cuda_streak_plan(b->streak, (int)n, b->tok, b->picks, c->stream_bos, c->stream_eos, s);
    } else {
        CUDA_TRY(cudaMemcpyAsync(b->tok, stage, n * sizeof(hb_token), cudaMemcpyHostToDevice, s));
        CUDA_TRY(cudaMemcpyAsync(b->idx, stage + sl.idx, 2 * n * 4, cudaMemcpyHostToDevice, s));
        if (pl.draw && pl.want[1])
            CUDA_TRY(cudaMemcpyAsync(b->picks, stage + sl.picks,
                                     (size_t)pl.want[1] * HB_NUM_CODEBOOKS * sizeof(hb_pick), cudaMemcpyHostToDevice, s));
    }
    if (pl.draw && pl.want[0])
        CUDA_TRY(cudaMemcpyAsync(b->tpicks, stage + sl.tpicks, (size_t)pl.want[0] * sizeof(hb_text_pick),
                                 cudaMemcpyHostToDevice, s));
    const void *emb = b->embed ? b->embed : b->audio_embed; // a half holds one of them
    hb_cuda_embed(b->tok, (int)n, emb, b->audio_embed ? b->audio_embed : emb, b->bf16, H, rows, b->x, s);
    float eps = (float)c->rms_eps;
    bool batched = (n > 1 || b->one_mmv) && b->bf16 && b->fused1 && b->gemm.handle;
    for (int l = 0; l < c->layers; l++) {
        hb_status rc = batched ? layer_batched(b, pl, l, err) : layer_tokens(b, pl, l, err);
        if (rc) return rc;
    }
    // heads: each path's rows in one product; outputs to the pinned buffer
    size_t off = 0, out_off = 0;
    float *hout = (float *)(stage + sl.out);
    for (int p = 0; p < 2; p++) {
        int cnt = pl.want[p];
        if (!cnt) continue;
        const void *head = p ? b->audio_head : b->text_head;
        int N = p ? hb_audio_vocab(c) : c->vocab;
        const int32_t *idx = b->idx + n + off;
        off += (size_t)cnt;
        hb_cuda_rmsnorm_gather(b->x, idx, cnt, b->norm, b->h, H, eps, s);
        MATMUL(head, b->h, b->logits + out_off, cnt, N, H);
        if (p && pl.draw) {
            hb_cuda_draw_codes(b->logits + out_off, cnt, hb_codebook_rows(c), b->picks, c->stream_bos,
                               c->stream_eos, c->codebook_size, b->codes, b->sms, s);
            if (pl.resident) /* the state advanced by the drawn rows; the codes go out after */
                hb_cuda_streak_apply(b->streak, cnt, b->picks, b->codes, c->stream_eos, c->codebook_size, s);
            else
                CUDA_TRY(cudaMemcpyAsync(stage + sl.codes, b->codes, (size_t)cnt * 2 * HB_NUM_CODEBOOKS * 4,
                                         cudaMemcpyDeviceToHost, s));
        } else if (pl.draw) {
            CUDA_TRY(hb_cuda_draw_text(b->logits + out_off, cnt, N, b->tpicks, &b->tscr, b->tcodes, s));
            CUDA_TRY(cudaMemcpyAsync(stage + sl.tcodes, b->tcodes, (size_t)cnt * 2 * 4,
                                     cudaMemcpyDeviceToHost, s));
        } else {
            CUDA_TRY(cudaMemcpyAsync(hout + out_off, b->logits + out_off, (size_t)cnt * N * 4,
                                     cudaMemcpyDeviceToHost, s));
        }
        out_off += (size_t)cnt * N;
    }
    return HB_OK;
}

/* The workspace, head outputs and pinned staging that plan pl needs (layout sl); captured
 * graphs point at the old buffers, so they go when any of them moves. */
static hb_status grow_for(hb_backend *b, const fwd_plan &pl, const stage_layout &sl, hb_error *err)
{
    size_t ws_before = b->ws_tokens, lg_before = b->logit_floats, pin_before = b->pinned_bytes;
    size_t logit_floats = (size_t)pl.want[0] * b->c.vocab + (size_t)pl.want[1] * hb_audio_vocab(&b->c);
    hb_status rc = grow_workspace(b, pl.n, err);
    if (!rc) rc = grow_logits(b, logit_floats, err);
    if (!rc) rc = grow_pinned(b, sl.total, err);
    if (b->ws_tokens != ws_before || b->logit_floats != lg_before || b->pinned_bytes != pin_before)
        drop_graphs(b);
    return rc;
}

/* Queues one forward pass of plan pl on the stream (its inputs staged): replays its CUDA graph,
 * or with graphs on and a new plan runs it once eagerly (which tunes new cuBLASLt shapes, what a
 * capture cannot do) and captures it for the next time; without graphs, launches its kernels. */
static hb_status run_pass(hb_backend *b, const fwd_plan &pl, hb_error *err)
{
    cudaStream_t s = b->stream;
    hb_status rc = HB_OK;
    if (b->use_graphs && pl.n <= (size_t)b->max_batch) {
        graph_entry *g = nullptr;
        for (auto &e : b->graphs)
            if (same_plan(e.plan, pl)) g = &e;
        bool ran = false;
        if (!g) {
            /* first this pass eagerly (it tunes the cuBLASLt products of new shapes, which a
             * capture cannot), then the capture, replayed from the next pass on */
            rc = enqueue(b, pl, err);
            if (rc) return rc;
            CUDA_TRY(cudaStreamSynchronize(s));
            ran = true;
            double t0 = hb_now_s();
            size_t free0 = 0, free1 = 0, total = 0;
            cudaMemGetInfo(&free0, &total);
            cudaGraph_t graph;
            CUDA_TRY(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
            rc = enqueue(b, pl, err);
            cudaError_t ce = cudaStreamEndCapture(s, &graph);
            if (rc) return rc;
            if (ce != cudaSuccess)
                return hb_fail(err, HB_ERR_INTERNAL, "CUDA graph capture failed: %s", cudaGetErrorString(ce));
            graph_entry e;
            e.plan = pl;
            CUDA_TRY(cudaGraphInstantiate(&e.exec, graph, 0));
            cudaGraphDestroy(graph);
            CUDA_TRY(cudaGraphUpload(e.exec, s));
            CUDA_TRY(cudaStreamSynchronize(s));
            cudaMemGetInfo(&free1, &total);
            size_t used = free0 > free1 ? free0 - free1 : 0;
            b->graph_bytes += used;
            hb_mem_add(b->mem, HB_MEM_GRAPHS, (int64_t)used);
            b->capture_s += hb_now_s() - t0;
            b->captures++;
            b->graphs.push_back(e);
            g = &b->graphs.back();
        }
        if (!ran) CUDA_TRY(cudaGraphLaunch(g->exec, s));
    } else {
        rc = enqueue(b, pl, err);
        if (rc) return rc;
    }
    return HB_OK;
}

static hb_status cuda_forward(hb_backend *b, const hb_token *tok, size_t n, float *text_logits,
                              float *audio_logits, const hb_draws *draws, hb_error *err)
{
    const hb_model_config *c = &b->c;
    CUDA_TRY(cudaSetDevice(b->device));
    int rows = hb_codebook_rows(c);
    fwd_plan pl = {n, {0, 0}, {0, 0}, draws != nullptr, true, false};
    if (draws && rows > HB_DEVICE_DRAW_MAX_ROWS)
        return hb_fail(err, HB_ERR_INTERNAL, "device draws take at most %d entries a codebook (%d "
                       "here)", HB_DEVICE_DRAW_MAX_ROWS, rows);
    for (size_t i = 0; i < n; i++) {
        const hb_token *t = &tok[i];
        if (t->slot < 0 || t->slot >= b->max_batch || t->pos < 0 || t->pos >= b->max_seq)
            return hb_fail(err, HB_ERR_INTERNAL, "token slot %d position %d out of range", t->slot, t->pos);
        bool can = t->audio ? hb_role_owns(b->role, HB_TK_AUDIO_MLP) : hb_role_owns(b->role, HB_TK_TEXT_MLP);
        if (!can)
            return hb_fail(err, HB_ERR_INTERNAL, "a %s engine was given a %s token", hb_role_name(b->role),
                           t->audio ? "audio" : "text");
        if (!t->audio && (t->text_id < 0 || t->text_id >= c->vocab))
            return hb_fail(err, HB_ERR_INVALID, "text token id %d is outside the vocabulary (%d)", t->text_id, c->vocab);
        for (int k = 0; t->audio && k < HB_NUM_CODEBOOKS; k++)
            if (t->codes[k] < 0 || t->codes[k] >= rows)
                return hb_fail(err, HB_ERR_INVALID, "audio code %d (codebook %d) is outside [0, %d)", t->codes[k], k, rows);
        pl.cnt[t->audio ? 1 : 0]++;
        if (t->logits) pl.want[t->audio ? 1 : 0]++;
    }
    pl.decode = b->fuse_decode;
    if (n > 1 && pl.decode) { /* a slot twice (a prompt's tokens) needs the earlier one's K/V first */
        std::vector<char> seen((size_t)b->max_batch, 0);
        for (size_t i = 0; i < n && pl.decode; i++) {
            pl.decode = !seen[(size_t)tok[i].slot];
            seen[(size_t)tok[i].slot] = 1;
        }
    }
    for (int p = 0; p < 2; p++)
        if (pl.want[p] && !(p ? (b->audio_head && (audio_logits || pl.draw))
                              : (b->text_head && (text_logits || pl.draw))))
            return hb_fail(err, HB_ERR_INTERNAL, "%s logits requested without a %s head", p ? "audio" : "text",
                           p ? "audio" : "text");
    if (pl.draw && (pl.want[0] > b->max_batch || pl.want[1] > b->max_batch ||
                    (pl.want[0] && !draws->text) || (pl.want[1] && !draws->audio)))
        return hb_fail(err, HB_ERR_INTERNAL, "%d text and %d audio rows to draw: more than the %d "
                       "request slots, or no picks", pl.want[0], pl.want[1], b->max_batch);
    stage_layout sl = layout_of(c, n, pl);
    hb_status rc = grow_for(b, pl, sl, err);
    if (rc) return rc;
    // stage: tokens, then the per-path MLP index lists, then the head index lists
    char *stage = b->pinned;
    memcpy(stage, tok, n * sizeof(hb_token));
    if (pl.draw && pl.want[1])
        memcpy(stage + sl.picks, draws->audio, (size_t)pl.want[1] * HB_NUM_CODEBOOKS * sizeof(hb_pick));
    if (pl.draw && pl.want[0])
        memcpy(stage + sl.tpicks, draws->text, (size_t)pl.want[0] * sizeof(hb_text_pick));
    int32_t *ix = (int32_t *)(stage + sl.idx);
    size_t k = 0;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < n; i++)
            if ((tok[i].audio ? 1 : 0) == p) ix[k++] = (int32_t)i;
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < n; i++)
            if ((tok[i].audio ? 1 : 0) == p && tok[i].logits) ix[k++] = (int32_t)i;
    hb_status prc = run_pass(b, pl, err);
    if (prc) return prc;
    cudaStream_t s = b->stream;
    CUDA_TRY(cudaStreamSynchronize(s));
    CUDA_TRY(cudaGetLastError());
    const float *hout = (const float *)(stage + sl.out);
    if (pl.draw) {
        if (pl.want[0]) memcpy(draws->text_out, stage + sl.tcodes, (size_t)pl.want[0] * 2 * 4);
        if (pl.want[1])
            memcpy(draws->audio_out, stage + sl.codes, (size_t)pl.want[1] * 2 * HB_NUM_CODEBOOKS * 4);
    } else {
        if (pl.want[0]) memcpy(text_logits, hout, (size_t)pl.want[0] * c->vocab * 4);
        if (pl.want[1])
            memcpy(audio_logits, hout + (size_t)pl.want[0] * c->vocab,
                   (size_t)pl.want[1] * hb_audio_vocab(c) * 4);
    }
    return HB_OK;
}

/* A streak (hb_backend_ops.streak_begin): the rows' state and the batch's index lists go up
 * (stream-ordered after anything queued), and its plan is kept for the steps to come. */
static hb_status cuda_streak_begin(hb_backend *b, const hb_streak_row *rows, size_t n, hb_error *err)
{
    const hb_model_config *c = &b->c;
    CUDA_TRY(cudaSetDevice(b->device));
    if (n == 0 || n > (size_t)b->max_batch || !b->audio_head || hb_codebook_rows(c) > HB_DEVICE_DRAW_MAX_ROWS)
        return hb_fail(err, HB_ERR_INTERNAL, "a streak of %zu rows on an engine of %d slots%s", n,
                       b->max_batch, b->audio_head ? "" : " without an audio head");
    for (size_t i = 0; i < n; i++)
        if (rows[i].slot < 0 || rows[i].slot >= b->max_batch || rows[i].pos < 0 || rows[i].pos >= b->max_seq)
            return hb_fail(err, HB_ERR_INTERNAL, "streak row slot %d position %d out of range", rows[i].slot,
                           rows[i].pos);
    if (b->streak_queued) { /* a run ended with steps queued (an error): let them finish */
        CUDA_TRY(cudaStreamSynchronize(b->stream));
        b->streak_queued = 0;
    }
    fwd_plan pl = {n, {0, (int)n}, {0, (int)n}, true, b->fuse_decode, true};
    stage_layout sl = layout_of(c, n, pl);
    hb_status rc = grow_for(b, pl, sl, err);
    if (rc) return rc;
    CUDA_TRY(cudaStreamSynchronize(b->stream)); /* the staging buffer is free */
    int32_t *ix = (int32_t *)(b->pinned + sl.idx); /* every row on the audio path, every row a head row */
    for (size_t i = 0; i < n; i++) ix[i] = ix[n + i] = (int32_t)i;
    CUDA_TRY(cudaMemcpyAsync(b->idx, ix, 2 * n * 4, cudaMemcpyHostToDevice, b->stream));
    CUDA_TRY(cudaMemcpyAsync(b->streak, rows, n * sizeof *rows, cudaMemcpyHostToDevice, b->stream));
    CUDA_TRY(cudaStreamSynchronize(b->stream));
    b->streak_plan = pl;
    b->streak_head = 0;
    return HB_OK;
}

/* One streak step queued: the pass (its tokens and picks made from the state, which its draws
 * then advance), then its drawn codes copied to a pinned ring slot and an event recorded. */
static hb_status cuda_streak_launch(hb_backend *b, hb_error *err)
{
    CUDA_TRY(cudaSetDevice(b->device));
    if (b->streak_queued >= 2) return hb_fail(err, HB_ERR_INTERNAL, "two streak steps are queued already");
    hb_status rc = run_pass(b, b->streak_plan, err);
    if (rc) return rc;
    int slot = (b->streak_head + b->streak_queued) % 2;
    size_t row_bytes = 2 * HB_NUM_CODEBOOKS * 4;
    CUDA_TRY(cudaMemcpyAsync(streak_slot(b, slot), b->codes,
                             b->streak_plan.n * row_bytes, cudaMemcpyDeviceToHost, b->stream));
    CUDA_TRY(cudaEventRecord(b->streak_ev[slot], b->stream));
    b->streak_queued++;
    return HB_OK;
}

static hb_status cuda_streak_collect(hb_backend *b, int32_t *audio_out, hb_error *err)
{
    CUDA_TRY(cudaSetDevice(b->device));
    if (b->streak_queued == 0) return hb_fail(err, HB_ERR_INTERNAL, "no streak step is queued");
    int slot = b->streak_head;
    CUDA_TRY(cudaEventSynchronize(b->streak_ev[slot]));
    CUDA_TRY(cudaGetLastError());
    memcpy(audio_out, streak_slot(b, slot), b->streak_plan.n * 2 * HB_NUM_CODEBOOKS * 4);
    b->streak_head = (slot + 1) % 2;
    b->streak_queued--;
    return HB_OK;
}

static hb_status cuda_kv_copy(hb_backend *dst, const hb_backend *src, int slot, int p0, int p1,
                              hb_error *err)
{
    if (p1 <= p0) return HB_OK;
    if (p0 < 0 || p1 > dst->max_seq || p1 > src->max_seq || slot >= dst->max_batch || slot >= src->max_batch)
        return hb_fail(err, HB_ERR_INTERNAL, "KV handoff range out of bounds");
    if (dst->kv_bf16 != src->kv_bf16)
        return hb_fail(err, HB_ERR_INTERNAL, "KV handoff between caches of different entry types");
    size_t esz = dst->kv_bf16 ? 2 : 4;
    size_t kvdim = (size_t)dst->c.kv_heads * dst->c.head_dim, cnt = (size_t)(p1 - p0) * kvdim * esz;
    for (int l = 0; l < dst->c.layers; l++) {
        size_t od = (((size_t)l * dst->max_batch + slot) * dst->max_seq + p0) * kvdim * esz;
        size_t os = (((size_t)l * src->max_batch + slot) * src->max_seq + p0) * kvdim * esz;
        CUDA_TRY(cudaMemcpyAsync(dst->kcache + od, src->kcache + os, cnt, cudaMemcpyDeviceToDevice, dst->stream));
        CUDA_TRY(cudaMemcpyAsync(dst->vcache + od, src->vcache + os, cnt, cudaMemcpyDeviceToDevice, dst->stream));
    }
    CUDA_TRY(cudaStreamSynchronize(dst->stream));
    return HB_OK;
}

static uint64_t cuda_device_used(const hb_backend *b)
{
    size_t free_b = 0, total = 0;
    cudaSetDevice(b->device);
    if (cudaMemGetInfo(&free_b, &total) != cudaSuccess) return 0;
    return (uint64_t)(total - free_b);
}

static bool cuda_available(void)
{
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

static void cuda_device_name(const hb_backend *b, char *out, size_t size)
{
    cudaDeviceProp p;
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (cudaGetDeviceProperties(&p, b->device) != cudaSuccess) {
        snprintf(out, size, "CUDA device %d", b->device);
        return;
    }
    snprintf(out, size, "%s, %.1f GiB, %d SMs, sm_%d%d, driver API %d, runtime %d", p.name,
             (double)p.totalGlobalMem / 1073741824.0, p.multiProcessorCount, p.major, p.minor, drv, rt);
}

static void cuda_graph_stats(const hb_backend *b, size_t *count, double *capture_s, uint64_t *bytes)
{
    *count = b->captures;
    *capture_s = b->capture_s;
    *bytes = b->graph_bytes;
}

extern "C" const hb_backend_ops hb_cuda_backend = {
    "cuda", true, cuda_create, cuda_destroy, cuda_forward, cuda_kv_copy, cuda_device_used,
    cuda_available, cuda_device_name, true, cuda_graph_stats, cuda_streak_begin, cuda_streak_launch,
    cuda_streak_collect,
};
