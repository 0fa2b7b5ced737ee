/* ttest.c - Student, Welch, paired and one-sample t tests, and the t interval of the mean. */
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>

#include "stats_internal.h"

/* Two-sided p-value of t with df degrees of freedom; t = 0/0 (no spread, no difference) has
 * been mapped to 0 by the callers, and +-inf gives 0. */
static double t_two_sided(double t, double df)
{
    if (isinf(t)) return 0;
    double p = 2.0 * gsl_cdf_tdist_Q(fabs(t), df);
    return p > 1 ? 1 : p;
}

/* t = diff / se with the zero-spread convention of stats.h. */
static double t_ratio(double diff, double se)
{
    if (se > 0) return diff / se;
    if (diff == 0) return 0;
    return diff > 0 ? INFINITY : -INFINITY;
}

static hb_status check_two(const double *a, size_t na, const double *b, size_t nb, hb_error *err)
{
    hb_status st = hb_check_samples(a, na, 2, "first sample", err);
    if (!st) st = hb_check_samples(b, nb, 2, "second sample", err);
    return st;
}

hb_status hb_ttest_student(const double *a, size_t na, const double *b, size_t nb, hb_test_t *o,
                           hb_error *err)
{
    hb_status st = check_two(a, na, b, nb, err);
    if (st) return st;
    double ma, ssa, mb, ssb;
    hb__mean_ss(a, na, &ma, &ssa);
    hb__mean_ss(b, nb, &mb, &ssb);
    double df = (double)(na + nb - 2);
    double sp2 = (ssa + ssb) / df;
    double se = sqrt(sp2 * (1.0 / (double)na + 1.0 / (double)nb));
    o->statistic = t_ratio(ma - mb, se);
    o->df = df;
    o->pvalue = t_two_sided(o->statistic, df);
    o->method = HB_PV_EXACT;
    return HB_OK;
}

hb_status hb_ttest_welch(const double *a, size_t na, const double *b, size_t nb, hb_test_t *o,
                         hb_error *err)
{
    hb_status st = check_two(a, na, b, nb, err);
    if (st) return st;
    double ma, ssa, mb, ssb;
    hb__mean_ss(a, na, &ma, &ssa);
    hb__mean_ss(b, nb, &mb, &ssb);
    double va = ssa / (double)(na - 1) / (double)na, vb = ssb / (double)(nb - 1) / (double)nb;
    double se = sqrt(va + vb);
    double df;
    if (va + vb > 0)
        df = (va + vb) * (va + vb) /
             (va * va / (double)(na - 1) + vb * vb / (double)(nb - 1));
    else
        df = (double)(na + nb - 2);
    o->statistic = t_ratio(ma - mb, se);
    o->df = df;
    o->pvalue = t_two_sided(o->statistic, df);
    o->method = HB_PV_EXACT;
    return HB_OK;
}

hb_status hb_ttest_one_sample(const double *x, size_t n, double mu, hb_test_t *o, hb_error *err)
{
    hb_status st = hb_check_samples(x, n, 2, "data", err);
    if (st) return st;
    if (!isfinite(mu)) return hb_fail(err, HB_ERR_INVALID, "test value %g is not finite", mu);
    double m, ss;
    hb__mean_ss(x, n, &m, &ss);
    double se = sqrt(ss / (double)(n - 1) / (double)n);
    o->statistic = t_ratio(m - mu, se);
    o->df = (double)(n - 1);
    o->pvalue = t_two_sided(o->statistic, o->df);
    o->method = HB_PV_EXACT;
    return HB_OK;
}

hb_status hb_ttest_paired(const double *a, const double *b, size_t n, hb_test_t *o, hb_error *err)
{
    hb_status st = check_two(a, n, b, n, err);
    if (st) return st;
    double *d = malloc(n * sizeof *d);
    if (!d) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu differences", n);
    for (size_t i = 0; i < n; i++) d[i] = a[i] - b[i];
    st = hb_ttest_one_sample(d, n, 0, o, err);
    free(d);
    return st;
}

/* Quantile of Student's t. GSL's inverse is good to about 1e-9 for few degrees of freedom; two
 * Newton steps on its CDF (accurate to ~1e-15) bring it to double precision. */
static double t_quantile(double p, double df)
{
    double t = gsl_cdf_tdist_Pinv(p, df);
    for (int i = 0; i < 2; i++) {
        double f = gsl_ran_tdist_pdf(t, df);
        if (!(f > 0)) break;
        t -= (gsl_cdf_tdist_P(t, df) - p) / f;
    }
    return t;
}

hb_status hb_ci_mean_t(const double *x, size_t n, double level, hb_interval_t *o, hb_error *err)
{
    if (!(level > 0 && level < 1))
        return hb_fail(err, HB_ERR_INVALID, "confidence level %g is not in (0, 1)", level);
    hb_status st = hb_check_samples(x, n, 2, "data", err);
    if (st) return st;
    double m, ss;
    hb__mean_ss(x, n, &m, &ss);
    double se = sqrt(ss / (double)(n - 1) / (double)n);
    double t = t_quantile((1 + level) / 2, (double)(n - 1));
    *o = (hb_interval_t){.estimate = m, .lo = m - t * se, .hi = m + t * se, .level = level};
    return HB_OK;
}
