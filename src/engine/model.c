/* model.c - the HF config of Higgs Audio v2 (read, validate, write), the size presets and the
 * tensor list with the roles that own each tensor. */
#include "higgsbench/model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------ config ---- */

static hb_status get_num(const json_t *obj, const char *key, const char *where, const char *name,
                         double *out, hb_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) return hb_fail(err, HB_ERR_PARSE, "%s: missing field %s%s", name, where, key);
    if (!json_is_number(v))
        return hb_fail(err, HB_ERR_PARSE, "%s: field %s%s is not a number", name, where, key);
    *out = json_number_value(v);
    return HB_OK;
}

static hb_status get_int(const json_t *obj, const char *key, const char *where, const char *name,
                         int *out, hb_error *err)
{
    double d = 0;
    hb_status st = get_num(obj, key, where, name, &d, err);
    if (st) return st;
    if (d != floor(d) || d < -2147483648.0 || d > 2147483647.0)
        return hb_fail(err, HB_ERR_PARSE, "%s: field %s%s = %g is not an integer", name, where,
                       key, d);
    *out = (int)d;
    return HB_OK;
}

hb_status hb_config_parse(const char *text, size_t len, const char *name, hb_model_config *c,
                          hb_error *err)
{
    memset(c, 0, sizeof *c);
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root) return hb_fail(err, HB_ERR_PARSE, "%s:%d: invalid JSON: %s", name, je.line, je.text);
    hb_status st = HB_OK;
    const json_t *tc = json_object_get(root, "text_config");
    if (!json_is_object(root) || !json_is_object(tc)) {
        st = hb_fail(err, HB_ERR_PARSE, "%s: not a Higgs Audio config (no \"text_config\" object)",
                     name);
        goto done;
    }
    const json_t *skip = json_object_get(root, "skip_audio_tower");
    if (skip && !json_is_true(skip)) {
        st = hb_fail(err, HB_ERR_UNSUPPORTED,
                     "%s: skip_audio_tower is false; the Whisper audio tower is not supported",
                     name);
        goto done;
    }
    const char *T = "text_config.";
    double eos = 0;
    if ((st = get_int(tc, "hidden_size", T, name, &c->hidden, err)) ||
        (st = get_int(tc, "intermediate_size", T, name, &c->intermediate, err)) ||
        (st = get_int(tc, "num_hidden_layers", T, name, &c->layers, err)) ||
        (st = get_int(tc, "num_attention_heads", T, name, &c->heads, err)) ||
        (st = get_int(tc, "num_key_value_heads", T, name, &c->kv_heads, err)) ||
        (st = get_int(tc, "vocab_size", T, name, &c->vocab, err)) ||
        (st = get_num(tc, "rms_norm_eps", T, name, &c->rms_eps, err)) ||
        (st = get_num(tc, "rope_theta", T, name, &c->rope_theta, err)) ||
        (st = get_int(tc, "max_position_embeddings", T, name, &c->max_position, err)) ||
        (st = get_num(tc, "eos_token_id", T, name, &eos, err)))
        goto done;
    c->eos_id = (int32_t)eos;
    if (json_object_get(tc, "head_dim")) {
        if ((st = get_int(tc, "head_dim", T, name, &c->head_dim, err))) goto done;
    } else {
        c->head_dim = c->heads > 0 ? c->hidden / c->heads : 0;
    }
    const json_t *rs = json_object_get(tc, "rope_scaling");
    if (json_is_object(rs)) {
        const char *type = json_string_value(json_object_get(rs, "rope_type"));
        if (!type || strcmp(type, "llama3") != 0) {
            st = hb_fail(err, HB_ERR_UNSUPPORTED,
                         "%s: rope_scaling.rope_type '%s' is not supported (only llama3)", name,
                         type ? type : "(none)");
            goto done;
        }
        const char *R = "text_config.rope_scaling.";
        if ((st = get_num(rs, "factor", R, name, &c->rope_factor, err)) ||
            (st = get_num(rs, "low_freq_factor", R, name, &c->rope_low_freq, err)) ||
            (st = get_num(rs, "high_freq_factor", R, name, &c->rope_high_freq, err)) ||
            (st = get_num(rs, "original_max_position_embeddings", R, name,
                          &c->rope_orig_max_pos, err)))
            goto done;
    }
    int id;
    if ((st = get_int(root, "audio_num_codebooks", "", name, &c->codebooks, err)) ||
        (st = get_int(root, "audio_codebook_size", "", name, &c->codebook_size, err)) ||
        (st = get_int(root, "audio_stream_bos_id", "", name, &c->stream_bos, err)) ||
        (st = get_int(root, "audio_stream_eos_id", "", name, &c->stream_eos, err)) ||
        (st = get_int(root, "audio_ffn_intermediate_size", "", name, &c->audio_intermediate,
                      err)))
        goto done;
    if ((st = get_int(root, "audio_out_bos_token_id", "", name, &id, err))) goto done;
    c->audio_out_bos_id = id;
    if ((st = get_int(root, "audio_out_token_idx", "", name, &id, err))) goto done;
    c->audio_out_id = id;
    if ((st = get_int(root, "audio_in_token_idx", "", name, &id, err))) goto done;
    c->audio_in_id = id;
    if ((st = get_int(root, "audio_eos_token_id", "", name, &id, err))) goto done;
    c->audio_eos_id = id;
    const json_t *dp = json_object_get(root, "use_delay_pattern");
    c->delay_pattern = dp ? json_is_true(dp) : true;
    const json_t *hs = json_object_get(root, "audio_ffn_hidden_size");
    if (hs && json_integer_value(hs) != c->hidden) {
        st = hb_fail(err, HB_ERR_UNSUPPORTED,
                     "%s: audio_ffn_hidden_size %lld differs from hidden_size %d", name,
                     (long long)json_integer_value(hs), c->hidden);
        goto done;
    }
    const json_t *dual = json_object_get(root, "audio_dual_ffn_layers");
    if (dual) {
        bool all = json_is_array(dual) && json_array_size(dual) == (size_t)c->layers;
        for (size_t i = 0; all && i < json_array_size(dual); i++)
            all = json_integer_value(json_array_get(dual, i)) == (json_int_t)i;
        if (!all) {
            st = hb_fail(err, HB_ERR_UNSUPPORTED,
                         "%s: audio_dual_ffn_layers must list every layer 0..%d in order (as the "
                         "released model does)", name, c->layers - 1);
            goto done;
        }
    }
    st = hb_config_validate(c, name, err);
done:
    json_decref(root);
    return st;
}

hb_status hb_config_validate(const hb_model_config *c, const char *name, hb_error *err)
{
#define REQUIRE(cond, ...)                                                                      \
    do {                                                                                        \
        if (!(cond)) return hb_fail(err, HB_ERR_INVALID, __VA_ARGS__);                          \
    } while (0)
    REQUIRE(c->hidden > 0 && c->hidden % 8 == 0, "%s: hidden_size %d must be a positive multiple of 8",
            name, c->hidden);
    REQUIRE(c->intermediate > 0 && c->intermediate % 8 == 0,
            "%s: intermediate_size %d must be a positive multiple of 8", name, c->intermediate);
    REQUIRE(c->audio_intermediate > 0 && c->audio_intermediate % 8 == 0,
            "%s: audio_ffn_intermediate_size %d must be a positive multiple of 8", name,
            c->audio_intermediate);
    REQUIRE(c->layers > 0 && c->layers <= 512, "%s: num_hidden_layers %d is out of range", name,
            c->layers);
    REQUIRE(c->heads > 0 && c->kv_heads > 0 && c->heads % c->kv_heads == 0,
            "%s: num_attention_heads %d must be a positive multiple of num_key_value_heads %d",
            name, c->heads, c->kv_heads);
    REQUIRE(c->head_dim > 0 && c->head_dim % 8 == 0 && c->head_dim <= 512,
            "%s: head_dim %d must be a multiple of 8 up to 512", name, c->head_dim);
    REQUIRE(c->vocab > 0, "%s: vocab_size %d must be positive", name, c->vocab);
    REQUIRE(c->rms_eps > 0 && c->rope_theta > 0, "%s: rms_norm_eps and rope_theta must be positive",
            name);
    REQUIRE(c->codebooks == HB_NUM_CODEBOOKS, "%s: audio_num_codebooks %d is not %d", name,
            c->codebooks, HB_NUM_CODEBOOKS);
    REQUIRE(c->codebook_size > 0, "%s: audio_codebook_size %d must be positive", name,
            c->codebook_size);
    REQUIRE(c->stream_bos == c->codebook_size && c->stream_eos == c->codebook_size + 1,
            "%s: audio_stream_bos_id/eos_id %d/%d must be audio_codebook_size and +1 (%d/%d)",
            name, c->stream_bos, c->stream_eos, c->codebook_size, c->codebook_size + 1);
    int32_t ids[] = {c->audio_out_bos_id, c->audio_out_id, c->audio_in_id, c->audio_eos_id,
                     c->eos_id};
    for (int i = 0; i < 5; i++)
        REQUIRE(ids[i] >= 0 && ids[i] < c->vocab, "%s: special token id %d is outside the vocabulary (%d)",
                name, ids[i], c->vocab);
    REQUIRE(c->max_position > 0, "%s: max_position_embeddings %d must be positive", name,
            c->max_position);
    if (c->rope_factor != 0)
        REQUIRE(c->rope_factor > 0 && c->rope_low_freq > 0 && c->rope_high_freq > c->rope_low_freq &&
                    c->rope_orig_max_pos > 0,
                "%s: rope_scaling values are inconsistent", name);
#undef REQUIRE
    return HB_OK;
}

hb_status hb_config_load(const char *path, hb_model_config *out, hb_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return hb_fail(err, HB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return hb_fail(err, HB_ERR_NOMEM, "cannot read '%s': out of memory", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    bool bad = ferror(f);
    fclose(f);
    hb_status st = bad ? hb_fail(err, HB_ERR_IO, "cannot read '%s'", path)
                       : hb_config_parse(buf, len, path, out, err);
    free(buf);
    return st;
}

hb_status hb_config_save(const hb_model_config *c, const char *path, hb_error *err)
{
    json_t *dual = json_array();
    for (int i = 0; i < c->layers; i++) json_array_append_new(dual, json_integer(i));
    json_t *tc = json_pack(
        "{s:[s], s:s, s:b, s:i, s:i, s:i, s:s, s:i, s:f, s:i, s:b, s:i, s:i, s:i, s:i, s:f, s:f, "
        "s:b, s:s, s:i}",
        "architectures", "LlamaForCausalLM", "model_type", "llama", "attention_bias", 0,
        "bos_token_id", 128000 < c->vocab ? 128000 : 0, "eos_token_id", c->eos_id, "head_dim",
        c->head_dim, "hidden_act", "silu", "hidden_size", c->hidden, "initializer_range", 0.02,
        "intermediate_size", c->intermediate, "mlp_bias", 0, "max_position_embeddings",
        c->max_position, "num_attention_heads", c->heads, "num_hidden_layers", c->layers,
        "num_key_value_heads", c->kv_heads, "rms_norm_eps", c->rms_eps, "rope_theta",
        c->rope_theta, "tie_word_embeddings", 0, "torch_dtype", "bfloat16", "vocab_size",
        c->vocab);
    if (c->rope_factor != 0)
        json_object_set_new(tc, "rope_scaling",
                            json_pack("{s:f, s:f, s:f, s:f, s:s}", "factor", c->rope_factor,
                                      "high_freq_factor", c->rope_high_freq, "low_freq_factor",
                                      c->rope_low_freq, "original_max_position_embeddings",
                                      c->rope_orig_max_pos, "rope_type", "llama3"));
    json_t *root = json_pack(
        "{s:[s], s:s, s:s, s:i, s:i, s:o, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, "
        "s:b, s:i, s:b, s:o}",
        "architectures", "HiggsAudioModel", "model_type", "higgs_audio", "audio_adapter_type",
        "dual_ffn_fast_forward", "audio_codebook_size", c->codebook_size,
        "audio_decoder_proj_num_layers", 0, "audio_dual_ffn_layers", dual, "audio_embed_avg", 0,
        "audio_eos_token_id", c->audio_eos_id, "audio_ffn_hidden_size", c->hidden,
        "audio_ffn_intermediate_size", c->audio_intermediate, "audio_in_token_idx",
        c->audio_in_id, "audio_num_codebooks", c->codebooks, "audio_out_bos_token_id",
        c->audio_out_bos_id, "audio_out_token_idx", c->audio_out_id, "audio_stream_bos_id",
        c->stream_bos, "audio_stream_eos_id", c->stream_eos, "skip_audio_tower", 1,
        "hidden_size", c->hidden, "use_delay_pattern", c->delay_pattern, "text_config", tc);
    if (!root) return hb_fail(err, HB_ERR_INTERNAL, "cannot build the config JSON");
    int rc = json_dump_file(root, path, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(root);
    if (rc) return hb_fail(err, HB_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    return HB_OK;
}

bool hb_config_equal(const hb_model_config *a, const hb_model_config *b)
{
    return a->hidden == b->hidden && a->intermediate == b->intermediate &&
           a->layers == b->layers && a->heads == b->heads && a->kv_heads == b->kv_heads &&
           a->head_dim == b->head_dim && a->vocab == b->vocab && a->rms_eps == b->rms_eps &&
           a->rope_theta == b->rope_theta && a->rope_factor == b->rope_factor &&
           a->rope_low_freq == b->rope_low_freq && a->rope_high_freq == b->rope_high_freq &&
           a->rope_orig_max_pos == b->rope_orig_max_pos && a->max_position == b->max_position &&
           a->audio_intermediate == b->audio_intermediate && a->codebooks == b->codebooks &&
           a->codebook_size == b->codebook_size && a->stream_bos == b->stream_bos &&
           a->stream_eos == b->stream_eos && a->delay_pattern == b->delay_pattern &&
           a->audio_out_bos_id == b->audio_out_bos_id && a->audio_out_id == b->audio_out_id &&
           a->audio_in_id == b->audio_in_id && a->audio_eos_id == b->audio_eos_id &&
           a->eos_id == b->eos_id;
}

/* ----------------------------------------------------------------------------- presets ---- */

const char *hb_preset_name(hb_preset p)
{
    static const char *const names[] = {"tiny", "small", "base-3b"};
    return (unsigned)p < HB_PRESET__COUNT ? names[p] : "unknown";
}

bool hb_preset_parse(const char *s, hb_preset *out)
{
    for (int p = 0; p < HB_PRESET__COUNT; p++)
        if (strcmp(s, hb_preset_name((hb_preset)p)) == 0) {
            *out = (hb_preset)p;
            return true;
        }
    return false;
}

hb_model_config hb_preset_config(hb_preset p)
{
    /* the released model; the small presets shrink it and move the special tokens into their
     * smaller vocabularies at the same offsets from the top */
    hb_model_config c = {.hidden = 3072, .intermediate = 8192, .layers = 28, .heads = 24,
                         .kv_heads = 8, .head_dim = 128, .vocab = 128256, .rms_eps = 1e-5,
                         .rope_theta = 500000, .rope_factor = 32, .rope_low_freq = 1,
                         .rope_high_freq = 4, .rope_orig_max_pos = 8192, .max_position = 131072,
                         .audio_intermediate = 8192, .codebooks = 8, .codebook_size = 1024,
                         .stream_bos = 1024, .stream_eos = 1025, .delay_pattern = true,
                         .audio_out_bos_id = 128013, .audio_out_id = 128016,
                         .audio_in_id = 128015, .audio_eos_id = 128012, .eos_id = 128001};
    int base = 0;
    switch (p) {
    case HB_PRESET_TINY:
        c.hidden = 64, c.intermediate = 128, c.audio_intermediate = 128, c.layers = 2;
        c.heads = 4, c.kv_heads = 2, c.head_dim = 16, c.vocab = 1024, c.codebook_size = 32;
        c.max_position = 4096;
        base = 1000;
        break;
    case HB_PRESET_SMALL:
        c.hidden = 384, c.intermediate = 1024, c.audio_intermediate = 1024, c.layers = 6;
        c.heads = 6, c.kv_heads = 2, c.head_dim = 64, c.vocab = 16384;
        c.max_position = 8192;
        base = 16000;
        break;
    default: return c;
    }
    c.stream_bos = c.codebook_size, c.stream_eos = c.codebook_size + 1;
    c.eos_id = base + 1, c.audio_eos_id = base + 12, c.audio_out_bos_id = base + 13;
    c.audio_in_id = base + 15, c.audio_out_id = base + 16;
    return c;
}

/* ----------------------------------------------------------------------------- tensors ---- */

const char *hb_role_name(hb_role r)
{
    static const char *const names[] = {"unified", "text", "audio"};
    return (unsigned)r < 3 ? names[r] : "unknown";
}

bool hb_role_parse(const char *s, hb_role *out)
{
    for (int r = 0; r < 3; r++)
        if (strcmp(s, hb_role_name((hb_role)r)) == 0) {
            *out = (hb_role)r;
            return true;
        }
    return false;
}

bool hb_role_owns(hb_role r, hb_tensor_kind k)
{
    switch (r) {
    case HB_ROLE_UNIFIED: return true;
    case HB_ROLE_TEXT:
        return k == HB_TK_TEXT_EMBED || k == HB_TK_TEXT_HEAD || k == HB_TK_FINAL_NORM ||
               k == HB_TK_ATTN || k == HB_TK_TEXT_NORM || k == HB_TK_TEXT_MLP;
    case HB_ROLE_AUDIO:
        return k == HB_TK_AUDIO_EMBED || k == HB_TK_AUDIO_HEAD || k == HB_TK_FINAL_NORM ||
               k == HB_TK_ATTN || k == HB_TK_AUDIO_NORM || k == HB_TK_AUDIO_MLP;
    }
    return false;
}

static void add(hb_tensor_spec *s, size_t *n, hb_tensor_slot slot, int layer, int64_t rows,
                int64_t cols, float std, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

static void add(hb_tensor_spec *s, size_t *n, hb_tensor_slot slot, int layer, int64_t rows,
                int64_t cols, float std, const char *fmt, ...)
{
    static const hb_tensor_kind kind_of[] = {
        [HB_TS_EMBED] = HB_TK_TEXT_EMBED,       [HB_TS_AUDIO_EMBED] = HB_TK_AUDIO_EMBED,
        [HB_TS_TEXT_HEAD] = HB_TK_TEXT_HEAD,    [HB_TS_AUDIO_HEAD] = HB_TK_AUDIO_HEAD,
        [HB_TS_NORM] = HB_TK_FINAL_NORM,        [HB_TS_IN_NORM] = HB_TK_TEXT_NORM,
        [HB_TS_POST_NORM] = HB_TK_TEXT_NORM,    [HB_TS_A_IN_NORM] = HB_TK_AUDIO_NORM,
        [HB_TS_A_POST_NORM] = HB_TK_AUDIO_NORM, [HB_TS_Q] = HB_TK_ATTN,
        [HB_TS_K] = HB_TK_ATTN,                 [HB_TS_V] = HB_TK_ATTN,
        [HB_TS_O] = HB_TK_ATTN,                 [HB_TS_GATE] = HB_TK_TEXT_MLP,
        [HB_TS_UP] = HB_TK_TEXT_MLP,            [HB_TS_DOWN] = HB_TK_TEXT_MLP,
        [HB_TS_A_GATE] = HB_TK_AUDIO_MLP,       [HB_TS_A_UP] = HB_TK_AUDIO_MLP,
        [HB_TS_A_DOWN] = HB_TK_AUDIO_MLP};
    if (s) {
        hb_tensor_spec *t = &s[*n];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(t->name, sizeof t->name, fmt, ap);
        va_end(ap);
        t->slot = slot;
        t->kind = kind_of[slot];
        t->layer = layer;
        t->ndim = cols ? 2 : 1;
        t->shape[0] = rows;
        t->shape[1] = cols;
        t->init_mean = cols ? 0.0f : 1.0f; /* 1-D tensors are norm weights */
        t->init_std = cols ? std : 0.1f;
    }
    (*n)++;
}

size_t hb_model_tensors(const hb_model_config *c, hb_tensor_spec *s)
{
    size_t n = 0;
    int64_t H = c->hidden, A = hb_audio_vocab(c), q = (int64_t)c->heads * c->head_dim,
            kv = (int64_t)c->kv_heads * c->head_dim;
    /* random-weight scales keep activations O(1): unit embeddings, 0.5/sqrt(fan_in) linears
     * (RMSNorm ahead of every block bounds what enters them) */
    float lin = (float)(0.5 / sqrt((double)H));
    add(s, &n, HB_TS_EMBED, -1, c->vocab, H, 1.0f, "embed_tokens.weight");
    add(s, &n, HB_TS_AUDIO_EMBED, -1, A, H, (float)(1.0 / sqrt(8.0)),
        "audio_codebook_embeddings.weight");
    for (int l = 0; l < c->layers; l++) {
        add(s, &n, HB_TS_IN_NORM, l, H, 0, 0, "layers.%d.input_layernorm.weight", l);
        add(s, &n, HB_TS_POST_NORM, l, H, 0, 0, "layers.%d.post_attention_layernorm.weight", l);
        add(s, &n, HB_TS_A_IN_NORM, l, H, 0, 0, "layers.%d.audio_input_layernorm.weight", l);
        add(s, &n, HB_TS_A_POST_NORM, l, H, 0, 0, "layers.%d.audio_post_attention_layernorm.weight",
            l);
        add(s, &n, HB_TS_Q, l, q, H, lin, "layers.%d.self_attn.q_proj.weight", l);
        add(s, &n, HB_TS_K, l, kv, H, lin, "layers.%d.self_attn.k_proj.weight", l);
        add(s, &n, HB_TS_V, l, kv, H, lin, "layers.%d.self_attn.v_proj.weight", l);
        add(s, &n, HB_TS_O, l, H, q, (float)(0.5 / sqrt((double)q)),
            "layers.%d.self_attn.o_proj.weight", l);
        float dn = (float)(0.5 / sqrt((double)c->intermediate));
        add(s, &n, HB_TS_GATE, l, c->intermediate, H, lin, "layers.%d.mlp.gate_proj.weight", l);
        add(s, &n, HB_TS_UP, l, c->intermediate, H, lin, "layers.%d.mlp.up_proj.weight", l);
        add(s, &n, HB_TS_DOWN, l, H, c->intermediate, dn, "layers.%d.mlp.down_proj.weight", l);
        float an = (float)(0.5 / sqrt((double)c->audio_intermediate));
        add(s, &n, HB_TS_A_GATE, l, c->audio_intermediate, H, lin,
            "layers.%d.audio_mlp.gate_proj.weight", l);
        add(s, &n, HB_TS_A_UP, l, c->audio_intermediate, H, lin,
            "layers.%d.audio_mlp.up_proj.weight", l);
        add(s, &n, HB_TS_A_DOWN, l, H, c->audio_intermediate, an,
            "layers.%d.audio_mlp.down_proj.weight", l);
    }
    add(s, &n, HB_TS_NORM, -1, H, 0, 0, "norm.weight");
    float head = (float)(1.0 / sqrt((double)H));
    add(s, &n, HB_TS_TEXT_HEAD, -1, c->vocab, H, head, "audio_decoder_proj.text_lm_head.weight");
    add(s, &n, HB_TS_AUDIO_HEAD, -1, A, H, 2 * head, "audio_decoder_proj.audio_lm_head.weight");
    return n;
}

uint64_t hb_model_params(const hb_model_config *c, hb_role r)
{
    size_t n = hb_model_tensors(c, NULL);
    hb_tensor_spec *s = malloc(n * sizeof *s);
    if (!s) return 0;
    hb_model_tensors(c, s);
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        if (hb_role_owns(r, s[i].kind))
            total += (uint64_t)s[i].shape[0] * (uint64_t)(s[i].ndim == 2 ? s[i].shape[1] : 1);
    free(s);
    return total;
}
