/* ranktest.c - Mann-Whitney U and Wilcoxon signed-rank tests with exact small-sample p-values.
 *
 * Exact Mann-Whitney: the number of arrangements with U = u for sample sizes m <= n is the
 * coefficient of q^u in the Gaussian binomial [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) /
 * (1 - q^i). Building it factor by factor costs O(m^2 n), so one small sample of 8 beside a
 * large one (the case SciPy's 'auto' sends to the exact path) stays cheap.
 * Exact Wilcoxon: the distribution of R+ for n untied non-zero differences is built one rank at
 * a time (each rank k joins R+ with probability 1/2), as SciPy's _get_wilcoxon_distr does.
 */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>

#include "stats_internal.h"

/* P(U >= u) under H0 for sizes m, n (no ties). Returns -1 on allocation failure. */
static double mwu_exact_sf(size_t m, size_t n, size_t u)
{
    if (m > n) {
        size_t t = m;
        m = n;
        n = t;
    }
    size_t deg = m * n;
    double *c = calloc(deg + 1, sizeof *c);
    if (!c) return -1;
    c[0] = 1;
    size_t cur = 0; /* degree of the polynomial so far */
    for (size_t i = 1; i <= m; i++) {
        size_t k = n + i, newdeg = cur + n;
        /* multiply by (1 - q^k), then divide by (1 - q^i) as a running sum with stride i; the
         * quotient is a polynomial of degree newdeg, so terms above it are never needed and
         * the entries there stay zero for the next factor */
        for (size_t d = newdeg; d >= k; d--) c[d] -= c[d - k];
        for (size_t d = i; d <= newdeg; d++) c[d] += c[d - i];
        cur = newdeg;
    }
    double total = 0, tail = 0;
    for (size_t d = 0; d <= deg; d++) {
        total += c[d];
        if (d >= u) tail += c[d];
    }
    free(c);
    return tail / total;
}

hb_status hb_mannwhitney(const double *a, size_t na, const double *b, size_t nb, hb_test_t *o,
                         hb_error *err)
{
    hb_status st = hb_check_samples(a, na, 1, "first sample", err);
    if (!st) st = hb_check_samples(b, nb, 1, "second sample", err);
    if (st) return st;
    size_t n = na + nb;
    double *xy = malloc(n * sizeof *xy), *rank = malloc(n * sizeof *rank);
    if (!xy || !rank) {
        free(xy), free(rank);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu ranks", n);
    }
    for (size_t i = 0; i < na; i++) xy[i] = a[i];
    for (size_t i = 0; i < nb; i++) xy[na + i] = b[i];
    int ties;
    double tie_term = hb__rank_average(xy, n, rank, &ties);
    if (tie_term < 0) {
        free(xy), free(rank);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu ranks", n);
    }
    double r1 = 0;
    for (size_t i = 0; i < na; i++) r1 += rank[i];
    free(xy), free(rank);
    double fna = (double)na, fnb = (double)nb, fn = (double)n;
    double u1 = r1 - fna * (fna + 1) / 2, u2 = fna * fnb - u1;
    double u = u1 > u2 ? u1 : u2;
    o->statistic = u1;
    o->df = 0;
    if ((na <= 8 || nb <= 8) && !ties) {
        double sf = mwu_exact_sf(na, nb, (size_t)llround(u));
        if (sf < 0) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate the U distribution");
        o->pvalue = 2 * sf;
        o->method = HB_PV_EXACT;
    } else {
        double s = sqrt(fna * fnb / 12.0 * ((fn + 1) - tie_term / (fn * (fn - 1))));
        double z = (u - fna * fnb / 2 - 0.5) / s;
        o->pvalue = s > 0 ? 2 * gsl_cdf_ugaussian_Q(z) : 1;
        o->method = HB_PV_ASYMPTOTIC;
    }
    if (o->pvalue > 1) o->pvalue = 1;
    return HB_OK;
}

/* Exact two-sided p-value of R+ = r for n untied non-zero differences (SciPy's rule). */
static double wilcoxon_exact_p(size_t n, size_t r)
{
    size_t top = n * (n + 1) / 2;
    double *pmf = calloc(top + 1, sizeof *pmf);
    if (!pmf) return -1;
    pmf[0] = 1;
    size_t len = 1;
    for (size_t k = 1; k <= n; k++) {
        /* adding rank k: R+ stays (prob 1/2) or grows by k (prob 1/2) */
        size_t newlen = k * (k + 1) / 2 + 1;
        for (size_t i = newlen; i-- > 0;) {
            double stay = i < len ? pmf[i] : 0;
            double grow = i >= k && i - k < len ? pmf[i - k] : 0;
            pmf[i] = 0.5 * stay + 0.5 * grow;
        }
        len = newlen;
    }
    double p;
    if (r == top / 2) {
        p = 1;
    } else {
        double less = 0, greater = 0;
        for (size_t i = 0; i <= top; i++) {
            if (i <= r) less += pmf[i];
            if (i >= r) greater += pmf[i];
        }
        p = 2 * (less < greater ? less : greater);
    }
    free(pmf);
    return p > 1 ? 1 : p;
}

hb_status hb_wilcoxon(const double *a, const double *b, size_t n, hb_test_t *o, hb_error *err)
{
    hb_status st = hb_check_samples(a, n, 1, "first sample", err);
    if (!st) st = hb_check_samples(b, n, 1, "second sample", err);
    if (st) return st;
    double *d = malloc(n * sizeof *d), *ad = malloc(n * sizeof *ad), *rank = malloc(n * sizeof *rank);
    if (!d || !ad || !rank) {
        free(d), free(ad), free(rank);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu differences", n);
    }
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        double di = a[i] - b[i];
        if (di != 0) d[m++] = di; /* zero_method "wilcox": zero differences carry no sign */
    }
    o->df = 0;
    if (m == 0) {
        free(d), free(ad), free(rank);
        o->statistic = 0;
        o->pvalue = 1;
        o->method = HB_PV_EXACT;
        return HB_OK;
    }
    for (size_t i = 0; i < m; i++) ad[i] = fabs(d[i]);
    int ties;
    double tie_term = hb__rank_average(ad, m, rank, &ties);
    double rplus = 0, rminus = 0;
    for (size_t i = 0; i < m; i++) {
        if (d[i] > 0)
            rplus += rank[i];
        else
            rminus += rank[i];
    }
    free(d), free(ad), free(rank);
    if (tie_term < 0) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu ranks", m);
    o->statistic = rplus < rminus ? rplus : rminus;
    if (n <= 50 && m == n && !ties) {
        double p = wilcoxon_exact_p(m, (size_t)llround(rplus));
        if (p < 0) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate the R+ distribution");
        o->pvalue = p;
        o->method = HB_PV_EXACT;
        return HB_OK;
    }
    double fm = (double)m;
    double mn = fm * (fm + 1) * 0.25;
    /* tie_term is sum(t^3 - t) = sum(t (t^2 - 1)) over tie groups of |d| */
    double se = sqrt((fm * (fm + 1) * (2 * fm + 1) - 0.5 * tie_term) / 24);
    double z = (o->statistic - mn) / se;
    o->pvalue = 2 * gsl_cdf_ugaussian_Q(fabs(z));
    if (o->pvalue > 1) o->pvalue = 1;
    o->method = HB_PV_ASYMPTOTIC;
    return HB_OK;
}
