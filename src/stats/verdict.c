/* verdict.c - multiple comparisons, the baseline-vs-candidate change verdict and claim validation.
 *
 * These combine the tests, effect sizes and bootstrap of the other files into the decisions a
 * benchmark report states. Each decision keeps every number it was made from, so a report can show
 * why: which test, its p-value, the relative change and its interval, the effect size.
 */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap_internal.h"

typedef struct {
    double p;
    size_t i;
} p_index;

static int cmp_p(const void *a, const void *b)
{
    const p_index *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

hb_status hb_holm(const double *p, size_t m, double *adj, hb_error *err)
{
    for (size_t i = 0; i < m; i++)
        if (!(p[i] >= 0 && p[i] <= 1))
            return hb_fail(err, HB_ERR_DATA, "p-value %zu is %g, not in [0, 1]", i + 1, p[i]);
    p_index *v = malloc((m ? m : 1) * sizeof *v);
    if (!v) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu p-values", m);
    for (size_t i = 0; i < m; i++) v[i] = (p_index){p[i], i};
    qsort(v, m, sizeof *v, cmp_p);
    double running = 0;
    for (size_t j = 0; j < m; j++) {
        double a = (double)(m - j) * v[j].p;
        if (a > 1) a = 1;
        if (a > running) running = a;
        adj[v[j].i] = running;
    }
    free(v);
    return HB_OK;
}

const char *hb_verdict_name(hb_verdict v)
{
    static const char *const names[] = {"no change", "improved", "regressed"};
    return (unsigned)v < 3 ? names[v] : "unknown";
}

const char *hb_severity_name(hb_severity s)
{
    static const char *const names[] = {"none", "low", "medium", "high", "critical"};
    return (unsigned)s < 5 ? names[s] : "unknown";
}

const char *hb_direction_name(hb_direction d)
{
    return d == HB_HIGHER_IS_BETTER ? "higher" : "lower";
}

bool hb_direction_parse(const char *s, hb_direction *out)
{
    if (strcmp(s, "lower") == 0) *out = HB_LOWER_IS_BETTER;
    else if (strcmp(s, "higher") == 0) *out = HB_HIGHER_IS_BETTER;
    else return false;
    return true;
}

hb_severity hb_severity_of(double rel)
{
    double a = fabs(rel);
    return a < 0.05 ? HB_SEVERITY_LOW : a < 0.15 ? HB_SEVERITY_MEDIUM
                                      : a < 0.30 ? HB_SEVERITY_HIGH
                                                 : HB_SEVERITY_CRITICAL;
}

hb_change_opts hb_change_defaults(void)
{
    hb_boot_opts b = hb_boot_defaults();
    b.method = HB_BOOT_PERCENTILE;
    return (hb_change_opts){.alpha = 0.05,
                            .noise_threshold = 0.02,
                            .location = HB_LOCATION_MEDIAN,
                            .direction = HB_LOWER_IS_BETTER,
                            .paired = false,
                            .boot = b};
}

static double combine_rel_change(const double *s, void *ctx)
{
    (void)ctx;
    return s[1] / s[0] - 1;
}

/* Bootstrap distribution of combine(stat(base*), stat(cand*)) into dist, plus the statistics of
 * the original data. */
static hb_status two_sample_dist(const double *base, size_t nb, const double *cand, size_t nc,
                                 hb_location loc, bool paired, const hb_boot_opts *bo,
                                 hb_boot_combine combine, void *ctx, double *stat_b,
                                 double *stat_c, double *dist, hb_error *err)
{
    hb_boot_sample s[2];
    hb_status st = hb__boot_sample_init(&s[0], base, nb, loc, 50, paired, err);
    if (st) return st;
    if ((st = hb__boot_sample_init(&s[1], cand, nc, loc, 50, paired, err))) {
        hb__boot_sample_free(&s[0]);
        return st;
    }
    *stat_b = hb__boot_sample_stat(&s[0]);
    *stat_c = hb__boot_sample_stat(&s[1]);
    st = hb__boot_distribution(s, 2, paired, bo->resamples, bo->seed, combine, ctx, dist, err);
    hb__boot_sample_free(&s[0]);
    hb__boot_sample_free(&s[1]);
    return st;
}

static hb_status check_pair(const double *base, size_t nb, const double *cand, size_t nc,
                            bool paired, hb_error *err)
{
    hb_status st = hb_check_samples(base, nb, 2, "baseline", err);
    if (!st) st = hb_check_samples(cand, nc, 2, "candidate", err);
    if (!st && paired && nb != nc)
        st = hb_fail(err, HB_ERR_DATA,
                     "paired samples must have equal length: baseline has %zu, candidate %zu",
                     nb, nc);
    return st;
}

hb_status hb_change_verdict(const double *base, size_t nb, const double *cand, size_t nc,
                            const hb_change_opts *o, hb_change_t *out, hb_error *err)
{
    memset(out, 0, sizeof *out);
    if (!(o->alpha > 0 && o->alpha < 1))
        return hb_fail(err, HB_ERR_INVALID, "alpha %g is not in (0, 1)", o->alpha);
    if (!(o->noise_threshold >= 0 && o->noise_threshold < 1))
        return hb_fail(err, HB_ERR_INVALID, "noise threshold %g%% is not in [0, 100)",
                       o->noise_threshold * 100);
    if (!(o->boot.level > 0 && o->boot.level < 1) || o->boot.resamples < 100)
        return hb_fail(err, HB_ERR_INVALID, "bootstrap level %g / %zu resamples are invalid",
                       o->boot.level, o->boot.resamples);
    hb_status st = check_pair(base, nb, cand, nc, o->paired, err);
    if (st) return st;

    hb_test_t t;
    if (o->location == HB_LOCATION_MEDIAN) {
        st = o->paired ? hb_wilcoxon(cand, base, nb, &t, err)
                       : hb_mannwhitney(cand, nc, base, nb, &t, err);
        out->test = o->paired ? "wilcoxon" : "mann-whitney";
    } else {
        st = o->paired ? hb_ttest_paired(cand, base, nb, &t, err)
                       : hb_ttest_welch(cand, nc, base, nb, &t, err);
        out->test = o->paired ? "paired-t" : "welch-t";
    }
    if (st) return st;
    out->pvalue = t.pvalue;

    double *dist = malloc(o->boot.resamples * sizeof *dist);
    if (!dist) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu resamples", o->boot.resamples);
    st = two_sample_dist(base, nb, cand, nc, o->location, o->paired, &o->boot, combine_rel_change,
                         NULL, &out->base_stat, &out->cand_stat, dist, err);
    if (!st && out->base_stat == 0)
        st = hb_fail(err, HB_ERR_DATA,
                     "the baseline %s is 0, so a relative change has no value",
                     o->location == HB_LOCATION_MEAN ? "mean" : "median");
    if (st) {
        free(dist);
        return st;
    }
    out->rel_change = out->cand_stat / out->base_stat - 1;
    hb_boot_result br;
    hb__boot_percentile_interval(dist, o->boot.resamples, out->rel_change, o->boot.level, &br);
    free(dist);
    out->ci_lo = br.ci.lo;
    out->ci_hi = br.ci.hi;
    out->significant = out->pvalue < o->alpha;
    out->outside_noise = out->ci_lo > o->noise_threshold || out->ci_hi < -o->noise_threshold;
    out->verdict = HB_NO_CHANGE;
    out->severity = HB_SEVERITY_NONE;
    if (out->significant && out->outside_noise) {
        bool worse = (out->rel_change > 0) == (o->direction == HB_LOWER_IS_BETTER);
        out->verdict = worse ? HB_REGRESSED : HB_IMPROVED;
        if (worse) out->severity = hb_severity_of(out->rel_change);
    }
    return HB_OK;
}

/* ------------------------------------------------------------------------------- claims ---- */

const char *hb_claim_kind_name(hb_claim_kind k)
{
    static const char *const names[] = {"absolute", "relative", "value"};
    return (unsigned)k < 3 ? names[k] : "unknown";
}

bool hb_claim_kind_parse(const char *s, hb_claim_kind *out)
{
    for (int k = 0; k < 3; k++)
        if (strcmp(s, hb_claim_kind_name((hb_claim_kind)k)) == 0) {
            *out = (hb_claim_kind)k;
            return true;
        }
    return false;
}

hb_claim_opts hb_claim_defaults(void)
{
    hb_boot_opts b = hb_boot_defaults();
    b.method = HB_BOOT_PERCENTILE;
    return (hb_claim_opts){
        .min_p = 0.05, .min_effect = 0.2, .min_confidence = 0.70, .paired = false, .boot = b};
}

/* The improvement that a claim speaks of, from the baseline and candidate means. */
static double improvement(const hb_claim *c, double base, double cand)
{
    double gain = c->direction == HB_LOWER_IS_BETTER ? base - cand : cand - base;
    return c->kind == HB_CLAIM_RELATIVE ? 100.0 * gain / base : gain;
}

static double combine_improvement(const double *s, void *ctx)
{
    return improvement(ctx, s[0], s[1]);
}

static void finish_claim(const hb_claim *c, const hb_claim_opts *o, double *dist, size_t B,
                         hb_claim_result *r)
{
    size_t inside = 0;
    for (size_t b = 0; b < B; b++) inside += dist[b] >= c->lo && dist[b] <= c->hi;
    r->confidence = (double)inside / (double)B;
    hb_boot_result br;
    hb__boot_percentile_interval(dist, B, r->estimate, o->boot.level, &br);
    r->ci_lo = br.ci.lo;
    r->ci_hi = br.ci.hi;
    r->pass_p = r->pvalue < o->min_p;
    r->pass_effect = fabs(r->effect) > o->min_effect;
    r->pass_range = r->estimate >= c->lo && r->estimate <= c->hi;
    r->pass_confidence = r->confidence > o->min_confidence;
    r->validated = r->pass_p && r->pass_effect && r->pass_range && r->pass_confidence;
}

static hb_status validate_value(const hb_claim *c, const double *x, size_t n,
                                const hb_claim_opts *o, hb_claim_result *r, hb_error *err)
{
    hb_status st = hb_check_samples(x, n, 2, "candidate", err);
    if (st) return st;
    double m, ss;
    hb__mean_ss(x, n, &m, &ss);
    double sd = sqrt(ss / (double)(n - 1)), se = sd / sqrt((double)n);
    bool lower = c->direction == HB_LOWER_IS_BETTER;
    double bound = lower ? c->hi : c->lo, margin = lower ? bound - m : m - bound;
    r->estimate = m;
    /* one-sided one-sample t-test of H1: the mean is on the good side of the bound */
    if (se > 0) {
        r->pvalue = gsl_cdf_tdist_Q(margin / se, (double)(n - 1));
        r->effect = margin / sd;
    } else {
        r->pvalue = margin > 0 ? 0 : 1;
        r->effect = margin > 0 ? INFINITY : margin < 0 ? -INFINITY : 0;
    }
    double *dist = malloc(o->boot.resamples * sizeof *dist);
    if (!dist) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu resamples", o->boot.resamples);
    hb_boot_sample s;
    if ((st = hb__boot_sample_init(&s, x, n, HB_LOCATION_MEAN, 0, 0, err))) {
        free(dist);
        return st;
    }
    st = hb__boot_distribution(&s, 1, 0, o->boot.resamples, o->boot.seed, NULL, NULL, dist, err);
    hb__boot_sample_free(&s);
    if (!st) finish_claim(c, o, dist, o->boot.resamples, r);
    free(dist);
    return st;
}

hb_status hb_claim_validate(const hb_claim *c, const double *base, size_t nb, const double *cand,
                            size_t nc, const hb_claim_opts *o, hb_claim_result *r, hb_error *err)
{
    memset(r, 0, sizeof *r);
    if (!(c->lo <= c->hi) || !isfinite(c->lo) || !isfinite(c->hi))
        return hb_fail(err, HB_ERR_INVALID, "claim '%s': range [%g, %g] is not a finite range",
                       c->name ? c->name : "?", c->lo, c->hi);
    if (!(o->boot.level > 0 && o->boot.level < 1) || o->boot.resamples < 100)
        return hb_fail(err, HB_ERR_INVALID, "bootstrap level %g / %zu resamples are invalid",
                       o->boot.level, o->boot.resamples);
    if (c->kind == HB_CLAIM_VALUE) return validate_value(c, cand, nc, o, r, err);
    hb_status st = check_pair(base, nb, cand, nc, o->paired, err);
    if (st) return st;

    hb_test_t t;
    st = o->paired ? hb_ttest_paired(base, cand, nb, &t, err)
                   : hb_ttest_welch(base, nb, cand, nc, &t, err);
    hb_effect_t d;
    if (!st) st = hb_cohens_d(base, nb, cand, nc, &d, err);
    if (st) return st;
    r->pvalue = t.pvalue;
    r->effect = c->direction == HB_LOWER_IS_BETTER ? d.value : -d.value;

    double *dist = malloc(o->boot.resamples * sizeof *dist);
    if (!dist) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu resamples", o->boot.resamples);
    double mb, mc;
    st = two_sample_dist(base, nb, cand, nc, HB_LOCATION_MEAN, o->paired, &o->boot,
                         combine_improvement, (void *)c, &mb, &mc, dist, err);
    if (!st && c->kind == HB_CLAIM_RELATIVE && mb == 0)
        st = hb_fail(err, HB_ERR_DATA, "claim '%s': the baseline mean is 0, so a relative "
                     "improvement has no value", c->name ? c->name : "?");
    if (!st) {
        r->estimate = improvement(c, mb, mc);
        finish_claim(c, o, dist, o->boot.resamples, r);
    }
    free(dist);
    return st;
}
