/* engine_internal.h - what the generic engine layer and the backends share: the counted
 * allocator, the token batch a forward pass takes, and the backend operations.
 *
 * A backend implements hb_backend_ops (one file or folder each, like redis's ae_*.c): it owns
 * the weights of its role, the KV cache and its workspace, and runs the forward pass of a batch
 * of tokens. Everything above it (requests, generation modes, delay pattern, sampling, the pair
 * and its handoffs) is backend-independent and lives in engine.c, generate.c and sampling.c.
 */
#ifndef HB_ENGINE_INTERNAL_H
#define HB_ENGINE_INTERNAL_H

#include "higgsbench/engine.h"
#include "sampling.h"

/* ------------------------------------------------------------------- counted allocator ---- */

#include <pthread.h>

typedef struct {
    uint64_t current[HB_MEM__COUNT];
    uint64_t peak[HB_MEM__COUNT];
    uint64_t peak_total;
    pthread_mutex_t lock; /* requests grow their buffers from the sampling threads */
} hb_mem;

void hb_mem_init(hb_mem *m);
void hb_mem_destroy(hb_mem *m);

/* malloc/calloc/realloc/free that count bytes by category (a 16-byte header keeps size and
 * category). */
void *hb_mem_alloc(hb_mem *m, hb_mem_category c, size_t size);
void *hb_mem_calloc(hb_mem *m, hb_mem_category c, size_t size);
void *hb_mem_realloc(hb_mem *m, hb_mem_category c, void *p, size_t size);
void hb_mem_free(hb_mem *m, void *p);
/* For memory a backend holds elsewhere (device memory): count it in or out by hand. */
void hb_mem_add(hb_mem *m, hb_mem_category c, int64_t delta);

/* ------------------------------------------------------------- helpers for backends ---- */

/* FNV-1a over 8-byte words (then the tail), continuing from h: the weights fingerprint. */
uint64_t hb_hash_bytes(uint64_t h, const void *p, size_t n);
#define HB_HASH_INIT 0xcbf29ce484222325ull

/* RoPE inverse frequencies with the llama3 rescaling (head_dim / 2 of them). */
void hb_rope_inv_freq(const hb_model_config *c, float *out);

/* ----------------------------------------------------------------------- token batches ---- */

typedef struct {
    int32_t slot;      /* request slot: which KV cache row */
    int32_t pos;       /* sequence position, from 0 */
    int32_t audio;     /* 1: an audio position (codes, audio path); 0: a text token */
    int32_t text_id;
    int32_t codes[HB_NUM_CODEBOOKS];
    int32_t logits;    /* 1: produce this token's head output (text head or audio head) */
} hb_token;

typedef struct hb_backend hb_backend;

/* Draws made on the device, planned by the engine (sampling.h), rows in token order per path:
 * audio: 8 picks a row; audio_out gets 16 int32 a row, the 8 codes and then, per codebook, the
 * first non-finite head output (-1 where none). text: one pick a row; text_out gets 2 int32 a
 * row, the token and the first non-finite head output (-1 where none). */
typedef struct hb_draws {
    const hb_pick *audio;
    int32_t *audio_out;
    const hb_text_pick *text;
    int32_t *text_out;
} hb_draws;

#define HB_DEVICE_DRAW_MAX_ROWS 2048

/* One request's audio decode state, kept on the device while its steps are queued without a
 * host round trip between them (a "streak"): what generate.c's audio_plan reads and audio_apply
 * updates, so the device plans each step's draws and makes its next input as the host would. */
typedef struct {
    uint64_t seed;
    int32_t slot, pos;        /* the position the next step feeds */
    int32_t nrows;            /* clip rows produced so far (row 0 the BOS frame) */
    int32_t eos_row, eos_cb;  /* see hb_request: the first sampled EOS (-1 before) */
    int32_t max_frames, exact;
    int32_t done;             /* the clip closed (all EOS): later steps leave the state alone */
    int32_t codes[HB_NUM_CODEBOOKS]; /* the next input row */
    int32_t top_k, ras_window, ras_repeat; /* ras_repeat 0: no RAS */
    float temperature, top_p;
    int32_t nhist[HB_NUM_CODEBOOKS]; /* content codes kept a codebook (at most HB_PICK_HIST) */
    int32_t hnew[HB_NUM_CODEBOOKS];  /* where its newest is: the j-th newest is at hnew - j */
    int32_t hist[HB_NUM_CODEBOOKS][HB_PICK_HIST]; /* each codebook's latest content codes, a ring */
} hb_streak_row;

typedef struct {
    const char *name;
    bool has_graphs;
    /* Loads the tensors role owns from st (which may be closed after create returns) and
     * allocates the KV cache for max_batch x max_seq positions. */
    hb_status (*create)(const hb_model_config *cfg, hb_role role, const hb_safetensors *st,
                        int max_batch, int max_seq, const hb_engine_opts *o, hb_mem *mem,
                        uint64_t *weights_hash, hb_backend **out, hb_error *err);
    void (*destroy)(hb_backend *b);
    /* Runs tokens[0..n): tokens of one slot come in increasing positions and the KV cache of
     * that slot must hold every earlier position. Head outputs of the tokens that ask for them
     * go, in token order, to text_logits (vocab floats a row) or audio_logits (8 x rows).
     * With draws (only where device_sampling is set), the rows are drawn on the device instead
     * and their head outputs are not written: see hb_draws. */
    hb_status (*forward)(hb_backend *b, const hb_token *tokens, size_t n, float *text_logits,
                         float *audio_logits, const struct hb_draws *draws, hb_error *err);
    /* Copies KV positions [p0, p1) of slot from src (same backend type and model) into dst. */
    hb_status (*kv_copy)(hb_backend *dst, const hb_backend *src, int slot, int p0, int p1,
                         hb_error *err);
    /* Device memory in use (0 where there is no device). */
    uint64_t (*device_used)(const hb_backend *b);
    /* Whether the backend can run here (a GPU is present); NULL means always. */
    bool (*available)(void);
    /* Describes the device in a sentence (NULL: "cpu"). */
    void (*device_name)(const hb_backend *b, char *out, size_t size);
    /* Whether forward can draw on the device (draws): audio codebooks of at most
     * HB_DEVICE_DRAW_MAX_ROWS entries (the engine draws on the host above that) and text. */
    bool device_sampling;
    /* CUDA graphs captured so far: how many, the time spent capturing, their device memory
     * (NULL where there are none). */
    void (*graph_stats)(const hb_backend *b, size_t *count, double *capture_s, uint64_t *bytes);
    /* Audio decode steps queued from state kept on the device (NULL where unsupported; needs
     * device_sampling). streak_begin takes n rows of state (the step's tokens in this order:
     * each its slot's one audio token, drawn on the device); streak_launch queues one step,
     * whose inputs and draw plans the device makes from the state and which then advances the
     * state by the drawn row, without waiting for it; streak_collect waits for the oldest
     * queued step and gives its drawn codes (16 int32 a row, as hb_draws' audio_out). At most
     * two steps are queued at once. */
    hb_status (*streak_begin)(hb_backend *b, const hb_streak_row *rows, size_t n, hb_error *err);
    hb_status (*streak_launch)(hb_backend *b, hb_error *err);
    hb_status (*streak_collect)(hb_backend *b, int32_t *audio_out, hb_error *err);
} hb_backend_ops;

extern const hb_backend_ops hb_cpu_backend;
/* NULL when this build has no CUDA backend. */
const hb_backend_ops *hb_cuda_backend_ops(void);


#endif

/* ------------------------------------------------------------------------ the engine ---- */

typedef struct hb_request hb_request;

/* Sampling scratch of one host thread. */
typedef struct {
    hb_sample_ws text, audio;
    uint8_t *ban_text, *ban_audio;
} hb_sampler;

struct hb_pool;

struct hb_engine {
    hb_model_config cfg;
    hb_topology topo;
    const hb_backend_ops *ops;
    hb_backend *be[2];        /* unified: be[0]; pair: be[0] text engine, be[1] audio engine */
    int32_t *kv_valid[2];     /* pair: KV positions < kv_valid[e][slot] are in be[e]'s cache */
    hb_mem mem;
    int max_batch, max_seq;
    hb_dtype dtype;
    uint64_t params;
    char hash[17];
    hb_request *req;          /* max_batch slots */
    uint64_t next_id;
    /* step scratch */
    hb_token *toks, *sub;
    size_t toks_cap;
    int32_t *row_of, *sub_src;
    float *text_logits, *audio_logits, *sub_text, *sub_audio;
    size_t tl_rows, al_rows;
    hb_sampler *samplers;     /* one per host worker */
    int nsamplers;
    struct hb_pool *pool;     /* samples the requests of a step in parallel */
    struct hb_job *jobs;      /* a step's head outputs to sample, in token order */
    bool dev_sampling;        /* tokens drawn on the device (backend can, not turned off) */
    hb_pick *picks, *sub_picks; /* a step's planned audio draws, 8 a row (pair: per engine) */
    int32_t *codes, *sub_codes; /* the drawn codes, 16 a row (see hb_draws) */
    hb_text_pick *tpicks, *sub_tpicks; /* a step's planned text draws, one a row */
    int32_t *tcodes, *sub_tcodes; /* the drawn tokens, 2 a row (see hb_draws) */
    bool device_steps;        /* audio decode steps may be queued from device state (streaks) */
    bool bos_with_prompt;     /* a prompt ending with <|audio_out_bos|> is fed with its BOS frame */
    struct {
        bool live;            /* a step is queued on the device and not yet taken */
        size_t n;             /* its rows, in token order */
        int32_t *slot;        /* each row's request slot and id (max_batch of each) */
        uint64_t *id;
        hb_streak_row *rows;  /* scratch for streak_begin (max_batch) */
    } streak;
};

/* Runs a batch through the engine (the backend, or both halves of a pair with the handoffs),
 * putting head outputs in token order like hb_backend_ops.forward. */
hb_status hb__engine_forward(hb_engine *e, const hb_token *t, size_t n, float *text_logits,
                             float *audio_logits, const hb_draws *draws, hb_step_report *rep,
                             hb_error *err);

/* Request bookkeeping (generate.c). */
hb_status hb__requests_init(hb_engine *e, hb_error *err);
void hb__requests_free(hb_engine *e);
