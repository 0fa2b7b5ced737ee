/* runner.c - opening the engines, the plan, warm-ups, ABBA interleaving, the harness's own
 * overhead, and dispatch to the benchmark types. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/fs.h"
#include "higgsbench/build.h"
#include "suite_internal.h"

hb_suite_opts hb_suite_defaults(void)
{
    hb_suite_opts o;
    memset(&o, 0, sizeof o);
    o.output_dir = "./benchmark_results";
    for (int i = 0; i < HB_BENCH__COUNT; i++) o.types[i] = true;
    o.num_runs = 50;
    o.warmup_runs = 5;
    size_t bs[] = {1, 2, 4, 8};
    memcpy(o.batch_sizes, bs, sizeof bs);
    o.nbatch = 4;
    o.seq_lens[0] = 128;
    o.nseq = 1;
    o.concurrency_max = 32;
    o.arrival_rates[0] = 2;
    o.arrival_rates[1] = 8;
    o.nrates = 2;
    o.confidence_level = 0.95;
    o.device = "auto";
    o.interleaved = true;
    o.seed = 1;
    o.audio_seconds = 2.0;
    return o;
}

void hb_metric_put(hb_metric_out *m, const char *name, const char *unit, hb_direction dir,
                   double value)
{
    if (m->n >= (int)(sizeof m->v / sizeof m->v[0])) return;
    hb_metric_val *v = &m->v[m->n++];
    snprintf(v->name, sizeof v->name, "%s", name);
    snprintf(v->unit, sizeof v->unit, "%s", unit);
    v->dir = dir;
    v->value = value;
}

void hb_logf(hb_ctx *c, int verbose_only, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->log) c->log(c->user, verbose_only, msg);
}

void hb_make_prompt(const hb_engine *e, size_t len, uint64_t seed, bool audio_now, hb_prompt_buf *p)
{
    if (len > 4096) len = 4096;
    p->n = hb_prompt_synthetic(hb_engine_config(e), len > 0 ? len - 1 : 0, seed, false, audio_now,
                               p->ids);
}

hb_request_desc hb_bench_request(const hb_prompt_buf *p, size_t text, size_t frames, uint64_t seed)
{
    hb_request_desc d = hb_request_defaults();
    d.prompt = p->ids;
    d.prompt_len = p->n;
    d.max_text_tokens = text;
    d.max_frames = frames;
    d.exact = true; /* every run does the same work */
    d.seed = seed;
    return d;
}

size_t hb_runs_for(const hb_ctx *c, hb_bench_type t)
{
    if (t == HB_BENCH_MEMORY) return c->o->num_runs < 5 ? c->o->num_runs : 5;
    return c->o->num_runs;
}

static void progress(hb_ctx *c)
{
    c->done_runs++;
    if (!c->o->progress || c->total_runs == 0) return;
    double f = (double)c->done_runs / (double)c->total_runs;
    if (f > 1) f = 1;
    int w = (int)(f * 30);
    double el = hb_now_s() - c->t_start, eta = f > 0 ? el / f - el : 0;
    fprintf(stderr, "\r[%.*s%*s] %3.0f%%  %zu/%zu runs  %.0fs left ", w,
            "##############################", 30 - w, "", 100 * f, c->done_runs, c->total_runs, eta);
    if (c->done_runs >= c->total_runs) fprintf(stderr, "\n");
}

static hb_status record(hb_ctx *c, const char *type, const hb_point *p, int arch,
                        const hb_metric_out *m, hb_error *err)
{
    for (int i = 0; i < m->n; i++) {
        const hb_metric_val *v = &m->v[i];
        hb_series *s = hb_results_series(c->r, type, v->name, p->label, c->arch[arch], v->unit, v->dir);
        if (!s) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
        hb_status st = hb_series_add(s, v->value, err);
        if (st) return st;
    }
    return HB_OK;
}

/* One measurement; a failure is counted against the point's series and logged, not fatal. */
static hb_status one(hb_ctx *c, const char *type, const hb_point *p, hb_measure_fn fn, int arch,
                     bool keep, hb_error *err)
{
    hb_metric_out m = {.n = 0};
    hb_error e = {0};
    hb_status st = fn(c, arch, p, &m, &e);
    if (keep) progress(c);
    if (st) {
        hb_logf(c, 0, "%s %s on %s: run failed: %s", type, p->label, c->arch[arch], e.msg);
        hb_series *s = hb_results_series(c->r, type, "run", p->label, c->arch[arch], "count",
                                         HB_LOWER_IS_BETTER);
        if (s) s->failed++;
        /* drain whatever the failed run left in the engine */
        return HB_OK;
    }
    return keep ? record(c, type, p, arch, &m, err) : HB_OK;
}

hb_status hb_run_point(hb_ctx *c, const char *type, const hb_point *p, hb_measure_fn fn,
                       size_t runs, hb_error *err)
{
    hb_logf(c, 1, "%s %s: %zu warm-up and %zu measured runs per architecture", type, p->label,
            c->o->warmup_runs, runs);
    for (size_t w = 0; w < c->o->warmup_runs && !*c->stop; w++)
        for (int a = 0; a < 2; a++) {
            hb_status st = one(c, type, p, fn, a, false, err);
            if (st) return st;
        }
    for (size_t i = 0; i < runs && !*c->stop; i++) {
        /* ABBA: runs 0 and 3 of each block of 4 start with A, runs 1 and 2 with B */
        int first = !c->o->interleaved ? ARCH_A : (i % 4 == 0 || i % 4 == 3) ? ARCH_A : ARCH_B;
        for (int k = 0; k < 2; k++) {
            int a = c->o->interleaved ? (k == 0 ? first : 1 - first) : k;
            hb_status st = one(c, type, p, fn, a, true, err);
            if (st) return st;
            if (*c->stop) break;
        }
    }
    return HB_OK;
}

/* ---------------------------------------------------------------------- engines ---- */

static hb_status default_engines(const hb_suite_opts *o, char *dir, size_t size, hb_error *err)
{
    const char *base = o->cache_dir;
    char tmp[PATH_MAX];
    if (!base) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg) snprintf(tmp, sizeof tmp, "%s/higgs-bench", xdg);
        else if (home && *home) snprintf(tmp, sizeof tmp, "%s/.cache/higgs-bench", home);
        else snprintf(tmp, sizeof tmp, "/tmp/higgs-bench-cache");
        base = tmp;
    }
    if (hb_make_dirs(base, 0755) != 0)
        return hb_fail(err, HB_ERR_IO,
                       "cannot create the cache directory '%s' for the default engines: %s", base,
                       strerror(errno));
    snprintf(dir, size, "%s/small-bf16-seed1-v1", base);
    struct stat sb;
    char probe[PATH_MAX];
    snprintf(probe, sizeof probe, "%s/unified/engine.json", dir);
    if (stat(probe, &sb) == 0) return HB_OK;
    /* build into a fresh directory, then rename: a half-built cache is never used */
    char part[PATH_MAX];
    snprintf(part, sizeof part, "%s.partial-%ld", dir, (long)getpid());
    hb_build_opts b = hb_build_defaults();
    b.out = part;
    b.use_preset = true;
    b.preset = HB_PRESET_SMALL;
    b.topology = HB_BUILD_BOTH;
    b.max_batch = 32;
    b.max_seq_len = 2048;
    hb_status st = hb_build_engines(&b, err);
    if (st) return st;
    if (rename(part, dir) != 0 && stat(probe, &sb) != 0)
        return hb_fail(err, HB_ERR_IO, "cannot move '%s' to '%s': %s", part, dir, strerror(errno));
    return HB_OK;
}

static hb_status open_engines(const hb_suite_opts *o, hb_engine *eng[2], char (*dirs)[PATH_MAX],
                              hb_error *err)
{
    hb_engine_opts eo = hb_engine_defaults();
    const char *dev = o->device ? o->device : "auto";
    if (strcmp(dev, "auto") == 0) dev = hb_backend_available("cuda") ? "cuda" : "cpu";
    eo.backend = dev;
    eo.cuda_graphs = o->cuda_graphs;
    const char *u = o->unified_dir, *t = o->text_dir, *a = o->audio_dir;
    char def[PATH_MAX];
    if (!u && !t && !a) {
        hb_status st = default_engines(o, def, sizeof def, err);
        if (st) return st;
        snprintf(dirs[0], PATH_MAX, "%s/unified", def);
        snprintf(dirs[1], PATH_MAX, "%s/text", def);
        snprintf(dirs[2], PATH_MAX, "%s/audio", def);
        u = dirs[0], t = dirs[1], a = dirs[2];
    } else {
        if (!u || !t || !a)
            return hb_fail(err, HB_ERR_INVALID, "give all of --unified-engine, "
                           "--separate-text-engine and --separate-audio-engine, or none (the "
                           "built-in default engines)");
        snprintf(dirs[0], PATH_MAX, "%s", u);
        snprintf(dirs[1], PATH_MAX, "%s", t);
        snprintf(dirs[2], PATH_MAX, "%s", a);
    }
    hb_status st = hb_engine_open_pair(t, a, &eo, &eng[ARCH_A], err);
    if (!st) st = hb_engine_open(u, &eo, &eng[ARCH_B], err);
    if (st) return st;
    if (!hb_config_equal(hb_engine_config(eng[0]), hb_engine_config(eng[1])))
        return hb_fail(err, HB_ERR_MISMATCH, "the unified engine '%s' and the separate pair "
                       "describe different models (their config.json files disagree)", u);
    if (o->model_config) {
        hb_model_config mc;
        st = hb_config_load(o->model_config, &mc, err);
        if (!st && !hb_config_equal(&mc, hb_engine_config(eng[1])))
            st = hb_fail(err, HB_ERR_MISMATCH, "--model-config '%s' does not match the engines' "
                         "config.json", o->model_config);
    }
    return st;
}

/* ------------------------------------------------------------------------- plan ---- */

static hb_status check_fit(const hb_suite_opts *o, hb_engine *const eng[2], size_t frames,
                           hb_error *err)
{
    for (int i = 0; i < 2; i++) {
        hb_engine_info info;
        hb_engine_describe(eng[i], &info);
        for (size_t b = 0; b < o->nbatch; b++)
            if ((int)o->batch_sizes[b] > info.max_batch)
                return hb_fail(err, HB_ERR_INVALID, "--batch-sizes: %zu exceeds the engines' max "
                               "batch of %d (build engines with a larger --max-batch)",
                               o->batch_sizes[b], info.max_batch);
        for (size_t s = 0; s < o->nseq; s++) {
            size_t need = o->seq_lens[s] + 16 + frames + 9;
            if (need > (size_t)info.max_seq_len || o->seq_lens[s] > 4096)
                return hb_fail(err, HB_ERR_INVALID, "--sequence-lengths %zu with %g s of audio "
                               "needs %zu positions but the engines hold %d", o->seq_lens[s],
                               o->audio_seconds, need, info.max_seq_len);
        }
    }
    return HB_OK;
}

static size_t planned_runs(const hb_suite_opts *o, const hb_ctx *c, int max_batch)
{
    size_t per = 2 * o->num_runs, total = 0;
    size_t conc = 0;
    for (size_t k = 1; k <= o->concurrency_max && (int)k <= max_batch; k *= 2) conc++;
    if (o->types[HB_BENCH_LATENCY]) total += per * o->nbatch * o->nseq;
    if (o->types[HB_BENCH_MEMORY]) total += 2 * hb_runs_for(c, HB_BENCH_MEMORY) * o->nbatch * o->nseq;
    if (o->types[HB_BENCH_THROUGHPUT]) total += per * (conc + (o->concurrent ? o->nrates : 0));
    if (o->types[HB_BENCH_GENERATION_MODES]) total += per;
    if (o->types[HB_BENCH_DELAY_PATTERNS]) total += per * 3;
    if (o->types[HB_BENCH_STREAMING]) total += per;
    if (o->types[HB_BENCH_DUALFFN]) total += per;
    return total;
}

static json_t *plan_json(const hb_suite_opts *o, const char (*dirs)[PATH_MAX], size_t frames)
{
    json_t *types = json_array(), *bs = json_array(), *sl = json_array(), *rates = json_array();
    for (int i = 0; i < HB_BENCH__COUNT; i++)
        if (o->types[i]) json_array_append_new(types, json_string(hb_bench_name((hb_bench_type)i)));
    for (size_t i = 0; i < o->nbatch; i++) json_array_append_new(bs, json_integer((json_int_t)o->batch_sizes[i]));
    for (size_t i = 0; i < o->nseq; i++) json_array_append_new(sl, json_integer((json_int_t)o->seq_lens[i]));
    for (size_t i = 0; i < o->nrates; i++) json_array_append_new(rates, json_real(o->arrival_rates[i]));
    return json_pack("{s:o, s:I, s:I, s:o, s:o, s:I, s:o, s:b, s:b, s:f, s:s, s:I, s:f, s:I, "
                     "s:{s:s, s:s, s:s}, s:s, s:s}",
                     "benchmark_types", types, "num_runs", (json_int_t)o->num_runs, "warmup_runs",
                     (json_int_t)o->warmup_runs, "batch_sizes", bs, "sequence_lengths", sl,
                     "max_concurrent_requests", (json_int_t)o->concurrency_max, "arrival_rates",
                     rates, "cuda_graphs", o->cuda_graphs, "concurrent", o->concurrent,
                     "confidence_level", o->confidence_level, "order",
                     o->interleaved ? "interleaved" : "sequential", "seed", (json_int_t)o->seed,
                     "audio_seconds", o->audio_seconds, "frames_per_clip", (json_int_t)frames,
                     "engines", "unified", dirs[0], "separate_text", dirs[1], "separate_audio",
                     dirs[2], "baseline_arch", "separate", "candidate_arch", "unified");
}

static size_t frames_of(const hb_suite_opts *o)
{
    size_t f = (size_t)(o->audio_seconds * 25 + 0.5);
    return f < 1 ? 1 : f;
}

static hb_status validate_opts(const hb_suite_opts *o, hb_error *err)
{
    if (o->num_runs < 2) return hb_fail(err, HB_ERR_INVALID, "--num-runs %zu: at least 2 are needed for statistics", o->num_runs);
    if (o->nbatch == 0 || o->nseq == 0) return hb_fail(err, HB_ERR_INVALID, "no batch sizes or sequence lengths");
    if (!(o->audio_seconds > 0 && o->audio_seconds <= 600))
        return hb_fail(err, HB_ERR_INVALID, "--audio-seconds %g is outside (0, 600]", o->audio_seconds);
    bool any = false;
    for (int i = 0; i < HB_BENCH__COUNT; i++) any |= o->types[i];
    if (!any) return hb_fail(err, HB_ERR_INVALID, "no benchmark type selected");
    if (o->device && strcmp(o->device, "cpu") && strcmp(o->device, "cuda") && strcmp(o->device, "auto"))
        return hb_fail(err, HB_ERR_INVALID, "--device '%s' is not cpu, cuda or auto", o->device);
    return HB_OK;
}

/* Checks the options, opens the engines (into eng, their directories into dirs) and checks that
 * the plan's batch sizes and lengths, *frames a clip, fit them. On failure the caller still
 * closes eng. */
static hb_status prepare(const hb_suite_opts *o, hb_engine *eng[2], char (*dirs)[PATH_MAX],
                         size_t *frames, hb_error *err)
{
    *frames = 0;
    hb_status st = validate_opts(o, err);
    if (st) return st;
    *frames = frames_of(o); /* audio_seconds is validated */
    st = open_engines(o, eng, dirs, err);
    if (!st) st = check_fit(o, eng, *frames, err);
    return st;
}

hb_status hb_suite_dry_run(const hb_suite_opts *o, char *plan, size_t size, hb_error *err)
{
    hb_engine *eng[2] = {NULL, NULL};
    char dirs[3][PATH_MAX];
    size_t frames;
    hb_status st = prepare(o, eng, dirs, &frames, err);
    if (!st) {
        hb_ctx c = {.o = o};
        hb_engine_info info;
        hb_engine_describe(eng[1], &info);
        size_t runs = planned_runs(o, &c, info.max_batch);
        hb_memory_report mu, ms;
        hb_engine_memory(eng[1], &mu);
        hb_engine_memory(eng[0], &ms);
        /* a rough time estimate from one calibration decode step per architecture (not a
         * benchmark run: one short request, nothing recorded) */
        double step_s[2] = {0, 0};
        for (int a = 0; a < 2 && !st; a++) {
            hb_prompt_buf pr;
            hb_make_prompt(eng[a], 16, o->seed, true, &pr);
            hb_request_desc d = hb_bench_request(&pr, 0, 2, o->seed);
            uint64_t id;
            st = hb_request_add(eng[a], &d, &id, err);
            if (!st) st = hb_engine_step(eng[a], NULL, err);
            double t0 = hb_now_s();
            if (!st) st = hb_engine_step(eng[a], NULL, err);
            step_s[a] = hb_now_s() - t0;
            hb_request_remove(eng[a], id, NULL);
        }
        double est = (double)runs / 2 * (double)(frames + 9) * (step_s[0] + step_s[1]) *
                     (1 + (double)o->warmup_runs / (double)o->num_runs);
        int w = snprintf(plan, size,
                         "engines: unified %s\n         separate %s + %s\n"
                         "backend: %s; %.1f M parameters (unified), memory: unified %.1f MiB, "
                         "separate %.1f MiB\nframes per clip: %zu (%.2f s)\nmeasured runs: %zu "
                         "(+ %zu warm-up runs per point and architecture), order %s\n"
                         "estimated time: about %.0f s (from one calibration decode step of each "
                         "architecture; batches and long clips take longer)\n"
                         "benchmark types:",
                         dirs[0], dirs[1], dirs[2], info.backend, (double)info.params / 1e6,
                         (double)mu.peak_total / 1048576, (double)ms.peak_total / 1048576, frames,
                         o->audio_seconds, runs, o->warmup_runs,
                         o->interleaved ? "interleaved (ABBA)" : "sequential", est);
        for (int i = 0; i < HB_BENCH__COUNT && w > 0 && (size_t)w < size; i++)
            if (o->types[i]) w += snprintf(plan + w, size - (size_t)w, " %s", hb_bench_name((hb_bench_type)i));
        if (w > 0 && (size_t)w < size) snprintf(plan + w, size - (size_t)w, "\n");
    }
    hb_engine_close(eng[0]);
    hb_engine_close(eng[1]);
    return st;
}

/* Timer resolution and the cost of the harness around one run (a measure that does nothing). */
static hb_status noop_measure(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                              hb_error *err)
{
    (void)c, (void)arch, (void)p, (void)err;
    hb_metric_put(m, "noop", "ms", HB_LOWER_IS_BETTER, 0);
    return HB_OK;
}

static void measure_harness(hb_ctx *c)
{
    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    double best = 1e9;
    for (int i = 0; i < 1000; i++) {
        double a = hb_now_s(), b = hb_now_s();
        while (b == a) b = hb_now_s();
        if (b - a < best) best = b - a;
    }
    c->r->timer_resolution_ns = fmax((double)res.tv_nsec, best * 1e9);
    hb_results scratch;
    hb_results_init(&scratch);
    hb_results *real = c->r;
    c->r = &scratch;
    hb_point p = {.label = "harness"};
    size_t saved = c->done_runs;
    bool prog = c->o->progress;
    ((hb_suite_opts *)c->o)->progress = false;
    double t0 = hb_now_s();
    for (int i = 0; i < 2000; i++) one(c, "harness", &p, noop_measure, i & 1, true, NULL);
    double t = hb_now_s() - t0;
    ((hb_suite_opts *)c->o)->progress = prog;
    c->done_runs = saved;
    c->r = real;
    hb_results_free(&scratch);
    c->r->harness_overhead_ns = t / 2000 * 1e9;
}

hb_status hb_suite_run(const hb_suite_opts *o, hb_results *r, volatile int *stop, hb_log_fn log,
                       void *user, hb_error *err)
{
    static volatile int never = 0;
    if (!stop) stop = &never;
    hb_engine *eng[2] = {NULL, NULL};
    char dirs[3][PATH_MAX];
    size_t frames;
    hb_status st = prepare(o, eng, dirs, &frames, err);
    if (st) {
        hb_engine_close(eng[0]);
        hb_engine_close(eng[1]);
        return st;
    }
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(r->timestamp, sizeof r->timestamp, "%Y%m%d_%H%M%S", &tmv);
    json_decref(r->plan);
    r->plan = plan_json(o, (const char(*)[PATH_MAX])dirs, frames);
    const char *names[2] = {"separate", "unified"};
    json_decref(r->environment);
    r->environment = hb_environment(eng, names, 2);
    hb_engine_info info;
    hb_engine_describe(eng[1], &info);
    hb_ctx c = {.eng = {eng[0], eng[1]}, .arch = {"separate", "unified"}, .o = o, .r = r,
                .log = log, .user = user, .stop = stop, .frames = frames, .t_start = hb_now_s(),
                .unified_dir = dirs[0], .backend = info.backend};
    c.total_runs = planned_runs(o, &c, info.max_batch);
    measure_harness(&c);
    c.t_start = hb_now_s();
    hb_logf(&c, 0, "plan: %zu measured runs over %s engines (%s backend)", c.total_runs,
            o->unified_dir ? "the given" : "the default", info.backend);
    static hb_status (*const fns[HB_BENCH__COUNT])(hb_ctx *, hb_error *) = {
        hb_bench_latency, hb_bench_memory, hb_bench_throughput, hb_bench_cuda_graphs,
        hb_bench_generation_modes, hb_bench_delay_patterns, hb_bench_streaming, hb_bench_dualffn};
    for (int t = 0; t < HB_BENCH__COUNT && !st && !*stop; t++) {
        if (!o->types[t]) continue;
        hb_logf(&c, 0, "benchmark %s", hb_bench_name((hb_bench_type)t));
        st = fns[t](&c, err);
    }
    r->partial = *stop != 0 || st != HB_OK;
    r->wall_s = hb_now_s() - c.t_start;
    /* the shortest operation measured: the smallest median among millisecond series */
    r->shortest_op_ms = 0;
    for (size_t i = 0; i < r->nseries; i++) {
        const hb_series *s = &r->series[i];
        /* operations: whole generations, prefills, decode steps, time to first frame */
        size_t ml = strlen(s->metric);
        bool op = ml >= 7 && (strcmp(s->metric + ml - 7, "step_ms") == 0 ||
                              strcmp(s->metric, "e2e_ms") == 0 ||
                              strcmp(s->metric + ml - 10 > s->metric ? s->metric + ml - 10 : s->metric,
                                     "prefill_ms") == 0 ||
                              strcmp(s->metric, "ttfa_ms") == 0);
        if (!op || s->n == 0) continue;
        hb_describe_t d;
        if (hb_describe(s->samples, s->n, &d, NULL) == HB_OK && d.median > 0 &&
            (r->shortest_op_ms == 0 || d.median < r->shortest_op_ms))
            r->shortest_op_ms = d.median;
    }
    hb_engine_close(eng[0]);
    hb_engine_close(eng[1]);
    return st;
}
