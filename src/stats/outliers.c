/* outliers.c - outlier detection by Tukey fences, z-score and modified z-score.
 *
 * Detection never changes the data: it reports which samples fall outside which bound and by how
 * much, and hb_outliers_remove() drops them only when the caller asks.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stats_internal.h"

const char *hb_outlier_method_name(hb_outlier_method m)
{
    switch (m) {
    case HB_OUTLIERS_NONE: return "none";
    case HB_OUTLIERS_IQR: return "iqr";
    case HB_OUTLIERS_ZSCORE: return "zscore";
    case HB_OUTLIERS_MODIFIED_Z: return "modified-zscore";
    }
    return "unknown";
}

bool hb_outlier_method_parse(const char *s, hb_outlier_method *out)
{
    for (int m = HB_OUTLIERS_NONE; m <= HB_OUTLIERS_MODIFIED_Z; m++)
        if (strcmp(s, hb_outlier_method_name((hb_outlier_method)m)) == 0) {
            *out = (hb_outlier_method)m;
            return true;
        }
    return false;
}

void hb_outliers_free(hb_outliers_t *r)
{
    free(r->items);
    r->items = NULL;
    r->count = r->severe_count = 0;
}

static hb_status push(hb_outliers_t *r, size_t *cap, hb_outlier_t item, hb_error *err)
{
    if (r->count == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        hb_outlier_t *p = realloc(r->items, nc * sizeof *p);
        if (!p) return hb_fail(err, HB_ERR_NOMEM, "cannot allocate the outlier list");
        r->items = p;
        *cap = nc;
    }
    r->items[r->count++] = item;
    r->severe_count += item.severe;
    return HB_OK;
}

/* Score of a z method: deviation / scale, or +-inf when the scale is 0 and x is off-centre. */
static double z_of(double dev, double scale)
{
    if (scale > 0) return dev / scale;
    return dev == 0 ? 0 : dev > 0 ? INFINITY : -INFINITY;
}

hb_status hb_outliers_detect(const double *x, size_t n, hb_outlier_method method,
                             hb_outliers_t *r, hb_error *err)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->n = n;
    r->lower = r->severe_lower = -INFINITY;
    r->upper = r->severe_upper = INFINITY;
    if (method == HB_OUTLIERS_NONE) return HB_OK;
    hb_status st = hb_check_samples(x, n, 1, "data", err);
    if (st) return st;
    hb_describe_t d;
    if ((st = hb_describe(x, n, &d, err))) return st;
    size_t cap = 0;
    double centre, scale, cut;
    if (method == HB_OUTLIERS_IQR) {
        r->lower = d.q1 - 1.5 * d.iqr;
        r->upper = d.q3 + 1.5 * d.iqr;
        r->severe_lower = d.q1 - 3 * d.iqr;
        r->severe_upper = d.q3 + 3 * d.iqr;
        for (size_t i = 0; i < n && !st; i++) {
            if (x[i] >= r->lower && x[i] <= r->upper) continue;
            double beyond = x[i] < r->lower ? r->lower - x[i] : x[i] - r->upper;
            bool severe = x[i] < r->severe_lower || x[i] > r->severe_upper;
            st = push(r, &cap, (hb_outlier_t){i, x[i], z_of(beyond, d.iqr), severe}, err);
        }
        return st;
    }
    if (method == HB_OUTLIERS_ZSCORE) {
        centre = d.mean;
        scale = d.n > 1 ? d.sd * sqrt((double)(n - 1) / (double)n) : 0; /* ddof = 0 */
        cut = 3;
    } else {
        centre = d.median;
        scale = d.mad / 0.6745;
        if (d.mad == 0) { /* Iglewicz & Hoaglin: fall back to the mean absolute deviation */
            double mean_ad = 0;
            for (size_t i = 0; i < n; i++) mean_ad += fabs(x[i] - d.median);
            mean_ad /= (double)n;
            scale = 1.253314 * mean_ad;
            r->mad_fallback = true;
        }
        cut = 3.5;
    }
    r->lower = r->severe_lower = scale > 0 ? centre - cut * scale : centre;
    r->upper = r->severe_upper = scale > 0 ? centre + cut * scale : centre;
    for (size_t i = 0; i < n && !st; i++) {
        double z = z_of(x[i] - centre, scale);
        if (fabs(z) > cut) st = push(r, &cap, (hb_outlier_t){i, x[i], z, false}, err);
    }
    return st;
}

size_t hb_outliers_remove(const double *x, size_t n, const hb_outliers_t *r, double *kept)
{
    size_t k = 0, j = 0; /* items are in input order */
    for (size_t i = 0; i < n; i++) {
        if (j < r->count && r->items[j].index == i) {
            j++;
            continue;
        }
        kept[k++] = x[i];
    }
    return k;
}
