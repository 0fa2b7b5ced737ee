/* samples.h - reading a series of numbers from a file: plain text, CSV/TSV or higgs-bench JSON.
 *
 * Formats, detected from the content:
 *   - JSON (first non-blank character '{' or '['): a bare array of numbers, an object with a
 *     "samples" array, or a higgs-bench results document whose "series" array holds objects
 *     {"id": ..., "samples": [...]}; the column name picks a series by id.
 *   - delimited text: one record a line, cells separated by ',' (when any data line has one),
 *     else by tabs, else by blanks. Lines starting with '#' and blank lines are skipped. The
 *     first record is a header when any of its cells is not a number. The column is chosen by
 *     header name, or by 1-based index; a file with one column needs no choice.
 * Every cell of the chosen column must be a finite number; the error names the line and column.
 */
#ifndef HIGGSBENCH_SAMPLES_H
#define HIGGSBENCH_SAMPLES_H

#include <stddef.h>

#include "higgsbench/error.h"

typedef struct {
    double *values;
    size_t n;
    char *column; /* header name, series id or the --column given; NULL for a lone unnamed
                   * column; owned */
} hb_samples;

/* Reads path. column may be NULL when the file holds one series. */
hb_status hb_samples_read_file(const char *path, const char *column, hb_samples *out,
                               hb_error *err);

/* Parses buf[0..len) (need not be NUL-terminated); name is used in messages. */
hb_status hb_samples_parse(const char *buf, size_t len, const char *name, const char *column,
                           hb_samples *out, hb_error *err);

void hb_samples_free(hb_samples *s);

#endif
