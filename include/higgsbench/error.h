/* error.h - one status enum for the whole library, and a buffer for the detail of a failure.
 *
 * Every fallible library call returns an hb_status and, when given a non-NULL hb_error, writes a
 * sentence into it that names the bad value (file, line, option, tensor...). The library never
 * prints and never exits; the command line decides what to show and which exit code to use.
 */
#ifndef HIGGSBENCH_ERROR_H
#define HIGGSBENCH_ERROR_H

#include <stddef.h>

typedef enum {
    HB_OK = 0,
    HB_ERR_INVALID,  /* an argument or option value is out of its domain */
    HB_ERR_IO,       /* a file could not be opened, read or written */
    HB_ERR_PARSE,    /* input text is not in the expected format */
    HB_ERR_DATA,     /* input parsed but unusable: too few samples, NaN, unequal pairs */
    HB_ERR_NOMEM,    /* an allocation failed */
    HB_ERR_MISMATCH, /* two inputs that must agree do not (config vs weights, pair lengths) */
    HB_ERR_UNSUPPORTED, /* valid request this build or device cannot serve */
    HB_ERR_INTERNAL, /* a bug: an invariant did not hold */
    HB_ERR__COUNT
} hb_status;

#define HB_ERROR_MSG_SIZE 512

typedef struct {
    hb_status code;
    char msg[HB_ERROR_MSG_SIZE];
} hb_error;

/* A short fixed description of a status code ("invalid argument", ...). Never NULL. */
const char *hb_strerror(hb_status code);

/* Records code and a printf-style message in err (which may be NULL) and returns code, so that
 * callers can write `return hb_fail(err, HB_ERR_IO, "cannot open '%s'", path);`. */
hb_status hb_fail(hb_error *err, hb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to HB_OK with an empty message. */
void hb_error_clear(hb_error *err);

#endif
