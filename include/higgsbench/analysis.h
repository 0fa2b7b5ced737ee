/* analysis.h - the full analysis of one sample (describe) and of two samples (compare): outlier
 * handling, descriptive statistics, intervals, every test and effect size, and the verdict.
 *
 * This is what `higgs-bench stats` prints and what the suite runs on each benchmark metric; the
 * report module turns these structures into text and JSON.
 */
#ifndef HIGGSBENCH_ANALYSIS_H
#define HIGGSBENCH_ANALYSIS_H

#include <stdbool.h>

#include "higgsbench/stats.h"

typedef struct {
    const char *label;         /* where the samples came from (file, metric); not owned */
    const char *column;        /* series or column name; not owned */
    size_t n_read;             /* samples before outlier handling */
    hb_outliers_t outliers;    /* what detection found */
    bool removed;              /* outliers were removed from the analysed data */
    double *x;                 /* analysed data (owned) */
    size_t n;
    hb_describe_t d;
} hb_sample_summary;

typedef struct {
    hb_outlier_method outliers;
    bool remove_outliers;
    double level;              /* confidence level */
    size_t resamples;
    uint64_t seed;
} hb_analysis_opts;

hb_analysis_opts hb_analysis_defaults(void);

typedef struct {
    hb_analysis_opts opts;
    hb_sample_summary s;
    hb_interval_t ci_mean;     /* Student t */
    hb_boot_result ci_median;  /* bootstrap BCa */
} hb_describe_report;

typedef struct {
    hb_analysis_opts opts;
    hb_change_opts change_opts;
    hb_sample_summary base, cand;
    hb_test_t student, welch, mannwhitney; /* always (unpaired view) */
    bool paired;
    hb_test_t paired_t, wilcoxon;          /* when paired */
    hb_effect_t cohens_d, hedges_g, cliffs_delta; /* candidate relative to baseline */
    hb_change_t change;
} hb_compare_report;

/* Analyses x (copied). label/column are kept as pointers for the report. */
hb_status hb_analyze_describe(const double *x, size_t n, const char *label, const char *column,
                              const hb_analysis_opts *o, hb_describe_report *r, hb_error *err);
void hb_describe_report_free(hb_describe_report *r);

/* Compares base and cand. With co->paired the samples must be of equal length, and outliers are
 * removed pairwise (a pair goes when either of its values is an outlier). */
hb_status hb_analyze_compare(const double *base, size_t nb, const char *base_label,
                             const char *base_column, const double *cand, size_t nc,
                             const char *cand_label, const char *cand_column,
                             const hb_analysis_opts *o, const hb_change_opts *co,
                             hb_compare_report *r, hb_error *err);
void hb_compare_report_free(hb_compare_report *r);

#endif
