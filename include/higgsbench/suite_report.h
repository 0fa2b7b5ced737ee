/* suite_report.h - every report of a suite run, written from the results model alone (so
 * `higgs-bench report RESULTS.json` rebuilds them without an engine).
 *
 * In DIR, with TS the run's timestamp (a suffix _2, _3... is added rather than overwrite):
 *   benchmark_report_TS.json      the complete results (docs/RESULTS.md)
 *   benchmark_summary_TS.txt      for a terminal; ends with "Overall Validation: PASSED|FAILED"
 *   benchmark_report_TS.html      one self-contained page, charts as inline SVG
 *   benchmark_samples_TS.csv      every raw sample; benchmark_summary_TS.csv the summary table
 *   tts_{generation_modes,delay_patterns,streaming}_results_TS.json
 *   plots/dashboard_TS.png, plots/detailed_{latency,memory,throughput}_TS.png (PLplot, cairo)
 */
#ifndef HIGGSBENCH_SUITE_REPORT_H
#define HIGGSBENCH_SUITE_REPORT_H

#include <stdio.h>

#include "higgsbench/suite.h"

/* Writes every report into dir (created if missing). The paths written are listed, one a
 * line, into `written` (may be NULL). */
hb_status hb_suite_write_reports(const hb_results *r, const char *dir, char *written,
                                 size_t written_size, hb_error *err);

/* The text summary (also what `run` prints). */
void hb_suite_summary(const hb_results *r, FILE *out);

/* The HTML page. */
hb_status hb_suite_html(const hb_results *r, FILE *out, hb_error *err);

/* PNG plots through PLplot; HB_ERR_UNSUPPORTED when built without it. */
hb_status hb_suite_plots(const hb_results *r, const char *dir, const char *ts, char *written,
                         size_t written_size, hb_error *err);

/* Creates path exclusively (never over an existing file). */
FILE *hb_create_new(const char *path, hb_error *err);

#endif
