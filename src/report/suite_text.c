/* suite_text.c - the text summary, the CSV files, and writing the whole report set. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "higgsbench/stats_report.h"
#include "higgsbench/suite_report.h"

FILE *hb_create_new(const char *path, hb_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        hb_fail(err, HB_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
        return NULL;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        hb_fail(err, HB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    }
    return f;
}

static const char *fmt_val(char *b, size_t n, double v, const char *unit)
{
    if (!isfinite(v)) snprintf(b, n, "n/a");
    else if (strcmp(unit, "bytes") == 0) snprintf(b, n, "%.2f MiB", v / 1048576);
    else snprintf(b, n, "%.4g %s", v, unit);
    return b;
}

void hb_suite_summary(const hb_results *r, FILE *out)
{
    const char *backend = json_string_value(json_object_get(r->environment, "backend"));
    fprintf(out, "higgs-bench suite %s%s\n", r->timestamp, r->partial ? "  (PARTIAL: interrupted or failed)" : "");
    fprintf(out, "machine: %s, %lld cores; backend %s; %.1f s\n",
            hb_json_str(r->environment, "cpu_model", "?"),
            (long long)json_integer_value(json_object_get(r->environment, "cpu_cores")),
            backend ? backend : "?", r->wall_s);
    fprintf(out, "baseline architecture: separate (text + audio engines); candidate: unified\n");
    fprintf(out, "harness: timer resolution %.0f ns, overhead %.0f ns a run (%.4f%% of the "
            "shortest operation, %.3g ms)\n\n",
            r->timer_resolution_ns, r->harness_overhead_ns,
            r->shortest_op_ms > 0 ? 100 * r->harness_overhead_ns * 1e-6 / r->shortest_op_ms : 0,
            r->shortest_op_ms);
    fprintf(out, "%-52s %14s %14s %9s %20s %10s %s\n", "metric (separate -> unified)", "separate",
            "unified", "change", "95% CI", "p (Holm)", "verdict");
    for (size_t i = 0; i < r->ncmp; i++) {
        const hb_arch_comparison *c = &r->cmp[i];
        const hb_series *s = NULL;
        for (size_t k = 0; k < r->nseries && !s; k++) {
            char id[192];
            snprintf(id, sizeof id, "%s/separate", c->metric_id);
            if (strcmp(r->series[k].id, id) == 0) s = &r->series[k];
        }
        char a[32], b[32], ci[40];
        snprintf(ci, sizeof ci, "[%+.1f%%, %+.1f%%]", 100 * c->change.ci_lo, 100 * c->change.ci_hi);
        fprintf(out, "%-52s %14s %14s %+8.1f%% %20s %10.2g %s\n", c->metric_id,
                fmt_val(a, sizeof a, c->change.base_stat, s ? s->unit : ""),
                fmt_val(b, sizeof b, c->change.cand_stat, s ? s->unit : ""),
                100 * c->change.rel_change, ci, c->p_holm, hb_verdict_name(c->change.verdict));
    }
    for (size_t i = 0; i < r->nseries; i++)
        if (r->series[i].note[0] && r->series[i].n == 0 && strcmp(r->series[i].arch, "graphs_on") == 0)
            fprintf(out, "%-52s %s\n", "cuda_graphs", r->series[i].note);
    for (size_t i = 0; i < r->nseries; i++)
        if (r->series[i].failed)
            fprintf(out, "failed runs: %s: %zu\n", r->series[i].id, r->series[i].failed);
    json_t *cap = json_object_get(r->extras, "cuda_graphs_capture");
    if (cap)
        fprintf(out, "CUDA graphs: %lld captured in %.1f ms in all, %.1f MiB of device memory\n",
                (long long)json_integer_value(json_object_get(cap, "graphs")),
                1e3 * json_number_value(json_object_get(cap, "capture_s")),
                (double)json_integer_value(json_object_get(cap, "graph_bytes")) / 1048576);
    json_t *rt = json_object_get(r->extras, "throughput_max_realtime_concurrency");
    if (rt)
        fprintf(out, "\nhighest concurrency with every stream faster than real time: separate %lld, "
                "unified %lld\n", (long long)json_integer_value(json_object_get(rt, "separate")),
                (long long)json_integer_value(json_object_get(rt, "unified")));
    fprintf(out, "audio means codec frames (8 RVQ codes, 40 ms each); no waveform decoder is run\n");
    fprintf(out, "\nClaims\n");
    for (size_t i = 0; i < r->nclaims; i++) {
        const hb_claim_entry *c = &r->claims[i];
        fprintf(out, "Claim: %s (%s, %s %g-%g)\n", c->name, c->metric, hb_claim_kind_name(c->claim.kind),
                c->claim.lo, c->claim.hi);
        if (!c->applicable || !c->evaluated) {
            fprintf(out, "  - NOT APPLICABLE: %s\n", c->why);
            continue;
        }
        const hb_claim_result *x = &c->r;
        fprintf(out, "  %s %s: estimate %.4g (95%% CI %.4g to %.4g)\n", x->validated ? "✓" : "✗",
                x->validated ? "VALIDATED" : "NOT VALIDATED", x->estimate, x->ci_lo, x->ci_hi);
        fprintf(out, "    [%s] p < 0.05: p = %.3g\n", x->pass_p ? "pass" : "FAIL", x->pvalue);
        fprintf(out, "    [%s] |effect size| > 0.2: %.3g\n", x->pass_effect ? "pass" : "FAIL", x->effect);
        fprintf(out, "    [%s] estimate in range: %.4g in [%g, %g]\n", x->pass_range ? "pass" : "FAIL",
                x->estimate, c->claim.lo, c->claim.hi);
        fprintf(out, "    [%s] confidence > 70%%: %.1f%%\n", x->pass_confidence ? "pass" : "FAIL",
                100 * x->confidence);
    }
    if (r->baseline_source[0]) {
        size_t reg = 0;
        fprintf(out, "\nAgainst baseline %s%s%s\n", r->baseline_source,
                r->baseline_env_differs ? "  WARNING: " : "", r->baseline_env_note);
        for (size_t i = 0; i < r->nbase; i++) {
            const hb_baseline_comparison *b = &r->base[i];
            if (b->change.verdict == HB_NO_CHANGE) continue;
            reg += b->change.verdict == HB_REGRESSED;
            fprintf(out, "  %-60s %+7.1f%% p=%.2g (Holm %.2g) %s%s%s\n", b->id,
                    100 * b->change.rel_change, b->change.pvalue, b->p_holm,
                    hb_verdict_name(b->change.verdict),
                    b->change.verdict == HB_REGRESSED ? ", severity " : "",
                    b->change.verdict == HB_REGRESSED ? hb_severity_name(b->change.severity) : "");
        }
        fprintf(out, "  %zu metrics compared, %zu regressed\n", r->nbase, reg);
    }
    fprintf(out, "\nOverall Validation: %s\n", hb_suite_passed(r) ? "PASSED" : "FAILED");
}

static hb_status write_csvs(const hb_results *r, const char *dir, const char *ts, char *written,
                            size_t wsize, hb_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/benchmark_samples_%s.csv", dir, ts);
    FILE *f = hb_create_new(path, err);
    if (!f) return HB_ERR_IO;
    fprintf(f, "series,type,metric,point,arch,unit,run,value\n");
    for (size_t i = 0; i < r->nseries; i++)
        for (size_t k = 0; k < r->series[i].n; k++)
            fprintf(f, "%s,%s,%s,%s,%s,%s,%zu,%.17g\n", r->series[i].id, r->series[i].type,
                    r->series[i].metric, r->series[i].point, r->series[i].arch, r->series[i].unit,
                    k, r->series[i].samples[k]);
    fclose(f);
    size_t used = strlen(written);
    snprintf(written + used, wsize - used, "%s\n", path);
    snprintf(path, sizeof path, "%s/benchmark_summary_%s.csv", dir, ts);
    f = hb_create_new(path, err);
    if (!f) return HB_ERR_IO;
    fprintf(f, "series,unit,n,failed,mean,sd,median,p95,min,max,ci95_mean_lo,ci95_mean_hi\n");
    for (size_t i = 0; i < r->nseries; i++) {
        const hb_series *s = &r->series[i];
        hb_describe_t d;
        hb_interval_t ci = {NAN, NAN, NAN, 0};
        if (s->n == 0 || hb_describe(s->samples, s->n, &d, NULL)) {
            fprintf(f, "%s,%s,0,%zu,,,,,,,,\n", s->id, s->unit, s->failed);
            continue;
        }
        if (s->n >= 2) hb_ci_mean_t(s->samples, s->n, 0.95, &ci, NULL);
        fprintf(f, "%s,%s,%zu,%zu,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", s->id,
                s->unit, s->n, s->failed, d.mean, d.sd, d.median, d.pct[5], d.min, d.max, ci.lo,
                ci.hi);
    }
    fclose(f);
    used = strlen(written);
    snprintf(written + used, wsize - used, "%s\n", path);
    return HB_OK;
}

static hb_status write_json_file(const char *path, json_t *j, hb_error *err)
{
    FILE *f = hb_create_new(path, err);
    if (!f) return HB_ERR_IO;
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    bool ok = s && fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    free(s);
    if (fclose(f) || !ok) return hb_fail(err, HB_ERR_IO, "cannot write '%s'", path);
    return HB_OK;
}

/* The TTS files: the series of one type, with their summaries. */
static json_t *tts_json(const hb_results *r, const char *type, json_t *all)
{
    json_t *series = json_array();
    json_t *src = json_object_get(all, "series");
    for (size_t i = 0; i < json_array_size(src); i++) {
        json_t *s = json_array_get(src, i);
        if (strcmp(hb_json_str(s, "type", ""), type) == 0)
            json_array_append(series, s);
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:O}", "schema", "higgs-bench/tts-results", "type",
                     type, "timestamp", r->timestamp, "series", series, "notes", r->extras);
}

hb_status hb_suite_write_reports(const hb_results *r, const char *dir, char *written,
                                 size_t wsize, hb_error *err)
{
    char local[4096];
    if (!written) written = local, wsize = sizeof local;
    written[0] = '\0';
    if (mkdir(dir, 0755) && errno != EEXIST)
        return hb_fail(err, HB_ERR_IO, "cannot create the output directory '%s': %s", dir, strerror(errno));
    if (access(dir, W_OK) != 0)
        return hb_fail(err, HB_ERR_IO, "the output directory '%s' is not writable: %s", dir, strerror(errno));
    /* the run's timestamp, made unique in this directory */
    char ts[48], path[4096];
    snprintf(ts, sizeof ts, "%s", r->timestamp[0] ? r->timestamp : "unknown");
    for (int k = 2; k < 1000; k++) {
        snprintf(path, sizeof path, "%s/benchmark_report_%s.json", dir, ts);
        if (access(path, F_OK) != 0) break;
        snprintf(ts, sizeof ts, "%s_%d", r->timestamp, k);
    }
    json_t *all = hb_results_to_json(r);
    hb_status st = write_json_file(path, all, err);
    if (!st) {
        size_t used = strlen(written);
        snprintf(written + used, wsize - used, "%s\n", path);
        snprintf(path, sizeof path, "%s/benchmark_summary_%s.txt", dir, ts);
        FILE *f = hb_create_new(path, err);
        if (!f) st = HB_ERR_IO;
        else {
            hb_suite_summary(r, f);
            fclose(f);
            used = strlen(written);
            snprintf(written + used, wsize - used, "%s\n", path);
        }
    }
    if (!st) {
        snprintf(path, sizeof path, "%s/benchmark_report_%s.html", dir, ts);
        FILE *f = hb_create_new(path, err);
        if (!f) st = HB_ERR_IO;
        else {
            st = hb_suite_html(r, f, err);
            fclose(f);
            size_t used = strlen(written);
            snprintf(written + used, wsize - used, "%s\n", path);
        }
    }
    if (!st) st = write_csvs(r, dir, ts, written, wsize, err);
    static const char *const tts[] = {"generation_modes", "delay_patterns", "streaming"};
    for (int i = 0; i < 3 && !st; i++) {
        snprintf(path, sizeof path, "%s/tts_%s_results_%s.json", dir, tts[i], ts);
        json_t *j = tts_json(r, tts[i], all);
        st = write_json_file(path, j, err);
        json_decref(j);
        size_t used = strlen(written);
        if (!st) snprintf(written + used, wsize - used, "%s\n", path);
    }
    json_decref(all);
    if (!st) {
        hb_error pe = {0};
        hb_status ps = hb_suite_plots(r, dir, ts, written, wsize, &pe);
        if (ps && ps != HB_ERR_UNSUPPORTED) st = hb_fail(err, ps, "%s", pe.msg);
    }
    return st;
}
