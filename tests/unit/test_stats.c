/* test_stats.c - unit tests of the statistics engine: textbook values, edge cases and errors.
 * (The SciPy cross-check in tests/crosscheck covers the same functions on generated data.) */
#include <stdlib.h>

#include "higgsbench/stats.h"
#include "hb_test.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void describe_textbook(void)
{
    const double x[] = {2, 4, 4, 4, 5, 5, 7, 9};
    hb_describe_t d;
    CHECK(hb_describe(x, N(x), &d, NULL) == HB_OK);
    CHECK_EQ_INT(d.n, 8);
    CHECK_NEAR(d.mean, 5, 1e-15);
    CHECK_NEAR(d.sd, sqrt(32.0 / 7), 1e-15);
    CHECK_NEAR(d.se, sqrt(32.0 / 7) / sqrt(8), 1e-15);
    CHECK_NEAR(d.median, 4.5, 1e-15);
    CHECK_NEAR(d.q1, 4, 1e-15);
    CHECK_NEAR(d.q3, 5.5, 1e-15);
    CHECK_NEAR(d.iqr, 1.5, 1e-15);
    CHECK_NEAR(d.mad, 0.5, 1e-15);
    CHECK_NEAR(d.min, 2, 0);
    CHECK_NEAR(d.max, 9, 0);
    CHECK_NEAR(d.cv, sqrt(32.0 / 7) / 5, 1e-15);
}

static void describe_edges(void)
{
    hb_describe_t d;
    const double one[] = {3.5};
    CHECK(hb_describe(one, 1, &d, NULL) == HB_OK);
    CHECK(d.sd == 0 && d.se == 0 && d.median == 3.5 && d.iqr == 0 && d.mad == 0);
    const double flat[] = {7, 7, 7, 7};
    CHECK(hb_describe(flat, 4, &d, NULL) == HB_OK);
    CHECK(d.sd == 0 && d.cv == 0 && d.iqr == 0 && d.mad == 0 && d.pct[6] == 7);
    const double zero_mean[] = {-1, 1};
    CHECK(hb_describe(zero_mean, 2, &d, NULL) == HB_OK);
    CHECK(isnan(d.cv)); /* no value exists; documented */
    hb_error e = {0};
    const double bad[] = {1, NAN, 3};
    CHECK(hb_describe(bad, 3, &d, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "sample 2");
    const double inf[] = {1, 2, INFINITY};
    CHECK(hb_describe(inf, 3, &d, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "not a finite number");
    CHECK(hb_describe(one, 0, &d, &e) == HB_ERR_DATA);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sort_and_select_agree_with_qsort(void)
{
    srand(7);
    size_t sizes[] = {1, 2, 17, 63, 64, 65, 1000, 100003};
    for (size_t s = 0; s < N(sizes); s++) {
        size_t n = sizes[s];
        double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
        for (size_t i = 0; i < n; i++) {
            int r = rand();
            /* negatives, zeros of both signs, ties and wide magnitudes */
            x[i] = (r % 5 == 0) ? (r % 2 ? -0.0 : 0.0) : ((double)(r % 2001) - 1000) * pow(10, r % 7 - 3);
            y[i] = x[i];
        }
        hb_sort_doubles(x, n);
        qsort(y, n, sizeof *y, cmp);
        int same = 1;
        for (size_t i = 0; i < n; i++) same &= x[i] == y[i];
        CHECK(same);
        const double p[] = {0, 1, 12.5, 50, 99, 99.99, 100};
        double got[7];
        CHECK(hb_percentiles(y, n, p, 7, got, NULL) == HB_OK);
        for (int i = 0; i < 7; i++) CHECK_NEAR(got[i], hb_percentile_sorted(x, n, p[i]), 0);
        free(x);
        free(y);
    }
    hb_error e = {0};
    const double x[] = {1, 2};
    double out;
    const double p = 101;
    CHECK(hb_percentiles(x, 2, &p, 1, &out, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "101");
}

static void t_interval(void)
{
    const double x[] = {1, 2, 3, 4, 5};
    hb_interval_t ci;
    CHECK(hb_ci_mean_t(x, 5, 0.95, &ci, NULL) == HB_OK);
    double h = 2.7764451051977987 * sqrt(2.5 / 5);
    CHECK_NEAR(ci.lo, 3 - h, 1e-14);
    CHECK_NEAR(ci.hi, 3 + h, 1e-14);
    const double flat[] = {4, 4, 4};
    CHECK(hb_ci_mean_t(flat, 3, 0.99, &ci, NULL) == HB_OK);
    CHECK(ci.lo == 4 && ci.hi == 4);
    hb_error e = {0};
    CHECK(hb_ci_mean_t(x, 5, 1.0, &ci, &e) == HB_ERR_INVALID);
    CHECK(hb_ci_mean_t(x, 1, 0.95, &ci, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "at least 2");
}

static void bootstrap_reproducible_and_degenerate(void)
{
    double x[200];
    for (int i = 0; i < 200; i++) x[i] = 10 + sin(i * 1.7) * 3 + (i % 7);
    hb_boot_opts o = hb_boot_defaults();
    o.resamples = 2000;
    hb_boot_result a, b, c;
    CHECK(hb_bootstrap_percentile_ci(x, 200, 50, &o, &a, NULL) == HB_OK);
    CHECK(hb_bootstrap_percentile_ci(x, 200, 50, &o, &b, NULL) == HB_OK);
    CHECK(a.ci.lo == b.ci.lo && a.ci.hi == b.ci.hi && a.se == b.se);
    o.seed = 99;
    CHECK(hb_bootstrap_percentile_ci(x, 200, 50, &o, &c, NULL) == HB_OK);
    CHECK(c.se != a.se);
    CHECK(a.ci.lo <= a.ci.estimate && a.ci.estimate <= a.ci.hi);
    const double flat[] = {5, 5, 5, 5, 5};
    CHECK(hb_bootstrap_percentile_ci(flat, 5, 50, &o, &a, NULL) == HB_OK);
    CHECK(a.ci.lo == 5 && a.ci.hi == 5 && a.se == 0);
    CHECK(hb_bootstrap_mean_ci(flat, 5, &o, &a, NULL) == HB_OK);
    CHECK(a.ci.lo == 5 && a.ci.hi == 5);
    hb_error e = {0};
    o.resamples = 10;
    CHECK(hb_bootstrap_mean_ci(x, 200, &o, &a, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "10 bootstrap resamples");
}

/* Coverage: the 90% percentile-bootstrap interval of the mean of normal samples should cover
 * the true mean in about 90% of 300 data sets (binomial sd 1.7%; n = 40 under-covers a little). */
static void bootstrap_coverage(void)
{
    hb_boot_opts o = hb_boot_defaults();
    o.resamples = 1000;
    o.level = 0.90;
    o.method = HB_BOOT_PERCENTILE;
    unsigned long long s = 12345;
    int covered = 0;
    for (int k = 0; k < 300; k++) {
        double x[40];
        for (int i = 0; i < 40; i++) {
            double u1, u2; /* Box-Muller from a 64-bit LCG */
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            u1 = ((double)(s >> 11) + 1) / 9007199254740993.0;
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            u2 = (double)(s >> 11) / 9007199254740992.0;
            x[i] = 100 + 10 * sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);
        }
        o.seed = (uint64_t)k + 1;
        hb_boot_result r;
        CHECK(hb_bootstrap_mean_ci(x, 40, &o, &r, NULL) == HB_OK);
        covered += r.ci.lo <= 100 && 100 <= r.ci.hi;
    }
    CHECK(covered >= 250 && covered <= 285);
}

static void two_sample_tests(void)
{
    const double a[] = {1, 2, 3, 4, 5}, b[] = {2, 4, 6, 8, 10};
    hb_test_t t;
    CHECK(hb_ttest_student(a, 5, b, 5, &t, NULL) == HB_OK);
    CHECK_NEAR(t.statistic, -1.8973665961010275, 1e-14);
    CHECK_NEAR(t.pvalue, 0.09434977284243756, 1e-12);
    CHECK_NEAR(t.df, 8, 0);
    CHECK(hb_ttest_welch(a, 5, b, 5, &t, NULL) == HB_OK);
    CHECK_NEAR(t.pvalue, 0.10753119493062718, 1e-12);
    const double c[] = {1, 2, 3}, d[] = {4, 5, 6};
    CHECK(hb_mannwhitney(c, 3, d, 3, &t, NULL) == HB_OK);
    CHECK(t.statistic == 0 && t.method == HB_PV_EXACT);
    CHECK_NEAR(t.pvalue, 0.1, 1e-14);
    const double e1[] = {1.5, 2, 3, 7}, e2[] = {4, 5, 6, 8, 9};
    CHECK(hb_mannwhitney(e1, 4, e2, 5, &t, NULL) == HB_OK);
    CHECK_NEAR(t.statistic, 3, 0);
    CHECK_NEAR(t.pvalue, 1.0 / 9, 1e-14);
}

static void zero_variance_tests(void)
{
    const double a[] = {3, 3, 3}, b[] = {3, 3, 3, 3}, c[] = {4, 4, 4};
    hb_test_t t;
    CHECK(hb_ttest_student(a, 3, b, 4, &t, NULL) == HB_OK);
    CHECK(t.statistic == 0 && t.pvalue == 1);
    CHECK(hb_ttest_welch(a, 3, c, 3, &t, NULL) == HB_OK);
    CHECK(isinf(t.statistic) && t.statistic < 0 && t.pvalue == 0);
    CHECK(hb_mannwhitney(a, 3, b, 4, &t, NULL) == HB_OK);
    CHECK(t.pvalue == 1);
    CHECK(hb_ttest_paired(a, c, 3, &t, NULL) == HB_OK); /* constant difference */
    CHECK(isinf(t.statistic) && t.pvalue == 0);
    CHECK(hb_wilcoxon(a, a, 3, &t, NULL) == HB_OK); /* all differences zero */
    CHECK(t.statistic == 0 && t.pvalue == 1);
    hb_effect_t e;
    CHECK(hb_cohens_d(a, 3, b, 4, &e, NULL) == HB_OK);
    CHECK(e.value == 0 && e.label == HB_EFFECT_NEGLIGIBLE);
    CHECK(hb_cohens_d(c, 3, a, 3, &e, NULL) == HB_OK);
    CHECK(isinf(e.value) && e.value > 0 && e.label == HB_EFFECT_LARGE);
}

static void paired_tests(void)
{
    const double a[] = {1, 2, 3, 4, 5}, b[] = {0, 0, 0, 0, 0}, c[] = {1.5, 2.1, 3.9, 4.2, 5.8};
    hb_test_t t;
    CHECK(hb_wilcoxon(a, b, 5, &t, NULL) == HB_OK);
    CHECK(t.statistic == 0 && t.method == HB_PV_EXACT);
    CHECK_NEAR(t.pvalue, 0.0625, 1e-14);
    CHECK(hb_ttest_paired(a, c, 5, &t, NULL) == HB_OK);
    CHECK_NEAR(t.statistic, -3.1622776601683804, 1e-13);
    CHECK_NEAR(t.pvalue, 0.03410942316740957, 1e-12);
    hb_error e = {0};
    CHECK(hb_ttest_paired(a, c, 1, &t, &e) == HB_ERR_DATA);
}

static void effect_sizes(void)
{
    const double a[] = {3, 4, 5}, b[] = {1, 2, 3};
    hb_effect_t e;
    CHECK(hb_cliffs_delta(a, 3, b, 3, &e, NULL) == HB_OK);
    CHECK_NEAR(e.value, 8.0 / 9, 1e-15);
    CHECK(e.label == HB_EFFECT_LARGE);
    CHECK(hb_cohens_d(a, 3, b, 3, &e, NULL) == HB_OK);
    CHECK_NEAR(e.value, 2, 1e-15);
    CHECK(hb_hedges_g(a, 3, b, 3, &e, NULL) == HB_OK);
    /* J(4) = Gamma(2) / (sqrt(2) Gamma(1.5)) = 1 / (sqrt(2) * sqrt(pi) / 2) */
    CHECK_NEAR(e.value, 2 * 2 / (sqrt(2) * sqrt(M_PI)), 1e-14);
    CHECK(hb_effect_label_cohen(0.19) == HB_EFFECT_NEGLIGIBLE);
    CHECK(hb_effect_label_cohen(-0.2) == HB_EFFECT_SMALL);
    CHECK(hb_effect_label_cohen(0.5) == HB_EFFECT_MEDIUM);
    CHECK(hb_effect_label_cohen(-0.8) == HB_EFFECT_LARGE);
}

static void outlier_methods(void)
{
    const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 100};
    hb_outliers_t r;
    CHECK(hb_outliers_detect(x, 10, HB_OUTLIERS_IQR, &r, NULL) == HB_OK);
    CHECK_EQ_INT(r.count, 1);
    CHECK(r.count == 1 && r.items[0].index == 9 && r.items[0].severe);
    CHECK_NEAR(r.upper, 7.75 + 1.5 * 4.5, 1e-15);
    double kept[10];
    CHECK_EQ_INT(hb_outliers_remove(x, 10, &r, kept), 9);
    CHECK(kept[8] == 9);
    hb_outliers_free(&r);
    double y[21];
    for (int i = 0; i < 20; i++) y[i] = 10 + (i % 5) * 0.1;
    y[20] = 30;
    CHECK(hb_outliers_detect(y, 21, HB_OUTLIERS_ZSCORE, &r, NULL) == HB_OK);
    CHECK(r.count == 1 && r.items[0].index == 20 && r.items[0].score > 3);
    hb_outliers_free(&r);
    CHECK(hb_outliers_detect(y, 21, HB_OUTLIERS_MODIFIED_Z, &r, NULL) == HB_OK);
    CHECK(r.count == 1 && r.items[0].index == 20 && !r.mad_fallback);
    hb_outliers_free(&r);
    const double z[] = {5, 5, 5, 5, 5, 5, 5, 5.5, 40};
    CHECK(hb_outliers_detect(z, 9, HB_OUTLIERS_MODIFIED_Z, &r, NULL) == HB_OK);
    CHECK(r.mad_fallback && r.count == 1 && r.items[0].index == 8);
    hb_outliers_free(&r);
    const double flat[] = {2, 2, 2};
    CHECK(hb_outliers_detect(flat, 3, HB_OUTLIERS_ZSCORE, &r, NULL) == HB_OK);
    CHECK(r.count == 0);
    CHECK(hb_outliers_detect(x, 10, HB_OUTLIERS_NONE, &r, NULL) == HB_OK);
    CHECK(r.count == 0);
    hb_outlier_method m;
    CHECK(hb_outlier_method_parse("modified-zscore", &m) && m == HB_OUTLIERS_MODIFIED_Z);
    CHECK(!hb_outlier_method_parse("IQR", &m));
}

static void holm(void)
{
    const double p[] = {0.01, 0.04, 0.03, 0.005};
    double adj[4];
    CHECK(hb_holm(p, 4, adj, NULL) == HB_OK);
    CHECK_NEAR(adj[0], 0.03, 1e-15);
    CHECK_NEAR(adj[1], 0.06, 1e-15);
    CHECK_NEAR(adj[2], 0.06, 1e-15);
    CHECK_NEAR(adj[3], 0.02, 1e-15);
    const double big[] = {0.5, 0.6};
    CHECK(hb_holm(big, 2, adj, NULL) == HB_OK);
    CHECK(adj[0] == 1 && adj[1] == 1);
    const double bad[] = {0.5, 1.5};
    hb_error e = {0};
    CHECK(hb_holm(bad, 2, adj, &e) == HB_ERR_DATA);
}

/* deterministic pseudo-normal samples: mean + sd * (sum of 12 uniforms - 6) */
static void fill(double *x, size_t n, double mean, double sd, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int k = 0; k < 12; k++) s += (double)rand() / RAND_MAX;
        x[i] = mean + sd * (s - 6);
    }
}

static void change_verdicts(void)
{
    double base[60], cand[60];
    hb_change_opts o = hb_change_defaults();
    o.boot.resamples = 2000;
    hb_change_t c;
    fill(base, 60, 100, 2, 1);
    fill(cand, 60, 120, 2, 2);
    CHECK(hb_change_verdict(base, 60, cand, 60, &o, &c, NULL) == HB_OK);
    CHECK(c.verdict == HB_REGRESSED && c.severity == HB_SEVERITY_HIGH);
    CHECK(c.rel_change > 0.15 && c.rel_change < 0.25 && c.ci_lo > 0.02);
    o.direction = HB_HIGHER_IS_BETTER;
    CHECK(hb_change_verdict(base, 60, cand, 60, &o, &c, NULL) == HB_OK);
    CHECK(c.verdict == HB_IMPROVED && c.severity == HB_SEVERITY_NONE);
    /* significant but inside the 2% noise band: no change */
    o.direction = HB_LOWER_IS_BETTER;
    fill(cand, 60, 100.5, 0.1, 3);
    fill(base, 60, 100, 0.1, 4);
    CHECK(hb_change_verdict(base, 60, cand, 60, &o, &c, NULL) == HB_OK);
    CHECK(c.significant && !c.outside_noise && c.verdict == HB_NO_CHANGE);
    /* same for the paired path and the mean */
    o.paired = true;
    o.location = HB_LOCATION_MEAN;
    CHECK(hb_change_verdict(base, 60, cand, 60, &o, &c, NULL) == HB_OK);
    CHECK(c.significant && c.verdict == HB_NO_CHANGE && c.test[0] == 'p');
    hb_error e = {0};
    CHECK(hb_change_verdict(base, 60, cand, 59, &o, &c, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "equal length");
    const double zeros[] = {0, 0, 0, 1, -1};
    o.paired = false;
    o.location = HB_LOCATION_MEDIAN;
    CHECK(hb_change_verdict(zeros, 5, cand, 60, &o, &c, &e) == HB_ERR_DATA);
    CHECK_STR_CONTAINS(e.msg, "baseline median is 0");
    CHECK(hb_severity_of(0.049) == HB_SEVERITY_LOW && hb_severity_of(0.05) == HB_SEVERITY_MEDIUM &&
          hb_severity_of(0.15) == HB_SEVERITY_HIGH && hb_severity_of(-0.31) == HB_SEVERITY_CRITICAL);
}

static void claims(void)
{
    double base[50], cand[50];
    fill(base, 50, 50, 2, 5);
    fill(cand, 50, 30, 2, 6);
    hb_claim_opts o = hb_claim_defaults();
    o.boot.resamples = 2000;
    hb_claim c = {"latency", "latency_ms", HB_LOWER_IS_BETTER, HB_CLAIM_ABSOLUTE, 15, 25};
    hb_claim_result r;
    CHECK(hb_claim_validate(&c, base, 50, cand, 50, &o, &r, NULL) == HB_OK);
    CHECK(r.validated && r.pass_p && r.pass_effect && r.pass_range && r.pass_confidence);
    CHECK(r.estimate > 18 && r.estimate < 22 && r.confidence > 0.99 && r.effect > 5);
    c.lo = 25, c.hi = 35;
    CHECK(hb_claim_validate(&c, base, 50, cand, 50, &o, &r, NULL) == HB_OK);
    CHECK(!r.validated && !r.pass_range && r.pass_p && r.confidence < 0.01);
    c.kind = HB_CLAIM_RELATIVE, c.lo = 35, c.hi = 45; /* 40% less */
    CHECK(hb_claim_validate(&c, base, 50, cand, 50, &o, &r, NULL) == HB_OK);
    CHECK(r.validated && r.estimate > 36 && r.estimate < 44);
    c.kind = HB_CLAIM_VALUE, c.lo = 0, c.hi = 100;
    CHECK(hb_claim_validate(&c, NULL, 0, cand, 50, &o, &r, NULL) == HB_OK);
    CHECK(r.validated && r.pvalue < 1e-10);
    c.hi = 29; /* the mean (~30) is above the bound */
    CHECK(hb_claim_validate(&c, NULL, 0, cand, 50, &o, &r, NULL) == HB_OK);
    CHECK(!r.validated && !r.pass_range && r.pvalue > 0.5);
    /* no difference: fails on p and effect, whatever the range */
    c.kind = HB_CLAIM_ABSOLUTE, c.lo = -5, c.hi = 5;
    CHECK(hb_claim_validate(&c, base, 50, base, 50, &o, &r, NULL) == HB_OK);
    CHECK(!r.validated && !r.pass_p && !r.pass_effect && r.pass_range);
    hb_error e = {0};
    c.lo = 3, c.hi = 2;
    CHECK(hb_claim_validate(&c, base, 50, cand, 50, &o, &r, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "latency");
}

HB_TEST_MAIN(T(describe_textbook), T(describe_edges), T(sort_and_select_agree_with_qsort),
             T(t_interval), T(bootstrap_reproducible_and_degenerate), T(bootstrap_coverage),
             T(two_sample_tests), T(zero_variance_tests), T(paired_tests), T(effect_sizes),
             T(outlier_methods), T(holm), T(change_verdicts), T(claims))
