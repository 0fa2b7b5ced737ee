/* samples.c - the number/CSV/JSON sample reader (see samples.h for the formats).
 *
 * The reader works on one NUL-terminated copy of the input and walks it line by line, so every
 * error can name its line. It is a fuzz target (tests/fuzz/fuzz_samples.c): no input may crash
 * it, read outside the buffer or leak.
 */
#include "higgsbench/samples.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CELLS 4096

typedef struct {
    double *v;
    size_t n, cap;
} dvec;

static bool dvec_push(dvec *d, double x)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 256;
        double *p = realloc(d->v, nc * sizeof *p);
        if (!p) return false;
        d->v = p;
        d->cap = nc;
    }
    d->v[d->n++] = x;
    return true;
}

/* Parses a whole cell as a number. Returns 1 for a finite number, 2 for nan/inf, 0 otherwise. */
static int parse_number(const char *s, double *out)
{
    if (!*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') return 0;
    *out = v;
    if (!isfinite(v)) return 2;
    return 1;
}

/* Splits line (modified in place) into cells. Quotes "..." group a cell; "" is a quote. */
static size_t split_cells(char *line, char delim, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || (*p == '\t' && delim != '\t')) p++;
        if (delim == ' ' && !*p) break;
        char *start = p, *w = p;
        if (*p == '"') {
            p++;
            while (*p) {
                if (*p == '"' && p[1] == '"') {
                    *w++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *w++ = *p++;
                }
            }
            while (*p && *p != delim && !(delim == ' ' && (*p == '\t'))) p++;
        } else {
            while (*p && *p != delim && !(delim == ' ' && *p == '\t')) *w++ = *p++;
        }
        char *next = *p ? p + 1 : NULL;
        *w = '\0';
        while (w > start && isspace((unsigned char)w[-1])) *--w = '\0';
        if (n < max) cells[n] = start;
        n++;
        if (!next) break;
        p = next;
        if (delim == ' ') {
            while (*p == ' ' || *p == '\t') p++;
            if (!*p) break;
        }
    }
    return n;
}

static bool all_digits(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return false;
    return true;
}

/* Next line of the buffer: returns its start and NUL-terminates it; *cursor moves past it. */
static char *next_line(char **cursor)
{
    char *s = *cursor;
    if (!s || !*s) return NULL;
    char *nl = strchr(s, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = s + strlen(s);
    }
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r') s[len - 1] = '\0';
    return s;
}

static bool is_skipped(const char *line)
{
    while (*line == ' ' || *line == '\t') line++;
    return *line == '\0' || *line == '#';
}

static char choose_delim(const char *text)
{
    bool tab = false;
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + len && (*p == ' ' || *p == '\t')) p++;
        if (p < line + len && *p != '#') {
            if (memchr(line, ',', len)) return ',';
            if (memchr(line, '\t', len)) tab = true;
        }
        if (!end) break;
        line = end + 1;
    }
    return tab ? '\t' : ' ';
}

static void join_names(char **names, size_t n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 8 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s'%s'", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= size - used) break;
        used += (size_t)w;
    }
}

static size_t count_records(const char *text)
{
    size_t n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        const char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (p != end && *p && *p != '#' && *p != '\n') n++;
        if (!end) break;
        line = end + 1;
    }
    return n;
}

/* A file whose only record is numbers ("1 2 3" or "1,2,3") is a list of samples. */
static hb_status parse_single_record(char *text, char delim, const char *name, hb_samples *out,
                                     hb_error *err)
{
    char *cursor = text, *line;
    size_t lineno = 0;
    while ((line = next_line(&cursor)) && is_skipped(line)) lineno++;
    lineno++;
    char **cells = malloc(MAX_CELLS * sizeof *cells);
    if (!cells) return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    size_t nc = split_cells(line, delim, cells, MAX_CELLS);
    hb_status st = HB_OK;
    double *v = malloc((nc ? nc : 1) * sizeof *v);
    if (nc > MAX_CELLS)
        st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: %zu values, at most %d in one line", name,
                     lineno, nc, MAX_CELLS);
    else if (!v)
        st = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; !st && i < nc; i++) {
        int kind = parse_number(cells[i], &v[i]);
        if (kind != 1)
            st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: value %zu, '%.48s', %s", name, lineno,
                         i + 1, cells[i], kind == 2 ? "is not a finite number" : "is not a number");
    }
    free(cells);
    if (st) {
        free(v);
        return st;
    }
    out->values = v;
    out->n = nc;
    return HB_OK;
}

static hb_status parse_delimited(char *text, const char *name, const char *column,
                                 hb_samples *out, hb_error *err)
{
    char delim = choose_delim(text);
    if (!column && count_records(text) == 1) {
        /* one record: a list of numbers, unless it is a header with no data under it */
        char *copy = strdup(text), *cur = copy, *line;
        bool header_only = false;
        if (!copy) return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
        while ((line = next_line(&cur)) && is_skipped(line)) {}
        char *cells[8];
        double tmp;
        if (line && split_cells(line, delim, cells, 8) >= 1 && !parse_number(cells[0], &tmp) &&
            strchr("+-.0123456789", cells[0][0]) == NULL)
            header_only = true;
        free(copy);
        if (header_only) return hb_fail(err, HB_ERR_DATA, "%s: no samples (only a header)", name);
        return parse_single_record(text, delim, name, out, err);
    }
    char *cursor = text, *line;
    char **cells = malloc(MAX_CELLS * sizeof *cells);
    char **header = NULL;
    size_t ncols = 0, col = 0, lineno = 0;
    bool have_layout = false;
    dvec d = {0};
    hb_status st = HB_OK;
    if (!cells) return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    while ((line = next_line(&cursor))) {
        lineno++;
        if (is_skipped(line)) continue;
        size_t nc = split_cells(line, delim, cells, MAX_CELLS);
        if (nc > MAX_CELLS) {
            st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: %zu cells, at most %d supported", name,
                         lineno, nc, MAX_CELLS);
            break;
        }
        if (!have_layout) {
            have_layout = true;
            ncols = nc;
            bool is_header = false;
            double tmp;
            for (size_t i = 0; i < nc; i++)
                if (!parse_number(cells[i], &tmp)) is_header = true;
            if (is_header) {
                header = malloc(nc * sizeof *header);
                if (!header) {
                    st = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
                    break;
                }
                for (size_t i = 0; i < nc; i++) header[i] = cells[i];
            }
            if (column) {
                bool found = false;
                for (size_t i = 0; header && i < nc && !found; i++)
                    if (strcmp(header[i], column) == 0) col = i, found = true;
                if (!found && all_digits(column)) {
                    unsigned long k = strtoul(column, NULL, 10);
                    if (k >= 1 && k <= nc) col = (size_t)k - 1, found = true;
                }
                if (!found) {
                    char names[256];
                    if (header) join_names(header, nc, names, sizeof names);
                    else snprintf(names, sizeof names, "1..%zu", nc);
                    st = hb_fail(err, HB_ERR_INVALID, "%s: no column '%s' (columns: %s)", name,
                                 column, names);
                    break;
                }
            } else if (nc > 1) {
                char names[256];
                if (header) join_names(header, nc, names, sizeof names);
                else snprintf(names, sizeof names, "1..%zu", nc);
                st = hb_fail(err, HB_ERR_INVALID,
                             "%s has %zu columns (%s); choose one with --column", name, nc,
                             names);
                break;
            }
            /* a headerless single column has no name; the report then shows only the file */
            const char *cname = header ? header[col] : column;
            out->column = cname ? strdup(cname) : NULL;
            if (cname && !out->column) {
                st = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
                break;
            }
            if (header) continue;
        }
        if (nc != ncols) {
            st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: %zu cell%s where the first record has %zu",
                         name, lineno, nc, nc == 1 ? "" : "s", ncols);
            break;
        }
        double v;
        int kind = parse_number(cells[col], &v);
        if (kind != 1) {
            const char *why = kind == 2 ? "is not a finite number" : "is not a number";
            char shown[64];
            snprintf(shown, sizeof shown, "%s", cells[col]);
            if (out->column)
                st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: column '%s': '%s' %s", name, lineno,
                             out->column, shown, why);
            else
                st = hb_fail(err, HB_ERR_PARSE, "%s:%zu: '%s' %s", name, lineno, shown, why);
            break;
        }
        if (!dvec_push(&d, v)) {
            st = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
            break;
        }
    }
    free(cells);
    free(header); /* the names point into text; out->column is a copy */
    if (!st && d.n == 0) st = hb_fail(err, HB_ERR_DATA, "%s: no samples", name);
    if (st) {
        free(d.v);
        return st;
    }
    out->values = d.v;
    out->n = d.n;
    return HB_OK;
}

static hb_status json_numbers(const json_t *arr, const char *name, const char *what,
                              hb_samples *out, hb_error *err)
{
    if (!json_is_array(arr))
        return hb_fail(err, HB_ERR_PARSE, "%s: %s is not an array of numbers", name, what);
    size_t n = json_array_size(arr);
    if (n == 0) return hb_fail(err, HB_ERR_DATA, "%s: %s: no samples", name, what);
    double *v = malloc(n * sizeof *v);
    if (!v) return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!json_is_number(e)) {
            free(v);
            return hb_fail(err, HB_ERR_PARSE, "%s: %s[%zu] is not a number", name, what, i);
        }
        v[i] = json_number_value(e);
        if (!isfinite(v[i])) {
            free(v);
            return hb_fail(err, HB_ERR_PARSE, "%s: %s[%zu] is not a finite number", name, what,
                           i);
        }
    }
    out->values = v;
    out->n = n;
    return HB_OK;
}

static hb_status parse_json(const char *text, size_t len, const char *name, const char *column,
                            hb_samples *out, hb_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, 0, &je);
    if (!root)
        return hb_fail(err, HB_ERR_PARSE, "%s:%d: invalid JSON: %s", name, je.line, je.text);
    hb_status st;
    const json_t *series = json_object_get(root, "series");
    if (json_is_array(root)) {
        st = json_numbers(root, name, "the array", out, err);
        if (!st) out->column = strdup("samples");
    } else if (json_is_array(series)) {
        size_t n = json_array_size(series), pick = n;
        char ids[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < n; i++) {
            const char *id = json_string_value(json_object_get(json_array_get(series, i), "id"));
            if (!id) continue;
            if (column && strcmp(id, column) == 0) pick = i;
            if (used + 8 < sizeof ids) {
                int w = snprintf(ids + used, sizeof ids - used, "%s'%s'", used ? ", " : "", id);
                if (w > 0) used += (size_t)w < sizeof ids - used ? (size_t)w : sizeof ids - used;
            }
        }
        if (!column && n == 1) pick = 0;
        if (pick == n) {
            st = column ? hb_fail(err, HB_ERR_INVALID, "%s: no series '%s' (series: %s)", name,
                                  column, ids)
                        : hb_fail(err, HB_ERR_INVALID,
                                  "%s has %zu series (%s); choose one with --column", name, n,
                                  ids);
        } else {
            const json_t *s = json_array_get(series, pick);
            const char *id = json_string_value(json_object_get(s, "id"));
            char what[96];
            snprintf(what, sizeof what, "series '%s' samples", id ? id : "?");
            st = json_numbers(json_object_get(s, "samples"), name, what, out, err);
            if (!st) out->column = strdup(id ? id : "samples");
        }
    } else if (json_object_get(root, "samples")) {
        st = json_numbers(json_object_get(root, "samples"), name, "\"samples\"", out, err);
        if (!st) out->column = strdup("samples");
    } else {
        st = hb_fail(err, HB_ERR_PARSE,
                     "%s: JSON holds neither a \"samples\" array nor a \"series\" list", name);
    }
    json_decref(root);
    if (!st && !out->column) {
        hb_samples_free(out);
        st = hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    }
    return st;
}

hb_status hb_samples_parse(const char *buf, size_t len, const char *name, const char *column,
                           hb_samples *out, hb_error *err)
{
    memset(out, 0, sizeof *out);
    if (!name) name = "input";
    if (column && !*column) return hb_fail(err, HB_ERR_INVALID, "empty column name");
    size_t bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0, i = bom;
    while (i < len && isspace((unsigned char)buf[i])) i++;
    if (i == len) return hb_fail(err, HB_ERR_DATA, "%s is empty", name);
    if (memchr(buf, '\0', len))
        return hb_fail(err, HB_ERR_PARSE, "%s: contains a NUL byte; not a text file", name);
    if (buf[i] == '{' || buf[i] == '[') return parse_json(buf + i, len - i, name, column, out, err);
    char *text = malloc(len + 1);
    if (!text) return hb_fail(err, HB_ERR_NOMEM, "%s: out of memory", name);
    memcpy(text, buf, len);
    text[len] = '\0';
    hb_status st = parse_delimited(text + bom, name, column, out, err);
    free(text);
    if (st) hb_samples_free(out);
    return st;
}

hb_status hb_samples_read_file(const char *path, const char *column, hb_samples *out,
                               hb_error *err)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return hb_fail(err, HB_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    hb_status st = HB_OK;
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    if (!buf)
        st = hb_fail(err, HB_ERR_NOMEM, "cannot read '%s': out of memory", path);
    else if (ferror(f))
        st = hb_fail(err, HB_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    fclose(f);
    if (!st) st = hb_samples_parse(buf, len, path, column, out, err);
    free(buf);
    return st;
}

void hb_samples_free(hb_samples *s)
{
    free(s->values);
    free(s->column);
    s->values = NULL;
    s->column = NULL;
    s->n = 0;
}
