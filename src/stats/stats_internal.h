/* stats_internal.h - helpers shared by the statistics files, not part of the public API. */
#ifndef HB_STATS_INTERNAL_H
#define HB_STATS_INTERNAL_H

#include <gsl/gsl_rng.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/stats.h"

/* Mean and sum of squared deviations (two passes; accurate for data far from zero). */
void hb__mean_ss(const double *x, size_t n, double *mean, double *ss);

/* Sample variance (n - 1); 0 for n < 2. */
double hb__var(const double *x, size_t n);

/* Percentiles p[] (NumPy's linear rule) of the values x[i], or of |x[i] - centre| when absdev,
 * all of which lie in [lo, hi]; x is not modified. Returns -1 when out of memory. */
int hb__percentiles_range(const double *x, size_t n, double centre, int absdev, double lo,
                          double hi, const double *p, size_t np, double *out);


/* Average ranks (1-based) of x into rank; returns sum over tie groups of t^3 - t, and sets
 * *has_ties. rank must hold n doubles. Allocates a scratch index array; returns -1 on ENOMEM. */
double hb__rank_average(const double *x, size_t n, double *rank, int *has_ties);

/* A seeded generator. GSL's MT19937 gives the stream; ranges use Lemire's unbiased
 * multiply-shift so no division sits in the resampling loop. */
typedef struct {
    gsl_rng *r;
} hb_rng;

int hb__rng_init(hb_rng *g, uint64_t seed);
void hb__rng_free(hb_rng *g);

static inline uint32_t hb__rng_below(hb_rng *g, uint32_t n)
{
    uint64_t m = (uint64_t)(uint32_t)gsl_rng_get(g->r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (low < t) {
            m = (uint64_t)(uint32_t)gsl_rng_get(g->r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

/* NumPy's linear interpolation between neighbouring order statistics a <= b at fraction t: the
 * endpoint nearer to t is the anchor, which keeps the result monotone and exact at t = 0, 1. */
static inline double hb__lerp(double a, double b, double t)
{
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

/* Inverse standard normal CDF and CDF (GSL). */
double hb__ndtri(double p);
double hb__ndtr(double z);

#endif
