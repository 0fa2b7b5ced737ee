/* engine.h - the one interface through which the suite drives every Higgs Audio v2 engine.
 *
 * An engine is opened from an engine directory (config.json + engine.json + safetensors weights,
 * see docs/ENGINE_FORMAT.md) on a backend chosen at open time ("cpu" here; "cuda" where built).
 * A separate text engine and audio engine opened together form a pair that implements this same
 * interface and does the KV-cache handoff inside, so the suite compares two engines whatever each
 * is made of.
 *
 * Requests join and leave between steps. hb_engine_step() advances every active request by one
 * token position (a new request's whole prompt is prefilled in its first step); completed audio
 * frames are delivered to the request's callback with a monotonic timestamp.
 */
#ifndef HIGGSBENCH_ENGINE_H
#define HIGGSBENCH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/error.h"
#include "higgsbench/model.h"
#include "higgsbench/safetensors.h"

typedef struct hb_engine hb_engine;

/* ---------------------------------------------------------------------------- opening ---- */

typedef struct {
    const char *backend;   /* "cpu" or "cuda"; NULL = "cpu" */
    int device;            /* GPU ordinal (cuda) */
    bool cuda_graphs;      /* capture decode steps as CUDA graphs (cuda only) */
    int max_batch;         /* 0 = engine.json's; may only lower it */
    int max_seq_len;       /* 0 = engine.json's; may only lower it */
    bool host_sampling;    /* draw text tokens and audio codes on the host even where the
                            * backend can draw them on the device (cuda); for comparisons */
    bool host_steps;       /* plan and apply every audio decode step on the host, one round
                            * trip a step, even where the backend can queue steps from state on
                            * the device (cuda with device draws); for comparisons */
    bool bos_own_step;     /* a prompt that ends with <|audio_out_bos|> is prefilled without the
                            * clip's BOS frame, which then takes a decode step of its own (as the
                            * reference does); by default the prompt's pass feeds the BOS frame
                            * too, since it is known in advance; for comparisons */
} hb_engine_opts;

hb_engine_opts hb_engine_defaults(void);

/* What engine.json says (and what the directory's config.json holds). */
typedef struct {
    hb_role role;
    hb_dtype dtype;       /* storage dtype of the weights */
    int max_batch;
    int max_seq_len;
    char preset[16];      /* preset name, or "" for a checkpoint */
    uint64_t seed;        /* preset seed */
    char source[512];     /* checkpoint path or "preset" */
    int nweights;
    char weights[16][512]; /* weight files, absolute or relative to the engine directory */
} hb_engine_manifest;

/* Reads DIR/engine.json and DIR/config.json. */
hb_status hb_engine_read_dir(const char *dir, hb_engine_manifest *m, hb_model_config *cfg,
                             hb_error *err);

/* Opens one engine directory (a unified engine, or one half of a pair for inspection). */
hb_status hb_engine_open(const char *dir, const hb_engine_opts *o, hb_engine **out,
                         hb_error *err);

/* Opens a separate pair: the text engine and the audio engine, which must hold those roles and
 * describe the same model. */
hb_status hb_engine_open_pair(const char *text_dir, const char *audio_dir, const hb_engine_opts *o,
                              hb_engine **out, hb_error *err);

void hb_engine_close(hb_engine *e);

/* Whether this build has a backend ("cpu" always; "cuda" when built with it). */
bool hb_backend_available(const char *name);

/* ---------------------------------------------------------------------------- describe ---- */

typedef enum { HB_TOPO_UNIFIED = 0, HB_TOPO_SEPARATE } hb_topology;

typedef struct {
    hb_topology topology;
    const char *backend;
    hb_role role;          /* UNIFIED for a unified engine and for a pair */
    hb_dtype dtype;
    int max_batch, max_seq_len;
    uint64_t params;       /* parameters held in memory (a pair counts both copies) */
    bool has_cuda_graphs;  /* the backend can capture graphs */
    bool device_sampling;  /* tokens and codes are drawn on the device (no head outputs to the host) */
    bool device_steps;     /* runs of audio decode steps are queued from state on the device:
                            * hb_engine_step queues the next step before it takes the last one */
    bool bos_with_prompt;  /* a prompt ending with <|audio_out_bos|> is prefilled with the clip's
                            * BOS frame (hb_engine_opts.bos_own_step off) */
    char weights_hash[17]; /* FNV-1a of the weight bytes, hex (fingerprint for reports) */
    char device[160];      /* "cpu", or the GPU's name, memory and driver */
} hb_engine_info;

const hb_model_config *hb_engine_config(const hb_engine *e);
void hb_engine_describe(const hb_engine *e, hb_engine_info *out);

/* Memory by category, in bytes; current and peak since open (or since the last reset). */
typedef enum {
    HB_MEM_WEIGHTS = 0,
    HB_MEM_KV,
    HB_MEM_WORKSPACE,
    HB_MEM_GRAPHS,
    HB_MEM_OTHER,
    HB_MEM__COUNT
} hb_mem_category;

const char *hb_mem_category_name(hb_mem_category c);

typedef struct {
    uint64_t current[HB_MEM__COUNT];
    uint64_t peak[HB_MEM__COUNT];
    uint64_t peak_total;   /* highest sum of all categories at once */
    uint64_t process_peak_rss; /* getrusage ru_maxrss, bytes */
    uint64_t device_used;  /* cuda: cudaMemGetInfo total - free; 0 on cpu */
} hb_memory_report;

void hb_engine_memory(const hb_engine *e, hb_memory_report *out);
void hb_engine_memory_reset_peaks(hb_engine *e);

/* CUDA graphs captured by the engine (all zero where the backend has none). */
void hb_engine_graph_stats(const hb_engine *e, size_t *count, double *capture_s, uint64_t *bytes);

/* ---------------------------------------------------------------------------- requests ---- */

typedef struct {
    float temperature;     /* <= 0: greedy (argmax, lowest index on ties) */
    int top_k;             /* 0: off */
    float top_p;           /* >= 1: off */
    bool ras;              /* repetition-aware sampling (audio) */
    int ras_window;        /* 7 */
    int ras_max_repeat;    /* 2: a code seen this often in the window is resampled */
} hb_sampling;

/* Greedy; and the reference server's defaults (temperature 0.7, top-p 0.95, RAS 7/2). */
hb_sampling hb_sampling_greedy(void);
hb_sampling hb_sampling_reference(void);

typedef struct {
    const int32_t (*codes)[HB_NUM_CODEBOOKS]; /* codes[t][k], each in [0, codebook_size) */
    size_t frames;
} hb_audio_clip;

typedef enum { HB_MODE_TEXT = 0, HB_MODE_AUDIO_INIT, HB_MODE_AUDIO_IN_PROGRESS } hb_gen_mode;
const char *hb_gen_mode_name(hb_gen_mode m);

typedef struct {
    uint64_t request;
    size_t index;          /* frame number within the clip, from 0 */
    int32_t codes[HB_NUM_CODEBOOKS];
    double t_s;            /* CLOCK_MONOTONIC seconds when the frame became complete */
} hb_frame;

typedef void (*hb_frame_fn)(void *user, const hb_frame *f);

typedef struct {
    const int32_t *prompt; /* text ids; each audio_in_id is replaced by the next clip */
    size_t prompt_len;
    const hb_audio_clip *clips;
    size_t nclips;
    size_t max_text_tokens; /* text tokens sampled in TEXT mode before audio starts */
    size_t max_frames;      /* audio frames of the clip to generate */
    bool exact;             /* benchmark mode: exactly max_text_tokens text tokens (EOS and
                             * audio_out_bos masked) and exactly max_frames frames (EOS masked,
                             * then forced), so every run does the same work */
    hb_sampling text_sampling, audio_sampling;
    uint64_t seed;
    hb_frame_fn on_frame;
    void *user;
} hb_request_desc;

hb_request_desc hb_request_defaults(void);

typedef struct {
    bool done;
    hb_gen_mode mode;
    size_t positions;      /* sequence positions so far (prompt + generated) */
    size_t text_generated; /* text tokens sampled */
    size_t frames;         /* audio frames complete */
    size_t audio_steps;    /* audio positions generated (frames + delay + BOS/EOS) */
} hb_request_status;

/* Adds a request; fails when every slot is taken (HB_ERR_UNSUPPORTED) or the prompt plus what it
 * may generate exceeds max_seq_len (HB_ERR_INVALID, naming both lengths). */
hb_status hb_request_add(hb_engine *e, const hb_request_desc *d, uint64_t *id, hb_error *err);
hb_status hb_request_status_get(const hb_engine *e, uint64_t id, hb_request_status *out,
                                hb_error *err);
/* Removes a request (finished or not) and frees its slot. */
hb_status hb_request_remove(hb_engine *e, uint64_t id, hb_error *err);

/* Outputs of a request so far: text ids generated, and frames (codes after the delay pattern is
 * reverted). Pointers stay valid until the request is removed. */
hb_status hb_request_output(const hb_engine *e, uint64_t id, const int32_t **text, size_t *ntext,
                            const int32_t (**frames)[HB_NUM_CODEBOOKS], size_t *nframes,
                            hb_error *err);

typedef struct {
    size_t tokens;         /* positions processed this step, all requests */
    size_t prefill_tokens; /* of which prompt positions */
    size_t text_steps, audio_steps; /* decode positions by path */
    size_t handoffs;       /* KV handoffs between the engines of a pair */
    size_t handoff_positions;
    size_t finished;       /* requests that completed in this step */
    size_t device_planned; /* audio positions whose draws and input the device planned (steps
                            * queued from device state; see hb_engine_info.device_steps) */
    double forward_s;      /* time in the forward pass (backends, handoffs); the rest of the
                            * step is host-side bookkeeping: sampling, delay pattern, frames */
} hb_step_report;

/* One step for every active, unfinished request. */
hb_status hb_engine_step(hb_engine *e, hb_step_report *rep, hb_error *err);

/* Active (added, not removed) and unfinished request counts. */
size_t hb_engine_active(const hb_engine *e);
size_t hb_engine_pending(const hb_engine *e);

/* Adds one request and steps until it finishes; the request stays for hb_request_output. */
hb_status hb_engine_generate(hb_engine *e, const hb_request_desc *d, uint64_t *id,
                             hb_error *err);

/* CLOCK_MONOTONIC in seconds (the clock of frame timestamps). */
double hb_now_s(void);

/* A seeded synthetic prompt of n text ids drawn below the lowest special token id, with one
 * audio placeholder after the first half when with_clip, and ending with <|audio_out_bos|> when
 * audio_now (generation starts the clip at once; otherwise it samples text first). out must hold
 * n + 2 ids; returns the count. */
size_t hb_prompt_synthetic(const hb_model_config *c, size_t n, uint64_t seed, bool with_clip,
                           bool audio_now, int32_t *out);

/* --------------------------------------------------------------------- delay pattern ---- */

/* Codebook k is shifted right by k: T frames become T + 7 positions; the gap before codebook k
 * holds stream BOS and the tail after it stream EOS. out holds (T + 7) rows. */
void hb_delay_apply(const int32_t (*frames)[HB_NUM_CODEBOOKS], size_t T, int32_t bos, int32_t eos,
                    int32_t (*out)[HB_NUM_CODEBOOKS]);
/* Reverts: frame t, codebook k = positions[t + k][k]; positions has T + 7 rows. */
void hb_delay_revert(const int32_t (*positions)[HB_NUM_CODEBOOKS], size_t T,
                     int32_t (*frames)[HB_NUM_CODEBOOKS]);
/* A clip as the model sees it: wrapped in one BOS frame and one EOS frame, then delayed:
 * T + 9 rows. */
void hb_delay_wrap(const int32_t (*frames)[HB_NUM_CODEBOOKS], size_t T, int32_t bos, int32_t eos,
                   int32_t (*out)[HB_NUM_CODEBOOKS]);

#endif
