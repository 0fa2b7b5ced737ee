/* cpu_backend.c - the CPU reference backend: the full Higgs Audio v2 forward pass in fp32.
 *
 * Per token: embedding (text id, or the sum over the 8 codebooks of the audio embedding rows);
 * per layer: RMSNorm of the token's path, shared attention (q, k, v projections, RoPE with llama3
 * scaling, grouped-query attention over the slot's KV cache, output projection), residual, then
 * the path's RMSNorm and SwiGLU MLP (tokens grouped by path, so each group is one matrix product),
 * residual; finally the shared norm and the text or audio head for the tokens that ask for it.
 *
 * Memory: the weights of the role are converted to fp32 once (one block, counted as WEIGHTS), the
 * KV cache is one block (KV), activations grow with the largest batch seen (WORKSPACE).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine_internal.h"
#include "kernels.h"

typedef struct {
    const float *in_norm, *post_norm, *a_in_norm, *a_post_norm;
    const float *wq, *wk, *wv, *wo;
    const float *gate, *up, *down, *a_gate, *a_up, *a_down;
} layer_w;

struct hb_backend {
    hb_model_config c;
    hb_role role;
    hb_mem *mem;
    float *weights;           /* one block for all owned tensors */
    const float *embed, *audio_embed, *text_head, *audio_head, *norm;
    layer_w *layers;
    float *inv_freq;          /* head_dim / 2 */
    float *kcache, *vcache;   /* [layer][slot][pos][kv_heads * head_dim] */
    int max_batch, max_seq;
    /* workspace, sized for ws_tokens tokens */
    size_t ws_tokens;
    float *x, *h, *q, *k, *v, *att, *o, *g, *u, *gu, *scores, *rows;
    int32_t *idx;
};

/* Where the engine keeps the pointer to tensor t. */
static const float **slot_for(hb_backend *b, const hb_tensor_spec *t, layer_w *L)
{
    switch (t->slot) {
    case HB_TS_EMBED: return &b->embed;
    case HB_TS_AUDIO_EMBED: return &b->audio_embed;
    case HB_TS_TEXT_HEAD: return &b->text_head;
    case HB_TS_AUDIO_HEAD: return &b->audio_head;
    case HB_TS_NORM: return &b->norm;
    default: break;
    }
    layer_w *l = &L[t->layer]; /* a layer's tensors, in hb_tensor_slot order */
    const float **in_layer[] = {&l->in_norm, &l->post_norm, &l->a_in_norm, &l->a_post_norm,
                                &l->wq,      &l->wk,        &l->wv,        &l->wo,
                                &l->gate,    &l->up,        &l->down,      &l->a_gate,
                                &l->a_up,    &l->a_down};
    return in_layer[t->slot - HB_TS_IN_NORM];
}

static void cpu_destroy(hb_backend *b)
{
    if (!b) return;
    hb_mem *m = b->mem;
    hb_mem_free(m, b->weights);
    hb_mem_free(m, b->layers);
    hb_mem_free(m, b->inv_freq);
    hb_mem_free(m, b->kcache);
    hb_mem_free(m, b->vcache);
    float *ws[] = {b->x, b->h, b->q, b->k, b->v, b->att, b->o, b->g, b->u, b->gu, b->scores, b->rows};
    for (size_t i = 0; i < sizeof ws / sizeof ws[0]; i++) hb_mem_free(m, ws[i]);
    hb_mem_free(m, b->idx);
    free(b);
}

static hb_status cpu_create(const hb_model_config *cfg, hb_role role, const hb_safetensors *st,
                            int max_batch, int max_seq, const hb_engine_opts *o, hb_mem *mem,
                            uint64_t *weights_hash, hb_backend **out, hb_error *err)
{
    (void)o;
    hb_backend *b = calloc(1, sizeof *b);
    if (!b) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    b->c = *cfg;
    b->role = role;
    b->mem = mem;
    b->max_batch = max_batch;
    b->max_seq = max_seq;
    size_t nt = hb_model_tensors(cfg, NULL);
    hb_tensor_spec *specs = malloc(nt * sizeof *specs);
    b->layers = hb_mem_calloc(mem, HB_MEM_OTHER, (size_t)cfg->layers * sizeof *b->layers);
    b->inv_freq = hb_mem_alloc(mem, HB_MEM_OTHER, (size_t)cfg->head_dim / 2 * sizeof(float));
    if (!specs || !b->layers || !b->inv_freq) {
        free(specs);
        cpu_destroy(b);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    }
    hb_model_tensors(cfg, specs);
    uint64_t total = 0;
    for (size_t i = 0; i < nt; i++)
        if (hb_role_owns(role, specs[i].kind))
            total += (uint64_t)specs[i].shape[0] * (uint64_t)(specs[i].ndim == 2 ? specs[i].shape[1] : 1);
    b->weights = hb_mem_alloc(mem, HB_MEM_WEIGHTS, total * sizeof(float));
    if (!b->weights) {
        free(specs);
        cpu_destroy(b);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %.1f MiB of fp32 weights",
                       (double)total * 4 / 1048576);
    }
    hb_status rc = HB_OK;
    uint64_t h = HB_HASH_INIT, off = 0;
    for (size_t i = 0; i < nt && !rc; i++) {
        const hb_tensor_spec *s = &specs[i];
        if (!hb_role_owns(role, s->kind)) continue;
        const hb_st_tensor *t = hb_st_find(st, s->name);
        if (!t) {
            rc = hb_fail(err, HB_ERR_MISMATCH, "weights lack tensor '%s' that the config implies",
                         s->name);
            break;
        }
        bool shape_ok = t->ndim == s->ndim && t->shape[0] == s->shape[0] &&
                        (s->ndim == 1 || t->shape[1] == s->shape[1]);
        if (!shape_ok) {
            char got[64] = "", want[64];
            for (int d = 0, w = 0; d < t->ndim && d < 4; d++)
                w += snprintf(got + w, sizeof got - (size_t)w, "%s%lld", d ? ", " : "",
                              (long long)t->shape[d]);
            if (s->ndim == 2)
                snprintf(want, sizeof want, "%lld, %lld", (long long)s->shape[0],
                         (long long)s->shape[1]);
            else
                snprintf(want, sizeof want, "%lld", (long long)s->shape[0]);
            rc = hb_fail(err, HB_ERR_MISMATCH,
                         "tensor '%s' has shape [%s] but the config needs [%s]", s->name, got,
                         want);
            break;
        }
        size_t n = (size_t)s->shape[0] * (size_t)(s->ndim == 2 ? s->shape[1] : 1);
        float *dst = b->weights + off;
        hb_convert_to_f32(t->dtype, t->data, dst, n);
        h = hb_hash_bytes(h, t->data, t->nbytes);
        for (size_t e = 0; e < n; e++)
            if (!isfinite(dst[e])) {
                rc = hb_fail(err, HB_ERR_DATA, "tensor '%s' element %zu is not finite", s->name, e);
                break;
            }
        *slot_for(b, s, b->layers) = dst;
        off += n;
    }
    free(specs);
    if (weights_hash) *weights_hash = h;
    size_t kv = (size_t)cfg->layers * (size_t)max_batch * (size_t)max_seq *
                (size_t)cfg->kv_heads * (size_t)cfg->head_dim;
    if (!rc) {
        b->kcache = hb_mem_alloc(mem, HB_MEM_KV, kv * sizeof(float));
        b->vcache = hb_mem_alloc(mem, HB_MEM_KV, kv * sizeof(float));
        if (!b->kcache || !b->vcache)
            rc = hb_fail(err, HB_ERR_NOMEM, "cannot allocate the KV cache (%.1f MiB)",
                         (double)kv * 8 / 1048576);
    }
    if (rc) {
        cpu_destroy(b);
        return rc;
    }
    hb_rope_inv_freq(cfg, b->inv_freq);
    *out = b;
    return HB_OK;
}

static hb_status grow_workspace(hb_backend *b, size_t n, hb_error *err)
{
    if (n <= b->ws_tokens) return HB_OK;
    const hb_model_config *c = &b->c;
    size_t H = (size_t)c->hidden, Q = (size_t)c->heads * c->head_dim,
           KV = (size_t)c->kv_heads * c->head_dim,
           I = (size_t)(c->intermediate > c->audio_intermediate ? c->intermediate
                                                                : c->audio_intermediate);
    size_t sizes[] = {H, H, Q, KV, KV, Q, H, I, I, I, (size_t)b->max_seq, H};
    float **ptrs[] = {&b->x, &b->h, &b->q, &b->k, &b->v, &b->att, &b->o, &b->g, &b->u, &b->gu,
                      &b->scores, &b->rows};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t rows = ptrs[i] == &b->scores ? 1 : n;
        hb_mem_free(b->mem, *ptrs[i]);
        *ptrs[i] = hb_mem_alloc(b->mem, HB_MEM_WORKSPACE, rows * sizes[i] * sizeof(float));
        if (!*ptrs[i]) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate workspace for %zu tokens", n);
    }
    hb_mem_free(b->mem, b->idx);
    b->idx = hb_mem_alloc(b->mem, HB_MEM_WORKSPACE, n * sizeof *b->idx);
    if (!b->idx) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate workspace for %zu tokens", n);
    b->ws_tokens = n;
    return HB_OK;
}

static inline float *cache_at(const hb_backend *b, float *base, int layer, int slot, int pos)
{
    size_t KV = (size_t)b->c.kv_heads * b->c.head_dim;
    return base + (((size_t)layer * b->max_batch + (size_t)slot) * b->max_seq + (size_t)pos) * KV;
}

/* Grouped-query attention of one token over positions 0..pos of its slot. */
static void attend(hb_backend *b, int layer, const hb_token *t, const float *q, float *out)
{
    const hb_model_config *c = &b->c;
    int hd = c->head_dim, group = c->heads / c->kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    float *sc = b->scores;
    for (int h = 0; h < c->heads; h++) {
        int kvh = h / group;
        const float *qh = q + (size_t)h * hd;
        float mx = -INFINITY;
        for (int p = 0; p <= t->pos; p++) {
            const float *kp = cache_at(b, b->kcache, layer, t->slot, p) + (size_t)kvh * hd;
            float s = 0;
            for (int i = 0; i < hd; i++) s += qh[i] * kp[i];
            sc[p] = s * scale;
            mx = sc[p] > mx ? sc[p] : mx;
        }
        float sum = 0;
        for (int p = 0; p <= t->pos; p++) {
            sc[p] = expf(sc[p] - mx);
            sum += sc[p];
        }
        float *oh = out + (size_t)h * hd;
        memset(oh, 0, (size_t)hd * sizeof *oh);
        for (int p = 0; p <= t->pos; p++) {
            const float *vp = cache_at(b, b->vcache, layer, t->slot, p) + (size_t)kvh * hd;
            float wgt = sc[p] / sum;
            for (int i = 0; i < hd; i++) oh[i] += wgt * vp[i];
        }
    }
}

/* The path's norm + SwiGLU MLP for the tokens of one path, added into x. */
static void mlp_group(hb_backend *b, const layer_w *l, size_t n, int audio, size_t cnt)
{
    const hb_model_config *c = &b->c;
    size_t H = (size_t)c->hidden, I = (size_t)(audio ? c->audio_intermediate : c->intermediate);
    const float *norm = audio ? l->a_post_norm : l->post_norm;
    for (size_t r = 0; r < cnt; r++)
        hb_cpu_rmsnorm(b->x + (size_t)b->idx[r] * H, norm, b->h + r * H, H, c->rms_eps);
    hb_cpu_matmul(b->h, audio ? l->a_gate : l->gate, b->g, cnt, I, H);
    hb_cpu_matmul(b->h, audio ? l->a_up : l->up, b->u, cnt, I, H);
    hb_cpu_swiglu(b->g, b->u, b->gu, cnt * I);
    hb_cpu_matmul(b->gu, audio ? l->a_down : l->down, b->o, cnt, H, I);
    for (size_t r = 0; r < cnt; r++) {
        float *xr = b->x + (size_t)b->idx[r] * H;
        const float *orow = b->o + r * H;
        for (size_t i = 0; i < H; i++) xr[i] += orow[i];
    }
    (void)n;
}

static hb_status cpu_forward(hb_backend *b, const hb_token *tok, size_t n, float *text_logits,
                             float *audio_logits, const hb_draws *draws, hb_error *err)
{
    if (draws) return hb_fail(err, HB_ERR_INTERNAL, "the CPU backend draws no tokens");
    const hb_model_config *c = &b->c;
    hb_status rc = grow_workspace(b, n, err);
    if (rc) return rc;
    size_t H = (size_t)c->hidden, Q = (size_t)c->heads * c->head_dim,
           KV = (size_t)c->kv_heads * c->head_dim, rows = (size_t)hb_codebook_rows(c);
    for (size_t i = 0; i < n; i++) {
        const hb_token *t = &tok[i];
        if (t->slot < 0 || t->slot >= b->max_batch || t->pos < 0 || t->pos >= b->max_seq)
            return hb_fail(err, HB_ERR_INTERNAL, "token slot %d position %d out of range",
                           t->slot, t->pos);
        bool can = t->audio ? hb_role_owns(b->role, HB_TK_AUDIO_MLP)
                            : hb_role_owns(b->role, HB_TK_TEXT_MLP);
        if (!can)
            return hb_fail(err, HB_ERR_INTERNAL, "a %s engine was given a %s token",
                           hb_role_name(b->role), t->audio ? "audio" : "text");
        float *xi = b->x + i * H;
        if (!t->audio) {
            if (t->text_id < 0 || t->text_id >= c->vocab)
                return hb_fail(err, HB_ERR_INVALID, "text token id %d is outside the vocabulary "
                               "(%d)", t->text_id, c->vocab);
            memcpy(xi, b->embed + (size_t)t->text_id * H, H * sizeof *xi);
        } else {
            memset(xi, 0, H * sizeof *xi);
            for (int k = 0; k < HB_NUM_CODEBOOKS; k++) {
                int code = t->codes[k];
                if (code < 0 || code >= (int)rows)
                    return hb_fail(err, HB_ERR_INVALID, "audio code %d (codebook %d) is outside "
                                   "[0, %zu)", code, k, rows);
                const float *e = b->audio_embed + ((size_t)k * rows + (size_t)code) * H;
                for (size_t d = 0; d < H; d++) xi[d] += e[d];
            }
        }
    }
    int half = c->head_dim / 2;
    float cs[256], sn[256];
    for (int l = 0; l < c->layers; l++) {
        const layer_w *L = &b->layers[l];
        for (size_t i = 0; i < n; i++)
            hb_cpu_rmsnorm(b->x + i * H, tok[i].audio ? L->a_in_norm : L->in_norm, b->h + i * H, H,
                           c->rms_eps);
        hb_cpu_matmul(b->h, L->wq, b->q, n, Q, H);
        hb_cpu_matmul(b->h, L->wk, b->k, n, KV, H);
        hb_cpu_matmul(b->h, L->wv, b->v, n, KV, H);
        for (size_t i = 0; i < n; i++) {
            for (int j = 0; j < half; j++) {
                double a = (double)tok[i].pos * (double)b->inv_freq[j];
                cs[j] = (float)cos(a);
                sn[j] = (float)sin(a);
            }
            for (int h = 0; h < c->heads; h++)
                hb_cpu_rope(b->q + i * Q + (size_t)h * c->head_dim, cs, sn, (size_t)c->head_dim);
            for (int h = 0; h < c->kv_heads; h++)
                hb_cpu_rope(b->k + i * KV + (size_t)h * c->head_dim, cs, sn, (size_t)c->head_dim);
            memcpy(cache_at(b, b->kcache, l, tok[i].slot, tok[i].pos), b->k + i * KV,
                   KV * sizeof(float));
            memcpy(cache_at(b, b->vcache, l, tok[i].slot, tok[i].pos), b->v + i * KV,
                   KV * sizeof(float));
        }
        for (size_t i = 0; i < n; i++) attend(b, l, &tok[i], b->q + i * Q, b->att + i * Q);
        hb_cpu_matmul(b->att, L->wo, b->o, n, H, Q);
        for (size_t i = 0; i < n * H; i++) b->x[i] += b->o[i];
        for (int path = 0; path < 2; path++) {
            size_t cnt = 0;
            for (size_t i = 0; i < n; i++)
                if (tok[i].audio == path) b->idx[cnt++] = (int32_t)i;
            if (cnt) mlp_group(b, L, n, path, cnt);
        }
    }
    /* heads: text and audio tokens that asked for logits, each group one product */
    for (int path = 0; path < 2; path++) {
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (tok[i].logits && tok[i].audio == path) {
                hb_cpu_rmsnorm(b->x + i * H, b->norm, b->rows + cnt * H, H, c->rms_eps);
                cnt++;
            }
        if (!cnt) continue;
        if (path == 0) {
            if (!text_logits || !b->text_head)
                return hb_fail(err, HB_ERR_INTERNAL, "text logits requested without a text head");
            hb_cpu_matmul(b->rows, b->text_head, text_logits, cnt, (size_t)c->vocab, H);
        } else {
            if (!audio_logits || !b->audio_head)
                return hb_fail(err, HB_ERR_INTERNAL, "audio logits requested without an audio head");
            hb_cpu_matmul(b->rows, b->audio_head, audio_logits, cnt,
                          (size_t)hb_audio_vocab(c), H);
        }
    }
    return HB_OK;
}

static hb_status cpu_kv_copy(hb_backend *dst, const hb_backend *src, int slot, int p0, int p1,
                             hb_error *err)
{
    if (p0 < 0 || p1 > dst->max_seq || p1 > src->max_seq || slot >= dst->max_batch ||
        slot >= src->max_batch)
        return hb_fail(err, HB_ERR_INTERNAL, "KV handoff range out of bounds");
    if (p1 <= p0) return HB_OK;
    size_t KV = (size_t)dst->c.kv_heads * dst->c.head_dim, cnt = (size_t)(p1 - p0) * KV;
    for (int l = 0; l < dst->c.layers; l++) {
        memcpy(cache_at(dst, dst->kcache, l, slot, p0), cache_at(src, src->kcache, l, slot, p0),
               cnt * sizeof(float));
        memcpy(cache_at(dst, dst->vcache, l, slot, p0), cache_at(src, src->vcache, l, slot, p0),
               cnt * sizeof(float));
    }
    return HB_OK;
}

static uint64_t cpu_device_used(const hb_backend *b)
{
    (void)b;
    return 0;
}

const hb_backend_ops hb_cpu_backend = {
    .name = "cpu",
    .has_graphs = false,
    .create = cpu_create,
    .destroy = cpu_destroy,
    .forward = cpu_forward,
    .kv_copy = cpu_kv_copy,
    .device_used = cpu_device_used,
    .available = NULL,
    .device_name = NULL,
    .graph_stats = NULL,
};
