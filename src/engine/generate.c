/* generate.c - requests and the generation state machine: prompt expansion, the TEXT /
 * AUDIO_INIT / AUDIO_IN_PROGRESS modes, the delay pattern during generation, EOS handling,
 * sampling, frame delivery, and the step that advances every active request.
 *
 * Positions of one audio clip during generation (rows): row 0 is the BOS frame (all stream BOS)
 * fed when <|audio_out_bos|> is seen; row p >= 1 is sampled from the output of row p - 1. With
 * the delay pattern, codebook k of row p holds wrapped frame w = p - k: BOS while w <= 0, content
 * frame w - 1 while 1 <= w <= T, EOS after. The row whose codebooks are all EOS ends the clip
 * (row T + 8), so a clip of T frames costs T + 8 audio steps. Frame t is complete, and delivered,
 * when row t + 8 (codebook 7's copy of it) exists.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "engine_internal.h"
#include "pool.h"

#define K HB_NUM_CODEBOOKS

struct hb_request {
    bool used, done;
    uint64_t id;
    int slot;
    hb_request_desc d;        /* prompt/clips pointers cleared: the prompt is copied below */
    hb_token *prompt;         /* expanded prompt: text ids and wrapped, delayed clip rows */
    size_t nprompt;
    bool bos_in_prompt;       /* the prompt's last position is the clip's BOS frame (AUDIO_INIT) */
    bool prefilled;
    hb_gen_mode mode;
    size_t pos;               /* next sequence position */
    hb_token next;            /* next input once prefilled */
    int32_t *text;
    size_t ntext, text_cap;
    int32_t (*rows)[K];       /* rows of the clip being generated, row 0 = BOS frame */
    size_t nrows, rows_cap;
    int32_t (*frames)[K];
    size_t nframes, frames_cap;
    long eos_row;             /* row where the first EOS was sampled, -1 before */
    int eos_cb;               /* the highest codebook that sampled EOS in that row */
    bool frame_ready;         /* a frame completed this step; its callback runs after sampling */
    hb_frame ready;
};

/* One head output of a step to sample: which token, its logits; the outcome. */
struct hb_job {
    size_t token;
    const float *logits;
    size_t row;           /* audio: the head-output row (picks and drawn codes) */
    hb_status rc;
    hb_error err;
};

hb_request_desc hb_request_defaults(void)
{
    return (hb_request_desc){.max_text_tokens = 0,
                             .max_frames = 25,
                             .exact = false,
                             .text_sampling = hb_sampling_reference(),
                             .audio_sampling = hb_sampling_reference(),
                             .seed = 1};
}

const char *hb_gen_mode_name(hb_gen_mode m)
{
    static const char *const names[] = {"TEXT", "AUDIO_INIT", "AUDIO_IN_PROGRESS"};
    return (unsigned)m < 3 ? names[m] : "unknown";
}

static void request_clear(hb_engine *e, hb_request *r)
{
    hb_mem_free(&e->mem, r->prompt);
    hb_mem_free(&e->mem, r->text);
    hb_mem_free(&e->mem, r->rows);
    hb_mem_free(&e->mem, r->frames);
    memset(r, 0, sizeof *r);
}

hb_status hb__requests_init(hb_engine *e, hb_error *err)
{
    size_t mb = (size_t)e->max_batch, cap = mb * (size_t)e->max_seq;
    size_t V = (size_t)e->cfg.vocab, A = (size_t)hb_audio_vocab(&e->cfg);
    e->req = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->req);
    e->toks_cap = cap;
    e->toks = hb_mem_alloc(&e->mem, HB_MEM_OTHER, cap * sizeof *e->toks);
    e->sub = hb_mem_alloc(&e->mem, HB_MEM_OTHER, cap * sizeof *e->sub);
    e->row_of = hb_mem_alloc(&e->mem, HB_MEM_OTHER, cap * sizeof *e->row_of);
    e->sub_src = hb_mem_alloc(&e->mem, HB_MEM_OTHER, cap * sizeof *e->sub_src);
    /* one logits row per request and head at most: only a request's last token asks */
    e->text_logits = hb_mem_alloc(&e->mem, HB_MEM_WORKSPACE, mb * V * sizeof(float));
    e->audio_logits = hb_mem_alloc(&e->mem, HB_MEM_WORKSPACE, mb * A * sizeof(float));
    e->sub_text = hb_mem_alloc(&e->mem, HB_MEM_WORKSPACE, mb * V * sizeof(float));
    e->sub_audio = hb_mem_alloc(&e->mem, HB_MEM_WORKSPACE, mb * A * sizeof(float));
    e->jobs = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->jobs);
    e->picks = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * K * sizeof *e->picks);
    e->codes = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * 2 * K * sizeof *e->codes);
    e->sub_picks = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * K * sizeof *e->sub_picks);
    e->sub_codes = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * 2 * K * sizeof *e->sub_codes);
    e->tpicks = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->tpicks);
    e->sub_tpicks = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->sub_tpicks);
    e->tcodes = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * 2 * sizeof *e->tcodes);
    e->sub_tcodes = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * 2 * sizeof *e->sub_tcodes);
    e->streak.slot = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->streak.slot);
    e->streak.id = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->streak.id);
    e->streak.rows = hb_mem_calloc(&e->mem, HB_MEM_OTHER, mb * sizeof *e->streak.rows);
    if (!e->streak.slot || !e->streak.id || !e->streak.rows)
        return hb_fail(err, HB_ERR_NOMEM, "out of memory for %zu request slots", mb);
    if (!e->req || !e->toks || !e->sub || !e->row_of || !e->sub_src || !e->text_logits ||
        !e->audio_logits || !e->sub_text || !e->sub_audio || !e->jobs || !e->picks || !e->codes ||
        !e->sub_picks || !e->sub_codes || !e->tpicks || !e->sub_tpicks || !e->tcodes ||
        !e->sub_tcodes)
        return hb_fail(err, HB_ERR_NOMEM, "out of memory for %zu request slots", mb);
    /* host workers for sampling where there are requests to share: one a core, the calling
     * thread included, 16 at most (batch 64 on a 16-core host: 4 requests a thread) */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int extra = mb < 4 ? 0 : (int)(cores - 1 < 15 ? cores - 1 : 15);
    e->pool = hb_pool_create(extra > 0 ? extra : 0);
    e->nsamplers = hb_pool_workers(e->pool);
    e->samplers = hb_mem_calloc(&e->mem, HB_MEM_OTHER, (size_t)e->nsamplers * sizeof *e->samplers);
    if (!e->pool || !e->samplers) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_status rc = HB_OK;
    for (int w = 0; w < e->nsamplers && !rc; w++) {
        hb_sampler *sm = &e->samplers[w];
        sm->ban_text = hb_mem_calloc(&e->mem, HB_MEM_OTHER, V);
        sm->ban_audio = hb_mem_calloc(&e->mem, HB_MEM_OTHER, A);
        if (!sm->ban_text || !sm->ban_audio) rc = hb_fail(err, HB_ERR_NOMEM, "out of memory");
        if (!rc) rc = hb_sample_ws_init(&sm->text, (int)V, err);
        if (!rc) rc = hb_sample_ws_init(&sm->audio, hb_codebook_rows(&e->cfg), err);
    }
    e->next_id = 1;
    return rc;
}

void hb__requests_free(hb_engine *e)
{
    if (e->req)
        for (int i = 0; i < e->max_batch; i++) request_clear(e, &e->req[i]);
    hb_mem_free(&e->mem, e->req);
    void *bufs[] = {e->toks, e->sub, e->row_of, e->sub_src, e->text_logits, e->audio_logits,
                    e->sub_text, e->sub_audio, e->jobs, e->picks, e->codes, e->sub_picks,
                    e->sub_codes, e->tpicks, e->sub_tpicks, e->tcodes, e->sub_tcodes,
                    e->streak.slot, e->streak.id, e->streak.rows};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) hb_mem_free(&e->mem, bufs[i]);
    hb_pool_destroy(e->pool);
    for (int w = 0; e->samplers && w < e->nsamplers; w++) {
        hb_sampler *sm = &e->samplers[w];
        hb_mem_free(&e->mem, sm->ban_text);
        hb_mem_free(&e->mem, sm->ban_audio);
        hb_sample_ws_free(&sm->text);
        hb_sample_ws_free(&sm->audio);
    }
    hb_mem_free(&e->mem, e->samplers);
}

static hb_request *find(const hb_engine *e, uint64_t id)
{
    for (int i = 0; i < e->max_batch; i++)
        if (e->req[i].used && e->req[i].id == id) return &e->req[i];
    return NULL;
}

static hb_status check_sampling(const hb_sampling *s, const char *what, hb_error *err)
{
    if (!(s->temperature >= 0 && s->temperature <= 100))
        return hb_fail(err, HB_ERR_INVALID, "%s temperature %g is outside [0, 100]", what,
                       (double)s->temperature);
    if (!(s->top_p > 0 && s->top_p <= 1))
        return hb_fail(err, HB_ERR_INVALID, "%s top-p %g is outside (0, 1]", what, (double)s->top_p);
    if (s->top_k < 0) return hb_fail(err, HB_ERR_INVALID, "%s top-k %d is negative", what, s->top_k);
    if (s->ras && (s->ras_window < 1 || s->ras_window > HB_PICK_HIST || s->ras_max_repeat < 1))
        return hb_fail(err, HB_ERR_INVALID, "%s RAS window %d / repeat %d: the window must be in "
                       "[1, %d] and the repeat positive", what, s->ras_window, s->ras_max_repeat,
                       HB_PICK_HIST);
    return HB_OK;
}

/* Expands the prompt: text ids as text tokens, each audio_in placeholder as its clip wrapped in
 * BOS/EOS frames and delayed. */
static hb_status expand_prompt(hb_engine *e, const hb_request_desc *d, hb_request *r,
                               hb_error *err)
{
    const hb_model_config *c = &e->cfg;
    size_t clips = 0, n = 0;
    for (size_t i = 0; i < d->prompt_len; i++) {
        int32_t id = d->prompt[i];
        if (id < 0 || id >= c->vocab)
            return hb_fail(err, HB_ERR_INVALID, "prompt token %zu is %d, outside the vocabulary "
                           "[0, %d)", i, id, c->vocab);
        if (id == c->audio_in_id) {
            if (clips >= d->nclips)
                return hb_fail(err, HB_ERR_INVALID, "the prompt has more audio placeholders (id "
                               "%d) than the %zu clip%s given", c->audio_in_id, d->nclips,
                               d->nclips == 1 ? "" : "s");
            n += d->clips[clips++].frames + 2 + K - 1;
        } else {
            n++;
        }
    }
    if (clips != d->nclips)
        return hb_fail(err, HB_ERR_INVALID, "%zu audio clip%s given but the prompt has %zu "
                       "placeholder%s (id %d)", d->nclips, d->nclips == 1 ? "" : "s", clips,
                       clips == 1 ? "" : "s", c->audio_in_id);
    if (d->prompt_len == 0 || d->prompt[d->prompt_len - 1] == c->audio_in_id)
        return hb_fail(err, HB_ERR_INVALID, "the prompt must end with a text token");
    /* a prompt ending with <|audio_out_bos|> starts a clip whose first input, the BOS frame, is
     * known now: it joins the prompt's pass (AUDIO_INIT without a step of its own) */
    r->bos_in_prompt = e->bos_with_prompt && d->prompt[d->prompt_len - 1] == c->audio_out_bos_id;
    r->prompt = hb_mem_calloc(&e->mem, HB_MEM_OTHER, (n + r->bos_in_prompt) * sizeof *r->prompt);
    if (!r->prompt) return hb_fail(err, HB_ERR_NOMEM, "out of memory for a %zu-position prompt", n);
    size_t p = 0;
    clips = 0;
    for (size_t i = 0; i < d->prompt_len; i++) {
        if (d->prompt[i] != c->audio_in_id) {
            r->prompt[p].text_id = d->prompt[i];
            p++;
            continue;
        }
        const hb_audio_clip *clip = &d->clips[clips++];
        for (size_t t = 0; t < clip->frames; t++)
            for (int k = 0; k < K; k++)
                if (clip->codes[t][k] < 0 || clip->codes[t][k] >= c->codebook_size)
                    return hb_fail(err, HB_ERR_INVALID, "audio clip %zu frame %zu codebook %d: "
                                   "code %d is outside [0, %d)", clips - 1, t, k,
                                   clip->codes[t][k], c->codebook_size);
        size_t rows = clip->frames + 2 + K - 1;
        int32_t(*w)[K] = malloc(rows * sizeof *w);
        if (!w) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
        hb_delay_wrap(clip->codes, clip->frames, c->stream_bos, c->stream_eos, w);
        for (size_t j = 0; j < rows; j++, p++) {
            r->prompt[p].audio = 1;
            memcpy(r->prompt[p].codes, w[j], sizeof w[j]);
        }
        free(w);
    }
    if (r->bos_in_prompt) {
        r->prompt[p].audio = 1;
        for (int k = 0; k < K; k++) r->prompt[p].codes[k] = c->stream_bos;
    }
    r->nprompt = n + r->bos_in_prompt;
    return HB_OK;
}

static bool push_bos_row(hb_engine *e, hb_request *r);

hb_status hb_request_add(hb_engine *e, const hb_request_desc *d, uint64_t *id, hb_error *err)
{
    hb_status rc = check_sampling(&d->text_sampling, "text", err);
    if (!rc) rc = check_sampling(&d->audio_sampling, "audio", err);
    if (rc) return rc;
    if (d->max_frames == 0) return hb_fail(err, HB_ERR_INVALID, "max frames must be at least 1");
    if (!e->cfg.delay_pattern)
        return hb_fail(err, HB_ERR_UNSUPPORTED, "configs without the delay pattern are not supported");
    int slot = -1;
    for (int i = 0; i < e->max_batch && slot < 0; i++)
        if (!e->req[i].used) slot = i;
    if (slot < 0)
        return hb_fail(err, HB_ERR_UNSUPPORTED, "all %d request slots are in use", e->max_batch);
    hb_request *r = &e->req[slot];
    memset(r, 0, sizeof *r);
    rc = expand_prompt(e, d, r, err);
    size_t own = r->nprompt - r->bos_in_prompt; /* the prompt's own positions */
    size_t need = own + d->max_text_tokens + 1 + d->max_frames + K;
    if (!rc && need > (size_t)e->max_seq)
        rc = hb_fail(err, HB_ERR_INVALID, "the request needs %zu positions (prompt %zu + text %zu "
                     "+ audio %zu + 1) but the engine's max sequence length is %d", need,
                     own, d->max_text_tokens, d->max_frames + K, e->max_seq);
    if (!rc && r->bos_in_prompt && !push_bos_row(e, r)) /* the clip's BOS row, as at AUDIO_INIT */
        rc = hb_fail(err, HB_ERR_NOMEM, "out of memory");
    if (rc) {
        request_clear(e, r);
        return rc;
    }
    r->used = true;
    r->slot = slot;
    r->id = e->next_id++;
    r->d = *d;
    r->d.prompt = NULL;
    r->d.clips = NULL;
    r->mode = HB_MODE_TEXT;
    r->eos_row = -1;
    for (int i = 0; i < 2; i++)
        if (e->kv_valid[i]) e->kv_valid[i][slot] = 0;
    *id = r->id;
    return HB_OK;
}

hb_status hb_request_remove(hb_engine *e, uint64_t id, hb_error *err)
{
    hb_request *r = find(e, id);
    if (!r) return hb_fail(err, HB_ERR_INVALID, "no request %llu", (unsigned long long)id);
    request_clear(e, r);
    return HB_OK;
}

hb_status hb_request_status_get(const hb_engine *e, uint64_t id, hb_request_status *o,
                                hb_error *err)
{
    const hb_request *r = find(e, id);
    if (!r) return hb_fail(err, HB_ERR_INVALID, "no request %llu", (unsigned long long)id);
    o->done = r->done;
    o->mode = r->mode;
    o->positions = r->pos;
    o->text_generated = r->ntext;
    o->frames = r->nframes;
    o->audio_steps = r->nrows > 0 ? r->nrows - 1 : 0;
    return HB_OK;
}

hb_status hb_request_output(const hb_engine *e, uint64_t id, const int32_t **text, size_t *ntext,
                            const int32_t (**frames)[K], size_t *nframes, hb_error *err)
{
    const hb_request *r = find(e, id);
    if (!r) return hb_fail(err, HB_ERR_INVALID, "no request %llu", (unsigned long long)id);
    *text = r->text;
    *ntext = r->ntext;
    *frames = (const int32_t(*)[K])r->frames;
    *nframes = r->nframes;
    return HB_OK;
}

size_t hb_engine_active(const hb_engine *e)
{
    size_t n = 0;
    for (int i = 0; i < e->max_batch; i++) n += e->req[i].used;
    return n;
}

size_t hb_engine_pending(const hb_engine *e)
{
    size_t n = 0;
    for (int i = 0; i < e->max_batch; i++) n += e->req[i].used && !e->req[i].done;
    return n;
}

/* ------------------------------------------------------------------ the state machine ---- */

static bool push_text(hb_engine *e, hb_request *r, int32_t t)
{
    if (r->ntext == r->text_cap) {
        size_t nc = r->text_cap ? r->text_cap * 2 : 64;
        int32_t *p = hb_mem_realloc(&e->mem, HB_MEM_OTHER, r->text, nc * sizeof *p);
        if (!p) return false;
        r->text = p;
        r->text_cap = nc;
    }
    r->text[r->ntext++] = t;
    return true;
}

static bool push_row(hb_engine *e, int32_t (**a)[K], size_t *n, size_t *cap, const int32_t *row)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        int32_t(*p)[K] = hb_mem_realloc(&e->mem, HB_MEM_OTHER, *a, nc * sizeof *p);
        if (!p) return false;
        *a = p;
        *cap = nc;
    }
    memcpy((*a)[(*n)++], row, K * sizeof(int32_t));
    return true;
}

/* The clip's BOS row (every codebook stream BOS), the first of r's rows. */
static bool push_bos_row(hb_engine *e, hb_request *r)
{
    int32_t bos[K];
    for (int k = 0; k < K; k++) bos[k] = e->cfg.stream_bos;
    return push_row(e, &r->rows, &r->nrows, &r->rows_cap, bos);
}

static uint64_t counter(size_t pos, int stream) { return (uint64_t)pos * 32 + (uint64_t)stream; }

/* Plans what follows text token `in` fed at position pos: nothing to draw after
 * <|audio_out_bos|> (the BOS frame comes next), <|audio_out_bos|> itself once the text budget is
 * spent, else a draw with the ids that may not come yet banned (exact mode: no early end and no
 * early audio). */
static void text_plan(const hb_engine *e, const hb_request *r, const hb_token *in, size_t pos,
                      hb_text_pick *pk)
{
    const hb_model_config *c = &e->cfg;
    memset(pk, 0, sizeof *pk);
    if (in->text_id == c->audio_out_bos_id) {
        pk->forced = HB_PICK_NONE;
        return;
    }
    if (r->ntext >= r->d.max_text_tokens) {
        pk->forced = c->audio_out_bos_id;
        return;
    }
    int32_t special[] = {c->audio_in_id, c->audio_out_id, c->eos_id, c->audio_out_bos_id,
                         c->audio_eos_id};
    pk->forced = -1;
    pk->nban = r->d.exact ? 5 : 2;
    memcpy(pk->ban, special, sizeof special);
    pk->top_k = r->d.text_sampling.top_k;
    pk->temperature = r->d.text_sampling.temperature;
    pk->top_p = r->d.text_sampling.top_p;
    pk->u = hb_uniform(r->d.seed, counter(pos, HB_STREAM_TEXT));
}

/* After a text token was fed: take the drawn token t (or start the clip), set the next input. */
static hb_status text_apply(hb_engine *e, hb_request *r, const hb_token *in, int32_t t,
                            hb_error *err)
{
    const hb_model_config *c = &e->cfg;
    if (in->text_id == c->audio_out_bos_id) { /* AUDIO_INIT: feed the BOS frame */
        if (!push_bos_row(e, r)) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
        r->next = (hb_token){.audio = 1};
        memcpy(r->next.codes, r->rows[r->nrows - 1], sizeof r->next.codes);
        r->mode = HB_MODE_AUDIO_INIT;
        return HB_OK;
    }
    if (!push_text(e, r, t)) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    if (t == c->eos_id) {
        r->done = true;
        return HB_OK;
    }
    r->next = (hb_token){.audio = 0, .text_id = t};
    r->mode = HB_MODE_TEXT;
    return HB_OK;
}

/* Plans the draw of the next row of r's clip (fed at position pos): per codebook, the code the
 * delay pattern fixes (BOS before the codebook's first frame, EOS after the budget or after the
 * first sampled EOS), or the parameters of a draw from the head output. */
static void audio_plan(const hb_engine *e, const hb_request *r, size_t pos, hb_pick *pk)
{
    const hb_model_config *c = &e->cfg;
    long p = (long)r->nrows; /* the row being produced */
    const hb_sampling *s = &r->d.audio_sampling;
    for (int k = 0; k < K; k++) {
        hb_pick *q = &pk[k];
        memset(q, 0, sizeof *q);
        q->forced = hb_delay_code(p, k, (long)r->d.max_frames, r->eos_row, r->eos_cb, c->stream_bos,
                                  c->stream_eos);
        if (q->forced >= 0) continue;
        q->ban_eos = r->d.exact;
        q->top_k = s->top_k;
        q->top_p = s->top_p;
        q->temperature = s->temperature;
        q->u = hb_uniform(r->d.seed, counter(pos, HB_STREAM_CODEBOOK + k));
        if (!s->ras) continue;
        q->ras_repeat = s->ras_max_repeat;
        q->u_ras = hb_uniform(r->d.seed, counter(pos, HB_STREAM_RAS + k));
        /* the codebook's latest content codes, newest first (BOS/EOS are not content) */
        for (size_t j = r->nrows; j-- > 0 && q->nhist < s->ras_window;)
            if (r->rows[j][k] < c->codebook_size) q->hist[q->nhist++] = r->rows[j][k];
    }
}

/* After an audio row was fed: take the drawn row (codes of the planned picks), apply the EOS
 * rule, deliver a completed frame, and set the next input. */
static hb_status audio_apply(hb_engine *e, hb_request *r, const hb_pick *pk, const int32_t *drawn,
                             hb_error *err)
{
    const hb_model_config *c = &e->cfg;
    long p = (long)r->nrows;
    int32_t row[K];
    int sampled_eos = -1;
    for (int k = 0; k < K; k++) {
        row[k] = drawn[k];
        if (pk[k].forced < 0 && row[k] == c->stream_eos) sampled_eos = k;
    }
    if (sampled_eos >= 0 && r->eos_row < 0) {
        /* the first EOS ends the lower codebooks at once and the higher ones in turn */
        r->eos_row = p;
        r->eos_cb = sampled_eos;
        for (int k = 0; k < sampled_eos; k++)
            if (p - k >= 1) row[k] = c->stream_eos;
    }
    if (!push_row(e, &r->rows, &r->nrows, &r->rows_cap, row))
        return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    /* frame t is complete once codebook 7 has produced it */
    long t = p - 1 - (K - 1);
    if (t >= 0 && (size_t)t == r->nframes) {
        int32_t f[K];
        bool content = true;
        for (int k = 0; k < K; k++) {
            f[k] = r->rows[t + 1 + k][k];
            content &= f[k] < c->codebook_size;
        }
        if (content) {
            if (!push_row(e, &r->frames, &r->nframes, &r->frames_cap, f))
                return hb_fail(err, HB_ERR_NOMEM, "out of memory");
            /* the callback runs after the step's sampling, on the calling thread, in order */
            r->ready = (hb_frame){.request = r->id, .index = (size_t)t, .t_s = hb_now_s()};
            memcpy(r->ready.codes, f, sizeof f);
            r->frame_ready = true;
        }
    }
    bool all_eos = true;
    for (int k = 0; k < K; k++) all_eos &= row[k] == c->stream_eos;
    if (all_eos) {
        r->done = true; /* the clip is closed; one clip per request */
        return HB_OK;
    }
    r->next = (hb_token){.audio = 1};
    memcpy(r->next.codes, row, sizeof row);
    r->mode = HB_MODE_AUDIO_IN_PROGRESS;
    return HB_OK;
}

/* A benchmark must not run on garbage: every head output is checked before it is sampled. */
static hb_status nonfinite(const hb_request *r, size_t entry, size_t pos, hb_error *err)
{
    return hb_fail(err, HB_ERR_DATA, "request %llu: the model produced a non-finite logit (entry %zu) "
                   "at position %zu", (unsigned long long)r->id, entry, pos);
}

static hb_status check_finite(const float *l, size_t n, const hb_request *r, size_t pos,
                              hb_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(l[i])) return nonfinite(r, i, pos, err);
    return HB_OK;
}

/* The device's report on an audio row it drew (drawn[K + k]: codebook k's first non-finite head
 * output, -1 where none). */
static hb_status check_drawn(const hb_engine *e, const int32_t *drawn, const hb_request *r, size_t pos,
                             hb_error *err)
{
    for (int k = 0; k < K; k++)
        if (drawn[K + k] >= 0)
            return nonfinite(r, (size_t)k * (size_t)hb_codebook_rows(&e->cfg) + (size_t)drawn[K + k], pos, err);
    return HB_OK;
}

/* Samples one request's next token(s) from its head output, or takes the codes the device drew
 * (a pool task). */
static void sample_job(void *ctx, size_t j, int worker)
{
    hb_engine *e = ctx;
    struct hb_job *jb = &e->jobs[j];
    const hb_token *t = &e->toks[jb->token];
    hb_request *r = &e->req[t->slot];
    hb_sampler *sm = &e->samplers[worker];
    size_t fed = r->prefilled ? 1 : r->nprompt;
    r->prefilled = true;
    r->pos += fed;
    hb_error_clear(&jb->err);
    if (!t->audio) {
        const hb_text_pick *tp = &e->tpicks[jb->row];
        int32_t tok;
        if (e->dev_sampling) {
            tok = e->tcodes[jb->row * 2];
            if (e->tcodes[jb->row * 2 + 1] >= 0)
                jb->rc = nonfinite(r, (size_t)e->tcodes[jb->row * 2 + 1], (size_t)t->pos, &jb->err);
        } else {
            jb->rc = check_finite(jb->logits, (size_t)e->cfg.vocab, r, (size_t)t->pos, &jb->err);
            tok = jb->rc ? 0 : hb_text_pick_sample(jb->logits, e->cfg.vocab, tp, sm->ban_text, &sm->text);
        }
        if (!jb->rc) jb->rc = text_apply(e, r, t, tok, &jb->err);
        return;
    }
    const hb_model_config *c = &e->cfg;
    const hb_pick *pk = e->picks + jb->row * K;
    int32_t *drawn = e->codes + jb->row * 2 * K; /* K codes, then K first non-finite entries */
    int rows = hb_codebook_rows(c);
    if (e->dev_sampling) {
        jb->rc = check_drawn(e, drawn, r, (size_t)t->pos, &jb->err);
    } else {
        jb->rc = check_finite(jb->logits, (size_t)hb_audio_vocab(c), r, (size_t)t->pos, &jb->err);
        for (int k = 0; k < K && !jb->rc; k++)
            drawn[k] = hb_pick_sample(jb->logits + (size_t)k * rows, rows, &pk[k], c->stream_bos,
                                      c->stream_eos, c->codebook_size, sm->ban_audio, &sm->audio);
    }
    if (!jb->rc) jb->rc = audio_apply(e, r, pk, drawn, &jb->err);
}

/* ------------------------------------------------ steps queued from device state ---- */
/* While every unfinished request is an audio decode step, the backend can keep their state
 * (hb_streak_row) on the device, plan each step's draws and make its next input there, so
 * steps are queued back to back: each hb_engine_step queues the next step, then takes the
 * oldest one's drawn codes and applies them here exactly as for a step planned here (the same
 * audio_plan and audio_apply), while the device runs the next. A change of the set of requests
 * (one finishes, leaves or joins) ends the run: the call takes the queued step, dropping the
 * rows of requests no longer running (the device left a finished clip's state alone), and
 * then steps the requests as they are now, on the host or in a new run. */

static hb_backend *audio_backend(const hb_engine *e) { return e->be[e->topo == HB_TOPO_UNIFIED ? 0 : 1]; }

/* Whether every unfinished request can go on the device: prefilled and feeding an audio row
 * (in a pair, with its KV cache up to date in the audio engine); n: how many. */
static bool streak_fits(const hb_engine *e, size_t *n)
{
    size_t m = 0;
    for (int s = 0; s < e->max_batch; s++) {
        const hb_request *r = &e->req[s];
        if (!r->used || r->done) continue;
        if (!r->prefilled || !r->next.audio) return false;
        if (e->topo != HB_TOPO_UNIFIED && e->kv_valid[1][s] != (int32_t)r->pos) return false;
        m++;
    }
    *n = m;
    return m > 0;
}

/* Whether the queued step's requests are still exactly the unfinished ones. */
static bool streak_same(const hb_engine *e)
{
    size_t n = 0;
    if (!streak_fits(e, &n) || n != e->streak.n) return false;
    for (size_t i = 0; i < e->streak.n; i++) {
        const hb_request *r = &e->req[e->streak.slot[i]];
        if (!r->used || r->done || r->id != e->streak.id[i]) return false;
    }
    return true;
}

/* Whether the row r produces next is certain to be all EOS, closing its clip: every codebook
 * past its BOS frames and forced to EOS by the frame budget or a sampled EOS already taken. */
static bool closes_next(const hb_engine *e, const hb_request *r)
{
    const hb_model_config *c = &e->cfg;
    for (int k = 0; k < K; k++)
        if (hb_delay_code((long)r->nrows, k, (long)r->d.max_frames, r->eos_row, r->eos_cb, c->stream_bos,
                          c->stream_eos) != c->stream_eos)
            return false;
    return true;
}

/* Whether the step the host takes next closes every clip of the run, so no step should follow
 * it (a step queued after it would run for nothing and hold up what comes next). */
static bool streak_ends(const hb_engine *e)
{
    for (size_t i = 0; i < e->streak.n; i++) {
        const hb_request *r = &e->req[e->streak.slot[i]];
        if (r->used && !r->done && r->id == e->streak.id[i] && !closes_next(e, r)) return false;
    }
    return true;
}

/* The device copy of what audio_plan and audio_apply keep about r (slot s). */
static void streak_row(const hb_engine *e, const hb_request *r, int s, hb_streak_row *w)
{
    const hb_model_config *c = &e->cfg;
    const hb_sampling *sp = &r->d.audio_sampling;
    memset(w, 0, sizeof *w);
    w->seed = r->d.seed;
    w->slot = s;
    w->pos = (int32_t)r->pos;
    w->nrows = (int32_t)r->nrows;
    w->eos_row = (int32_t)r->eos_row;
    w->eos_cb = r->eos_cb;
    w->max_frames = (int32_t)r->d.max_frames; /* admitted: below max_seq_len */
    w->exact = r->d.exact;
    memcpy(w->codes, r->next.codes, sizeof w->codes);
    w->top_k = sp->top_k;
    w->ras_window = sp->ras_window;
    w->ras_repeat = sp->ras ? sp->ras_max_repeat : 0;
    w->temperature = sp->temperature;
    w->top_p = sp->top_p;
    for (int k = 0; k < K; k++) /* the newest at ring place 0, the j-th newest at -j */
        for (size_t j = r->nrows; j-- > 0 && w->nhist[k] < HB_PICK_HIST;)
            if (r->rows[j][k] < c->codebook_size)
                w->hist[k][(HB_PICK_HIST - w->nhist[k]++) % HB_PICK_HIST] = r->rows[j][k];
}

/* Applies a taken step's drawn codes (16 a row) to the requests still running, as sample_job
 * and hb_engine_step do for a step planned here. */
static hb_status streak_apply(hb_engine *e, const int32_t *out, hb_step_report *rep, hb_error *err)
{
    hb_status rc = HB_OK;
    for (size_t i = 0; i < e->streak.n; i++) {
        int s = e->streak.slot[i];
        hb_request *r = &e->req[s];
        if (!r->used || r->done || r->id != e->streak.id[i]) continue; /* finished or left */
        const int32_t *drawn = out + i * 2 * K;
        hb_pick pk[K];
        size_t pos = r->pos;
        audio_plan(e, r, pos, pk); /* what the device planned from the same state */
        r->pos++;
        if (e->topo != HB_TOPO_UNIFIED) e->kv_valid[1][s] = (int32_t)r->pos;
        rep->tokens++;
        rep->audio_steps++;
        rep->device_planned++;
        hb_error je;
        hb_status jr = check_drawn(e, drawn, r, pos, &je);
        if (!jr) jr = audio_apply(e, r, pk, drawn, &je);
        if (jr && !rc) {
            rc = jr;
            if (err) *err = je;
        }
        if (r->frame_ready) {
            r->frame_ready = false;
            if (r->d.on_frame) r->d.on_frame(r->d.user, &r->ready);
        }
        if (!jr && r->done) rep->finished++;
    }
    return rc;
}

/* Takes the oldest queued step of the run and applies it. */
static hb_status streak_take(hb_engine *e, hb_step_report *rep, hb_error *err)
{
    double t0 = hb_now_s();
    hb_status rc = e->ops->streak_collect(audio_backend(e), e->codes, err);
    rep->forward_s += hb_now_s() - t0;
    if (rc) {
        e->streak.live = false; /* the next run starts from the host's state */
        return rc;
    }
    return streak_apply(e, e->codes, rep, err);
}

/* Starts a run of the n unfinished requests (their state up, two steps queued) and takes the
 * first step. */
static hb_status streak_start(hb_engine *e, size_t n, hb_step_report *rep, hb_error *err)
{
    hb_backend *b = audio_backend(e);
    size_t m = 0;
    for (int s = 0; s < e->max_batch; s++) {
        const hb_request *r = &e->req[s];
        if (!r->used || r->done) continue;
        streak_row(e, r, s, &e->streak.rows[m]);
        e->streak.slot[m] = s;
        e->streak.id[m++] = r->id;
    }
    e->streak.n = n;
    double t0 = hb_now_s();
    hb_status rc = e->ops->streak_begin(b, e->streak.rows, n, err);
    if (!rc) rc = e->ops->streak_launch(b, err);
    if (!rc) e->streak.live = !streak_ends(e); /* a second step only where one can follow */
    if (!rc && e->streak.live) rc = e->ops->streak_launch(b, err);
    rep->forward_s += hb_now_s() - t0;
    if (rc) {
        e->streak.live = false;
        return rc;
    }
    return streak_take(e, rep, err);
}

hb_status hb_engine_step(hb_engine *e, hb_step_report *rep, hb_error *err)
{
    hb_step_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (e->streak.live) {
        if (streak_same(e) && !streak_ends(e)) { /* queue the next step, take the oldest */
            double t0 = hb_now_s();
            hb_status rc = e->ops->streak_launch(audio_backend(e), err);
            rep->forward_s += hb_now_s() - t0;
            if (rc) {
                e->streak.live = false;
                return rc;
            }
            return streak_take(e, rep, err);
        }
        /* the queued step closes every clip, or the requests changed: it ends the run, and
         * this call goes on with a step of the requests as they are now (if any) */
        e->streak.live = false;
        hb_status rc = streak_take(e, rep, err);
        if (rc) return rc;
    }
    size_t ns = 0;
    if (e->device_steps && streak_fits(e, &ns)) return streak_start(e, ns, rep, err);
    size_t n = 0;
    /* the token each request feeds this step (its whole prompt at first) */
    for (int s = 0; s < e->max_batch; s++) {
        hb_request *r = &e->req[s];
        if (!r->used || r->done) continue;
        if (!r->prefilled) {
            for (size_t i = 0; i < r->nprompt; i++) {
                hb_token t = r->prompt[i];
                t.slot = s;
                t.pos = (int32_t)(r->pos + i);
                t.logits = i + 1 == r->nprompt;
                e->toks[n++] = t;
            }
            rep->prefill_tokens += r->nprompt;
        } else {
            hb_token t = r->next;
            t.slot = s;
            t.pos = (int32_t)r->pos;
            t.logits = 1;
            e->toks[n++] = t;
            if (t.audio)
                rep->audio_steps++;
            else
                rep->text_steps++;
        }
    }
    rep->tokens += n;
    if (n == 0) return HB_OK;
    /* every draw is planned before the pass, so the device can make it */
    size_t na = 0, ntx = 0;
    for (size_t i = 0; i < n; i++) {
        const hb_token *t = &e->toks[i];
        if (!t->logits) continue;
        if (t->audio) audio_plan(e, &e->req[t->slot], (size_t)t->pos, e->picks + (na++) * K);
        else text_plan(e, &e->req[t->slot], t, (size_t)t->pos, &e->tpicks[ntx++]);
    }
    hb_draws draws = {e->picks, e->codes, e->tpicks, e->tcodes};
    double t0 = hb_now_s();
    hb_status rc = hb__engine_forward(e, e->toks, n, e->text_logits, e->audio_logits,
                                      e->dev_sampling ? &draws : NULL, rep, err);
    rep->forward_s += hb_now_s() - t0;
    if (rc) return rc;
    /* the head outputs to sample, one job a request, in token order */
    size_t it = 0, ia = 0, nj = 0, V = (size_t)e->cfg.vocab, A = (size_t)hb_audio_vocab(&e->cfg);
    for (size_t i = 0; i < n; i++) {
        const hb_token *t = &e->toks[i];
        if (!t->logits) continue;
        size_t row = t->audio ? ia++ : it++;
        e->jobs[nj++] = (struct hb_job){
            .token = i, .row = row, .logits = t->audio ? e->audio_logits + row * A : e->text_logits + row * V};
    }
    if (e->dev_sampling) /* only drawn tokens to take: not worth waking the pool */
        for (size_t j = 0; j < nj; j++) sample_job(e, j, 0);
    else
        hb_pool_run(e->pool, nj, sample_job, e);
    for (size_t j = 0; j < nj; j++) { /* first error in token order; callbacks in order */
        struct hb_job *jb = &e->jobs[j];
        hb_request *r = &e->req[e->toks[jb->token].slot];
        if (jb->rc && !rc) {
            rc = jb->rc;
            if (err) *err = jb->err;
        }
        if (r->frame_ready) {
            r->frame_ready = false;
            if (r->d.on_frame) r->d.on_frame(r->d.user, &r->ready);
        }
        if (!jb->rc && r->done) rep->finished++;
    }
    return rc;
}

hb_status hb_engine_generate(hb_engine *e, const hb_request_desc *d, uint64_t *id, hb_error *err)
{
    hb_status rc = hb_request_add(e, d, id, err);
    if (rc) return rc;
    hb_request *r = find(e, *id);
    while (!rc && !r->done) rc = hb_engine_step(e, NULL, err);
    return rc;
}

size_t hb_prompt_synthetic(const hb_model_config *c, size_t n, uint64_t seed, bool with_clip,
                           bool audio_now, int32_t *out)
{
    int32_t lo = c->vocab;
    int32_t special[] = {c->audio_in_id, c->audio_out_id, c->eos_id, c->audio_out_bos_id,
                         c->audio_eos_id};
    for (int i = 0; i < 5; i++) lo = special[i] < lo ? special[i] : lo;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (with_clip && i == n / 2) out[m++] = c->audio_in_id;
        out[m++] = (int32_t)(hb_uniform(seed, (uint64_t)i) * lo);
    }
    if (with_clip && n == 0) out[m++] = c->audio_in_id;
    if (audio_now || m == 0 || out[m - 1] == c->audio_in_id) out[m++] = c->audio_out_bos_id;
    return m;
}
