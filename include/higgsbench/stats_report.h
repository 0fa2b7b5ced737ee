/* stats_report.h - text and JSON renderings of the describe and compare analyses.
 *
 * The JSON documents are stable and documented in docs/stats-json.md ("schema" and "version"
 * name them). Non-finite numbers (an infinite effect size with zero spread, the undefined CV of
 * zero-mean data) are written as null, since JSON has no infinity.
 */
#ifndef HIGGSBENCH_STATS_REPORT_H
#define HIGGSBENCH_STATS_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "higgsbench/analysis.h"

json_t *hb_describe_report_json(const hb_describe_report *r);
json_t *hb_compare_report_json(const hb_compare_report *r);

void hb_describe_report_text(const hb_describe_report *r, FILE *out);
void hb_compare_report_text(const hb_compare_report *r, FILE *out);

/* A JSON number, or null when x is not finite. */
json_t *hb_json_number(double x);

#endif
