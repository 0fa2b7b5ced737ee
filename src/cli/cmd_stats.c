/* cmd_stats.c - `higgs-bench stats describe FILE` and `higgs-bench stats compare BASE CAND`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "higgsbench/analysis.h"
#include "higgsbench/samples.h"
#include "higgsbench/stats_report.h"
#include "options.h"

static const char *const outlier_choices[] = {"iqr", "zscore", "modified-zscore", "none", NULL};
static const char *const format_choices[] = {"text", "json", NULL};
static const char *const location_choices[] = {"median", "mean", NULL};
static const char *const direction_choices[] = {"lower", "higher", NULL};

typedef struct {
    const char *column;
    double level;
    int outliers; /* index into outlier_choices */
    bool remove;
    size_t resamples;
    uint64_t seed;
    int format;
    /* compare only */
    bool paired;
    double noise_pct;
    double alpha;
    int location;
    int direction;
} stats_args;

#define COMMON_OPTIONS(a)                                                                       \
    {HB_OPT_STRING, "column", "NAME", "column (CSV header or 1-based index) or series id",      \
     &(a).column, NULL, 0, 0, false, false, NULL},                                              \
        {HB_OPT_DOUBLE, "confidence-level", "X", "confidence level of intervals (0.95)",       \
         &(a).level, NULL, 0, 1, true, true, NULL},                                             \
        {HB_OPT_CHOICE, "outliers", "METHOD", "outlier detection (iqr)", &(a).outliers,         \
         outlier_choices, 0, 0, false, false, NULL},                                            \
        {HB_OPT_FLAG, "remove-outliers", NULL, "drop detected outliers before the analysis",    \
         &(a).remove, NULL, 0, 0, false, false, NULL},                                          \
        {HB_OPT_SIZE, "resamples", "N", "bootstrap resamples (10000)", &(a).resamples, NULL,    \
         100, 10000000, false, false, NULL},                                                    \
        {HB_OPT_U64, "seed", "S", "bootstrap seed (1); same seed, same intervals", &(a).seed,   \
         NULL, 0, 0, false, false, NULL},                                                       \
        {HB_OPT_CHOICE, "format", "FMT", "output format (text)", &(a).format, format_choices,   \
         0, 0, false, false, NULL}

static stats_args defaults(void)
{
    hb_analysis_opts ao = hb_analysis_defaults();
    return (stats_args){.level = ao.level,
                        .outliers = 0,
                        .resamples = ao.resamples,
                        .seed = ao.seed,
                        .noise_pct = 2.0,
                        .alpha = 0.05};
}

static hb_analysis_opts analysis_opts(const stats_args *a)
{
    hb_analysis_opts o = hb_analysis_defaults();
    o.level = a->level;
    hb_outlier_method_parse(outlier_choices[a->outliers], &o.outliers);
    o.remove_outliers = a->remove;
    o.resamples = a->resamples;
    o.seed = a->seed;
    return o;
}

static int print_json(json_t *j)
{
    if (!j) return hb_cli_error("could not build the JSON output");
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
    json_decref(j);
    if (!s) return hb_cli_error("could not serialise the JSON output");
    puts(s);
    free(s);
    return HB_EXIT_OK;
}

static int stats_describe(int argc, char **argv)
{
    static const char usage[] = "higgs-bench stats describe FILE [options]";
    stats_args a = defaults();
    const hb_option opts[] = {COMMON_OPTIONS(a), HB_OPTIONS_END};
    char *pos[1];
    int rc = hb_cli_options(argc, argv, opts, usage,
                            "Descriptive statistics, confidence intervals and outliers of one "
                            "sample.", 1, "FILE", pos);
    if (rc >= 0) return rc;
    hb_error err = {0};
    hb_samples s;
    const char *path = pos[0];
    if (hb_samples_read_file(path, a.column, &s, &err)) return hb_cli_error(err.msg);
    hb_analysis_opts ao = analysis_opts(&a);
    hb_describe_report r;
    char label[512];
    snprintf(label, sizeof label, "%s", path);
    if (hb_analyze_describe(s.values, s.n, label, s.column, &ao, &r, &err)) {
        char msg[HB_ERROR_MSG_SIZE + 600];
        snprintf(msg, sizeof msg, "%s: %s", path, err.msg);
        hb_samples_free(&s);
        return hb_cli_error(msg);
    }
    if (a.format == 1)
        rc = print_json(hb_describe_report_json(&r));
    else {
        hb_describe_report_text(&r, stdout);
        rc = HB_EXIT_OK;
    }
    hb_describe_report_free(&r);
    hb_samples_free(&s);
    return rc;
}

static int stats_compare(int argc, char **argv)
{
    static const char usage[] = "higgs-bench stats compare BASELINE CANDIDATE [options]";
    stats_args a = defaults();
    const hb_option opts[] = {
        COMMON_OPTIONS(a),
        {HB_OPT_FLAG, "paired", NULL, "samples are interleaved pairs (paired tests)", &a.paired,
         NULL, 0, 0, false, false, NULL},
        {HB_OPT_DOUBLE, "noise-threshold", "PCT", "changes within +-PCT % are noise (2)",
         &a.noise_pct, NULL, 0, 100, false, true, NULL},
        {HB_OPT_DOUBLE, "alpha", "A", "significance level (0.05)", &a.alpha, NULL, 0, 1, true,
         true, NULL},
        {HB_OPT_CHOICE, "location", "STAT", "statistic compared; median uses rank tests (median)",
         &a.location, location_choices, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "direction", "DIR", "which way is better (lower)", &a.direction,
         direction_choices, 0, 0, false, false, NULL},
        HB_OPTIONS_END};
    char *pos[2];
    int rc = hb_cli_options(argc, argv, opts, usage,
                            "Compares a candidate sample with a baseline: every test, effect size,\n"
                            "and the verdict (improved / regressed / no change). Exit status 1 when\n"
                            "the candidate regressed.", 2, "BASELINE CANDIDATE", pos);
    if (rc >= 0) return rc;
    const char *bpath = pos[0], *cpath = pos[1];
    hb_error err = {0};
    hb_samples b, c;
    if (hb_samples_read_file(bpath, a.column, &b, &err)) return hb_cli_error(err.msg);
    if (hb_samples_read_file(cpath, a.column, &c, &err)) {
        hb_samples_free(&b);
        return hb_cli_error(err.msg);
    }
    hb_analysis_opts ao = analysis_opts(&a);
    hb_change_opts co = hb_change_defaults();
    co.alpha = a.alpha;
    co.noise_threshold = a.noise_pct / 100.0;
    co.location = a.location == 1 ? HB_LOCATION_MEAN : HB_LOCATION_MEDIAN;
    co.direction = a.direction == 1 ? HB_HIGHER_IS_BETTER : HB_LOWER_IS_BETTER;
    co.paired = a.paired;
    hb_compare_report r;
    if (hb_analyze_compare(b.values, b.n, bpath, b.column, c.values, c.n, cpath, c.column, &ao,
                           &co, &r, &err)) {
        hb_samples_free(&b);
        hb_samples_free(&c);
        return hb_cli_error(err.msg);
    }
    if (a.format == 1)
        rc = print_json(hb_compare_report_json(&r));
    else {
        hb_compare_report_text(&r, stdout);
        rc = HB_EXIT_OK;
    }
    if (rc == HB_EXIT_OK && r.change.verdict == HB_REGRESSED) rc = HB_EXIT_FINDING;
    hb_compare_report_free(&r);
    hb_samples_free(&b);
    hb_samples_free(&c);
    return rc;
}

int cmd_stats(int argc, char **argv)
{
    static const char usage[] = "usage: higgs-bench stats describe FILE [options]\n"
                                "       higgs-bench stats compare BASELINE CANDIDATE [options]\n"
                                "'higgs-bench stats describe --help' lists the options.\n";
    if (argc < 1) {
        fputs(usage, stderr);
        return HB_EXIT_USAGE;
    }
    if (strcmp(argv[0], "describe") == 0) return stats_describe(argc - 1, argv + 1);
    if (strcmp(argv[0], "compare") == 0) return stats_compare(argc - 1, argv + 1);
    if (strcmp(argv[0], "--help") == 0) {
        fputs(usage, stdout);
        return HB_EXIT_OK;
    }
    fprintf(stderr, "error: 'stats %s' is not a command\n%s", argv[0], usage);
    return HB_EXIT_USAGE;
}
