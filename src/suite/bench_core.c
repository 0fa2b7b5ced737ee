/* bench_core.c - the core benchmark types: latency, memory, throughput (closed and open loop)
 * and CUDA graphs on/off. Each measure function runs one measurement of one point on one
 * architecture through the engine interface only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite_internal.h"

/* Frame arrival log of one request, for streaming figures. */
typedef struct {
    double t_add, t_first, t_last;
    size_t frames;
} frame_log;

static void on_frame(void *user, const hb_frame *f)
{
    frame_log *l = user;
    if (l->frames++ == 0) l->t_first = f->t_s;
    l->t_last = f->t_s;
}

/* Removes every request still in the engine (after a failed run). */
static void drain(hb_engine *e, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) hb_request_remove(e, ids[i], NULL);
}

/* ---------------------------------------------------------------------------- latency ---- */

static hb_status measure_latency(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                 hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_prompt_buf pr;
    hb_make_prompt(e, (size_t)p->seq_len, c->o->seed, true, &pr);
    uint64_t ids[64];
    size_t n = 0;
    double t0 = hb_now_s(), t_prefill = 0;
    hb_status st = HB_OK;
    for (int b = 0; b < p->batch && !st; b++) {
        hb_request_desc d = hb_bench_request(&pr, 0, c->frames, c->o->seed + (uint64_t)b);
        st = hb_request_add(e, &d, &ids[n], err);
        if (!st) n++;
    }
    size_t steps = 0;
    while (!st && hb_engine_pending(e) > 0) {
        st = hb_engine_step(e, NULL, err);
        if (steps++ == 0) t_prefill = hb_now_s() - t0;
    }
    double total = hb_now_s() - t0;
    drain(e, ids, n);
    if (st) return st;
    hb_metric_put(m, "e2e_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * total);
    hb_metric_put(m, "prefill_ms", "ms", HB_LOWER_IS_BETTER, 1e3 * t_prefill);
    hb_metric_put(m, "step_ms", "ms", HB_LOWER_IS_BETTER,
                  steps > 1 ? 1e3 * (total - t_prefill) / (double)(steps - 1) : 0);
    return HB_OK;
}

static hb_status each_batch_and_length(hb_ctx *c, const char *type, hb_measure_fn fn,
                                       size_t runs, hb_error *err)
{
    for (size_t s = 0; s < c->o->nseq; s++)
        for (size_t b = 0; b < c->o->nbatch && !*c->stop; b++) {
            hb_point p = {.batch = (int)c->o->batch_sizes[b], .seq_len = (int)c->o->seq_lens[s]};
            snprintf(p.label, sizeof p.label, "L%d_B%d", p.seq_len, p.batch);
            hb_status st = hb_run_point(c, type, &p, fn, runs, err);
            if (st) return st;
        }
    return HB_OK;
}

hb_status hb_bench_latency(hb_ctx *c, hb_error *err)
{
    return each_batch_and_length(c, "latency", measure_latency, hb_runs_for(c, HB_BENCH_LATENCY), err);
}

/* ----------------------------------------------------------------------------- memory ---- */

static hb_status measure_memory(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_engine_memory_reset_peaks(e);
    hb_metric_out lat = {.n = 0};
    hb_status st = measure_latency(c, arch, p, &lat, err);
    if (st) return st;
    hb_memory_report r;
    hb_engine_memory(e, &r);
    hb_metric_put(m, "weights_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak[HB_MEM_WEIGHTS]);
    hb_metric_put(m, "kv_cache_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak[HB_MEM_KV]);
    hb_metric_put(m, "workspace_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak[HB_MEM_WORKSPACE]);
    hb_metric_put(m, "graphs_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak[HB_MEM_GRAPHS]);
    hb_metric_put(m, "other_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak[HB_MEM_OTHER]);
    hb_metric_put(m, "peak_total_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.peak_total);
    hb_metric_put(m, "process_peak_rss_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.process_peak_rss);
    if (r.device_used)
        hb_metric_put(m, "device_used_bytes", "bytes", HB_LOWER_IS_BETTER, (double)r.device_used);
    return HB_OK;
}

hb_status hb_bench_memory(hb_ctx *c, hb_error *err)
{
    return each_batch_and_length(c, "memory", measure_memory, hb_runs_for(c, HB_BENCH_MEMORY), err);
}

/* ------------------------------------------------------------------------- throughput ---- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Closed loop: keep `concurrency` requests in flight until 2 x concurrency have finished.
 * Open loop: requests arrive at Poisson times at `rate` per second (seeded); each waits for a
 * free slot; latency counts from its intended arrival, so a slow engine cannot hide its queue
 * (no coordinated omission). */
static hb_status measure_throughput(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                    hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_engine_info info;
    hb_engine_describe(e, &info);
    size_t total = p->open_loop ? (size_t)(p->concurrency > 0 ? p->concurrency : 8)
                                : 2 * (size_t)p->concurrency;
    hb_prompt_buf pr;
    hb_make_prompt(e, (size_t)c->o->seq_lens[0], c->o->seed, true, &pr);
    frame_log *logs = calloc(total, sizeof *logs);
    uint64_t *ids = calloc(total, sizeof *ids);
    double *intended = calloc(total, sizeof *intended), *lat = calloc(total, sizeof *lat);
    bool *active = calloc(total, sizeof *active), *finished = calloc(total, sizeof *finished);
    if (!logs || !ids || !intended || !lat || !active || !finished) {
        free(logs), free(ids), free(intended), free(lat), free(active), free(finished);
        return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    }
    double t0 = hb_now_s(), at = 0;
    for (size_t i = 0; i < total; i++) { /* arrival schedule */
        if (p->open_loop) {
            /* exponential gaps from a seeded splitmix64 stream: the same schedule every run */
            uint64_t z = (c->o->seed + 0x9e3779b97f4a7c15ull * (i + 1)) ^ (uint64_t)(p->rate * 1000);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            z ^= z >> 31;
            double u = (double)(z >> 11) * 0x1.0p-53;
            at += -log(1 - u) / p->rate;
        }
        intended[i] = t0 + (p->open_loop ? at : 0);
    }
    size_t next = 0, done = 0;
    hb_status st = HB_OK;
    while (done < total && !st) {
        double now = hb_now_s();
        size_t in_flight = 0;
        for (size_t i = 0; i < next; i++) in_flight += active[i];
        size_t limit = p->open_loop ? (size_t)info.max_batch : (size_t)p->concurrency;
        while (next < total && in_flight < limit && intended[next] <= now) {
            hb_request_desc d = hb_bench_request(&pr, 0, c->frames, c->o->seed + next);
            d.on_frame = on_frame;
            d.user = &logs[next];
            logs[next].t_add = now;
            st = hb_request_add(e, &d, &ids[next], err);
            if (st) break;
            active[next++] = true;
            in_flight++;
        }
        if (st) break;
        if (in_flight == 0) { /* idle until the next arrival */
            while (hb_now_s() < intended[next]) {}
            continue;
        }
        st = hb_engine_step(e, NULL, err);
        for (size_t i = 0; i < next && !st; i++) {
            if (!active[i]) continue;
            hb_request_status s;
            st = hb_request_status_get(e, ids[i], &s, err);
            if (!st && s.done) {
                lat[i] = hb_now_s() - intended[i];
                active[i] = false;
                finished[i] = true;
                hb_request_remove(e, ids[i], NULL);
                done++;
            }
        }
    }
    double wall = hb_now_s() - t0;
    for (size_t i = 0; i < next; i++)
        if (active[i]) hb_request_remove(e, ids[i], NULL);
    if (!st) {
        size_t frames = 0, realtime = 0;
        for (size_t i = 0; i < total; i++) {
            frames += logs[i].frames;
            /* a stream keeps up with playback when frame k arrives by first + k x 40 ms */
            double span = logs[i].t_last - logs[i].t_first;
            realtime += logs[i].frames > 0 && span <= (double)(logs[i].frames - 1) * 0.040;
        }
        qsort(lat, total, sizeof *lat, cmp_d);
        hb_metric_put(m, "audio_s_per_s", "s/s", HB_HIGHER_IS_BETTER, (double)frames / 25.0 / wall);
        hb_metric_put(m, "frames_per_s", "frames/s", HB_HIGHER_IS_BETTER, (double)frames / wall);
        hb_metric_put(m, "request_p50_ms", "ms", HB_LOWER_IS_BETTER,
                      1e3 * hb_percentile_sorted(lat, total, 50));
        hb_metric_put(m, "request_p95_ms", "ms", HB_LOWER_IS_BETTER,
                      1e3 * hb_percentile_sorted(lat, total, 95));
        hb_metric_put(m, "request_p99_ms", "ms", HB_LOWER_IS_BETTER,
                      1e3 * hb_percentile_sorted(lat, total, 99));
        hb_metric_put(m, "realtime_stream_share", "fraction", HB_HIGHER_IS_BETTER,
                      (double)realtime / (double)total);
    }
    free(logs), free(ids), free(intended), free(lat), free(active), free(finished);
    return st;
}

hb_status hb_bench_throughput(hb_ctx *c, hb_error *err)
{
    hb_engine_info info;
    hb_engine_describe(c->eng[1], &info);
    size_t runs = hb_runs_for(c, HB_BENCH_THROUGHPUT);
    for (size_t k = 1; k <= c->o->concurrency_max && (int)k <= info.max_batch && !*c->stop; k *= 2) {
        hb_point p = {.concurrency = (int)k};
        snprintf(p.label, sizeof p.label, "closed_C%zu", k);
        hb_status st = hb_run_point(c, "throughput", &p, measure_throughput, runs, err);
        if (st) return st;
    }
    if (c->o->concurrent)
        for (size_t i = 0; i < c->o->nrates && !*c->stop; i++) {
            hb_point p = {.open_loop = true, .rate = c->o->arrival_rates[i],
                          .concurrency = (int)(c->o->concurrency_max < 16 ? c->o->concurrency_max : 16)};
            snprintf(p.label, sizeof p.label, "open_R%g", p.rate);
            hb_status st = hb_run_point(c, "throughput", &p, measure_throughput, runs, err);
            if (st) return st;
        }
    /* the highest closed-loop concurrency at which every stream of every run kept real time */
    json_t *rt = json_object();
    for (int a = 0; a < 2; a++) {
        int best = 0;
        for (size_t k = 1; k <= c->o->concurrency_max && (int)k <= info.max_batch; k *= 2) {
            char id[192];
            snprintf(id, sizeof id, "throughput/realtime_stream_share/closed_C%zu/%s", k, c->arch[a]);
            const hb_series *s = hb_results_find(c->r, id);
            bool all = s && s->n > 0;
            for (size_t i = 0; all && i < s->n; i++) all = s->samples[i] >= 1.0;
            if (all) best = (int)k;
        }
        json_object_set_new(rt, c->arch[a], json_integer(best));
    }
    json_object_set_new(c->r->extras, "throughput_max_realtime_concurrency", rt);
    return HB_OK;
}

/* ------------------------------------------------------------------------ CUDA graphs ---- */

/* The mean decode step of `batch` requests (after their prefill), on the engine of arch. */
static hb_status measure_graph_step(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                    hb_error *err)
{
    hb_engine *e = c->eng[arch];
    hb_prompt_buf pr;
    hb_make_prompt(e, (size_t)c->o->seq_lens[0], c->o->seed, true, &pr);
    uint64_t ids[4096];
    size_t n = 0;
    hb_status st = HB_OK;
    for (int b = 0; b < p->batch && !st; b++) {
        hb_request_desc d = hb_bench_request(&pr, 0, c->frames, c->o->seed + (uint64_t)b);
        st = hb_request_add(e, &d, &ids[n], err);
        if (!st) n++;
    }
    if (!st) st = hb_engine_step(e, NULL, err); /* prefill, not timed */
    size_t steps = 0;
    double t0 = hb_now_s();
    while (!st && hb_engine_pending(e) > 0) {
        st = hb_engine_step(e, NULL, err);
        steps++;
    }
    double t = hb_now_s() - t0;
    drain(e, ids, n);
    if (st) return st;
    hb_metric_put(m, "step_ms", "ms", HB_LOWER_IS_BETTER, steps ? 1e3 * t / (double)steps : 0);
    return HB_OK;
}

hb_status hb_bench_cuda_graphs(hb_ctx *c, hb_error *err)
{
    hb_engine_info info;
    hb_engine_describe(c->eng[1], &info);
    if (!info.has_cuda_graphs) {
        /* reported as not applicable, never faked: the series exist, empty, with the reason */
        const char *why = "not applicable: the engines run on a backend without CUDA graphs";
        for (int a = 0; a < 2; a++) {
            hb_series *s = hb_results_series(c->r, "cuda_graphs", "step_ms", "B1",
                                             a ? "graphs_on" : "graphs_off", "ms", HB_LOWER_IS_BETTER);
            if (!s) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
            snprintf(s->note, sizeof s->note, "%s (%s)", why, info.backend);
        }
        hb_logf(c, 0, "cuda_graphs: %s (%s)", why, info.backend);
        return HB_OK;
    }
    /* the unified engine twice, graphs off (A) and on (B); the same workload on each */
    hb_engine *pair[2] = {NULL, NULL};
    hb_status st = HB_OK;
    for (int a = 0; a < 2 && !st; a++) {
        hb_engine_opts eo = hb_engine_defaults();
        eo.backend = c->backend;
        eo.cuda_graphs = a == 1;
        st = hb_engine_open(c->unified_dir, &eo, &pair[a], err);
    }
    hb_engine *saved[2] = {c->eng[0], c->eng[1]};
    const char *names[2] = {c->arch[0], c->arch[1]};
    c->eng[0] = pair[0], c->eng[1] = pair[1];
    c->arch[0] = "graphs_off", c->arch[1] = "graphs_on";
    static const int batches[] = {1, 8, 32};
    for (int i = 0; i < 3 && !st && !*c->stop; i++) {
        if (batches[i] > info.max_batch) continue;
        hb_point p = {.batch = batches[i]};
        snprintf(p.label, sizeof p.label, "B%d", batches[i]);
        st = hb_run_point(c, "cuda_graphs", &p, measure_graph_step,
                          hb_runs_for(c, HB_BENCH_CUDA_GRAPHS), err);
    }
    if (pair[1]) {
        size_t count;
        double cap;
        uint64_t bytes;
        hb_engine_graph_stats(pair[1], &count, &cap, &bytes);
        json_object_set_new(c->r->extras, "cuda_graphs_capture",
                            json_pack("{s:I, s:f, s:I}", "graphs", (json_int_t)count, "capture_s",
                                      cap, "graph_bytes", (json_int_t)bytes));
    }
    c->eng[0] = saved[0], c->eng[1] = saved[1];
    c->arch[0] = names[0], c->arch[1] = names[1];
    hb_engine_close(pair[0]);
    hb_engine_close(pair[1]);
    return st;
}
