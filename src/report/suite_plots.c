/* suite_plots.c - PNG plots through PLplot's cairo driver: the dashboard and the detailed
 * latency, memory and throughput figures. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "higgsbench/suite_report.h"

#ifdef HB_HAVE_PLPLOT
#include <plplot/plplot.h>
#include <sys/stat.h>

/* Every sample of one metric per point: separate at x = k - 0.15, unified at k + 0.15. */
static void panel_samples(const hb_results *r, const char *type, const char *metric,
                          const char *title, const char *ylab)
{
    const char *pts[32];
    double ymax;
    int np = (int)hb_results_points(r, type, metric, pts, 32, &ymax);
    pladv(0);
    plvsta();
    plwind(-0.6, np > 0 ? np - 0.4 : 1, 0, ymax > 0 ? ymax * 1.1 : 1);
    plcol0(1);
    plbox("bc", 1.0, 0, "bcnstv", 0, 0);
    pllab("", ylab, title);
    for (int k = 0; k < np; k++) {
        plcol0(1);
        plmtex("b", 1.5, ((double)k + 0.6) / ((double)np + 0.2), 0.5, pts[k]);
        for (int a = 0; a < 2; a++) {
            const hb_series *s = hb_results_get(r, type, metric, pts[k], a ? "unified" : "separate");
            if (!s || !s->n) continue;
            PLFLT xs[4096], ys[4096];
            int n = (int)(s->n < 4096 ? s->n : 4096);
            for (int i = 0; i < n; i++) {
                xs[i] = k + (a ? 0.15 : -0.15) + 0.1 * ((double)(i % 7) / 7 - 0.5);
                ys[i] = s->samples[i];
            }
            plcol0(a ? 9 : 2);
            plpoin(n, xs, ys, 17);
            PLFLT mx[2] = {k + (a ? 0.05 : -0.25), k + (a ? 0.25 : -0.05)}, my[2];
            my[0] = my[1] = hb_series_median(s);
            plwidth(3);
            plline(2, mx, my);
            plwidth(1);
        }
    }
}

static void panel_memory(const hb_results *r)
{
    static const char *const cats[] = {"weights_bytes", "kv_cache_bytes", "workspace_bytes",
                                       "graphs_bytes", "other_bytes"};
    const char *point = NULL;
    for (size_t i = 0; i < r->nseries && !point; i++)
        if (strcmp(r->series[i].type, "memory") == 0) point = r->series[i].point;
    pladv(0);
    plvsta();
    double v[2][5] = {{0}}, ymax = 0;
    for (int a = 0; a < 2 && point; a++) {
        double t = 0;
        for (int k = 0; k < 5; k++) {
            double m = hb_series_median(hb_results_get(r, "memory", cats[k], point, a ? "unified" : "separate"));
            v[a][k] = isfinite(m) ? m / 1048576 : 0;
            t += v[a][k];
        }
        ymax = fmax(ymax, t);
    }
    plwind(-0.5, 1.5, 0, ymax > 0 ? ymax * 1.15 : 1);
    plcol0(1);
    plbox("bc", 1, 0, "bcnstv", 0, 0);
    pllab("separate (left), unified (right)", "MiB", "Peak memory by category");
    for (int a = 0; a < 2; a++) {
        double base = 0;
        for (int k = 0; k < 5; k++) {
            if (v[a][k] <= 0) continue;
            plcol0(k + 3);
            PLFLT x[4] = {a - 0.3, a + 0.3, a + 0.3, a - 0.3}, y[4] = {base, base, base + v[a][k], base + v[a][k]};
            plfill(4, x, y);
            base += v[a][k];
        }
        char lab[64];
        snprintf(lab, sizeof lab, "%.1f MiB", base);
        plcol0(1);
        plptex(a, base + ymax * 0.04, 1, 0, 0.5, lab);
    }
}

static void panel_throughput(const hb_results *r)
{
    double ks[16], ms[16];
    PLFLT xs[2][16], ys[2][16], ymax = 0, xmax = 1;
    int n[2] = {0, 0};
    for (int a = 0; a < 2; a++) {
        n[a] = (int)hb_results_throughput_curve(r, a ? "unified" : "separate", ks, ms, 16);
        for (int i = 0; i < n[a]; i++) {
            xs[a][i] = log2(ks[i]);
            ys[a][i] = ms[i];
            ymax = fmax(ymax, ms[i]);
            xmax = fmax(xmax, xs[a][i]);
        }
    }
    pladv(0);
    plvsta();
    plwind(-0.2, xmax + 0.2, 0, ymax > 0 ? ymax * 1.1 : 1);
    plcol0(1);
    plbox("bcnst", 1, 0, "bcnstv", 0, 0);
    pllab("log2(concurrent streams)", "audio s per s", "Throughput vs concurrency");
    for (int a = 0; a < 2; a++) {
        if (!n[a]) continue;
        plcol0(a ? 9 : 2);
        plline(n[a], xs[a], ys[a]);
        plpoin(n[a], xs[a], ys[a], 17);
    }
}

static hb_status open_png(const char *path, int cols, int rows)
{
    plsdev("pngcairo");
    plsfnam(path);
    plsetopt("geometry", cols > 1 ? "1400x1000" : "1000x650");
    plscolbg(255, 255, 255);
    plscol0(1, 0, 0, 0);
    plscol0(2, 192, 80, 77);  /* separate: red */
    plscol0(9, 79, 129, 189); /* unified: blue */
    plssub(cols, rows);
    plinit();
    return HB_OK;
}

hb_status hb_suite_plots(const hb_results *r, const char *dir, const char *ts, char *written,
                         size_t wsize, hb_error *err)
{
    char pdir[4096], path[4200];
    snprintf(pdir, sizeof pdir, "%s/plots", dir);
    mkdir(pdir, 0755);
    struct {
        const char *name;
        int kind;
    } figs[] = {{"dashboard", 0}, {"detailed_latency", 1}, {"detailed_memory", 2},
                {"detailed_throughput", 3}};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s_%s.png", pdir, figs[i].name, ts);
        FILE *probe = hb_create_new(path, err); /* claims the name: never overwrite */
        if (!probe) return HB_ERR_IO;
        fclose(probe);
        if (figs[i].kind == 0) {
            open_png(path, 2, 2);
            panel_samples(r, "latency", "e2e_ms", "End-to-end latency (red separate, blue unified)", "ms");
            panel_memory(r);
            panel_throughput(r);
            panel_samples(r, "streaming", "ttfa_ms", "Time to first audio frame", "ms");
        } else if (figs[i].kind == 1) {
            open_png(path, 1, 2);
            panel_samples(r, "latency", "e2e_ms", "End-to-end latency, every run", "ms");
            panel_samples(r, "latency", "step_ms", "Decode step time, every run", "ms");
        } else if (figs[i].kind == 2) {
            open_png(path, 1, 1);
            panel_memory(r);
        } else {
            open_png(path, 1, 1);
            panel_throughput(r);
        }
        plend();
        size_t used = strlen(written);
        snprintf(written + used, wsize - used, "%s\n", path);
    }
    return HB_OK;
}

#else

hb_status hb_suite_plots(const hb_results *r, const char *dir, const char *ts, char *written,
                         size_t wsize, hb_error *err)
{
    (void)r, (void)dir, (void)ts, (void)written, (void)wsize;
    return hb_fail(err, HB_ERR_UNSUPPORTED, "this build has no PLplot: PNG plots are not written");
}

#endif
