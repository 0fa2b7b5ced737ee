/* model.h - the Higgs Audio v2 model description: the HF config, its validation, the weight
 * tensors it implies, and the size presets.
 *
 * The config is read from an HF-format config.json (the released layout: top-level audio fields
 * plus "text_config" for the Llama backbone). Unknown fields, such as the Whisper
 * "audio_encoder_config" of the release, are accepted and ignored.
 */
#ifndef HIGGSBENCH_MODEL_H
#define HIGGSBENCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/error.h"

#define HB_NUM_CODEBOOKS 8

typedef struct {
    /* backbone */
    int hidden;         /* hidden_size */
    int intermediate;   /* intermediate_size (text MLP) */
    int layers;         /* num_hidden_layers */
    int heads;          /* num_attention_heads */
    int kv_heads;       /* num_key_value_heads */
    int head_dim;
    int vocab;          /* vocab_size */
    double rms_eps;
    double rope_theta;
    /* llama3 RoPE scaling (factor 0 = none) */
    double rope_factor, rope_low_freq, rope_high_freq, rope_orig_max_pos;
    int max_position;   /* max_position_embeddings */
    /* audio path */
    int audio_intermediate; /* audio_ffn_intermediate_size */
    int codebooks;          /* audio_num_codebooks (8) */
    int codebook_size;      /* audio_codebook_size (1024) */
    int stream_bos, stream_eos; /* 1024, 1025 */
    bool delay_pattern;
    /* special text tokens */
    int32_t audio_out_bos_id;  /* <|audio_out_bos|> 128013 */
    int32_t audio_out_id;      /* <|AUDIO_OUT|> 128016 */
    int32_t audio_in_id;       /* <|AUDIO|> 128015 */
    int32_t audio_eos_id;      /* <|audio_eos|> 128012 */
    int32_t eos_id;            /* text_config.eos_token_id 128001 */
} hb_model_config;

/* Rows of each codebook in the audio embedding and head: codebook_size + BOS + EOS. */
static inline int hb_codebook_rows(const hb_model_config *c) { return c->codebook_size + 2; }
static inline int hb_audio_vocab(const hb_model_config *c)
{
    return c->codebooks * hb_codebook_rows(c);
}

/* Reads and validates config.json. Errors name the file and the field. */
hb_status hb_config_load(const char *path, hb_model_config *out, hb_error *err);

/* Parses config JSON text (name for messages). */
hb_status hb_config_parse(const char *text, size_t len, const char *name, hb_model_config *out,
                          hb_error *err);

/* Writes the config in the HF layout (what hb_config_load reads back). */
hb_status hb_config_save(const hb_model_config *c, const char *path, hb_error *err);

/* Checks internal consistency (divisibility, ranges, token ids inside the vocabulary). */
hb_status hb_config_validate(const hb_model_config *c, const char *name, hb_error *err);

/* True when both describe the same model (every field equal). */
bool hb_config_equal(const hb_model_config *a, const hb_model_config *b);

/* ------------------------------------------------------------------------------ presets ---- */

typedef enum { HB_PRESET_TINY = 0, HB_PRESET_SMALL, HB_PRESET_BASE_3B, HB_PRESET__COUNT } hb_preset;

const char *hb_preset_name(hb_preset p);
bool hb_preset_parse(const char *s, hb_preset *out);
/* tiny: a few layers and a small vocabulary, for tests; small: ~35 M parameters, the CPU
 * default; base-3b: exactly the released 5.77 B layout. */
hb_model_config hb_preset_config(hb_preset p);

/* ------------------------------------------------------------------------------ tensors ---- */

typedef enum { HB_ROLE_UNIFIED = 0, HB_ROLE_TEXT, HB_ROLE_AUDIO } hb_role;
const char *hb_role_name(hb_role r);
bool hb_role_parse(const char *s, hb_role *out);

/* Which part of the model a tensor belongs to; roles load the kinds they own. */
typedef enum {
    HB_TK_TEXT_EMBED,   /* embed_tokens */
    HB_TK_AUDIO_EMBED,  /* audio_codebook_embeddings */
    HB_TK_TEXT_HEAD,    /* audio_decoder_proj.text_lm_head */
    HB_TK_AUDIO_HEAD,   /* audio_decoder_proj.audio_lm_head */
    HB_TK_FINAL_NORM,   /* norm */
    HB_TK_ATTN,         /* self_attn.{q,k,v,o}_proj (shared by both paths) */
    HB_TK_TEXT_NORM,    /* input_layernorm, post_attention_layernorm */
    HB_TK_TEXT_MLP,     /* mlp.* */
    HB_TK_AUDIO_NORM,   /* audio_input_layernorm, audio_post_attention_layernorm */
    HB_TK_AUDIO_MLP,    /* audio_mlp.* */
} hb_tensor_kind;

/* Which tensor a spec is: the model's five whole-model tensors, then a layer's fourteen in the
 * order the list gives them. Backends keep their pointers by it. */
typedef enum {
    HB_TS_EMBED, HB_TS_AUDIO_EMBED, HB_TS_TEXT_HEAD, HB_TS_AUDIO_HEAD, HB_TS_NORM,
    HB_TS_IN_NORM, /* first of a layer's */
    HB_TS_POST_NORM, HB_TS_A_IN_NORM, HB_TS_A_POST_NORM, HB_TS_Q, HB_TS_K, HB_TS_V, HB_TS_O,
    HB_TS_GATE, HB_TS_UP, HB_TS_DOWN, HB_TS_A_GATE, HB_TS_A_UP, HB_TS_A_DOWN
} hb_tensor_slot;

typedef struct {
    char name[96];
    hb_tensor_slot slot;
    hb_tensor_kind kind; /* follows from slot */
    int layer;          /* -1 for non-layer tensors */
    int ndim;
    int64_t shape[2];
    float init_mean;    /* random weights (presets): mean + uniform noise of sd init_std; norm */
    float init_std;     /* weights get mean 1 and sd 0.1, so each norm is distinguishable */
} hb_tensor_spec;

/* The full tensor list of the model, in a fixed order; returns the count. specs may be NULL to
 * count only. */
size_t hb_model_tensors(const hb_model_config *c, hb_tensor_spec *specs);

/* Whether a role loads a tensor kind: text owns embeddings, attention, text norms/MLPs, final
 * norm and text head; audio owns audio embeddings, attention (its own copy), audio norms/MLPs,
 * final norm and audio head; unified owns everything. */
bool hb_role_owns(hb_role r, hb_tensor_kind k);

/* Parameter count of the tensors a role owns. */
uint64_t hb_model_params(const hb_model_config *c, hb_role r);

#endif
