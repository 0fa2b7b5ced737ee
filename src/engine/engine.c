/* engine.c - opening engines and pairs, describing them, and running batches through them
 * (including the separate topology's KV handoffs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine_dir.h"
#include "engine_internal.h"

hb_engine_opts hb_engine_defaults(void)
{
    return (hb_engine_opts){.backend = NULL, .device = 0, .cuda_graphs = false, .max_batch = 0,
                            .max_seq_len = 0, .host_sampling = false, .host_steps = false,
                            .bos_own_step = false};
}

#ifdef HB_HAVE_CUDA
extern const hb_backend_ops hb_cuda_backend;
const hb_backend_ops *hb_cuda_backend_ops(void) { return &hb_cuda_backend; }
#else
const hb_backend_ops *hb_cuda_backend_ops(void) { return NULL; }
#endif

bool hb_backend_available(const char *name)
{
    if (strcmp(name, "cpu") == 0) return true;
    const hb_backend_ops *c = hb_cuda_backend_ops();
    return strcmp(name, "cuda") == 0 && c && (!c->available || c->available());
}

static hb_status pick_backend(const hb_engine_opts *o, const hb_backend_ops **ops, hb_error *err)
{
    const char *name = o->backend ? o->backend : "cpu";
    if (strcmp(name, "cpu") == 0) {
        *ops = &hb_cpu_backend;
        return HB_OK;
    }
    if (strcmp(name, "cuda") == 0) {
        *ops = hb_cuda_backend_ops();
        if (!*ops)
            return hb_fail(err, HB_ERR_UNSUPPORTED,
                           "backend 'cuda' is not in this build (configure with -DHB_CUDA=ON on a "
                           "machine with nvcc)");
        return HB_OK;
    }
    return hb_fail(err, HB_ERR_INVALID, "unknown backend '%s' (cpu or cuda)", name);
}

static hb_status limits(const hb_engine_manifest *m, const hb_engine_opts *o, int *mb, int *ms,
                        hb_error *err)
{
    *mb = m->max_batch;
    *ms = m->max_seq_len;
    if (o->max_batch > 0) {
        if (o->max_batch > m->max_batch)
            return hb_fail(err, HB_ERR_INVALID, "max batch %d exceeds the engine's %d",
                           o->max_batch, m->max_batch);
        *mb = o->max_batch;
    }
    if (o->max_seq_len > 0) {
        if (o->max_seq_len > m->max_seq_len)
            return hb_fail(err, HB_ERR_INVALID, "max sequence length %d exceeds the engine's %d",
                           o->max_seq_len, m->max_seq_len);
        *ms = o->max_seq_len;
    }
    return HB_OK;
}

/* Creates backend half i of e from an engine directory. */
static hb_status load_half(hb_engine *e, int i, const char *dir, const hb_engine_manifest *m,
                           const hb_engine_opts *o, uint64_t *hash, hb_error *err)
{
    hb_safetensors st;
    hb_status rc = hb_engine_open_weights(m, &st, err);
    if (rc) {
        char msg[HB_ERROR_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", err ? err->msg : "");
        return hb_fail(err, rc, "engine '%s': %s", dir, msg);
    }
    rc = e->ops->create(&e->cfg, m->role, &st, e->max_batch, e->max_seq, o, &e->mem, hash,
                        &e->be[i], err);
    hb_st_close(&st);
    if (rc && err) {
        char msg[HB_ERROR_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", err->msg);
        hb_fail(err, rc, "engine '%s': %s", dir, msg);
    }
    return rc;
}

static hb_status finish_open(hb_engine *e, const hb_engine_opts *o, hb_error *err)
{
    e->dev_sampling = e->ops->device_sampling && !o->host_sampling &&
                      hb_codebook_rows(&e->cfg) <= HB_DEVICE_DRAW_MAX_ROWS;
    e->device_steps = e->dev_sampling && !o->host_steps && e->ops->streak_begin &&
                      e->ops->streak_launch && e->ops->streak_collect;
    e->bos_with_prompt = !o->bos_own_step;
    int n = e->topo == HB_TOPO_SEPARATE ? 2 : 1;
    for (int i = 0; i < n; i++) {
        e->kv_valid[i] = hb_mem_calloc(&e->mem, HB_MEM_OTHER, (size_t)e->max_batch * sizeof(int32_t));
        if (!e->kv_valid[i]) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    }
    return hb__requests_init(e, err);
}

hb_status hb_engine_open(const char *dir, const hb_engine_opts *o, hb_engine **out, hb_error *err)
{
    hb_engine_opts def = hb_engine_defaults();
    if (!o) o = &def;
    hb_engine_manifest m;
    hb_engine *e = calloc(1, sizeof *e);
    if (!e) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_mem_init(&e->mem);
    hb_status rc = hb_engine_read_dir(dir, &m, &e->cfg, err);
    if (!rc) rc = pick_backend(o, &e->ops, err);
    if (!rc) rc = limits(&m, o, &e->max_batch, &e->max_seq, err);
    uint64_t h = 0;
    if (!rc) {
        e->topo = HB_TOPO_UNIFIED;
        e->dtype = m.dtype;
        e->params = hb_model_params(&e->cfg, m.role);
        rc = load_half(e, 0, dir, &m, o, &h, err);
    }
    if (!rc && m.role != HB_ROLE_UNIFIED)
        rc = hb_fail(err, HB_ERR_INVALID,
                     "engine '%s' is a %s engine; open it together with its %s engine as a "
                     "separate pair", dir, hb_role_name(m.role),
                     m.role == HB_ROLE_TEXT ? "audio" : "text");
    if (!rc) {
        snprintf(e->hash, sizeof e->hash, "%016llx", (unsigned long long)h);
        rc = finish_open(e, o, err);
    }
    if (rc) {
        hb_engine_close(e);
        return rc;
    }
    *out = e;
    return HB_OK;
}

hb_status hb_engine_open_pair(const char *text_dir, const char *audio_dir, const hb_engine_opts *o,
                              hb_engine **out, hb_error *err)
{
    hb_engine_opts def = hb_engine_defaults();
    if (!o) o = &def;
    hb_engine_manifest mt, ma;
    hb_model_config ca;
    hb_engine *e = calloc(1, sizeof *e);
    if (!e) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_mem_init(&e->mem);
    e->topo = HB_TOPO_SEPARATE;
    hb_status rc = hb_engine_read_dir(text_dir, &mt, &e->cfg, err);
    if (!rc) rc = hb_engine_read_dir(audio_dir, &ma, &ca, err);
    if (!rc && mt.role != HB_ROLE_TEXT)
        rc = hb_fail(err, HB_ERR_INVALID, "'%s' is a %s engine, but a text engine is needed here",
                     text_dir, hb_role_name(mt.role));
    if (!rc && ma.role != HB_ROLE_AUDIO)
        rc = hb_fail(err, HB_ERR_INVALID, "'%s' is a %s engine, but an audio engine is needed here",
                     audio_dir, hb_role_name(ma.role));
    if (!rc && !hb_config_equal(&e->cfg, &ca))
        rc = hb_fail(err, HB_ERR_MISMATCH,
                     "the text engine '%s' and the audio engine '%s' describe different models "
                     "(their config.json files disagree)", text_dir, audio_dir);
    if (!rc) rc = pick_backend(o, &e->ops, err);
    int mb2, ms2;
    if (!rc) rc = limits(&mt, o, &e->max_batch, &e->max_seq, err);
    if (!rc) rc = limits(&ma, o, &mb2, &ms2, err);
    uint64_t h0 = 0, h1 = 0;
    if (!rc) {
        /* the pair serves what both halves can */
        e->max_batch = mb2 < e->max_batch ? mb2 : e->max_batch;
        e->max_seq = ms2 < e->max_seq ? ms2 : e->max_seq;
        e->dtype = mt.dtype;
        e->params = hb_model_params(&e->cfg, HB_ROLE_TEXT) + hb_model_params(&e->cfg, HB_ROLE_AUDIO);
        rc = load_half(e, 0, text_dir, &mt, o, &h0, err);
    }
    if (!rc) rc = load_half(e, 1, audio_dir, &ma, o, &h1, err);
    if (!rc) {
        snprintf(e->hash, sizeof e->hash, "%016llx", (unsigned long long)(h0 ^ (h1 * 31)));
        rc = finish_open(e, o, err);
    }
    if (rc) {
        hb_engine_close(e);
        return rc;
    }
    *out = e;
    return HB_OK;
}

void hb_engine_close(hb_engine *e)
{
    if (!e) return;
    hb__requests_free(e);
    for (int i = 0; i < 2; i++) {
        if (e->be[i]) e->ops->destroy(e->be[i]);
        hb_mem_free(&e->mem, e->kv_valid[i]);
    }
    hb_mem_destroy(&e->mem);
    free(e);
}

const hb_model_config *hb_engine_config(const hb_engine *e) { return &e->cfg; }

void hb_engine_describe(const hb_engine *e, hb_engine_info *o)
{
    memset(o, 0, sizeof *o);
    o->topology = e->topo;
    o->backend = e->ops->name;
    o->role = HB_ROLE_UNIFIED;
    o->dtype = e->dtype;
    o->max_batch = e->max_batch;
    o->max_seq_len = e->max_seq;
    o->params = e->params;
    o->has_cuda_graphs = e->ops->has_graphs;
    o->device_sampling = e->dev_sampling;
    o->device_steps = e->device_steps;
    o->bos_with_prompt = e->bos_with_prompt;
    memcpy(o->weights_hash, e->hash, sizeof o->weights_hash);
    snprintf(o->device, sizeof o->device, "cpu");
    if (e->ops->device_name && e->be[0]) e->ops->device_name(e->be[0], o->device, sizeof o->device);
}

void hb_engine_memory(const hb_engine *e, hb_memory_report *o)
{
    memset(o, 0, sizeof *o);
    memcpy(o->current, e->mem.current, sizeof o->current);
    memcpy(o->peak, e->mem.peak, sizeof o->peak);
    o->peak_total = e->mem.peak_total;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) o->process_peak_rss = (uint64_t)ru.ru_maxrss * 1024;
    for (int i = 0; i < 2; i++) /* both halves of a pair see the same device: take it once */
        if (e->be[i]) {
            uint64_t u = e->ops->device_used(e->be[i]);
            o->device_used = u > o->device_used ? u : o->device_used;
        }
}

void hb_engine_graph_stats(const hb_engine *e, size_t *count, double *capture_s, uint64_t *bytes)
{
    *count = 0;
    *capture_s = 0;
    *bytes = 0;
    for (int i = 0; i < 2; i++)
        if (e->be[i] && e->ops->graph_stats) {
            size_t c;
            double t;
            uint64_t b;
            e->ops->graph_stats(e->be[i], &c, &t, &b);
            *count += c, *capture_s += t, *bytes += b;
        }
}

void hb_engine_memory_reset_peaks(hb_engine *e)
{
    uint64_t total = 0;
    for (int i = 0; i < HB_MEM__COUNT; i++) {
        e->mem.peak[i] = e->mem.current[i];
        total += e->mem.current[i];
    }
    e->mem.peak_total = total;
}

/* ---------------------------------------------------------------------- forward passes ---- */

hb_status hb__engine_forward(hb_engine *e, const hb_token *t, size_t n, float *text_logits,
                             float *audio_logits, const hb_draws *draws, hb_step_report *rep,
                             hb_error *err)
{
    if (e->topo == HB_TOPO_UNIFIED)
        return e->ops->forward(e->be[0], t, n, text_logits, audio_logits, draws, err);

    /* A pair: each engine runs, per slot, the longest run of that slot's pending tokens on its
     * path; before a run, the KV positions the other engine wrote since this one last saw the
     * slot are handed over. Runs of all slots on one path go in one batch. */
    size_t V = (size_t)e->cfg.vocab, A = (size_t)hb_audio_vocab(&e->cfg);
    size_t nt = 0, na = 0;
    for (size_t i = 0; i < n; i++) /* output row of each logits token, in token order */
        e->row_of[i] = t[i].logits ? (int32_t)(t[i].audio ? na++ : nt++) : -1;
    if (draws && (na > (size_t)e->max_batch || nt > (size_t)e->max_batch))
        return hb_fail(err, HB_ERR_INTERNAL, "device draws for %zu + %zu rows, more than the %d "
                       "request slots", nt, na, e->max_batch); /* the sub-batch arrays' size */
    bool *taken = calloc(n ? n : 1, sizeof *taken);
    /* generation asks for at most one row per request; other callers may ask for more */
    bool own = nt > (size_t)e->max_batch || na > (size_t)e->max_batch;
    float *sub_text = own ? malloc((nt + 1) * V * sizeof(float)) : e->sub_text;
    float *sub_audio = own ? malloc((na + 1) * A * sizeof(float)) : e->sub_audio;
    if (!taken || !sub_text || !sub_audio) {
        free(taken);
        if (own) free(sub_text), free(sub_audio);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    }
    hb_status rc = HB_OK;
    size_t done = 0;
    while (done < n && !rc) {
        size_t progress = done;
        for (int path = 0; path < 2 && !rc; path++) {
            size_t m = 0, sub_rows = 0;
            for (int s = 0; s < e->max_batch; s++) {
                /* the slot's first pending token, then its run on this path */
                size_t first = n;
                for (size_t i = 0; i < n; i++)
                    if (t[i].slot == s && !taken[i]) {
                        first = i;
                        break;
                    }
                if (first == n || t[first].audio != path) continue;
                int32_t p0 = t[first].pos;
                if (e->kv_valid[path][s] < p0) { /* handoff */
                    int other = 1 - path;
                    if (e->kv_valid[other][s] < p0) {
                        rc = hb_fail(err, HB_ERR_INTERNAL, "slot %d: no engine holds KV up to %d",
                                     s, p0);
                        break;
                    }
                    rc = e->ops->kv_copy(e->be[path], e->be[other], s, e->kv_valid[path][s], p0,
                                         err);
                    if (rc) break;
                    if (rep) {
                        rep->handoffs++;
                        rep->handoff_positions += (size_t)(p0 - e->kv_valid[path][s]);
                    }
                }
                for (size_t i = first; i < n; i++) {
                    if (t[i].slot != s || taken[i]) continue;
                    if (t[i].audio != path) break;
                    if (draws && t[i].logits) { /* its planned draws, in sub order */
                        size_t from = (size_t)e->row_of[i], to = sub_rows++;
                        if (path == 1)
                            memcpy(e->sub_picks + to * HB_NUM_CODEBOOKS,
                                   draws->audio + from * HB_NUM_CODEBOOKS,
                                   HB_NUM_CODEBOOKS * sizeof *e->sub_picks);
                        else
                            e->sub_tpicks[to] = draws->text[from];
                    }
                    e->sub[m] = t[i];
                    e->sub_src[m++] = (int32_t)i;
                    taken[i] = true;
                    e->kv_valid[path][s] = t[i].pos + 1;
                }
            }
            if (rc || m == 0) continue;
            hb_draws sd = {path ? e->sub_picks : NULL, path ? e->sub_codes : NULL,
                           path ? NULL : e->sub_tpicks, path ? NULL : e->sub_tcodes};
            rc = e->ops->forward(e->be[path], e->sub, m, sub_text, sub_audio, draws ? &sd : NULL,
                                 err);
            size_t r = 0, K2 = 2 * HB_NUM_CODEBOOKS;
            for (size_t j = 0; j < m && !rc; j++) {
                if (!e->sub[j].logits) continue;
                size_t row = (size_t)e->row_of[e->sub_src[j]];
                if (draws && path == 0)
                    memcpy(draws->text_out + row * 2, e->sub_tcodes + r * 2, 2 * sizeof(int32_t));
                else if (draws)
                    memcpy(draws->audio_out + row * K2, e->sub_codes + r * K2, K2 * sizeof(int32_t));
                else if (path == 0)
                    memcpy(text_logits + row * V, sub_text + r * V, V * sizeof(float));
                else
                    memcpy(audio_logits + row * A, sub_audio + r * A, A * sizeof(float));
                r++;
            }
            done += m;
        }
        if (!rc && done == progress) rc = hb_fail(err, HB_ERR_INTERNAL, "pair made no progress");
    }
    free(taken);
    if (own) free(sub_text), free(sub_audio);
    return rc;
}
