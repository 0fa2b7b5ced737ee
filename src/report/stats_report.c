/* stats_report.c - text and JSON output of the describe and compare analyses. */
#include "higgsbench/stats_report.h"

#include <math.h>
#include <string.h>

json_t *hb_json_number(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static const char *pv_method_name(hb_pvalue_method m)
{
    return m == HB_PV_EXACT ? "exact" : "asymptotic";
}

static const char *boot_method_name(hb_boot_method m)
{
    return m == HB_BOOT_BCA ? "bca" : "percentile";
}

static json_t *describe_json(const hb_describe_t *d)
{
    json_t *pct = json_object();
    for (int i = 0; i < HB_DESCRIBE_NPCT; i++) {
        char key[16];
        snprintf(key, sizeof key, "p%g", hb_describe_pcts[i]);
        json_object_set_new(pct, key, hb_json_number(d->pct[i]));
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
                     "n", (json_int_t)d->n, "mean", hb_json_number(d->mean), "sd",
                     hb_json_number(d->sd), "se", hb_json_number(d->se), "min",
                     hb_json_number(d->min), "max", hb_json_number(d->max), "median",
                     hb_json_number(d->median), "q1", hb_json_number(d->q1), "q3",
                     hb_json_number(d->q3), "iqr", hb_json_number(d->iqr), "mad",
                     hb_json_number(d->mad), "cv", hb_json_number(d->cv), "percentiles", pct);
}

static json_t *outliers_json(const hb_sample_summary *s)
{
    const hb_outliers_t *o = &s->outliers;
    json_t *items = json_array();
    for (size_t i = 0; i < o->count; i++)
        json_array_append_new(items, json_pack("{s:I, s:o, s:o, s:b}", "index",
                                               (json_int_t)o->items[i].index, "value",
                                               hb_json_number(o->items[i].value), "score",
                                               hb_json_number(o->items[i].score), "severe",
                                               o->items[i].severe));
    return json_pack("{s:s, s:I, s:I, s:b, s:I, s:o, s:o, s:o, s:o, s:b, s:o}", "method",
                     hb_outlier_method_name(o->method), "found", (json_int_t)o->count,
                     "severe", (json_int_t)o->severe_count, "removed", s->removed,
                     "removed_count", (json_int_t)(s->n_read - s->n), "lower",
                     hb_json_number(o->lower), "upper", hb_json_number(o->upper),
                     "severe_lower", hb_json_number(o->severe_lower), "severe_upper",
                     hb_json_number(o->severe_upper), "mad_fallback", o->mad_fallback, "items",
                     items);
}

static json_t *sample_json(const hb_sample_summary *s)
{
    return json_pack("{s:s?, s:s?, s:I, s:I, s:o, s:o}", "source", s->label, "column",
                     s->column, "n_read", (json_int_t)s->n_read, "n", (json_int_t)s->n,
                     "outliers", outliers_json(s), "describe", describe_json(&s->d));
}

static json_t *boot_json(const hb_boot_result *b, uint64_t seed)
{
    return json_pack("{s:o, s:o, s:o, s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "estimate",
                     hb_json_number(b->ci.estimate), "lo", hb_json_number(b->ci.lo), "hi",
                     hb_json_number(b->ci.hi), "method", boot_method_name(b->method),
                     "resamples", (json_int_t)b->resamples, "seed", (json_int_t)seed, "se",
                     hb_json_number(b->se), "z0", hb_json_number(b->z0), "acceleration",
                     hb_json_number(b->accel), "alpha_lo", hb_json_number(b->alpha_lo),
                     "alpha_hi", hb_json_number(b->alpha_hi));
}

json_t *hb_describe_report_json(const hb_describe_report *r)
{
    json_t *ci = json_pack("{s:o, s:o}", "mean_t",
                           json_pack("{s:o, s:o, s:o}", "estimate",
                                     hb_json_number(r->ci_mean.estimate), "lo",
                                     hb_json_number(r->ci_mean.lo), "hi",
                                     hb_json_number(r->ci_mean.hi)),
                           "median_bootstrap", boot_json(&r->ci_median, r->opts.seed));
    return json_pack("{s:s, s:i, s:o, s:f, s:o}", "schema", "higgs-bench/stats-describe",
                     "version", 1, "sample", sample_json(&r->s), "confidence_level",
                     r->opts.level, "intervals", ci);
}

static json_t *test_json(const hb_test_t *t, bool with_df)
{
    json_t *j = json_pack("{s:o, s:o, s:s}", "statistic", hb_json_number(t->statistic),
                          "pvalue", hb_json_number(t->pvalue), "method",
                          pv_method_name(t->method));
    if (with_df) json_object_set_new(j, "df", hb_json_number(t->df));
    return j;
}

static json_t *effect_json(const hb_effect_t *e)
{
    json_t *j = json_pack("{s:o, s:s}", "value", hb_json_number(e->value), "label",
                          hb_effect_label_name(e->label));
    if (isinf(e->value)) json_object_set_new(j, "infinite", json_integer(e->value > 0 ? 1 : -1));
    return j;
}

json_t *hb_compare_report_json(const hb_compare_report *r)
{
    const hb_change_t *c = &r->change;
    const hb_change_opts *co = &r->change_opts;
    json_t *tests = json_pack("{s:o, s:o, s:o}", "student_t", test_json(&r->student, true),
                              "welch_t", test_json(&r->welch, true), "mann_whitney",
                              test_json(&r->mannwhitney, false));
    if (r->paired) {
        json_object_set_new(tests, "paired_t", test_json(&r->paired_t, true));
        json_object_set_new(tests, "wilcoxon", test_json(&r->wilcoxon, false));
    }
    json_t *effects =
        json_pack("{s:o, s:o, s:o}", "cohens_d", effect_json(&r->cohens_d), "hedges_g",
                  effect_json(&r->hedges_g), "cliffs_delta", effect_json(&r->cliffs_delta));
    json_t *change = json_pack(
        "{s:s, s:o, s:o, s:o, s:[o, o], s:s, s:o, s:b, s:b, s:s, s:s}", "location",
        co->location == HB_LOCATION_MEAN ? "mean" : "median", "baseline",
        hb_json_number(c->base_stat), "candidate", hb_json_number(c->cand_stat),
        "relative_change_pct", hb_json_number(100 * c->rel_change), "ci_pct",
        hb_json_number(100 * c->ci_lo), hb_json_number(100 * c->ci_hi), "test", c->test,
        "pvalue", hb_json_number(c->pvalue), "significant", c->significant, "outside_noise",
        c->outside_noise, "verdict", hb_verdict_name(c->verdict), "severity",
        hb_severity_name(c->severity));
    json_t *opts = json_pack(
        "{s:b, s:f, s:f, s:f, s:s, s:b, s:s, s:s, s:I, s:I}", "paired", r->paired,
        "confidence_level", r->opts.level, "alpha", co->alpha, "noise_threshold_pct",
        100 * co->noise_threshold, "outliers", hb_outlier_method_name(r->opts.outliers),
        "remove_outliers", r->opts.remove_outliers, "location",
        co->location == HB_LOCATION_MEAN ? "mean" : "median", "direction",
        hb_direction_name(co->direction), "resamples", (json_int_t)r->opts.resamples, "seed",
        (json_int_t)r->opts.seed);
    return json_pack("{s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "schema",
                     "higgs-bench/stats-compare", "version", 1, "options", opts, "baseline",
                     sample_json(&r->base), "candidate", sample_json(&r->cand), "tests", tests,
                     "effect_sizes", effects, "change", change);
}

/* ------------------------------------------------------------------------------- text ---- */

/* %g-like formatting that prints "n/a" for non-finite values. */
static const char *num(char *buf, size_t size, double x)
{
    if (isnan(x)) snprintf(buf, size, "n/a");
    else if (isinf(x)) snprintf(buf, size, "%sinf", x < 0 ? "-" : "");
    else snprintf(buf, size, "%.6g", x);
    return buf;
}

static const char *pval(char *buf, size_t size, double p)
{
    if (p < 1e-4) snprintf(buf, size, "%.2e", p);
    else snprintf(buf, size, "%.4f", p);
    return buf;
}

static void outliers_text(const hb_sample_summary *s, FILE *out)
{
    const hb_outliers_t *o = &s->outliers;
    if (o->method == HB_OUTLIERS_NONE) {
        fprintf(out, "  outliers        not checked\n");
        return;
    }
    char a[32], b[32];
    fprintf(out, "  outliers        %zu by %s (%zu severe), bounds [%s, %s]%s; %s\n", o->count,
            hb_outlier_method_name(o->method), o->severe_count, num(a, 32, o->lower),
            num(b, 32, o->upper), o->mad_fallback ? " (MAD 0: mean abs. deviation used)" : "",
            s->removed ? "removed" : "kept (use --remove-outliers to drop them)");
    if (s->removed) fprintf(out, "                  %zu removed\n", s->n_read - s->n);
}

static void describe_text(const hb_sample_summary *s, FILE *out)
{
    const hb_describe_t *d = &s->d;
    char a[32], b[32], c[32];
    fprintf(out, "  n               %zu (of %zu read)\n", d->n, s->n_read);
    fprintf(out, "  mean            %s   sd %s   se %s\n", num(a, 32, d->mean), num(b, 32, d->sd),
            num(c, 32, d->se));
    fprintf(out, "  median          %s   IQR %s   MAD %s\n", num(a, 32, d->median),
            num(b, 32, d->iqr), num(c, 32, d->mad));
    fprintf(out, "  min / max       %s / %s   CV %s\n", num(a, 32, d->min), num(b, 32, d->max),
            num(c, 32, d->cv));
    fprintf(out, "  percentiles    ");
    for (int i = 0; i < HB_DESCRIBE_NPCT; i++)
        fprintf(out, " p%g=%s", hb_describe_pcts[i], num(a, 32, d->pct[i]));
    fprintf(out, "\n");
    outliers_text(s, out);
}

void hb_describe_report_text(const hb_describe_report *r, FILE *out)
{
    char a[32], b[32];
    fprintf(out, "%s%s%s\n", r->s.label ? r->s.label : "data", r->s.column ? " : " : "",
            r->s.column ? r->s.column : "");
    describe_text(&r->s, out);
    fprintf(out, "  %g%% CI mean     [%s, %s] (Student t)\n", 100 * r->opts.level,
            num(a, 32, r->ci_mean.lo), num(b, 32, r->ci_mean.hi));
    fprintf(out, "  %g%% CI median   [%s, %s] (bootstrap %s, %zu resamples, seed %llu)\n",
            100 * r->opts.level, num(a, 32, r->ci_median.ci.lo), num(b, 32, r->ci_median.ci.hi),
            boot_method_name(r->ci_median.method), r->ci_median.resamples,
            (unsigned long long)r->opts.seed);
}

static void test_line(const char *name, const hb_test_t *t, bool df, FILE *out)
{
    char a[32], b[32], c[32];
    if (df)
        fprintf(out, "  %-15s t = %s, df = %s, p = %s\n", name, num(a, 32, t->statistic),
                num(b, 32, t->df), pval(c, 32, t->pvalue));
    else
        fprintf(out, "  %-15s statistic = %s, p = %s (%s)\n", name, num(a, 32, t->statistic),
                pval(c, 32, t->pvalue), pv_method_name(t->method));
}

void hb_compare_report_text(const hb_compare_report *r, FILE *out)
{
    char a[32], b[32], c[32];
    fprintf(out, "Baseline: %s%s%s\n", r->base.label ? r->base.label : "?",
            r->base.column ? " : " : "", r->base.column ? r->base.column : "");
    describe_text(&r->base, out);
    fprintf(out, "Candidate: %s%s%s\n", r->cand.label ? r->cand.label : "?",
            r->cand.column ? " : " : "", r->cand.column ? r->cand.column : "");
    describe_text(&r->cand, out);
    fprintf(out, "Tests (two-sided, candidate vs baseline%s)\n", r->paired ? ", paired" : "");
    test_line("Student t", &r->student, true, out);
    test_line("Welch t", &r->welch, true, out);
    test_line("Mann-Whitney U", &r->mannwhitney, false, out);
    if (r->paired) {
        test_line("paired t", &r->paired_t, true, out);
        test_line("Wilcoxon", &r->wilcoxon, false, out);
    }
    fprintf(out, "Effect sizes (candidate - baseline)\n");
    fprintf(out, "  Cohen's d       %s (%s)\n", num(a, 32, r->cohens_d.value),
            hb_effect_label_name(r->cohens_d.label));
    fprintf(out, "  Hedges' g       %s (%s)\n", num(a, 32, r->hedges_g.value),
            hb_effect_label_name(r->hedges_g.label));
    fprintf(out, "  Cliff's delta   %s (%s)\n", num(a, 32, r->cliffs_delta.value),
            hb_effect_label_name(r->cliffs_delta.label));
    const hb_change_t *ch = &r->change;
    const hb_change_opts *co = &r->change_opts;
    fprintf(out, "Change of the %s (%s is better)\n",
            co->location == HB_LOCATION_MEAN ? "mean" : "median",
            hb_direction_name(co->direction));
    fprintf(out, "  %s -> %s: %+.2f%%, %g%% CI [%+.2f%%, %+.2f%%]\n", num(a, 32, ch->base_stat),
            num(b, 32, ch->cand_stat), 100 * ch->rel_change, 100 * r->opts.level,
            100 * ch->ci_lo, 100 * ch->ci_hi);
    fprintf(out, "  %s p = %s %s alpha %g; CI %s the +-%g%% noise band\n", ch->test,
            pval(c, 32, ch->pvalue), ch->significant ? "<" : ">=", co->alpha,
            ch->outside_noise ? "outside" : "overlaps", 100 * co->noise_threshold);
    fprintf(out, "Verdict: %s", hb_verdict_name(ch->verdict));
    if (ch->verdict == HB_REGRESSED) fprintf(out, " (severity %s)", hb_severity_name(ch->severity));
    fprintf(out, "\n");
}
