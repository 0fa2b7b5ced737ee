/* stats.h - the statistics engine: descriptive statistics, confidence intervals, two-sample and
 * paired tests, effect sizes, outliers, multiple comparisons, change verdicts and claim validation.
 *
 * Statistics read arrays of doubles and return numbers; they know nothing of engines or files.
 * Every definition below follows a named reference so results can be checked against it; where
 * the reference (SciPy 1.10 / NumPy 1.24) leaves a case undefined (zero variance, all-equal data)
 * the behaviour chosen here is stated, and no function returns NaN for such input unless the
 * quantity has no value at all (e.g. the coefficient of variation of data whose mean is 0).
 *
 * Inputs must be finite; functions that take data check this and fail with HB_ERR_DATA.
 */
#ifndef HIGGSBENCH_STATS_H
#define HIGGSBENCH_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/error.h"

/* ---------------------------------------------------------------- descriptive statistics ---- */

/* The percentiles that hb_describe() always reports, in percent. */
#define HB_DESCRIBE_NPCT 7
extern const double hb_describe_pcts[HB_DESCRIBE_NPCT]; /* 1 5 25 50 75 95 99 */

typedef struct {
    size_t n;
    double mean;
    double sd;     /* sample standard deviation (n - 1 denominator); 0 when n == 1 */
    double se;     /* standard error of the mean, sd / sqrt(n) */
    double min, max;
    double median;
    double q1, q3; /* 25th and 75th percentiles */
    double iqr;    /* q3 - q1 */
    double mad;    /* median absolute deviation from the median, unscaled (SciPy scale=1.0) */
    double cv;     /* sd / mean; NaN when mean == 0 (no value exists) */
    double pct[HB_DESCRIBE_NPCT]; /* values at hb_describe_pcts */
} hb_describe_t;

/* Descriptive statistics of x[0..n). Needs n >= 1 and finite values. x is not modified.
 * Order statistics use selection, not a full sort: O(n) expected time. */
hb_status hb_describe(const double *x, size_t n, hb_describe_t *out, hb_error *err);

/* The p-th percentile (0 <= p <= 100) of already sorted data by linear interpolation between
 * order statistics: with h = (n - 1) p / 100, x[floor h] + (h - floor h)(x[floor h + 1] -
 * x[floor h]). This is NumPy's default ("linear", R type 7). */
double hb_percentile_sorted(const double *sorted, size_t n, double p);

/* Percentiles p[0..np) of unsorted data, same definition, without sorting all of x. */
hb_status hb_percentiles(const double *x, size_t n, const double *p, size_t np, double *out,
                         hb_error *err);

/* Sorts ascending in place (radix sort on the IEEE-754 bit pattern for large n). */
void hb_sort_doubles(double *x, size_t n);

/* Checks that x[0..n) holds at least min_n finite values; names `what` in the error. */
hb_status hb_check_samples(const double *x, size_t n, size_t min_n, const char *what,
                           hb_error *err);

/* ------------------------------------------------------------------ confidence intervals ---- */

typedef struct {
    double estimate; /* the statistic on the original data */
    double lo, hi;   /* the interval */
    double level;    /* e.g. 0.95 */
} hb_interval_t;

/* CI of the mean by Student's t: mean +- t_{(1+level)/2, n-1} * se. Needs n >= 2. With zero
 * variance the interval is [mean, mean]. */
hb_status hb_ci_mean_t(const double *x, size_t n, double level, hb_interval_t *out,
                       hb_error *err);

typedef enum { HB_BOOT_PERCENTILE = 0, HB_BOOT_BCA = 1 } hb_boot_method;

#define HB_BOOT_DEFAULT_RESAMPLES 10000

typedef struct {
    double level;        /* confidence level in (0, 1) */
    size_t resamples;    /* number of bootstrap resamples, >= 100 */
    uint64_t seed;       /* the same seed gives the same interval */
    hb_boot_method method;
} hb_boot_opts;

/* Defaults: level 0.95, 10,000 resamples, seed 1, BCa. */
hb_boot_opts hb_boot_defaults(void);

typedef struct {
    hb_interval_t ci;
    double se;          /* bootstrap standard error (sd of the bootstrap distribution, ddof 1) */
    double z0, accel;   /* BCa bias correction and acceleration (0 for the percentile method) */
    double alpha_lo, alpha_hi; /* the quantile levels the interval was read at */
    size_t resamples;
    hb_boot_method method;
} hb_boot_result;

/* Bootstrap CI of the p-th percentile (p in [0, 100]; 50 is the median) of x, resampling x with
 * replacement; the percentile of a resample uses the hb_percentile_sorted() definition.
 * Percentile interval: the alpha and 1 - alpha quantiles of the bootstrap distribution.
 * BCa (Efron & Tibshirani 1993, eq. 14.14): quantile levels corrected by z0 (from the share of
 * bootstrap values below and at the estimate, as SciPy does) and the jackknife acceleration.
 * Degenerate data (all equal) give [x, x]. Needs n >= 2. */
hb_status hb_bootstrap_percentile_ci(const double *x, size_t n, double p, const hb_boot_opts *o,
                                     hb_boot_result *out, hb_error *err);

/* Same for the mean of x. */
hb_status hb_bootstrap_mean_ci(const double *x, size_t n, const hb_boot_opts *o,
                               hb_boot_result *out, hb_error *err);

/* ------------------------------------------------------------------------------- tests ---- */

typedef enum { HB_PV_EXACT = 0, HB_PV_ASYMPTOTIC = 1 } hb_pvalue_method;

typedef struct {
    double statistic;
    double df;       /* degrees of freedom (t tests); 0 for rank tests */
    double pvalue;   /* two-sided */
    hb_pvalue_method method;
} hb_test_t;

/* Student's two-sample t-test with pooled variance, two-sided (scipy.stats.ttest_ind).
 * statistic = (mean a - mean b) / (sp sqrt(1/na + 1/nb)), df = na + nb - 2.
 * Zero pooled variance: t = 0, p = 1 when the means are equal; t = +-inf, p = 0 otherwise. */
hb_status hb_ttest_student(const double *a, size_t na, const double *b, size_t nb, hb_test_t *out,
                           hb_error *err);

/* Welch's t-test (unequal variances), Welch-Satterthwaite df (ttest_ind(equal_var=False)).
 * Zero variance in both samples is handled as in hb_ttest_student (df = na + nb - 2). */
hb_status hb_ttest_welch(const double *a, size_t na, const double *b, size_t nb, hb_test_t *out,
                         hb_error *err);

/* Mann-Whitney U, two-sided (scipy.stats.mannwhitneyu, use_continuity=True, method='auto').
 * statistic = U of a = R_a - na(na+1)/2 with average ranks for ties. Exact p-value when
 * min(na, nb) <= 8 and there are no ties; otherwise the normal approximation with tie and
 * continuity corrections. All values equal: p = 1. */
hb_status hb_mannwhitney(const double *a, size_t na, const double *b, size_t nb, hb_test_t *out,
                         hb_error *err);

/* Paired t-test on d = a - b (scipy.stats.ttest_rel). Zero variance of d: as hb_ttest_student. */
hb_status hb_ttest_paired(const double *a, const double *b, size_t n, hb_test_t *out,
                          hb_error *err);

/* Wilcoxon signed-rank test on d = a - b, two-sided, zero differences dropped ("wilcox"), no
 * continuity correction (scipy.stats.wilcoxon defaults). statistic = min(R+, R-). Exact p-value
 * when n <= 50 with no zero and no tied |d|; otherwise normal approximation with tie correction.
 * (SciPy 1.10 keeps its exact path when |d| has ties and truncates R+; later SciPy and this
 * function use the approximation there.) All differences zero: statistic 0, p = 1. */
hb_status hb_wilcoxon(const double *a, const double *b, size_t n, hb_test_t *out, hb_error *err);

/* One-sample t-test of mean(x) against mu, two-sided; zero variance as hb_ttest_student. */
hb_status hb_ttest_one_sample(const double *x, size_t n, double mu, hb_test_t *out, hb_error *err);

/* ------------------------------------------------------------------------ effect sizes ---- */

typedef enum {
    HB_EFFECT_NEGLIGIBLE = 0,
    HB_EFFECT_SMALL,
    HB_EFFECT_MEDIUM,
    HB_EFFECT_LARGE
} hb_effect_label;

typedef struct {
    double value;  /* may be +-inf for d and g when the pooled sd is 0 and the means differ */
    hb_effect_label label;
} hb_effect_t;

const char *hb_effect_label_name(hb_effect_label l);

/* Cohen's d = (mean a - mean b) / pooled sd (n-1 weighting). Labels by |d|: negligible < 0.2 <=
 * small < 0.5 <= medium < 0.8 <= large (Cohen 1988). Zero pooled sd: 0 if means are equal. */
hb_status hb_cohens_d(const double *a, size_t na, const double *b, size_t nb, hb_effect_t *out,
                      hb_error *err);

/* Hedges' g = d * J with the exact small-sample correction
 * J = Gamma(df/2) / (sqrt(df/2) Gamma((df-1)/2)), df = na + nb - 2 (Hedges 1981). Cohen labels. */
hb_status hb_hedges_g(const double *a, size_t na, const double *b, size_t nb, hb_effect_t *out,
                      hb_error *err);

/* Cliff's delta = P(a > b) - P(a < b) over all pairs, O((na + nb) log) by sorting. Labels by
 * |delta| with the thresholds conventional for this measure (Romano et al. 2006): negligible
 * < 0.147 <= small < 0.33 <= medium < 0.474 <= large. */
hb_status hb_cliffs_delta(const double *a, size_t na, const double *b, size_t nb,
                          hb_effect_t *out, hb_error *err);

/* Label of a d-family effect size by Cohen's thresholds. */
hb_effect_label hb_effect_label_cohen(double d);

/* ---------------------------------------------------------------------------- outliers ---- */

typedef enum {
    HB_OUTLIERS_NONE = 0,
    HB_OUTLIERS_IQR,       /* Tukey fences: mild beyond 1.5 IQR, severe beyond 3 IQR */
    HB_OUTLIERS_ZSCORE,    /* |x - mean| / sd > 3, sd with n denominator (scipy.stats.zscore) */
    HB_OUTLIERS_MODIFIED_Z /* |0.6745 (x - median) / MAD| > 3.5 (Iglewicz & Hoaglin 1993) */
} hb_outlier_method;

const char *hb_outlier_method_name(hb_outlier_method m);
/* Parses "iqr", "zscore", "modified-zscore" or "none"; returns false for anything else. */
bool hb_outlier_method_parse(const char *s, hb_outlier_method *out);

typedef struct {
    size_t index;   /* position in the input */
    double value;
    double score;   /* IQR: distance beyond the 1.5 IQR fence in IQRs; z methods: the z score */
    bool severe;    /* IQR: beyond 3 IQR; z methods: always false */
} hb_outlier_t;

typedef struct {
    hb_outlier_method method;
    size_t n;              /* samples examined */
    size_t count;          /* outliers found (mild + severe) */
    size_t severe_count;
    hb_outlier_t *items;   /* count entries in input order; free with hb_outliers_free */
    double lower, upper;   /* values at or inside these bounds are not outliers */
    double severe_lower, severe_upper; /* IQR only; equal to lower/upper otherwise */
    bool mad_fallback;     /* modified z: MAD was 0, the mean absolute deviation *1.2533 was used */
} hb_outliers_t;

/* Finds outliers of x by method. Never removes anything. With no spread (sd, IQR or both MAD and
 * mean absolute deviation equal to 0) nothing is an outlier except values that differ from the
 * centre, which are (their score is reported as +-inf for z methods). */
hb_status hb_outliers_detect(const double *x, size_t n, hb_outlier_method method,
                             hb_outliers_t *out, hb_error *err);

/* Copies the values of x that are not in r into kept (size n) and returns how many. */
size_t hb_outliers_remove(const double *x, size_t n, const hb_outliers_t *r, double *kept);

void hb_outliers_free(hb_outliers_t *r);

/* --------------------------------------------------------------- multiple comparisons ---- */

/* Holm-Bonferroni step-down adjusted p-values: sort ascending, adj_(i) = max_{j<=i} min(1,
 * (m - j + 1) p_(j)), returned in input order. p and adj may alias. */
hb_status hb_holm(const double *p, size_t m, double *adj, hb_error *err);

/* --------------------------------------------------------------- change verdict & claims ---- */

typedef enum { HB_LOWER_IS_BETTER = 0, HB_HIGHER_IS_BETTER = 1 } hb_direction;
typedef enum { HB_LOCATION_MEDIAN = 0, HB_LOCATION_MEAN = 1 } hb_location;
typedef enum { HB_NO_CHANGE = 0, HB_IMPROVED, HB_REGRESSED } hb_verdict;
typedef enum {
    HB_SEVERITY_NONE = 0,
    HB_SEVERITY_LOW,      /* < 5 % worse */
    HB_SEVERITY_MEDIUM,   /* 5-15 % */
    HB_SEVERITY_HIGH,     /* 15-30 % */
    HB_SEVERITY_CRITICAL  /* > 30 % */
} hb_severity;

const char *hb_verdict_name(hb_verdict v);
const char *hb_severity_name(hb_severity s);
const char *hb_direction_name(hb_direction d);
bool hb_direction_parse(const char *s, hb_direction *out);
/* Severity of a regression of |rel| (a fraction: 0.07 is 7 %). */
hb_severity hb_severity_of(double rel);

typedef struct {
    double alpha;           /* significance level, default 0.05 */
    double noise_threshold; /* fraction, default 0.02 */
    hb_location location;   /* median (rank tests) or mean (t tests) */
    hb_direction direction;
    bool paired;            /* samples are interleaved pairs: paired tests, joint resampling */
    hb_boot_opts boot;      /* level, resamples and seed of the relative-change CI */
} hb_change_opts;

hb_change_opts hb_change_defaults(void);

typedef struct {
    double base_stat, cand_stat; /* location of each sample */
    double rel_change;           /* cand / base - 1 */
    double ci_lo, ci_hi;         /* bootstrap percentile CI of rel_change */
    double pvalue;
    const char *test;            /* "mann-whitney", "welch-t", "wilcoxon", "paired-t" */
    bool significant;            /* pvalue < alpha */
    bool outside_noise;          /* CI wholly outside [-noise, +noise] */
    hb_verdict verdict;
    hb_severity severity;        /* for regressions; NONE otherwise */
} hb_change_t;

/* Baseline vs candidate. A change counts only when p < alpha AND the bootstrap CI of the relative
 * change lies wholly outside +-noise_threshold; its sign and the direction say improved or
 * regressed. Fails with HB_ERR_DATA when the baseline location is 0 (no relative change). */
hb_status hb_change_verdict(const double *base, size_t nb, const double *cand, size_t nc,
                            const hb_change_opts *o, hb_change_t *out, hb_error *err);

typedef enum {
    HB_CLAIM_ABSOLUTE = 0, /* improvement in the metric's unit, e.g. 15-25 ms lower */
    HB_CLAIM_RELATIVE,     /* improvement in percent of the baseline, e.g. 20-30 % less */
    HB_CLAIM_VALUE         /* the candidate's own value lies in the range, e.g. 0-100 ms */
} hb_claim_kind;

const char *hb_claim_kind_name(hb_claim_kind k);
bool hb_claim_kind_parse(const char *s, hb_claim_kind *out);

typedef struct {
    const char *name;      /* e.g. "latency_improvement_ms" */
    const char *metric;    /* which metric it is about */
    hb_direction direction;
    hb_claim_kind kind;
    double lo, hi;         /* the claimed range; lo <= hi */
} hb_claim;

typedef struct {
    double min_p;          /* p must be below this (0.05) */
    double min_effect;     /* |effect| must exceed this (0.2) */
    double min_confidence; /* bootstrap probability of the range must exceed this (0.70) */
    bool paired;
    hb_boot_opts boot;
} hb_claim_opts;

hb_claim_opts hb_claim_defaults(void);

typedef struct {
    double estimate;   /* improvement (ABSOLUTE, RELATIVE in %) or the value (VALUE) */
    double ci_lo, ci_hi; /* bootstrap percentile CI of the estimate */
    double pvalue;     /* Welch / paired t (two-sided); VALUE: one-sided one-sample t vs the bound */
    double effect;     /* Cohen's d of the improvement; VALUE: (bound - mean) / sd */
    double confidence; /* bootstrap probability that the estimate lies in [lo, hi] */
    bool pass_p, pass_effect, pass_range, pass_confidence;
    bool validated;    /* all four */
} hb_claim_result;

/* Validates a claim: base is the reference architecture's samples, cand the claimed-better one.
 * For HB_CLAIM_VALUE only cand is used (base may be NULL). */
hb_status hb_claim_validate(const hb_claim *c, const double *base, size_t nb, const double *cand,
                            size_t nc, const hb_claim_opts *o, hb_claim_result *out,
                            hb_error *err);

#endif
