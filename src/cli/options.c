/* options.c - the option-table parser and help writer (see options.h). */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const hb_option *find(const hb_option *opts, const char *name, size_t len)
{
    for (const hb_option *o = opts; o->kind != HB_OPT_END; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) return o;
    return NULL;
}

static bool in_range(const hb_option *o, double v)
{
    if (!(o->min < o->max)) return true;
    if (o->open_min ? !(v > o->min) : !(v >= o->min)) return false;
    if (o->open_max ? !(v < o->max) : !(v <= o->max)) return false;
    return true;
}

static void describe_range(const hb_option *o, char *buf, size_t size)
{
    snprintf(buf, size, "%c%g, %g%c", o->open_min ? '(' : '[', o->min, o->max,
             o->open_max ? ')' : ']');
}

static hb_status parse_size(const hb_option *o, const char *s, size_t *out, hb_error *err)
{
    char *end;
    errno = 0;
    if (*s == '-' || *s == '+' || *s == ' ' || !*s)
        return hb_fail(err, HB_ERR_INVALID, "--%s: '%s' is not a non-negative integer", o->name,
                       s);
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || errno)
        return hb_fail(err, HB_ERR_INVALID, "--%s: '%s' is not a non-negative integer", o->name,
                       s);
    if (!in_range(o, (double)v)) {
        char r[64];
        describe_range(o, r, sizeof r);
        if (o->min == 1 && !o->open_min && v == 0)
            return hb_fail(err, HB_ERR_INVALID, "--%s: '%s' is not a positive integer", o->name,
                           s);
        return hb_fail(err, HB_ERR_INVALID, "--%s: %s is outside %s", o->name, s, r);
    }
    *out = (size_t)v;
    return HB_OK;
}

static hb_status parse_double(const hb_option *o, const char *s, double *out, hb_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v))
        return hb_fail(err, HB_ERR_INVALID, "--%s: '%s' is not a number", o->name, s);
    if (!in_range(o, v)) {
        char r[64];
        describe_range(o, r, sizeof r);
        return hb_fail(err, HB_ERR_INVALID, "--%s: %s is outside %s", o->name, s, r);
    }
    *out = v;
    return HB_OK;
}

static hb_status check_choice(const hb_option *o, const char *s, int *index, hb_error *err)
{
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; o->choices[i]; i++) {
        if (strcmp(o->choices[i], s) == 0) {
            *index = i;
            return HB_OK;
        }
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", o->choices[i]);
        if (w > 0 && (size_t)w < sizeof list - used) used += (size_t)w;
    }
    return hb_fail(err, HB_ERR_INVALID, "--%s: '%s' is not one of: %s", o->name, s, list);
}

/* Adds one list word (which may hold commas) to a list option. */
static hb_status add_list_item(const hb_option *o, const char *word, hb_error *err)
{
    char buf[256];
    if (strlen(word) >= sizeof buf)
        return hb_fail(err, HB_ERR_INVALID, "--%s: '%.32s...' is too long", o->name, word);
    strcpy(buf, word);
    char *save = NULL;
    bool any = false;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        any = true;
        if (o->kind == HB_OPT_SIZE_LIST) {
            hb_size_list *l = o->value;
            if (l->n == HB_LIST_MAX)
                return hb_fail(err, HB_ERR_INVALID, "--%s: more than %d values", o->name,
                               HB_LIST_MAX);
            hb_status st = parse_size(o, tok, &l->v[l->n], err);
            if (st) return st;
            l->n++;
        } else {
            hb_string_list *l = o->value;
            if (l->n == HB_LIST_MAX)
                return hb_fail(err, HB_ERR_INVALID, "--%s: more than %d values", o->name,
                               HB_LIST_MAX);
            int idx;
            if (o->choices) {
                hb_status st = check_choice(o, tok, &idx, err);
                if (st) return st;
                l->v[l->n++] = o->choices[idx];
            } else if (strchr(word, ',')) {
                return hb_fail(err, HB_ERR_INVALID,
                               "--%s: separate values with spaces, not commas: '%s'", o->name, word);
            } else {
                l->v[l->n++] = word; /* free text: the argument itself, which argv keeps alive */
            }
        }
    }
    if (!any) return hb_fail(err, HB_ERR_INVALID, "--%s: empty value", o->name);
    return HB_OK;
}

hb_parse_result hb_options_parse(int argc, char **argv, const hb_option *opts, char **pos,
                                 int *npos, hb_error *err)
{
    *npos = 0;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            pos[(*npos)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) return HB_PARSE_HELP;
        if (a[1] != '-') {
            hb_fail(err, HB_ERR_INVALID, "unknown option '%s' (options are long: --name)", a);
            return HB_PARSE_ERROR;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const hb_option *o = find(opts, name, len);
        if (!o) {
            hb_fail(err, HB_ERR_INVALID, "unknown option '--%.*s'", (int)len, name);
            return HB_PARSE_ERROR;
        }
        if (o->seen) *o->seen = true;
        if (o->kind == HB_OPT_FLAG) {
            if (eq) {
                hb_fail(err, HB_ERR_INVALID, "--%s takes no value", o->name);
                return HB_PARSE_ERROR;
            }
            *(bool *)o->value = true;
            continue;
        }
        hb_status st = HB_OK;
        if (o->kind == HB_OPT_SIZE_LIST || o->kind == HB_OPT_STRING_LIST) {
            /* a list replaces its defaults the first time it is given */
            if (o->kind == HB_OPT_SIZE_LIST) ((hb_size_list *)o->value)->n = 0;
            else ((hb_string_list *)o->value)->n = 0;
            int taken = 0;
            if (eq) {
                st = add_list_item(o, eq + 1, err);
                taken = 1;
            }
            while (!st && i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-')) {
                st = add_list_item(o, argv[++i], err);
                taken++;
            }
            if (!st && !taken) st = hb_fail(err, HB_ERR_INVALID, "--%s needs a value", o->name);
            if (st) return HB_PARSE_ERROR;
            continue;
        }
        const char *v;
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else {
            hb_fail(err, HB_ERR_INVALID, "--%s needs a value", o->name);
            return HB_PARSE_ERROR;
        }
        switch (o->kind) {
        case HB_OPT_STRING:
            if (!*v) st = hb_fail(err, HB_ERR_INVALID, "--%s: empty value", o->name);
            else *(const char **)o->value = v;
            break;
        case HB_OPT_DOUBLE: st = parse_double(o, v, o->value, err); break;
        case HB_OPT_SIZE: st = parse_size(o, v, o->value, err); break;
        case HB_OPT_U64: {
            size_t s;
            st = parse_size(o, v, &s, err);
            if (!st) *(uint64_t *)o->value = s;
            break;
        }
        case HB_OPT_CHOICE: st = check_choice(o, v, o->value, err); break;
        default: st = hb_fail(err, HB_ERR_INTERNAL, "--%s: bad option table", o->name);
        }
        if (st) return HB_PARSE_ERROR;
    }
    return HB_PARSE_OK;
}

void hb_options_help(const char *usage, const char *summary, const hb_option *opts, FILE *out)
{
    fprintf(out, "usage: %s\n\n%s\n", usage, summary);
    if (opts->kind != HB_OPT_END) fprintf(out, "\noptions:\n");
    for (const hb_option *o = opts; o->kind != HB_OPT_END; o++) {
        char left[64];
        if (o->kind == HB_OPT_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else if (o->kind == HB_OPT_SIZE_LIST || o->kind == HB_OPT_STRING_LIST)
            snprintf(left, sizeof left, "--%s %s...", o->name, o->arg ? o->arg : "V");
        else
            snprintf(left, sizeof left, "--%s %s", o->name, o->arg ? o->arg : "V");
        fprintf(out, "  %-30s %s", left, o->help);
        if (o->choices) {
            fprintf(out, " (");
            for (int i = 0; o->choices[i]; i++) fprintf(out, "%s%s", i ? "|" : "", o->choices[i]);
            fprintf(out, ")");
        }
        fprintf(out, "\n");
    }
    fprintf(out, "  %-30s %s\n", "--help", "show this help");
}

int hb_cli_options(int argc, char **argv, const hb_option *opts, const char *usage,
                   const char *summary, int want, const char *what, char **pos)
{
    char **all = calloc((size_t)argc + 1, sizeof *all);
    if (!all) {
        fprintf(stderr, "error: out of memory\n");
        return 2;
    }
    hb_error err = {0};
    int npos = 0, rc = -1;
    hb_parse_result pr = hb_options_parse(argc, argv, opts, all, &npos, &err);
    if (pr == HB_PARSE_HELP) {
        hb_options_help(usage, summary, opts, stdout);
        rc = 0;
    } else if (pr == HB_PARSE_ERROR) {
        fprintf(stderr, "error: %s\nusage: %s\n", err.msg, usage);
        rc = 2;
    } else if (npos != want) {
        if (want == 0)
            fprintf(stderr, "error: unexpected argument '%s'\nusage: %s\n", all[0], usage);
        else
            fprintf(stderr, "error: expected %d argument%s (%s), got %d\nusage: %s\n", want,
                    want == 1 ? "" : "s", what, npos, usage);
        rc = 2;
    } else {
        for (int i = 0; i < npos; i++) pos[i] = all[i];
    }
    free(all);
    return rc;
}
