/* analyze.c - what the suite concludes from its samples: unified vs separate per metric (with
 * Holm-adjusted p-values), claim validation, and comparison with a saved baseline. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "higgsbench/suite.h"

typedef struct {
    const char *name, *metric, *compare;
    hb_claim_kind kind;
    hb_direction dir;
    double lo, hi;
} claim_def;

/* The design's five claims. Metrics name "type/metric"; the first point of that metric is used
 * unless a point is given ("type/metric/point"). */
static const claim_def default_claims[] = {
    {"latency_improvement_ms", "latency/e2e_ms", "architectures", HB_CLAIM_ABSOLUTE,
     HB_LOWER_IS_BETTER, 15, 25},
    {"memory_reduction_pct", "memory/peak_total_bytes", "architectures", HB_CLAIM_RELATIVE,
     HB_LOWER_IS_BETTER, 20, 30},
    {"throughput_increase_pct", "throughput/audio_s_per_s", "architectures", HB_CLAIM_RELATIVE,
     HB_HIGHER_IS_BETTER, 25, 40},
    {"cuda_graph_benefit_pct", "cuda_graphs/step_ms", "cuda_graphs", HB_CLAIM_RELATIVE,
     HB_LOWER_IS_BETTER, 10, 32},
    {"streaming_latency_ms", "streaming/ttfa_ms", "value", HB_CLAIM_VALUE, HB_LOWER_IS_BETTER, 0,
     100},
};

/* The series for arch of a metric "type/metric[/point]": the named point, else the first (or,
 * for throughput, the last: the highest concurrency). */
static const hb_series *metric_series(const hb_results *r, const char *metric, const char *arch)
{
    const hb_series *found = NULL;
    int slashes = 0;
    for (const char *p = metric; *p; p++) slashes += *p == '/';
    for (size_t i = 0; i < r->nseries; i++) {
        const hb_series *s = &r->series[i];
        if (strcmp(s->arch, arch) != 0) continue;
        char tm[160];
        snprintf(tm, sizeof tm, slashes >= 2 ? "%s/%s/%s" : "%s/%s", s->type, s->metric, s->point);
        if (strcmp(tm, metric) != 0) continue;
        if (!found) found = s;
        else if (strncmp(metric, "throughput/", 11) == 0 && strncmp(s->point, "closed", 6) == 0)
            found = s;
    }
    return found;
}

static hb_status load_claims(const char *path, claim_def *defs, char (*names)[3][96], size_t *n,
                             hb_error *err)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return hb_fail(err, HB_ERR_PARSE, "claims file %s: %s", path, je.text);
    json_t *arr = json_object_get(root, "claims");
    hb_status st = HB_OK;
    if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > 16)
        st = hb_fail(err, HB_ERR_PARSE, "claims file %s: \"claims\" must be a list of 1 to 16", path);
    for (size_t i = 0; !st && i < json_array_size(arr); i++) {
        json_t *c = json_array_get(arr, i);
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *metric = json_string_value(json_object_get(c, "metric"));
        const char *kind = json_string_value(json_object_get(c, "kind"));
        const char *dir = json_string_value(json_object_get(c, "direction"));
        const char *cmp = json_string_value(json_object_get(c, "compare"));
        json_t *lo = json_object_get(c, "min"), *hi = json_object_get(c, "max");
        claim_def *d = &defs[i];
        if (!name || !metric || !kind || !dir || !json_is_number(lo) || !json_is_number(hi)) {
            st = hb_fail(err, HB_ERR_PARSE, "claims file %s: claim %zu needs name, metric, kind, "
                         "direction, min and max", path, i);
            break;
        }
        if (!hb_claim_kind_parse(kind, &d->kind) || !hb_direction_parse(dir, &d->dir)) {
            st = hb_fail(err, HB_ERR_PARSE, "claims file %s: claim '%s': kind must be absolute, "
                         "relative or value and direction lower or higher", path, name);
            break;
        }
        if (!cmp) cmp = d->kind == HB_CLAIM_VALUE ? "value" : "architectures";
        if (strcmp(cmp, "architectures") && strcmp(cmp, "cuda_graphs") && strcmp(cmp, "value")) {
            st = hb_fail(err, HB_ERR_PARSE, "claims file %s: claim '%s': compare '%s' must be "
                         "architectures, cuda_graphs or value", path, name, cmp);
            break;
        }
        snprintf(names[i][0], 96, "%s", name);
        snprintf(names[i][1], 96, "%s", metric);
        snprintf(names[i][2], 96, "%s", cmp);
        d->name = names[i][0];
        d->metric = names[i][1];
        d->compare = names[i][2];
        d->lo = json_number_value(lo);
        d->hi = json_number_value(hi);
        if (!(d->lo <= d->hi))
            st = hb_fail(err, HB_ERR_PARSE, "claims file %s: claim '%s': min %g > max %g", path,
                         name, d->lo, d->hi);
        *n = i + 1;
    }
    json_decref(root);
    return st;
}

static void evaluate_claim(hb_results *r, const claim_def *d, double level, uint64_t seed,
                           hb_claim_entry *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", d->name);
    snprintf(e->metric, sizeof e->metric, "%s", d->metric);
    snprintf(e->compare, sizeof e->compare, "%s", d->compare);
    e->claim = (hb_claim){e->name, e->metric, d->dir, d->kind, d->lo, d->hi};
    bool graphs = strcmp(d->compare, "cuda_graphs") == 0;
    const hb_series *b = metric_series(r, d->metric, graphs ? "graphs_off" : "separate");
    const hb_series *c = metric_series(r, d->metric, graphs ? "graphs_on" : "unified");
    if (!c || c->n < 2 || (d->kind != HB_CLAIM_VALUE && (!b || b->n < 2))) {
        const hb_series *any = c ? c : b;
        snprintf(e->why, sizeof e->why, "%s",
                 any && any->note[0] ? any->note
                                     : "not measured in this run (benchmark type not selected or "
                                       "too few samples)");
        e->applicable = false;
        return;
    }
    e->applicable = true;
    hb_claim_opts o = hb_claim_defaults();
    o.boot.level = level;
    o.boot.seed = seed;
    o.paired = b && b->n == c->n && strcmp(hb_json_str(r->plan, "order", ""), "interleaved") == 0;
    hb_error err = {0};
    if (hb_claim_validate(&e->claim, b ? b->samples : NULL, b ? b->n : 0, c->samples, c->n, &o,
                          &e->r, &err) == HB_OK)
        e->evaluated = true;
    else
        snprintf(e->why, sizeof e->why, "could not be evaluated: %s", err.msg);
    e->claim.name = NULL; /* pointed into e; rebuilt from e->name when needed */
    e->claim.metric = NULL;
}

static json_t *claims_to_plan(const claim_def *d, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f}", "name", d[i].name,
                                           "metric", d[i].metric, "compare", d[i].compare, "kind",
                                           hb_claim_kind_name(d[i].kind), "direction",
                                           hb_direction_name(d[i].dir), "min", d[i].lo, "max",
                                           d[i].hi));
    return a;
}

static bool point_failed(const hb_results *r, const char *type, const char *point)
{
    for (int a = 0; a < 2; a++) {
        const hb_series *f = hb_results_get(r, type, "run", point, a ? "unified" : "separate");
        if (f && f->failed) return true;
    }
    return false;
}

hb_status hb_suite_analyze(hb_results *r, const char *claims_file, double level, uint64_t seed,
                           hb_error *err)
{
    /* 1. unified vs separate, every metric measured on both */
    free(r->cmp);
    r->cmp = calloc(r->nseries ? r->nseries : 1, sizeof *r->cmp);
    r->ncmp = 0;
    if (!r->cmp) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    bool interleaved = strcmp(hb_json_str(r->plan, "order", "interleaved"),
                              "interleaved") == 0;
    for (size_t i = 0; i < r->nseries; i++) {
        const hb_series *a = &r->series[i];
        if (strcmp(a->arch, "separate") != 0 || a->n < 2) continue;
        char id[192];
        snprintf(id, sizeof id, "%s/%s/%s/unified", a->type, a->metric, a->point);
        const hb_series *b = hb_results_find(r, id);
        if (!b || b->n < 2) continue;
        hb_arch_comparison *c = &r->cmp[r->ncmp];
        snprintf(c->metric_id, sizeof c->metric_id, "%s/%s/%s", a->type, a->metric, a->point);
        hb_change_opts co = hb_change_defaults();
        co.direction = a->direction;
        /* pairs only while no run of the point failed: a failure would shift the pairing */
        co.paired = interleaved && a->n == b->n && !point_failed(r, a->type, a->point);
        co.boot.level = level;
        co.boot.seed = seed;
        co.boot.resamples = 4000;
        hb_error e2 = {0};
        if (hb_change_verdict(a->samples, a->n, b->samples, b->n, &co, &c->change, &e2) != HB_OK)
            continue; /* e.g. a zero baseline: no relative change exists */
        if (hb_cohens_d(b->samples, b->n, a->samples, a->n, &c->cohens_d, NULL) != HB_OK) continue;
        c->ok = true;
        r->ncmp++;
    }
    double *p = malloc((r->ncmp ? r->ncmp : 1) * sizeof *p);
    if (!p) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->ncmp; i++) p[i] = r->cmp[i].change.pvalue;
    hb_holm(p, r->ncmp, p, NULL);
    for (size_t i = 0; i < r->ncmp; i++) r->cmp[i].p_holm = p[i];
    free(p);

    /* 2. claims: a file, or those the plan recorded (a reloaded result), or the defaults */
    claim_def defs[16];
    char names[16][3][96];
    size_t n = 0;
    json_t *planned = json_object_get(r->plan, "claims");
    if (claims_file) {
        hb_status st = load_claims(claims_file, defs, names, &n, err);
        if (st) return st;
    } else if (json_is_array(planned) && json_array_size(planned) > 0) {
        for (size_t i = 0; i < json_array_size(planned) && i < 16; i++) {
            json_t *c = json_array_get(planned, i);
            snprintf(names[i][0], 96, "%s", hb_json_str(c, "name", "?"));
            snprintf(names[i][1], 96, "%s", hb_json_str(c, "metric", "?"));
            snprintf(names[i][2], 96, "%s", hb_json_str(c, "compare", "value"));
            defs[i] = (claim_def){names[i][0], names[i][1], names[i][2], HB_CLAIM_ABSOLUTE,
                                  HB_LOWER_IS_BETTER, json_number_value(json_object_get(c, "min")),
                                  json_number_value(json_object_get(c, "max"))};
            hb_claim_kind_parse(hb_json_str(c, "kind", ""), &defs[i].kind);
            hb_direction_parse(hb_json_str(c, "direction", ""), &defs[i].dir);
            n = i + 1;
        }
    } else {
        n = sizeof default_claims / sizeof default_claims[0];
        memcpy(defs, default_claims, sizeof default_claims);
    }
    json_object_set_new(r->plan, "claims", claims_to_plan(defs, n));
    r->nclaims = n;
    for (size_t i = 0; i < n; i++) evaluate_claim(r, &defs[i], level, seed, &r->claims[i]);
    return HB_OK;
}

static const char *env_str(const json_t *env, const char *key)
{
    const char *s = json_string_value(json_object_get(env, key));
    return s ? s : "";
}

hb_status hb_suite_compare_baseline(hb_results *r, const hb_results *b, double level,
                                    uint64_t seed, hb_error *err)
{
    free(r->base);
    r->base = calloc(r->nseries ? r->nseries : 1, sizeof *r->base);
    r->nbase = 0;
    if (!r->base) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->nseries; i++) {
        const hb_series *s = &r->series[i];
        const hb_series *o = hb_results_find(b, s->id);
        if (!o || o->n < 2 || s->n < 2) continue;
        hb_baseline_comparison *c = &r->base[r->nbase];
        snprintf(c->id, sizeof c->id, "%s", s->id);
        hb_change_opts co = hb_change_defaults();
        co.direction = s->direction;
        co.boot.level = level;
        co.boot.seed = seed;
        co.boot.resamples = 4000;
        if (hb_change_verdict(o->samples, o->n, s->samples, s->n, &co, &c->change, NULL) != HB_OK)
            continue;
        c->ok = true;
        r->nbase++;
    }
    double *p = malloc((r->nbase ? r->nbase : 1) * sizeof *p);
    if (!p) return hb_fail(err, HB_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < r->nbase; i++) p[i] = r->base[i].change.pvalue;
    hb_holm(p, r->nbase, p, NULL);
    for (size_t i = 0; i < r->nbase; i++) r->base[i].p_holm = p[i];
    free(p);
    /* the environment: a baseline from another machine or build says little */
    static const char *const keys[] = {"cpu_model", "gpu_name", "backend", "build_type",
                                       "weights_hash_unified", "weights_hash_separate"};
    r->baseline_env_differs = false;
    r->baseline_env_note[0] = '\0';
    size_t used = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        if (strcmp(env_str(r->environment, keys[k]), env_str(b->environment, keys[k])) == 0) continue;
        r->baseline_env_differs = true;
        int w = snprintf(r->baseline_env_note + used, sizeof r->baseline_env_note - used, "%s%s",
                         used ? ", " : "environment differs in: ", keys[k]);
        if (w > 0 && (size_t)w < sizeof r->baseline_env_note - used) used += (size_t)w;
    }
    return HB_OK;
}

bool hb_suite_passed(const hb_results *r)
{
    if (r->partial) return false;
    for (size_t i = 0; i < r->nclaims; i++)
        if (r->claims[i].applicable && !(r->claims[i].evaluated && r->claims[i].r.validated))
            return false;
    for (size_t i = 0; i < r->nbase; i++)
        if (r->base[i].change.verdict == HB_REGRESSED) return false;
    return true;
}
