/* effect.c - effect sizes: Cohen's d, Hedges' g and Cliff's delta, with their labels. */
#include <gsl/gsl_sf_gamma.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

const char *hb_effect_label_name(hb_effect_label l)
{
    static const char *const names[] = {"negligible", "small", "medium", "large"};
    return (unsigned)l < 4 ? names[l] : "unknown";
}

hb_effect_label hb_effect_label_cohen(double d)
{
    double a = fabs(d);
    return a < 0.2 ? HB_EFFECT_NEGLIGIBLE : a < 0.5 ? HB_EFFECT_SMALL
                                          : a < 0.8 ? HB_EFFECT_MEDIUM
                                                    : HB_EFFECT_LARGE;
}

static hb_effect_label label_cliff(double delta)
{
    double a = fabs(delta);
    return a < 0.147 ? HB_EFFECT_NEGLIGIBLE : a < 0.33 ? HB_EFFECT_SMALL
                                            : a < 0.474 ? HB_EFFECT_MEDIUM
                                                        : HB_EFFECT_LARGE;
}

hb_status hb_cohens_d(const double *a, size_t na, const double *b, size_t nb, hb_effect_t *o,
                      hb_error *err)
{
    hb_status st = hb_check_samples(a, na, 2, "first sample", err);
    if (!st) st = hb_check_samples(b, nb, 2, "second sample", err);
    if (st) return st;
    double ma, ssa, mb, ssb;
    hb__mean_ss(a, na, &ma, &ssa);
    hb__mean_ss(b, nb, &mb, &ssb);
    double sp = sqrt((ssa + ssb) / (double)(na + nb - 2)), diff = ma - mb;
    if (sp > 0)
        o->value = diff / sp;
    else
        o->value = diff == 0 ? 0 : diff > 0 ? INFINITY : -INFINITY;
    o->label = hb_effect_label_cohen(o->value);
    return HB_OK;
}

hb_status hb_hedges_g(const double *a, size_t na, const double *b, size_t nb, hb_effect_t *o,
                      hb_error *err)
{
    hb_status st = hb_cohens_d(a, na, b, nb, o, err);
    if (st) return st;
    double df = (double)(na + nb - 2);
    double j = exp(gsl_sf_lngamma(df / 2) - 0.5 * log(df / 2) - gsl_sf_lngamma((df - 1) / 2));
    o->value *= j;
    o->label = hb_effect_label_cohen(o->value);
    return HB_OK;
}

static int cmp_d(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

hb_status hb_cliffs_delta(const double *a, size_t na, const double *b, size_t nb,
                          hb_effect_t *o, hb_error *err)
{
    hb_status st = hb_check_samples(a, na, 1, "first sample", err);
    if (!st) st = hb_check_samples(b, nb, 1, "second sample", err);
    if (st) return st;
    double *sb = malloc(nb * sizeof *sb);
    if (!sb) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate %zu samples", nb);
    memcpy(sb, b, nb * sizeof *sb);
    qsort(sb, nb, sizeof *sb, cmp_d);
    /* for each a[i]: #b < a[i] and #b > a[i] by binary search in sorted b */
    double more = 0, less = 0;
    for (size_t i = 0; i < na; i++) {
        size_t lo = 0, hi = nb; /* first index with sb >= a[i] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sb[mid] < a[i]) lo = mid + 1; else hi = mid;
        }
        size_t below = lo;
        hi = nb; /* first index with sb > a[i] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (sb[mid] <= a[i]) lo = mid + 1; else hi = mid;
        }
        more += (double)below;
        less += (double)(nb - lo);
    }
    free(sb);
    o->value = (more - less) / ((double)na * (double)nb);
    o->label = label_cliff(o->value);
    return HB_OK;
}
