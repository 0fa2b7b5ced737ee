/* bootstrap.c - bootstrap confidence intervals (percentile and BCa) of a percentile or the mean.
 *
 * See bootstrap_internal.h for how resamples are represented; a percentile of an unpaired sample
 * is drawn by binomial descent (stat_by_descent), which needs no per-observation draws. The BCa interval follows Efron &
 * Tibshirani (1993) eq. 14.14 with the jackknife acceleration of eq. 14.15, computed the way
 * scipy.stats.bootstrap does (z0 from the mid-rank share of the bootstrap values at the estimate)
 * so the two can be compared. The jackknife of a percentile needs no resampling: removing the
 * observation at sorted position i shifts the order statistics above i down by one.
 */
#include <gsl/gsl_randist.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap_internal.h"

hb_boot_opts hb_boot_defaults(void)
{
    return (hb_boot_opts){.level = 0.95,
                          .resamples = HB_BOOT_DEFAULT_RESAMPLES,
                          .seed = 1,
                          .method = HB_BOOT_BCA};
}

typedef struct {
    double v;
    uint32_t i;
} vi_pair;

static int cmp_vi(const void *a, const void *b)
{
    const vi_pair *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

hb_status hb__boot_sample_init(hb_boot_sample *s, const double *x, size_t n, hb_location loc,
                               double pct, int want_perm, hb_error *err)
{
    memset(s, 0, sizeof *s);
    if (n >= UINT32_MAX) return hb_fail(err, HB_ERR_INVALID, "%zu samples is too many", n);
    s->n = n;
    s->loc = loc;
    s->pct = loc == HB_LOCATION_MEDIAN && pct < 0 ? 50 : pct;
    s->sorted = malloc(n * sizeof *s->sorted);
    if (!s->sorted) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu samples", n);
    if (!want_perm) {
        memcpy(s->sorted, x, n * sizeof *x);
        hb_sort_doubles(s->sorted, n);
        return HB_OK;
    }
    vi_pair *v = malloc(n * sizeof *v);
    s->perm = malloc(n * sizeof *s->perm);
    if (!v || !s->perm) {
        free(v);
        hb__boot_sample_free(s);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu samples", n);
    }
    for (size_t i = 0; i < n; i++) v[i] = (vi_pair){x[i], (uint32_t)i};
    qsort(v, n, sizeof *v, cmp_vi);
    for (size_t i = 0; i < n; i++) {
        s->sorted[i] = v[i].v;
        s->perm[i] = v[i].i;
    }
    free(v);
    return HB_OK;
}

void hb__boot_sample_free(hb_boot_sample *s)
{
    free(s->sorted);
    free(s->perm);
    s->sorted = NULL;
    s->perm = NULL;
}

double hb__boot_sample_stat(const hb_boot_sample *s)
{
    if (s->loc == HB_LOCATION_MEAN) {
        double m, ss;
        hb__mean_ss(s->sorted, s->n, &m, &ss);
        return m;
    }
    return hb_percentile_sorted(s->sorted, s->n, s->pct);
}

/* The statistic of one resample given its counts; counts are indexed by sorted position, or by
 * original index through s->perm when perm is used. */
static double stat_from_counts(const hb_boot_sample *s, const uint32_t *counts, int use_perm)
{
    size_t n = s->n;
    if (s->loc == HB_LOCATION_MEAN) {
        double acc = 0;
        for (size_t j = 0; j < n; j++)
            acc += (double)counts[use_perm ? s->perm[j] : j] * s->sorted[j];
        return acc / (double)n;
    }
    double h = (double)(n - 1) * (s->pct / 100.0);
    size_t r1 = h <= 0 ? 0 : h >= (double)(n - 1) ? n - 1 : (size_t)floor(h);
    size_t r2 = r1 + 1 < n ? r1 + 1 : r1;
    double t = h - (double)r1;
    size_t cum = 0, j = 0;
    for (;; j++) { /* smallest j whose cumulative count exceeds r1 */
        cum += counts[use_perm ? s->perm[j] : j];
        if (cum > r1) break;
    }
    double v1 = s->sorted[j];
    if (t <= 0) return v1;
    while (cum <= r2) cum += counts[use_perm ? s->perm[++j] : ++j];
    return hb__lerp(v1, s->sorted[j], t);
}

/* Sorted position of order statistic r (0-based) of a resample of m draws spread uniformly over
 * the cells [lo, hi), by binomial descent: the number of draws that land in the left half of a
 * range is Binomial(m, left share), and given it the two halves are independent resamples of
 * their own. Following the half that holds rank r takes about log2(n) binomial draws instead of
 * n uniform ones, and gives exactly the distribution of drawing all n indices and counting. */
static size_t descend(gsl_rng *g, size_t lo, size_t hi, size_t m, size_t r)
{
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        size_t k = gsl_ran_binomial(g, (double)(mid - lo) / (double)(hi - lo), (unsigned)m);
        if (r < k) {
            hi = mid;
            m = k;
        } else {
            lo = mid;
            m -= k;
            r -= k;
        }
    }
    return lo;
}

/* The percentile statistic of one resample of s by descent: order statistics r1 and r1 + 1
 * share their path until they part, then each finishes alone. */
static double stat_by_descent(gsl_rng *g, const hb_boot_sample *s)
{
    size_t n = s->n;
    double h = (double)(n - 1) * (s->pct / 100.0);
    size_t r1 = h <= 0 ? 0 : h >= (double)(n - 1) ? n - 1 : (size_t)floor(h);
    double t = h - (double)r1;
    if (t <= 0 || r1 + 1 >= n) return s->sorted[descend(g, 0, n, n, r1)];
    size_t lo = 0, hi = n, m = n, r = r1;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        size_t k = gsl_ran_binomial(g, (double)(mid - lo) / (double)(hi - lo), (unsigned)m);
        if (r + 1 < k) { /* both ranks left */
            hi = mid;
            m = k;
        } else if (r >= k) { /* both right */
            lo = mid;
            m -= k;
            r -= k;
        } else { /* r = k - 1 is the largest draw on the left, r + 1 the smallest on the right */
            size_t a = descend(g, lo, mid, k, r), b = descend(g, mid, hi, m - k, 0);
            return hb__lerp(s->sorted[a], s->sorted[b], t);
        }
    }
    return s->sorted[lo]; /* both ranks fell on the same cell */
}

hb_status hb__boot_distribution(const hb_boot_sample *s, int k, int paired, size_t B,
                                uint64_t seed, hb_boot_combine combine, void *ctx, double *dist,
                                hb_error *err)
{
    size_t maxn = 0;
    for (int i = 0; i < k; i++) maxn = s[i].n > maxn ? s[i].n : maxn;
    uint32_t *counts = malloc(maxn * sizeof *counts);
    hb_rng g;
    if (!counts || hb__rng_init(&g, seed)) {
        free(counts);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate the bootstrap state");
    }
    double stats[8];
    if (k > 8) k = 8;
    for (size_t b = 0; b < B; b++) {
        for (int i = 0; i < k; i++) {
            size_t n = s[i].n;
            if (!paired && s[i].loc != HB_LOCATION_MEAN) {
                stats[i] = stat_by_descent(g.r, &s[i]);
                continue;
            }
            if (!paired || i == 0) {
                memset(counts, 0, n * sizeof *counts);
                for (size_t d = 0; d < n; d++) counts[hb__rng_below(&g, (uint32_t)n)]++;
            }
            stats[i] = stat_from_counts(&s[i], counts, paired);
        }
        dist[b] = combine ? combine(stats, ctx) : stats[0];
    }
    hb__rng_free(&g);
    free(counts);
    return HB_OK;
}

static double sd_of(const double *x, size_t n) { return sqrt(hb__var(x, n)); }

void hb__boot_percentile_interval(double *dist, size_t B, double estimate, double level,
                                  hb_boot_result *out)
{
    out->se = sd_of(dist, B);
    hb_sort_doubles(dist, B);
    double alpha = (1 - level) / 2;
    out->method = HB_BOOT_PERCENTILE;
    out->alpha_lo = alpha;
    out->alpha_hi = 1 - alpha;
    out->z0 = out->accel = 0;
    out->resamples = B;
    out->ci = (hb_interval_t){.estimate = estimate,
                              .lo = hb_percentile_sorted(dist, B, 100 * alpha),
                              .hi = hb_percentile_sorted(dist, B, 100 * (1 - alpha)),
                              .level = level};
}

/* Jackknife values theta_i (leave observation i out) of the statistic of s, into jk[0..n). */
static void jackknife(const hb_boot_sample *s, double *jk)
{
    size_t n = s->n;
    if (s->loc == HB_LOCATION_MEAN) {
        double m, ss;
        hb__mean_ss(s->sorted, n, &m, &ss);
        double sum = m * (double)n;
        for (size_t i = 0; i < n; i++) jk[i] = (sum - s->sorted[i]) / (double)(n - 1);
        return;
    }
    double h = (double)(n - 2) * (s->pct / 100.0);
    size_t r1 = h <= 0 ? 0 : h >= (double)(n - 2) ? n - 2 : (size_t)floor(h);
    size_t r2 = r1 + 1 < n - 1 ? r1 + 1 : r1;
    double t = h - (double)r1;
    for (size_t i = 0; i < n; i++) {
        double a = s->sorted[r1 < i ? r1 : r1 + 1];
        double b = s->sorted[r2 < i ? r2 : r2 + 1];
        jk[i] = t <= 0 ? a : hb__lerp(a, b, t);
    }
}

static hb_status bca_interval(const hb_boot_sample *s, double *dist, size_t B, double est,
                              double level, hb_boot_result *out, hb_error *err)
{
    size_t below = 0, at_or_below = 0;
    for (size_t b = 0; b < B; b++) {
        below += dist[b] < est;
        at_or_below += dist[b] <= est;
    }
    double share = ((double)below + (double)at_or_below) / (2.0 * (double)B);
    hb__boot_percentile_interval(dist, B, est, level, out);
    if (out->se == 0 || share <= 0 || share >= 1) return HB_OK; /* BCa undefined: percentile */

    double *jk = malloc(s->n * sizeof *jk);
    if (!jk) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate the jackknife");
    jackknife(s, jk);
    double jmean, jss;
    hb__mean_ss(jk, s->n, &jmean, &jss);
    double nf = (double)s->n, num = 0, den = 0;
    for (size_t i = 0; i < s->n; i++) {
        double u = (nf - 1) * (jmean - jk[i]);
        num += u * u * u;
        den += u * u;
    }
    free(jk);
    num /= nf * nf * nf;
    den /= nf * nf;
    double a = den > 0 ? num / (6.0 * pow(den, 1.5)) : 0;

    double z0 = hb__ndtri(share), za = hb__ndtri((1 - level) / 2);
    double n1 = z0 + za, n2 = z0 - za;
    double a1 = hb__ndtr(z0 + n1 / (1 - a * n1)), a2 = hb__ndtr(z0 + n2 / (1 - a * n2));
    out->method = HB_BOOT_BCA;
    out->z0 = z0;
    out->accel = a;
    out->alpha_lo = a1;
    out->alpha_hi = a2;
    out->ci.lo = hb_percentile_sorted(dist, B, 100 * a1); /* dist is sorted by now */
    out->ci.hi = hb_percentile_sorted(dist, B, 100 * a2);
    return HB_OK;
}

static hb_status check_opts(const hb_boot_opts *o, hb_error *err)
{
    if (!(o->level > 0 && o->level < 1))
        return hb_fail(err, HB_ERR_INVALID, "confidence level %g is not in (0, 1)", o->level);
    if (o->resamples < 100)
        return hb_fail(err, HB_ERR_INVALID, "%zu bootstrap resamples is too few (at least 100)",
                       o->resamples);
    return HB_OK;
}

static hb_status bootstrap_one(const double *x, size_t n, hb_location loc, double p,
                               const hb_boot_opts *o, hb_boot_result *out, hb_error *err)
{
    hb_status st = check_opts(o, err);
    if (!st) st = hb_check_samples(x, n, 2, "data", err);
    if (st) return st;
    hb_boot_sample s;
    if ((st = hb__boot_sample_init(&s, x, n, loc, p, 0, err))) return st;
    double *dist = malloc(o->resamples * sizeof *dist);
    if (!dist) {
        hb__boot_sample_free(&s);
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu resamples", o->resamples);
    }
    double est = hb__boot_sample_stat(&s);
    st = hb__boot_distribution(&s, 1, 0, o->resamples, o->seed, NULL, NULL, dist, err);
    if (!st) {
        if (o->method == HB_BOOT_BCA)
            st = bca_interval(&s, dist, o->resamples, est, o->level, out, err);
        else
            hb__boot_percentile_interval(dist, o->resamples, est, o->level, out);
    }
    free(dist);
    hb__boot_sample_free(&s);
    return st;
}

hb_status hb_bootstrap_percentile_ci(const double *x, size_t n, double p, const hb_boot_opts *o,
                                     hb_boot_result *out, hb_error *err)
{
    if (!(p >= 0 && p <= 100))
        return hb_fail(err, HB_ERR_INVALID, "percentile %g is outside [0, 100]", p);
    return bootstrap_one(x, n, HB_LOCATION_MEDIAN, p, o, out, err);
}

hb_status hb_bootstrap_mean_ci(const double *x, size_t n, const hb_boot_opts *o,
                               hb_boot_result *out, hb_error *err)
{
    return bootstrap_one(x, n, HB_LOCATION_MEAN, 0, o, out, err);
}
