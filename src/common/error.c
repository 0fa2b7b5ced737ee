/* error.c - status strings and the error buffer. */
#include "higgsbench/error.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_text[HB_ERR__COUNT] = {
    [HB_OK] = "success",
    [HB_ERR_INVALID] = "invalid argument",
    [HB_ERR_IO] = "input/output error",
    [HB_ERR_PARSE] = "parse error",
    [HB_ERR_DATA] = "unusable data",
    [HB_ERR_NOMEM] = "out of memory",
    [HB_ERR_MISMATCH] = "inputs do not match",
    [HB_ERR_UNSUPPORTED] = "not supported",
    [HB_ERR_INTERNAL] = "internal error",
};

const char *hb_strerror(hb_status code)
{
    if ((int)code < 0 || code >= HB_ERR__COUNT) return "unknown status";
    return status_text[code];
}

hb_status hb_fail(hb_error *err, hb_status code, const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void hb_error_clear(hb_error *err)
{
    if (!err) return;
    err->code = HB_OK;
    err->msg[0] = '\0';
}
