/* options.h - declared option tables for the subcommands (in the manner of git's parse-options).
 *
 * A subcommand lists its options once, in a table; parsing, validation (ranges, choices) and the
 * --help text all come from that table, so they cannot drift apart. Long options only:
 * `--name VALUE`, `--name=VALUE`, and for lists `--name 1 2 4` or `--name 1,2,4`. `--` ends
 * the options.
 */
#ifndef HB_CLI_OPTIONS_H
#define HB_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "higgsbench/error.h"

typedef enum {
    HB_OPT_END = 0,
    HB_OPT_FLAG,        /* bool *: set to true */
    HB_OPT_STRING,      /* const char **: the argument */
    HB_OPT_DOUBLE,      /* double *: a number in [min, max] */
    HB_OPT_SIZE,        /* size_t *: an integer in [min, max] */
    HB_OPT_U64,         /* uint64_t *: any non-negative integer */
    HB_OPT_CHOICE,      /* int *: index into choices */
    HB_OPT_SIZE_LIST,   /* hb_size_list *: integers in [min, max] */
    HB_OPT_STRING_LIST, /* hb_string_list *: words, each one of choices when choices is set */
} hb_opt_kind;

#define HB_LIST_MAX 64

typedef struct {
    size_t v[HB_LIST_MAX];
    size_t n;
} hb_size_list;

typedef struct {
    const char *v[HB_LIST_MAX];
    size_t n;
} hb_string_list;

typedef struct {
    hb_opt_kind kind;
    const char *name;           /* without the leading "--" */
    const char *arg;            /* placeholder shown in help, e.g. "X" */
    const char *help;
    void *value;
    const char *const *choices; /* NULL-terminated (CHOICE, optional for STRING_LIST) */
    double min, max;            /* inclusive range for DOUBLE / SIZE / SIZE_LIST when min < max */
    bool open_min, open_max;    /* make that end of the range exclusive */
    bool *seen;                 /* optional: set when the option was given */
} hb_option;
/* the entry that ends an option table */
#define HB_OPTIONS_END {.kind = HB_OPT_END}

typedef enum { HB_PARSE_OK = 0, HB_PARSE_HELP = 1, HB_PARSE_ERROR = -1 } hb_parse_result;

/* Parses argv[0..argc) (argv[0] is the first argument, not the program). Positional arguments
 * are stored in pos (room for argc entries) and counted in *npos. "--help" gives HB_PARSE_HELP.
 * On error, err names the option and the bad value. */
hb_parse_result hb_options_parse(int argc, char **argv, const hb_option *opts, char **pos,
                                 int *npos, hb_error *err);

/* The whole front of a command: parses argv, prints --help (returns 0) or an error naming the
 * option and value, with the usage line (returns 2); checks that there are exactly `want`
 * positional arguments (`what` names them in the error). Returns -1 to go on; the positionals
 * (pointers into argv) are then in pos[0..want). */
int hb_cli_options(int argc, char **argv, const hb_option *opts, const char *usage,
                   const char *summary, int want, const char *what, char **pos);

/* Writes the usage line and one line per option, from the table. */
void hb_options_help(const char *usage, const char *summary, const hb_option *opts, FILE *out);

#endif
