/* suite_html.c - the self-contained HTML report: tables and inline SVG charts, no scripts, no
 * external resources, so it opens offline and anywhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "higgsbench/suite_report.h"

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *const colours[2] = {"#c0504d", "#4f81bd"}; /* separate, unified */

/* Box plots (median, quartiles, whiskers at min/max) of one metric for every point and both
 * architectures. */
static void svg_boxes(FILE *f, const hb_results *r, const char *type, const char *metric,
                      const char *title, const char *unit)
{
    const char *points[32];
    double hi;
    size_t np = hb_results_points(r, type, metric, points, 32, &hi);
    if (!np) return;
    double W = 640, H = 260, L = 60, B = 40, pw = (W - L - 10) / (double)np;
    fprintf(f, "<figure><svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
            "role=\"img\" aria-label=\"", W, H, W, H);
    esc(f, title);
    fprintf(f, "\">\n<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n", L,
            H - B, W - 10, H - B);
    for (int t = 0; t <= 4; t++) {
        double v = hi * t / 4, y = H - B - (H - B - 10) * t / 4;
        fprintf(f, "<text x=\"%.0f\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%.3g</text>"
                "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                L - 4, y + 3, v, L, y, W - 10, y);
    }
    for (size_t k = 0; k < np; k++) {
        for (int a = 0; a < 2; a++) {
            const hb_series *s = hb_results_get(r, type, metric, points[k], a ? "unified" : "separate");
            hb_describe_t d;
            if (!s || !s->n || hb_describe(s->samples, s->n, &d, NULL)) continue;
            double x = L + pw * (double)k + pw * (a ? 0.55 : 0.15), w = pw * 0.3;
#define Y(v) (H - B - (H - B - 10) * ((v) / (hi > 0 ? hi : 1)))
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>",
                    x + w / 2, Y(d.min), x + w / 2, Y(d.max), colours[a]);
            fprintf(f, "<rect class=\"box\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\" fill-opacity=\"0.35\" stroke=\"%s\"><title>%s %s: median %.4g %s "
                    "(n=%zu)</title></rect>", x, Y(d.q3), w, fmax(Y(d.q1) - Y(d.q3), 0.5),
                    colours[a], colours[a], points[k], a ? "unified" : "separate", d.median, unit, d.n);
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/>\n", x, Y(d.median), x + w, Y(d.median), colours[a]);
#undef Y
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\" text-anchor=\"middle\">", L + pw * ((double)k + 0.5), H - B + 14);
        esc(f, points[k]);
        fprintf(f, "</text>\n");
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%s</text>", L, H - 8, unit);
    fprintf(f, "<rect x=\"%.0f\" y=\"4\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%.0f\" "
            "y=\"13\" font-size=\"11\">separate</text><rect x=\"%.0f\" y=\"4\" width=\"10\" "
            "height=\"10\" fill=\"%s\"/><text x=\"%.0f\" y=\"13\" font-size=\"11\">unified</text>",
            W - 190, colours[0], W - 175, W - 100, colours[1], W - 85);
    fprintf(f, "</svg><figcaption>");
    esc(f, title);
    fprintf(f, "</figcaption></figure>\n");
}

/* Memory by category: stacked bars, one per architecture, at the first memory point. */
static void svg_memory(FILE *f, const hb_results *r)
{
    static const char *const cats[] = {"weights_bytes", "kv_cache_bytes", "workspace_bytes",
                                       "graphs_bytes", "other_bytes"};
    static const char *const cc[] = {"#4f81bd", "#9bbb59", "#f79646", "#8064a2", "#999"};
    const char *point = NULL;
    for (size_t i = 0; i < r->nseries && !point; i++)
        if (strcmp(r->series[i].type, "memory") == 0) point = r->series[i].point;
    if (!point) return;
    double tot[2] = {0, 0};
    for (int a = 0; a < 2; a++)
        for (int k = 0; k < 5; k++) {
            double m = hb_series_median(hb_results_get(r, "memory", cats[k], point, a ? "unified" : "separate"));
            tot[a] += isfinite(m) ? m : 0;
        }
    double mx = fmax(tot[0], tot[1]), W = 640, H = 150;
    if (!(mx > 0)) return;
    fprintf(f, "<figure><svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
            "role=\"img\" aria-label=\"memory by category\">\n", W, H, W, H);
    for (int a = 0; a < 2; a++) {
        double x = 80, y = 20 + 50 * a;
        fprintf(f, "<text x=\"4\" y=\"%.0f\" font-size=\"11\">%s</text>", y + 18, a ? "unified" : "separate");
        for (int k = 0; k < 5; k++) {
            double m = hb_series_median(hb_results_get(r, "memory", cats[k], point, a ? "unified" : "separate"));
            if (!(m > 0)) continue;
            double w = (W - 180) * m / mx;
            fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"28\" fill=\"%s\"><title>%s: "
                    "%.2f MiB</title></rect>", x, y, w, cc[k], cats[k], m / 1048576);
            x += w;
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"11\">%.1f MiB</text>\n", x + 4, y + 18, tot[a] / 1048576);
    }
    for (int k = 0; k < 5; k++)
        fprintf(f, "<rect x=\"%d\" y=\"128\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" "
                "y=\"137\" font-size=\"10\">%s</text>", 80 + 110 * k, cc[k], 94 + 110 * k, cats[k]);
    fprintf(f, "</svg><figcaption>Peak memory by category (%s), median of runs</figcaption></figure>\n", point);
}

/* Throughput vs closed-loop concurrency. */
static void svg_throughput(FILE *f, const hb_results *r)
{
    double xs[2][16], ys[2][16], ymax = 0;
    int n[2] = {0, 0};
    for (int a = 0; a < 2; a++) {
        n[a] = (int)hb_results_throughput_curve(r, a ? "unified" : "separate", xs[a], ys[a], 16);
        for (int i = 0; i < n[a]; i++) ymax = fmax(ymax, ys[a][i]);
    }
    if (!n[0] && !n[1]) return;
    double W = 640, H = 260, L = 60, B = 40, xmax = 1;
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < n[a]; i++) xmax = fmax(xmax, log2(xs[a][i]) + 1);
    fprintf(f, "<figure><svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
            "role=\"img\" aria-label=\"throughput vs concurrency\">\n<line x1=\"%.0f\" y1=\"%.0f\" "
            "x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>\n", W, H, W, H, L, H - B, W - 10, H - B);
    for (int a = 0; a < 2; a++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colours[a]);
        for (int i = 0; i < n[a]; i++)
            fprintf(f, "%.1f,%.1f ", L + (W - L - 30) * log2(xs[a][i]) / fmax(xmax - 1, 1),
                    H - B - (H - B - 10) * ys[a][i] / ymax);
        fprintf(f, "\"/>\n");
        for (int i = 0; i < n[a]; i++)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s, %g streams: "
                    "%.3g s of audio per s</title></circle>", L + (W - L - 30) * log2(xs[a][i]) / fmax(xmax - 1, 1),
                    H - B - (H - B - 10) * ys[a][i] / ymax, colours[a], a ? "unified" : "separate",
                    xs[a][i], ys[a][i]);
    }
    for (int i = 0; i < n[1] || i < n[0]; i++) {
        double x = n[1] > i ? xs[1][i] : xs[0][i];
        fprintf(f, "<text x=\"%.1f\" y=\"%.0f\" font-size=\"10\" text-anchor=\"middle\">%g</text>",
                L + (W - L - 30) * log2(x) / fmax(xmax - 1, 1), H - B + 14, x);
    }
    fprintf(f, "<text x=\"4\" y=\"14\" font-size=\"11\">%.3g audio s/s</text><text x=\"%.0f\" y=\"%.0f\" "
            "font-size=\"11\">concurrent streams</text></svg><figcaption>Throughput (seconds of "
            "audio per wall second) vs concurrency; red separate, blue unified</figcaption></figure>\n",
            ymax, W / 2, H - 8);
}

/* Streaming timeline: when each frame arrived (ms after the request was added), per
 * architecture, beside the playback deadline (first frame + k x 40 ms). */
static void svg_timeline(FILE *f, const hb_results *r)
{
    json_t *tl = json_object_get(r->extras, "streaming_timeline");
    json_t *arr[2] = {json_object_get(tl, "separate"), json_object_get(tl, "unified")};
    size_t n = 0;
    double tmax = 0;
    for (int a = 0; a < 2; a++) {
        n = json_array_size(arr[a]) > n ? json_array_size(arr[a]) : n;
        for (size_t i = 0; i < json_array_size(arr[a]); i++)
            tmax = fmax(tmax, json_number_value(json_array_get(arr[a], i)));
    }
    if (n < 2) return;
    double first = json_number_value(json_array_get(arr[1] ? arr[1] : arr[0], 0));
    tmax = fmax(tmax, first + (double)(n - 1) * 40);
    double W = 640, H = 260, L = 60, B = 40;
#define TX(t) (L + (W - L - 20) * (t) / tmax)
#define FY(k) (H - B - (H - B - 10) * (double)(k) / (double)(n - 1))
    fprintf(f, "<figure><svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" height=\"%.0f\" "
            "role=\"img\" aria-label=\"streaming timeline\">\n", W, H, W, H);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#999\" "
            "stroke-dasharray=\"4 3\"><title>playback: first frame + k x 40 ms</title></line>\n",
            TX(first), FY(0), TX(first + (double)(n - 1) * 40), FY(n - 1));
    for (int a = 0; a < 2; a++) {
        if (!arr[a]) continue;
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", colours[a]);
        for (size_t i = 0; i < json_array_size(arr[a]); i++)
            fprintf(f, "%.1f,%.1f ", TX(json_number_value(json_array_get(arr[a], i))), FY(i));
        fprintf(f, "\"/>\n");
    }
    fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"#333\"/>"
            "<text x=\"%.0f\" y=\"%.0f\" font-size=\"11\">%.0f ms</text><text x=\"4\" y=\"14\" "
            "font-size=\"11\">%zu frames</text></svg><figcaption>Streaming timeline: frames "
            "delivered over time (red separate, blue unified, one run each); the dashed line is "
            "playback from the first frame, so a curve left of it stays ahead of real time"
            "</figcaption></figure>\n", L, H - B, W - 10, H - B, W - 70, H - 8, tmax, n);
#undef TX
#undef FY
}

static void claims_table(FILE *f, const hb_results *r)
{
    fprintf(f, "<h2 id=\"claims\">Claims</h2>\n<table class=\"claims\"><tr><th>claim</th><th>metric"
            "</th><th>range</th><th>estimate (95%% CI)</th><th>p &lt; 0.05</th><th>|effect| &gt; 0.2"
            "</th><th>in range</th><th>confidence &gt; 70%%</th><th>verdict</th></tr>\n");
    for (size_t i = 0; i < r->nclaims; i++) {
        const hb_claim_entry *c = &r->claims[i];
        fprintf(f, "<tr class=\"claim\"><td>");
        esc(f, c->name);
        fprintf(f, "</td><td>");
        esc(f, c->metric);
        fprintf(f, "</td><td>%s %g&ndash;%g</td>", hb_claim_kind_name(c->claim.kind), c->claim.lo, c->claim.hi);
        if (!c->applicable || !c->evaluated) {
            fprintf(f, "<td colspan=\"5\">");
            esc(f, c->why);
            fprintf(f, "</td><td class=\"na\">not applicable</td></tr>\n");
            continue;
        }
        const hb_claim_result *x = &c->r;
#define CELL(pass, fmt, v) fprintf(f, "<td class=\"%s\">" fmt "</td>", (pass) ? "pass" : "fail", v)
        fprintf(f, "<td>%.4g (%.4g to %.4g)</td>", x->estimate, x->ci_lo, x->ci_hi);
        CELL(x->pass_p, "p = %.3g", x->pvalue);
        CELL(x->pass_effect, "%.3g", x->effect);
        CELL(x->pass_range, "%.4g", x->estimate);
        CELL(x->pass_confidence, "%.1f%%", 100 * x->confidence);
        fprintf(f, "<td class=\"%s\">%s</td></tr>\n", x->validated ? "pass" : "fail",
                x->validated ? "VALIDATED" : "NOT VALIDATED");
#undef CELL
    }
    fprintf(f, "</table>\n");
}

static void comparisons_table(FILE *f, const hb_results *r)
{
    fprintf(f, "<h2 id=\"comparisons\">Unified vs separate, every metric</h2>\n<p>Medians; the "
            "change is unified relative to separate with a bootstrap 95%% CI; p from the paired "
            "Wilcoxon test (interleaved runs) or Mann-Whitney U, Holm-adjusted over all metrics; "
            "Cohen's d of unified minus separate.</p>\n<table class=\"comparisons\"><tr><th>metric"
            "</th><th>separate</th><th>unified</th><th>change</th><th>95%% CI</th><th>p</th><th>p "
            "(Holm)</th><th>Cohen's d</th><th>verdict</th></tr>\n");
    for (size_t i = 0; i < r->ncmp; i++) {
        const hb_arch_comparison *c = &r->cmp[i];
        fprintf(f, "<tr class=\"comparison\"><td>");
        esc(f, c->metric_id);
        fprintf(f, "</td><td>%.5g</td><td>%.5g</td><td>%+.2f%%</td><td>[%+.2f%%, %+.2f%%]</td>"
                "<td>%.3g</td><td>%.3g</td><td>%.3g (%s)</td><td class=\"v-%s\">%s</td></tr>\n",
                c->change.base_stat, c->change.cand_stat, 100 * c->change.rel_change,
                100 * c->change.ci_lo, 100 * c->change.ci_hi, c->change.pvalue, c->p_holm,
                c->cohens_d.value, hb_effect_label_name(c->cohens_d.label),
                c->change.verdict == HB_IMPROVED ? "improved" : c->change.verdict == HB_REGRESSED ? "regressed" : "none",
                c->change.verdict == HB_NO_CHANGE ? "no change"
                : c->change.verdict == HB_IMPROVED ? "unified better" : "unified worse");
    }
    fprintf(f, "</table>\n");
    for (size_t i = 0; i < r->nseries; i++)
        if (r->series[i].note[0] && strcmp(r->series[i].arch, "graphs_on") == 0) {
            fprintf(f, "<p class=\"note\">cuda_graphs: ");
            esc(f, r->series[i].note);
            fprintf(f, "</p>\n");
        }
}

static void baseline_section(FILE *f, const hb_results *r)
{
    if (!r->baseline_source[0]) return;
    fprintf(f, "<h2 id=\"regressions\">Against the baseline</h2>\n<p>Baseline: ");
    esc(f, r->baseline_source);
    fprintf(f, "</p>\n");
    if (r->baseline_env_differs) {
        fprintf(f, "<p class=\"warning\">Warning: ");
        esc(f, r->baseline_env_note);
        fprintf(f, "; differences may come from the machine rather than the change.</p>\n");
    }
    fprintf(f, "<table class=\"regressions\"><tr><th>series</th><th>baseline</th><th>now</th>"
            "<th>change</th><th>95%% CI</th><th>p (Holm)</th><th>verdict</th><th>severity</th></tr>\n");
    for (size_t i = 0; i < r->nbase; i++) {
        const hb_baseline_comparison *b = &r->base[i];
        fprintf(f, "<tr><td>");
        esc(f, b->id);
        fprintf(f, "</td><td>%.5g</td><td>%.5g</td><td>%+.2f%%</td><td>[%+.2f%%, %+.2f%%]</td><td>%.3g</td>"
                "<td>%s</td><td>%s</td></tr>\n", b->change.base_stat, b->change.cand_stat,
                100 * b->change.rel_change, 100 * b->change.ci_lo, 100 * b->change.ci_hi, b->p_holm,
                hb_verdict_name(b->change.verdict), hb_severity_name(b->change.severity));
    }
    fprintf(f, "</table>\n");
}

static void environment_section(FILE *f, const hb_results *r)
{
    fprintf(f, "<h2 id=\"environment\">Environment</h2>\n<table class=\"environment\">\n");
    const char *key;
    json_t *v;
    json_object_foreach(r->environment, key, v)
    {
        fprintf(f, "<tr><th>");
        esc(f, key);
        fprintf(f, "</th><td>");
        char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        esc(f, s ? s : json_string_value(v));
        free(s);
        fprintf(f, "</td></tr>\n");
    }
    fprintf(f, "<tr><th>harness</th><td>timer resolution %.0f ns; overhead %.0f ns a run = %.4f%% "
            "of the shortest operation (%.3g ms)</td></tr>\n</table>\n",
            r->timer_resolution_ns, r->harness_overhead_ns,
            r->shortest_op_ms > 0 ? 100 * r->harness_overhead_ns * 1e-6 / r->shortest_op_ms : 0,
            r->shortest_op_ms);
}

hb_status hb_suite_html(const hb_results *r, FILE *f, hb_error *err)
{
    bool pass = hb_suite_passed(r);
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>higgs-bench report %s</title>\n<style>\n"
            "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}"
            ".pass{background:#e6f4e6}.fail{background:#fbe3e3}.na{background:#eee}"
            "#overall{font-size:20px;font-weight:bold;padding:8px;display:inline-block}"
            ".warning{color:#a00}figure{margin:1em 0}svg.chart{background:#fafafa;border:1px solid #ddd}\n"
            "</style></head><body>\n", r->timestamp);
    fprintf(f, "<h1>higgs-bench: unified vs separate Higgs Audio v2 engines</h1>\n");
    fprintf(f, "<div id=\"overall\" class=\"%s\">Overall Validation: %s</div>\n", pass ? "pass" : "fail",
            pass ? "PASSED" : "FAILED");
    if (r->partial)
        fprintf(f, "<p class=\"warning\">PARTIAL results: the run was interrupted or failed; what "
                "was measured so far is reported.</p>\n");
    fprintf(f, "<h2 id=\"overview\">Overview</h2>\n<p>Run %s, %.1f s; %zu series, %zu comparisons, "
            "%zu claims. Baseline architecture: separate text + audio engines; candidate: unified. "
            "Audio means codec frames (8 RVQ codes, 40 ms each); no waveform decoder is run.</p>\n",
            r->timestamp, r->wall_s, r->nseries, r->ncmp, r->nclaims);
    claims_table(f, r);
    comparisons_table(f, r);
    baseline_section(f, r);
    fprintf(f, "<h2 id=\"charts\">Charts</h2>\n");
    svg_boxes(f, r, "latency", "e2e_ms", "End-to-end latency distributions by prompt length and batch", "ms");
    svg_memory(f, r);
    svg_throughput(f, r);
    svg_boxes(f, r, "streaming", "ttfa_ms", "Streaming: time to the first complete audio frame", "ms");
    svg_boxes(f, r, "streaming", "chunk1_interval_ms", "Streaming: interval between frames", "ms");
    svg_timeline(f, r);
    environment_section(f, r);
    fprintf(f, "</body></html>\n");
    if (ferror(f)) return hb_fail(err, HB_ERR_IO, "cannot write the HTML report");
    return HB_OK;
}
