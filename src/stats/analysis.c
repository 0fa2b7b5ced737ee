/* analysis.c - one-sample and two-sample analyses built from the statistics engine. */
#include "higgsbench/analysis.h"

#include <stdlib.h>
#include <string.h>

hb_analysis_opts hb_analysis_defaults(void)
{
    return (hb_analysis_opts){.outliers = HB_OUTLIERS_IQR,
                              .remove_outliers = false,
                              .level = 0.95,
                              .resamples = HB_BOOT_DEFAULT_RESAMPLES,
                              .seed = 1};
}

static void summary_free(hb_sample_summary *s)
{
    hb_outliers_free(&s->outliers);
    free(s->x);
    s->x = NULL;
}

/* Detects outliers in x and copies the data to analyse into s (all of it, or without them). */
static hb_status summarize(const double *x, size_t n, const char *label, const char *column,
                           const hb_analysis_opts *o, hb_sample_summary *s, hb_error *err)
{
    memset(s, 0, sizeof *s);
    s->label = label;
    s->column = column;
    s->n_read = n;
    hb_status st = hb_outliers_detect(x, n, o->outliers, &s->outliers, err);
    if (st) return st;
    s->x = malloc((n ? n : 1) * sizeof *s->x);
    if (!s->x) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu samples", n);
    s->removed = o->remove_outliers && s->outliers.count > 0;
    if (s->removed)
        s->n = hb_outliers_remove(x, n, &s->outliers, s->x);
    else {
        memcpy(s->x, x, n * sizeof *x);
        s->n = n;
    }
    return HB_OK;
}

static hb_status check_level(const hb_analysis_opts *o, hb_error *err)
{
    if (!(o->level > 0 && o->level < 1))
        return hb_fail(err, HB_ERR_INVALID, "confidence level %g is not in (0, 1)", o->level);
    return HB_OK;
}

hb_status hb_analyze_describe(const double *x, size_t n, const char *label, const char *column,
                              const hb_analysis_opts *o, hb_describe_report *r, hb_error *err)
{
    memset(r, 0, sizeof *r);
    r->opts = *o;
    hb_status st = check_level(o, err);
    if (!st) st = hb_check_samples(x, n, 2, label ? label : "data", err);
    if (!st) st = summarize(x, n, label, column, o, &r->s, err);
    if (!st) st = hb_check_samples(r->s.x, r->s.n, 2, "data left after outlier removal", err);
    if (!st) st = hb_describe(r->s.x, r->s.n, &r->s.d, err);
    if (!st) st = hb_ci_mean_t(r->s.x, r->s.n, o->level, &r->ci_mean, err);
    if (!st) {
        hb_boot_opts bo = {o->level, o->resamples, o->seed, HB_BOOT_BCA};
        st = hb_bootstrap_percentile_ci(r->s.x, r->s.n, 50, &bo, &r->ci_median, err);
    }
    if (st) hb_describe_report_free(r);
    return st;
}

void hb_describe_report_free(hb_describe_report *r) { summary_free(&r->s); }

/* Paired data: drop pair i when either side flagged i. */
static void remove_pairs(hb_compare_report *r, const double *base, const double *cand, size_t n)
{
    bool *drop = calloc(n ? n : 1, sizeof *drop);
    if (!drop) return; /* keep everything; the caller's counts stay honest */
    for (size_t i = 0; i < r->base.outliers.count; i++) drop[r->base.outliers.items[i].index] = 1;
    for (size_t i = 0; i < r->cand.outliers.count; i++) drop[r->cand.outliers.items[i].index] = 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (drop[i]) continue;
        r->base.x[k] = base[i];
        r->cand.x[k] = cand[i];
        k++;
    }
    r->base.n = r->cand.n = k;
    r->base.removed = r->cand.removed = k < n;
    free(drop);
}

hb_status hb_analyze_compare(const double *base, size_t nb, const char *base_label,
                             const char *base_column, const double *cand, size_t nc,
                             const char *cand_label, const char *cand_column,
                             const hb_analysis_opts *o, const hb_change_opts *co,
                             hb_compare_report *r, hb_error *err)
{
    memset(r, 0, sizeof *r);
    r->opts = *o;
    r->change_opts = *co;
    r->change_opts.boot.level = o->level;
    r->change_opts.boot.resamples = o->resamples;
    r->change_opts.boot.seed = o->seed;
    r->paired = co->paired;
    hb_status st = check_level(o, err);
    if (!st) st = hb_check_samples(base, nb, 2, "baseline", err);
    if (!st) st = hb_check_samples(cand, nc, 2, "candidate", err);
    if (!st && co->paired && nb != nc)
        st = hb_fail(err, HB_ERR_DATA,
                     "paired samples must have equal length: baseline has %zu, candidate %zu",
                     nb, nc);
    hb_analysis_opts keep = *o;
    if (co->paired) keep.remove_outliers = false; /* removed pairwise below */
    if (!st) st = summarize(base, nb, base_label, base_column, &keep, &r->base, err);
    if (!st) st = summarize(cand, nc, cand_label, cand_column, &keep, &r->cand, err);
    if (!st && co->paired && o->remove_outliers) remove_pairs(r, base, cand, nb);
    if (!st) st = hb_check_samples(r->base.x, r->base.n, 2, "baseline after outlier removal", err);
    if (!st) st = hb_check_samples(r->cand.x, r->cand.n, 2, "candidate after outlier removal", err);
    const double *b = r->base.x, *c = r->cand.x;
    size_t n1 = r->base.n, n2 = r->cand.n;
    if (!st) st = hb_describe(b, n1, &r->base.d, err);
    if (!st) st = hb_describe(c, n2, &r->cand.d, err);
    if (!st) st = hb_ttest_student(c, n2, b, n1, &r->student, err);
    if (!st) st = hb_ttest_welch(c, n2, b, n1, &r->welch, err);
    if (!st) st = hb_mannwhitney(c, n2, b, n1, &r->mannwhitney, err);
    if (!st && co->paired) st = hb_ttest_paired(c, b, n1, &r->paired_t, err);
    if (!st && co->paired) st = hb_wilcoxon(c, b, n1, &r->wilcoxon, err);
    if (!st) st = hb_cohens_d(c, n2, b, n1, &r->cohens_d, err);
    if (!st) st = hb_hedges_g(c, n2, b, n1, &r->hedges_g, err);
    if (!st) st = hb_cliffs_delta(c, n2, b, n1, &r->cliffs_delta, err);
    if (!st) st = hb_change_verdict(b, n1, c, n2, &r->change_opts, &r->change, err);
    if (st) hb_compare_report_free(r);
    return st;
}

void hb_compare_report_free(hb_compare_report *r)
{
    summary_free(&r->base);
    summary_free(&r->cand);
}
