/* xcheck_driver.c - prints every statistic of the library for one or two sample files as JSON,
 * for crosscheck.py to compare with SciPy/NumPy computed at test time.
 *
 * usage: xcheck_driver [--boot B] [--seed S] A.txt [B.txt]
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "higgsbench/samples.h"
#include "higgsbench/stats.h"
#include "higgsbench/stats_report.h"

static void die(const hb_error *e)
{
    fprintf(stderr, "xcheck_driver: %s\n", e->msg);
    exit(2);
}

static json_t *num(double x) { return hb_json_number(x); }

static json_t *test_obj(const hb_test_t *t)
{
    return json_pack("{s:o, s:o, s:o, s:s}", "statistic", num(t->statistic), "df", num(t->df),
                     "pvalue", num(t->pvalue), "method",
                     t->method == HB_PV_EXACT ? "exact" : "asymptotic");
}

static json_t *boot_obj(const hb_boot_result *b)
{
    return json_pack("{s:o, s:o, s:o, s:o, s:s}", "lo", num(b->ci.lo), "hi", num(b->ci.hi),
                     "estimate", num(b->ci.estimate), "se", num(b->se), "method",
                     b->method == HB_BOOT_BCA ? "bca" : "percentile");
}

static json_t *one_sample(const double *x, size_t n, size_t B, uint64_t seed)
{
    hb_error e = {0};
    hb_describe_t d;
    if (hb_describe(x, n, &d, &e)) die(&e);
    json_t *o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "n",
                          (json_int_t)d.n, "mean", num(d.mean), "sd", num(d.sd), "se",
                          num(d.se), "min", num(d.min), "max", num(d.max), "median",
                          num(d.median), "q1", num(d.q1), "q3", num(d.q3), "iqr", num(d.iqr),
                          "mad", num(d.mad), "cv", num(d.cv));
    static const double ps[] = {0, 0.5, 1, 2.5, 5, 10, 25, 33.3, 50, 66.6, 75, 90, 95, 97.5, 99, 99.9, 100};
    size_t np = sizeof ps / sizeof ps[0];
    double out[sizeof ps / sizeof ps[0]];
    if (hb_percentiles(x, n, ps, np, out, &e)) die(&e);
    json_t *pa = json_array(), *va = json_array();
    for (size_t i = 0; i < np; i++) {
        json_array_append_new(pa, json_real(ps[i]));
        json_array_append_new(va, num(out[i]));
    }
    json_object_set_new(o, "pct_levels", pa);
    json_object_set_new(o, "pct_values", va);
    json_t *ci = json_object();
    static const double levels[] = {0.9, 0.95, 0.99};
    for (int i = 0; i < 3; i++) {
        hb_interval_t iv;
        if (hb_ci_mean_t(x, n, levels[i], &iv, &e)) die(&e);
        char key[16];
        snprintf(key, sizeof key, "%g", levels[i]);
        json_object_set_new(ci, key, json_pack("[o, o]", num(iv.lo), num(iv.hi)));
    }
    json_object_set_new(o, "ci_mean_t", ci);
    json_t *outl = json_object();
    for (int m = HB_OUTLIERS_IQR; m <= HB_OUTLIERS_MODIFIED_Z; m++) {
        hb_outliers_t r;
        if (hb_outliers_detect(x, n, (hb_outlier_method)m, &r, &e)) die(&e);
        json_t *idx = json_array(), *sev = json_array();
        for (size_t i = 0; i < r.count; i++) {
            json_array_append_new(idx, json_integer((json_int_t)r.items[i].index));
            if (r.items[i].severe) json_array_append_new(sev, json_integer((json_int_t)r.items[i].index));
        }
        json_object_set_new(outl, hb_outlier_method_name((hb_outlier_method)m),
                            json_pack("{s:o, s:o}", "index", idx, "severe", sev));
        hb_outliers_free(&r);
    }
    json_object_set_new(o, "outliers", outl);
    if (B) {
        hb_boot_opts bo = {0.95, B, seed, HB_BOOT_PERCENTILE};
        hb_boot_result br;
        json_t *bt = json_object();
        if (hb_bootstrap_percentile_ci(x, n, 50, &bo, &br, &e)) die(&e);
        json_object_set_new(bt, "median_percentile", boot_obj(&br));
        bo.method = HB_BOOT_BCA;
        if (hb_bootstrap_percentile_ci(x, n, 50, &bo, &br, &e)) die(&e);
        json_object_set_new(bt, "median_bca", boot_obj(&br));
        if (hb_bootstrap_percentile_ci(x, n, 90, &bo, &br, &e)) die(&e);
        json_object_set_new(bt, "p90_bca", boot_obj(&br));
        if (hb_bootstrap_mean_ci(x, n, &bo, &br, &e)) die(&e);
        json_object_set_new(bt, "mean_bca", boot_obj(&br));
        json_object_set_new(o, "bootstrap", bt);
    }
    return o;
}

static json_t *two_sample(const double *a, size_t na, const double *b, size_t nb)
{
    hb_error e = {0};
    hb_test_t t;
    hb_effect_t ef;
    json_t *o = json_object();
    double ps[5];
    size_t np = 0;
    if (hb_ttest_student(a, na, b, nb, &t, &e)) die(&e);
    json_object_set_new(o, "student", test_obj(&t));
    ps[np++] = t.pvalue;
    if (hb_ttest_welch(a, na, b, nb, &t, &e)) die(&e);
    json_object_set_new(o, "welch", test_obj(&t));
    ps[np++] = t.pvalue;
    if (hb_mannwhitney(a, na, b, nb, &t, &e)) die(&e);
    json_object_set_new(o, "mannwhitney", test_obj(&t));
    ps[np++] = t.pvalue;
    if (na == nb) {
        if (hb_ttest_paired(a, b, na, &t, &e)) die(&e);
        json_object_set_new(o, "paired_t", test_obj(&t));
        ps[np++] = t.pvalue;
        if (hb_wilcoxon(a, b, na, &t, &e)) die(&e);
        json_object_set_new(o, "wilcoxon", test_obj(&t));
        ps[np++] = t.pvalue;
    }
    if (hb_cohens_d(a, na, b, nb, &ef, &e)) die(&e);
    json_object_set_new(o, "cohens_d", json_pack("{s:o, s:s}", "value", num(ef.value), "label", hb_effect_label_name(ef.label)));
    if (hb_hedges_g(a, na, b, nb, &ef, &e)) die(&e);
    json_object_set_new(o, "hedges_g", json_pack("{s:o, s:s}", "value", num(ef.value), "label", hb_effect_label_name(ef.label)));
    if (hb_cliffs_delta(a, na, b, nb, &ef, &e)) die(&e);
    json_object_set_new(o, "cliffs_delta", json_pack("{s:o, s:s}", "value", num(ef.value), "label", hb_effect_label_name(ef.label)));
    double adj[5];
    if (hb_holm(ps, np, adj, &e)) die(&e);
    json_t *pin = json_array(), *pout = json_array();
    for (size_t i = 0; i < np; i++) {
        json_array_append_new(pin, num(ps[i]));
        json_array_append_new(pout, num(adj[i]));
    }
    json_object_set_new(o, "holm_in", pin);
    json_object_set_new(o, "holm_out", pout);
    return o;
}

int main(int argc, char **argv)
{
    size_t B = 0;
    uint64_t seed = 1;
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (strcmp(argv[i], "--boot") == 0) B = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 10);
    }
    if (i >= argc) {
        fprintf(stderr, "usage: xcheck_driver [--boot B] [--seed S] A [B]\n");
        return 2;
    }
    hb_error e = {0};
    hb_samples a, b = {0};
    if (hb_samples_read_file(argv[i], NULL, &a, &e)) die(&e);
    json_t *root = json_object();
    json_object_set_new(root, "a", one_sample(a.values, a.n, B, seed));
    if (i + 1 < argc) {
        if (hb_samples_read_file(argv[i + 1], NULL, &b, &e)) die(&e);
        json_object_set_new(root, "b", one_sample(b.values, b.n, 0, seed));
        json_object_set_new(root, "ab", two_sample(a.values, a.n, b.values, b.n));
    }
    char *s = json_dumps(root, JSON_REAL_PRECISION(17));
    puts(s);
    free(s);
    json_decref(root);
    hb_samples_free(&a);
    hb_samples_free(&b);
    return 0;
}
