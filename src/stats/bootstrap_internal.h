/* bootstrap_internal.h - the resampling engine behind every bootstrap interval.
 *
 * A resample is represented by counts (how often each observation was drawn), never by a copied
 * array: the mean of a resample is sum(count * value) / n and any percentile is found by walking
 * the sorted values while adding up counts. Each resample then costs n draws and one linear pass,
 * with no sort.
 */
#ifndef HB_BOOTSTRAP_INTERNAL_H
#define HB_BOOTSTRAP_INTERNAL_H

#include "stats_internal.h"

typedef struct {
    double *sorted;   /* the sample, ascending (owned) */
    uint32_t *perm;   /* sorted position -> original index (owned; paired resampling only) */
    size_t n;
    hb_location loc;  /* mean, or the percentile pct (MEDIAN means "percentile pct") */
    double pct;
} hb_boot_sample;

/* Prepares s from x (copies and sorts; builds perm when want_perm). */
hb_status hb__boot_sample_init(hb_boot_sample *s, const double *x, size_t n, hb_location loc,
                               double pct, int want_perm, hb_error *err);
void hb__boot_sample_free(hb_boot_sample *s);

/* The statistic of s on the original data. */
double hb__boot_sample_stat(const hb_boot_sample *s);

/* Combines the statistics of the samples of one resample into the quantity of interest. */
typedef double (*hb_boot_combine)(const double *stats, void *ctx);

/* Fills dist[0..B) with the bootstrap distribution of combine(stat(s_0*), ..., stat(s_k*)).
 * paired: one index draw shared by all samples (they must have equal n and perms). */
hb_status hb__boot_distribution(const hb_boot_sample *s, int k, int paired, size_t B,
                                uint64_t seed, hb_boot_combine combine, void *ctx, double *dist,
                                hb_error *err);

/* Reads the percentile interval (and fills se) from an unsorted distribution; sorts dist. */
void hb__boot_percentile_interval(double *dist, size_t B, double estimate, double level,
                                  hb_boot_result *out);

#endif
