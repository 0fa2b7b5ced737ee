/* results.c - the results model and its JSON form (docs/RESULTS.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "higgsbench/stats_report.h"
#include "higgsbench/suite.h"

const char *const hb_bench_names[HB_BENCH__COUNT + 1] = {
    "latency", "memory", "throughput", "cuda_graphs", "generation_modes", "delay_patterns",
    "streaming", "dualffn", NULL};

const char *hb_bench_name(hb_bench_type t)
{
    return (unsigned)t < HB_BENCH__COUNT ? hb_bench_names[t] : "unknown";
}

bool hb_bench_parse(const char *s, hb_bench_type *out)
{
    for (int i = 0; i < HB_BENCH__COUNT; i++)
        if (strcmp(s, hb_bench_names[i]) == 0) {
            *out = (hb_bench_type)i;
            return true;
        }
    return false;
}

void hb_results_init(hb_results *r)
{
    memset(r, 0, sizeof *r);
    r->environment = json_object();
    r->plan = json_object();
    r->extras = json_object();
}

void hb_results_free(hb_results *r)
{
    for (size_t i = 0; i < r->nseries; i++) free(r->series[i].samples);
    free(r->series);
    free(r->cmp);
    free(r->base);
    json_decref(r->environment);
    json_decref(r->plan);
    json_decref(r->extras);
    memset(r, 0, sizeof *r);
}

hb_series *hb_results_series(hb_results *r, const char *type, const char *metric,
                             const char *point, const char *arch, const char *unit,
                             hb_direction dir)
{
    char id[192];
    snprintf(id, sizeof id, "%s/%s/%s/%s", type, metric, point, arch);
    for (size_t i = 0; i < r->nseries; i++)
        if (strcmp(r->series[i].id, id) == 0) return &r->series[i];
    if (r->nseries == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 64;
        hb_series *p = realloc(r->series, nc * sizeof *p);
        if (!p) return NULL;
        r->series = p;
        r->cap = nc;
    }
    hb_series *s = &r->series[r->nseries++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->type, sizeof s->type, "%s", type);
    snprintf(s->metric, sizeof s->metric, "%s", metric);
    snprintf(s->point, sizeof s->point, "%s", point);
    snprintf(s->arch, sizeof s->arch, "%s", arch);
    snprintf(s->unit, sizeof s->unit, "%s", unit);
    s->direction = dir;
    return s;
}

const hb_series *hb_results_find(const hb_results *r, const char *id)
{
    for (size_t i = 0; i < r->nseries; i++)
        if (strcmp(r->series[i].id, id) == 0) return &r->series[i];
    return NULL;
}

const hb_series *hb_results_get(const hb_results *r, const char *type, const char *metric,
                                const char *point, const char *arch)
{
    char id[192];
    snprintf(id, sizeof id, "%s/%s/%s/%s", type, metric, point, arch);
    return hb_results_find(r, id);
}

size_t hb_results_points(const hb_results *r, const char *type, const char *metric,
                         const char **points, size_t max, double *top)
{
    size_t np = 0;
    *top = 0;
    for (size_t i = 0; i < r->nseries && np < max; i++) {
        const hb_series *s = &r->series[i];
        if (strcmp(s->type, type) || strcmp(s->metric, metric) || s->n == 0) continue;
        bool seen = false;
        for (size_t k = 0; k < np; k++) seen |= strcmp(points[k], s->point) == 0;
        if (!seen) points[np++] = s->point;
        for (size_t k = 0; k < s->n; k++) *top = s->samples[k] > *top ? s->samples[k] : *top;
    }
    return np;
}

size_t hb_results_throughput_curve(const hb_results *r, const char *arch, double *streams,
                                   double *medians, size_t max)
{
    size_t n = 0;
    for (int k = 1; k <= 1024 && n < max; k *= 2) {
        char pt[32];
        snprintf(pt, sizeof pt, "closed_C%d", k);
        double m = hb_series_median(hb_results_get(r, "throughput", "audio_s_per_s", pt, arch));
        if (!isfinite(m)) continue;
        streams[n] = k;
        medians[n++] = m;
    }
    return n;
}

const char *hb_json_str(const json_t *obj, const char *key, const char *fallback)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : fallback;
}

double hb_series_median(const hb_series *s)
{
    hb_describe_t d;
    return s && s->n && hb_describe(s->samples, s->n, &d, NULL) == HB_OK ? d.median : NAN;
}

hb_status hb_series_add(hb_series *s, double v, hb_error *err)
{
    if (!isfinite(v)) return hb_fail(err, HB_ERR_INTERNAL, "%s: non-finite sample", s->id);
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        double *p = realloc(s->samples, nc * sizeof *p);
        if (!p) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
        s->samples = p;
        s->cap = nc;
    }
    s->samples[s->n++] = v;
    return HB_OK;
}

/* ------------------------------------------------------------------------------- JSON ---- */

static json_t *num(double x) { return hb_json_number(x); }

static json_t *series_json(const hb_series *s)
{
    json_t *a = json_array();
    for (size_t i = 0; i < s->n; i++) json_array_append_new(a, json_real(s->samples[i]));
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:I}", "id", s->id, "type",
                          s->type, "metric", s->metric, "point", s->point, "arch", s->arch, "unit",
                          s->unit, "direction", hb_direction_name(s->direction), "samples", a,
                          "failed_runs", (json_int_t)s->failed);
    if (s->note[0]) json_object_set_new(j, "note", json_string(s->note));
    hb_describe_t d;
    if (s->n >= 1 && hb_describe(s->samples, s->n, &d, NULL) == HB_OK)
        json_object_set_new(j, "summary",
                            json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "n",
                                      (json_int_t)d.n, "mean", num(d.mean), "sd", num(d.sd),
                                      "median", num(d.median), "min", num(d.min), "max",
                                      num(d.max), "p95", num(d.pct[5]), "p99", num(d.pct[6])));
    return j;
}

static json_t *change_json(const hb_change_t *c)
{
    return json_pack("{s:o, s:o, s:o, s:[o, o], s:s, s:o, s:b, s:b, s:s, s:s}", "baseline",
                     num(c->base_stat), "candidate", num(c->cand_stat), "relative_change_pct",
                     num(100 * c->rel_change), "ci_pct", num(100 * c->ci_lo), num(100 * c->ci_hi),
                     "test", c->test ? c->test : "", "pvalue", num(c->pvalue), "significant",
                     c->significant, "outside_noise", c->outside_noise, "verdict",
                     hb_verdict_name(c->verdict), "severity", hb_severity_name(c->severity));
}

static json_t *claim_json(const hb_claim_entry *c)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[f, f], s:b}", "name", c->name, "metric",
                          c->metric, "compare", c->compare, "kind", hb_claim_kind_name(c->claim.kind),
                          "direction", hb_direction_name(c->claim.direction), "range", c->claim.lo,
                          c->claim.hi, "applicable", c->applicable);
    if (!c->applicable || !c->evaluated) {
        json_object_set_new(j, "why", json_string(c->why));
        json_object_set_new(j, "validated", json_false());
        return j;
    }
    const hb_claim_result *r = &c->r;
    json_object_set_new(j, "estimate", num(r->estimate));
    json_object_set_new(j, "ci", json_pack("[o, o]", num(r->ci_lo), num(r->ci_hi)));
    json_object_set_new(
        j, "criteria",
        json_pack("{s:{s:o, s:b}, s:{s:o, s:b}, s:{s:o, s:b}, s:{s:o, s:b}}", "p_below_0_05",
                  "value", num(r->pvalue), "pass", r->pass_p, "effect_size_above_0_2", "value",
                  num(r->effect), "pass", r->pass_effect, "estimate_in_range", "value",
                  num(r->estimate), "pass", r->pass_range, "confidence_above_0_70", "value",
                  num(r->confidence), "pass", r->pass_confidence));
    json_object_set_new(j, "validated", json_boolean(r->validated));
    return j;
}

json_t *hb_results_to_json(const hb_results *r)
{
    json_t *series = json_array(), *cmp = json_array(), *claims = json_array();
    for (size_t i = 0; i < r->nseries; i++) json_array_append_new(series, series_json(&r->series[i]));
    for (size_t i = 0; i < r->ncmp; i++) {
        json_t *c = change_json(&r->cmp[i].change);
        json_object_set_new(c, "metric", json_string(r->cmp[i].metric_id));
        json_object_set_new(c, "baseline_arch", json_string("separate"));
        json_object_set_new(c, "candidate_arch", json_string("unified"));
        json_object_set_new(c, "pvalue_holm", num(r->cmp[i].p_holm));
        json_object_set_new(c, "cohens_d", num(r->cmp[i].cohens_d.value));
        json_object_set_new(c, "effect_label", json_string(hb_effect_label_name(r->cmp[i].cohens_d.label)));
        json_array_append_new(cmp, c);
    }
    for (size_t i = 0; i < r->nclaims; i++) json_array_append_new(claims, claim_json(&r->claims[i]));
    json_t *root = json_pack(
        "{s:s, s:i, s:s, s:b, s:f, s:O, s:O, s:{s:o, s:o, s:o, s:o}, s:o, s:o, s:o, s:O, s:s}",
        "schema", "higgs-bench/results", "version", 1, "timestamp", r->timestamp, "partial",
        r->partial, "wall_s", r->wall_s, "environment", r->environment, "plan", r->plan,
        "harness", "timer_resolution_ns", num(r->timer_resolution_ns), "overhead_ns",
        num(r->harness_overhead_ns), "shortest_operation_ms", num(r->shortest_op_ms),
        "overhead_fraction",
        num(r->shortest_op_ms > 0 ? r->harness_overhead_ns * 1e-6 / r->shortest_op_ms : NAN),
        "series", series, "comparisons", cmp, "claims", claims, "extras", r->extras, "overall",
        hb_suite_passed(r) ? "PASSED" : "FAILED");
    if (r->baseline_source[0]) {
        json_t *b = json_array();
        for (size_t i = 0; i < r->nbase; i++) {
            json_t *c = change_json(&r->base[i].change);
            json_object_set_new(c, "id", json_string(r->base[i].id));
            json_object_set_new(c, "pvalue_holm", num(r->base[i].p_holm));
            json_array_append_new(b, c);
        }
        json_object_set_new(root, "baseline",
                            json_pack("{s:s, s:b, s:s, s:o}", "source", r->baseline_source,
                                      "environment_differs", r->baseline_env_differs, "note",
                                      r->baseline_env_note, "comparisons", b));
    }
    return root;
}

hb_status hb_results_from_json(const json_t *j, hb_results *r, hb_error *err)
{
    hb_results_init(r);
    const char *schema = json_string_value(json_object_get(j, "schema"));
    if (!schema || strcmp(schema, "higgs-bench/results") != 0)
        return hb_fail(err, HB_ERR_PARSE, "not a higgs-bench results document (schema is '%s')",
                       schema ? schema : "missing");
    if (json_integer_value(json_object_get(j, "version")) != 1)
        return hb_fail(err, HB_ERR_UNSUPPORTED, "results version is not 1");
    const char *ts = json_string_value(json_object_get(j, "timestamp"));
    snprintf(r->timestamp, sizeof r->timestamp, "%s", ts ? ts : "");
    r->partial = json_is_true(json_object_get(j, "partial"));
    r->wall_s = json_number_value(json_object_get(j, "wall_s"));
    json_t *env = json_object_get(j, "environment"), *plan = json_object_get(j, "plan"),
           *extras = json_object_get(j, "extras");
    if (json_is_object(env)) json_object_update(r->environment, env);
    if (json_is_object(plan)) json_object_update(r->plan, plan);
    if (json_is_object(extras)) json_object_update(r->extras, extras);
    json_t *h = json_object_get(j, "harness");
    r->timer_resolution_ns = json_number_value(json_object_get(h, "timer_resolution_ns"));
    r->harness_overhead_ns = json_number_value(json_object_get(h, "overhead_ns"));
    r->shortest_op_ms = json_number_value(json_object_get(h, "shortest_operation_ms"));
    json_t *series = json_object_get(j, "series");
    if (!json_is_array(series)) return hb_fail(err, HB_ERR_PARSE, "results have no \"series\"");
    for (size_t i = 0; i < json_array_size(series); i++) {
        json_t *s = json_array_get(series, i);
        const char *type = json_string_value(json_object_get(s, "type"));
        const char *metric = json_string_value(json_object_get(s, "metric"));
        const char *point = json_string_value(json_object_get(s, "point"));
        const char *arch = json_string_value(json_object_get(s, "arch"));
        const char *unit = json_string_value(json_object_get(s, "unit"));
        const char *dir = json_string_value(json_object_get(s, "direction"));
        json_t *samples = json_object_get(s, "samples");
        hb_direction d = HB_LOWER_IS_BETTER;
        if (!type || !metric || !point || !arch || !unit || !dir || !hb_direction_parse(dir, &d) ||
            !json_is_array(samples))
            return hb_fail(err, HB_ERR_PARSE, "series %zu is incomplete", i);
        hb_series *sr = hb_results_series(r, type, metric, point, arch, unit, d);
        if (!sr) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
        sr->failed = (size_t)json_integer_value(json_object_get(s, "failed_runs"));
        const char *note = json_string_value(json_object_get(s, "note"));
        if (note) snprintf(sr->note, sizeof sr->note, "%s", note);
        for (size_t k = 0; k < json_array_size(samples); k++) {
            json_t *v = json_array_get(samples, k);
            if (!json_is_number(v))
                return hb_fail(err, HB_ERR_PARSE, "series '%s' sample %zu is not a number", sr->id, k);
            hb_status st = hb_series_add(sr, json_number_value(v), err);
            if (st) return st;
        }
    }
    return HB_OK;
}

hb_status hb_results_load(const char *path, hb_results *r, hb_error *err)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j) {
        hb_results_init(r);
        return hb_fail(err, HB_ERR_PARSE, "%s: %s", path, je.text);
    }
    hb_status st = hb_results_from_json(j, r, err);
    json_decref(j);
    if (st && err) {
        char m[HB_ERROR_MSG_SIZE];
        snprintf(m, sizeof m, "%s", err->msg);
        hb_fail(err, st, "%s: %s", path, m);
    }
    return st;
}
