/* describe.c - descriptive statistics and the small numeric helpers the other files share. */
#include <gsl/gsl_cdf.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

const double hb_describe_pcts[HB_DESCRIBE_NPCT] = {1, 5, 25, 50, 75, 95, 99};

hb_status hb_check_samples(const double *x, size_t n, size_t min_n, const char *what,
                           hb_error *err)
{
    if (n < min_n)
        return hb_fail(err, HB_ERR_DATA, "%s: %zu sample%s, at least %zu needed", what, n,
                       n == 1 ? "" : "s", min_n);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return hb_fail(err, HB_ERR_DATA, "%s: sample %zu is %g, not a finite number", what,
                           i + 1, x[i]);
    return HB_OK;
}

void hb__mean_ss(const double *x, size_t n, double *mean, double *ss)
{
    /* four accumulators: vectorisable, and closer to NumPy's pairwise sum than one chain */
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += x[i];
        s1 += x[i + 1];
        s2 += x[i + 2];
        s3 += x[i + 3];
    }
    for (; i < n; i++) s0 += x[i];
    double m = ((s0 + s1) + (s2 + s3)) / (double)n;
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0, c = 0;
    for (i = 0; i + 4 <= n; i += 4) {
        double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
        q0 += d0 * d0;
        q1 += d1 * d1;
        q2 += d2 * d2;
        q3 += d3 * d3;
        c += (d0 + d1) + (d2 + d3);
    }
    for (; i < n; i++) {
        double d = x[i] - m;
        q0 += d * d;
        c += d;
    }
    /* the corrected two-pass formula removes the rounding error left in m */
    *mean = m + c / (double)n;
    *ss = ((q0 + q1) + (q2 + q3)) - c * c / (double)n;
    if (*ss < 0) *ss = 0;
}

double hb__var(const double *x, size_t n)
{
    if (n < 2) return 0;
    double m, ss;
    hb__mean_ss(x, n, &m, &ss);
    return ss / (double)(n - 1);
}

hb_status hb_describe(const double *x, size_t n, hb_describe_t *o, hb_error *err)
{
    hb_status st = hb_check_samples(x, n, 1, "data", err);
    if (st) return st;
    memset(o, 0, sizeof *o);
    o->n = n;
    double ss;
    hb__mean_ss(x, n, &o->mean, &ss);
    o->sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0;
    o->se = o->sd / sqrt((double)n);
    double lo0 = x[0], lo1 = x[0], hi0 = x[0], hi1 = x[0];
    size_t i = 1;
    for (; i + 2 <= n; i += 2) { /* two chains: branch-free min/max that vectorises */
        lo0 = x[i] < lo0 ? x[i] : lo0;
        hi0 = x[i] > hi0 ? x[i] : hi0;
        lo1 = x[i + 1] < lo1 ? x[i + 1] : lo1;
        hi1 = x[i + 1] > hi1 ? x[i + 1] : hi1;
    }
    for (; i < n; i++) {
        lo0 = x[i] < lo0 ? x[i] : lo0;
        hi0 = x[i] > hi0 ? x[i] : hi0;
    }
    o->min = lo0 < lo1 ? lo0 : lo1;
    o->max = hi0 > hi1 ? hi0 : hi1;
    o->cv = o->mean != 0 ? o->sd / o->mean : NAN;

    /* order statistics by bucket selection over the data in place: no copy, no sort */
    if (hb__percentiles_range(x, n, 0, 0, o->min, o->max, hb_describe_pcts, HB_DESCRIBE_NPCT,
                              o->pct))
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate selection buffers for %zu samples", n);
    o->q1 = o->pct[2];
    o->median = o->pct[3];
    o->q3 = o->pct[4];
    o->iqr = o->q3 - o->q1;
    double half = 50, reach = fmax(o->max - o->median, o->median - o->min);
    if (hb__percentiles_range(x, n, o->median, 1, 0, reach, &half, 1, &o->mad))
        return hb_fail(err, HB_ERR_NOMEM, "cannot allocate selection buffers for %zu samples", n);
    return HB_OK;
}

typedef struct {
    double v;
    size_t i;
} valued_index;

static int cmp_valued(const void *a, const void *b)
{
    const valued_index *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

double hb__rank_average(const double *x, size_t n, double *rank, int *has_ties)
{
    valued_index *v = malloc((n ? n : 1) * sizeof *v);
    if (!v) return -1;
    for (size_t i = 0; i < n; i++) v[i] = (valued_index){x[i], i};
    qsort(v, n, sizeof *v, cmp_valued);
    double tie_term = 0;
    *has_ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && v[j].v == v[i].v) j++;
        double r = ((double)(i + 1) + (double)j) / 2.0; /* mean of ranks i+1 .. j */
        for (size_t k = i; k < j; k++) rank[v[k].i] = r;
        double t = (double)(j - i);
        if (j - i > 1) {
            *has_ties = 1;
            tie_term += t * t * t - t;
        }
        i = j;
    }
    free(v);
    return tie_term;
}

int hb__rng_init(hb_rng *g, uint64_t seed)
{
    g->r = gsl_rng_alloc(gsl_rng_mt19937);
    if (!g->r) return -1;
    /* MT19937 takes a 32-bit seed; fold the high half in so 64-bit seeds stay distinct */
    unsigned long s = (unsigned long)((seed ^ (seed >> 32)) & 0xffffffffu);
    gsl_rng_set(g->r, s ? s : 4357);
    return 0;
}

void hb__rng_free(hb_rng *g)
{
    gsl_rng_free(g->r);
    g->r = NULL;
}

double hb__ndtri(double p) { return gsl_cdf_ugaussian_Pinv(p); }
double hb__ndtr(double z) { return gsl_cdf_ugaussian_P(z); }
