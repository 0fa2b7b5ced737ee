/* bench_tts.c - the TTS-specific benchmark types: generation modes, delay patterns, streaming
 * and DualFFN. Audio here means codec frames (8 codes, 40 ms each): this project has no waveform
 * decoder, and the reports say so. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite_internal.h"

/* Steps one request to completion, timing each step and noting the mode it ran in. */
typedef struct {
    double t_add;
    double frame_t[2048];
    size_t frames;
} stream_log;

static void on_frame(void *user, const hb_frame *f)
{
    stream_log *l = user;
    if (l->frames < sizeof l->frame_t / sizeof l->frame_t[0]) l->frame_t[l->frames] = f->t_s;
    l->frames++;
}

typedef struct {
    double step_s[4096];
    double host_s[4096];
    hb_gen_mode mode[4096];
    size_t rows_before_frame[4096]; /* frames delivered after this step */
    size_t nsteps;
    double prefill_s;
    size_t audio_steps, frames;
} run_trace;

static hb_status trace_one(hb_engine *e, const hb_request_desc *d0, stream_log *log, run_trace *t,
                           hb_error *err)
{
    hb_request_desc d = *d0;
    d.on_frame = on_frame;
    d.user = log;
    uint64_t id;
    log->t_add = hb_now_s();
    hb_status st = hb_request_add(e, &d, &id, err);
    if (st) return st;
    t->nsteps = 0;
    hb_request_status s = {0};
    bool first = true;
    while (!st) {
        st = hb_request_status_get(e, id, &s, err);
        if (st || s.done) break;
        hb_gen_mode mode = s.mode;
        hb_step_report rep;
        double t0 = hb_now_s();
        st = hb_engine_step(e, &rep, err);
        double dt = hb_now_s() - t0;
        if (first) {
            t->prefill_s = dt;
            first = false;
            continue;
        }
        if (t->nsteps < 4096) {
            t->step_s[t->nsteps] = dt;
            t->host_s[t->nsteps] = dt - rep.forward_s;
            t->mode[t->nsteps] = mode;
            t->rows_before_frame[t->nsteps] = log->frames;
            t->nsteps++;
        }
    }
    if (!st) st = hb_request_status_get(e, id, &s, err);
    t->audio_steps = s.audio_steps;
    t->frames = s.frames;
    hb_request_remove(e, id, NULL);
    return st;
}

/* ------------------------------------------------------------------- generation modes ---- */

static hb_status measure_modes(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                               hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_prompt_buf pr;
    hb_make_prompt(e, (size_t)p->seq_len, c->o->seed, false, &pr);
    hb_request_desc d = hb_bench_request(&pr, 16, c->frames, c->o->seed);
    stream_log log = {0};
    run_trace *t = calloc(1, sizeof *t);
    if (!t) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_status st = trace_one(e, &d, &log, t, err);
    if (!st) {
        double sum[3] = {0}, n[3] = {0};
        for (size_t i = 0; i < t->nsteps; i++) {
            sum[t->mode[i]] += t->step_s[i];
            n[t->mode[i]]++;
        }
        static const char *names[] = {"text_step_ms", "audio_init_step_ms", "audio_in_progress_step_ms"};
        for (int k = 0; k < 3; k++)
            if (n[k] > 0) hb_metric_put(m, names[k], "ms", HB_LOWER_IS_BETTER, 1e3 * sum[k] / n[k]);
    }
    free(t);
    return st;
}

hb_status hb_bench_generation_modes(hb_ctx *c, hb_error *err)
{
    hb_point p = {.batch = 1, .seq_len = (int)c->o->seq_lens[0]};
    snprintf(p.label, sizeof p.label, "L%d_B1", p.seq_len);
    return hb_run_point(c, "generation_modes", &p, measure_modes,
                        hb_runs_for(c, HB_BENCH_GENERATION_MODES), err);
}

/* --------------------------------------------------------------------- delay patterns ---- */

static hb_status measure_delay(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                               hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_prompt_buf pr;
    hb_make_prompt(e, 32, c->o->seed, true, &pr);
    hb_request_desc d = hb_bench_request(&pr, 0, (size_t)p->clip_frames, c->o->seed);
    stream_log log = {0};
    run_trace *t = calloc(1, sizeof *t);
    if (!t) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    hb_status st = trace_one(e, &d, &log, t, err);
    if (!st) {
        /* steps that completed no frame: the 7 delay steps, the BOS/EOS frame steps */
        double overhead = 0, host = 0;
        size_t prev = 0;
        for (size_t i = 0; i < t->nsteps; i++) {
            if (t->rows_before_frame[i] == prev) overhead += t->step_s[i];
            prev = t->rows_before_frame[i];
            host += t->host_s[i];
        }
        hb_metric_put(m, "positions_per_clip", "count", HB_LOWER_IS_BETTER, (double)t->audio_steps);
        hb_metric_put(m, "frames_per_clip", "count", HB_HIGHER_IS_BETTER, (double)t->frames);
        hb_metric_put(m, "delay_cost_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * overhead);
        hb_metric_put(m, "bookkeeping_us_per_step", "us", HB_LOWER_IS_BETTER,
                      t->nsteps ? 1e6 * host / (double)t->nsteps : 0);
    }
    free(t);
    return st;
}

hb_status hb_bench_delay_patterns(hb_ctx *c, hb_error *err)
{
    static const int seconds[] = {1, 5, 15};
    hb_engine_info info;
    hb_engine_describe(c->eng[1], &info);
    for (int i = 0; i < 3 && !*c->stop; i++) {
        hb_point p = {.clip_frames = 25 * seconds[i]};
        if (p.clip_frames + 64 > info.max_seq_len) continue;
        snprintf(p.label, sizeof p.label, "clip_%ds", seconds[i]);
        hb_status st = hb_run_point(c, "delay_patterns", &p, measure_delay,
                                    hb_runs_for(c, HB_BENCH_DELAY_PATTERNS), err);
        if (st) return st;
    }
    json_object_set_new(c->r->extras, "delay_patterns_note",
                        json_string("a clip of T frames takes T + 8 audio positions: 7 delay "
                                    "steps and the BOS frame step before the first frame, and "
                                    "the all-EOS row after the last"));
    return HB_OK;
}

/* -------------------------------------------------------------------------- streaming ---- */

static const int chunk_sizes[] = {1, 5, 10};

static hb_status measure_streaming(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                   hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_prompt_buf pr;
    hb_make_prompt(e, (size_t)p->seq_len, c->o->seed, true, &pr);
    hb_request_desc d = hb_bench_request(&pr, 0, c->frames, c->o->seed);
    stream_log *log = calloc(1, sizeof *log);
    run_trace *t = calloc(1, sizeof *t);
    hb_status st = (!log || !t) ? hb_fail(err, HB_ERR_NOMEM, "out of memory")
                                : trace_one(e, &d, log, t, err);
    if (!st && log->frames == 0) st = hb_fail(err, HB_ERR_INTERNAL, "no frame was delivered");
    if (!st) {
        size_t nf = log->frames < 2048 ? log->frames : 2048;
        hb_metric_put(m, "ttfa_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * (log->frame_t[0] - log->t_add));
        /* the arrival times of this run's frames, for the report's timeline (the last run wins) */
        json_t *tl = json_object_get(c->r->extras, "streaming_timeline");
        if (!tl) {
            tl = json_object();
            json_object_set_new(c->r->extras, "streaming_timeline", tl);
        }
        json_t *arr = json_array();
        for (size_t i = 0; i < nf; i++)
            json_array_append_new(arr, json_real(1e3 * (log->frame_t[i] - log->t_add)));
        json_object_set_new(tl, c->arch[arch], arr);
        for (int k = 0; k < 3; k++) {
            size_t cs = (size_t)chunk_sizes[k], nchunks = nf / cs;
            if (nchunks < 2) continue;
            /* chunk j is out when its last frame is; playback starts with chunk 0 and needs
             * chunk j by start + j x (cs x 40 ms) */
            double sum = 0, sq = 0, start = log->frame_t[cs - 1];
            size_t under = 0;
            for (size_t j = 1; j < nchunks; j++) {
                double iv = log->frame_t[(j + 1) * cs - 1] - log->frame_t[j * cs - 1];
                sum += iv;
                sq += iv * iv;
                under += log->frame_t[(j + 1) * cs - 1] > start + (double)(j * cs) * 0.040;
            }
            double mean = sum / (double)(nchunks - 1);
            double var = nchunks > 2 ? (sq - sum * mean) / (double)(nchunks - 2) : 0;
            char name[48];
            snprintf(name, sizeof name, "chunk%d_interval_ms", chunk_sizes[k]);
            hb_metric_put(m, name, "ms", HB_LOWER_IS_BETTER, 1e3 * mean);
            snprintf(name, sizeof name, "chunk%d_jitter_ms", chunk_sizes[k]);
            hb_metric_put(m, name, "ms", HB_LOWER_IS_BETTER, 1e3 * sqrt(var > 0 ? var : 0));
            snprintf(name, sizeof name, "chunk%d_underruns", chunk_sizes[k]);
            hb_metric_put(m, name, "count", HB_LOWER_IS_BETTER, (double)under);
        }
    }
    free(log);
    free(t);
    return st;
}

hb_status hb_bench_streaming(hb_ctx *c, hb_error *err)
{
    hb_point p = {.batch = 1, .seq_len = (int)c->o->seq_lens[0]};
    snprintf(p.label, sizeof p.label, "L%d_B1", p.seq_len);
    json_object_set_new(c->r->extras, "streaming_note",
                        json_string("audio here means codec frames (8 RVQ codes, 40 ms each); "
                                    "no waveform decoder is run"));
    return hb_run_point(c, "streaming", &p, measure_streaming, hb_runs_for(c, HB_BENCH_STREAMING),
                        err);
}

/* ---------------------------------------------------------------------------- dualffn ---- */

static hb_status measure_dualffn(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                 hb_error *err)
{
    hb_engine *e = c->eng[arch];
    const hb_model_config *cfg = hb_engine_config(e);
    /* a mixed prompt: text, a reference clip, text, <|audio_out_bos|>; and a text prompt of the
     * same number of positions */
    size_t clip_frames = 25, text_len = (size_t)p->seq_len;
    int32_t(*codes)[HB_NUM_CODEBOOKS] = malloc(clip_frames * sizeof *codes);
    if (!codes) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    for (size_t t = 0; t < clip_frames; t++)
        for (int k = 0; k < HB_NUM_CODEBOOKS; k++)
            codes[t][k] = (int32_t)((t * 131 + (size_t)k * 17) % (size_t)cfg->codebook_size);
    hb_audio_clip clip = {(const int32_t(*)[HB_NUM_CODEBOOKS])codes, clip_frames};
    hb_prompt_buf mixed, plain;
    mixed.n = hb_prompt_synthetic(cfg, text_len, c->o->seed, true, true, mixed.ids);
    hb_make_prompt(e, text_len + 1 + clip_frames + 9, c->o->seed, true, &plain);
    hb_status st = HB_OK;
    double prefill[2];
    for (int v = 0; v < 2 && !st; v++) {
        hb_request_desc d = hb_bench_request(v ? &plain : &mixed, 0, 1, c->o->seed);
        if (!v) {
            d.clips = &clip;
            d.nclips = 1;
        }
        uint64_t id;
        st = hb_request_add(e, &d, &id, err);
        double t0 = hb_now_s();
        if (!st) st = hb_engine_step(e, NULL, err);
        prefill[v] = hb_now_s() - t0;
        hb_request_remove(e, id, NULL);
    }
    /* text-path and audio-path decode steps */
    hb_prompt_buf pr;
    hb_make_prompt(e, text_len, c->o->seed, false, &pr);
    hb_request_desc d = hb_bench_request(&pr, 16, 16, c->o->seed);
    stream_log log = {0};
    run_trace *t = calloc(1, sizeof *t);
    if (!st && !t) st = hb_fail(err, HB_ERR_NOMEM, "out of memory");
    if (!st) st = trace_one(e, &d, &log, t, err);
    if (!st) {
        double ts = 0, as = 0, tn = 0, an = 0;
        for (size_t i = 0; i < t->nsteps; i++) {
            if (t->mode[i] == HB_MODE_TEXT) ts += t->step_s[i], tn++;
            if (t->mode[i] == HB_MODE_AUDIO_IN_PROGRESS) as += t->step_s[i], an++;
        }
        hb_metric_put(m, "text_path_step_ms", "ms", HB_LOWER_IS_BETTER, tn ? 1e3 * ts / tn : 0);
        hb_metric_put(m, "audio_path_step_ms", "ms", HB_LOWER_IS_BETTER, an ? 1e3 * as / an : 0);
        hb_metric_put(m, "mixed_prefill_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * prefill[0]);
        hb_metric_put(m, "text_prefill_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * prefill[1]);
    }
    free(t);
    free(codes);
    return st;
}

hb_status hb_bench_dualffn(hb_ctx *c, hb_error *err)
{
    hb_point p = {.batch = 1, .seq_len = (int)(c->o->seq_lens[0] / 2 > 8 ? c->o->seq_lens[0] / 2 : 8)};
    snprintf(p.label, sizeof p.label, "L%d_B1", p.seq_len);
    /* routing shares of the mixed prompt: text positions vs audio positions */
    size_t text = (size_t)p.seq_len + 1, audio = 25 + 9;
    json_object_set_new(c->r->extras, "dualffn_routing",
                        json_pack("{s:I, s:I, s:f, s:f}", "text_positions", (json_int_t)text,
                                  "audio_positions", (json_int_t)audio, "text_share",
                                  (double)text / (double)(text + audio), "audio_share",
                                  (double)audio / (double)(text + audio)));
    return hb_run_point(c, "dualffn", &p, measure_dualffn, hb_runs_for(c, HB_BENCH_DUALFFN), err);
}
