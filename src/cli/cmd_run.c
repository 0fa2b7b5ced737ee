/* cmd_run.c - `higgs-bench run` (the suite), `higgs-bench report` (rebuild reports from saved
 * results) and `higgs-bench compare` (two saved results, offline). */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "higgsbench/suite.h"
#include "higgsbench/suite_report.h"
#include "options.h"

enum { HB_EXIT_INTERRUPTED = 130 };

static volatile int stop_flag = 0;
static void on_sigint(int sig)
{
    (void)sig;
    stop_flag = 1;
}

typedef struct {
    FILE *log;
    bool verbose;
} log_ctx;

static void log_line(void *user, int verbose_only, const char *msg)
{
    log_ctx *l = user;
    time_t now = time(NULL);
    struct tm tmv;
    char ts[32];
    gmtime_r(&now, &tmv);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    if (l->log) {
        fprintf(l->log, "%s %s\n", ts, msg);
        fflush(l->log);
    }
    if (!verbose_only || l->verbose) fprintf(stderr, "%s\n", msg);
}

static const char *const device_choices[] = {"auto", "cpu", "cuda", NULL};
static const char *const order_choices[] = {"interleaved", "sequential", NULL};

/* Writes r as the baseline NAME under dir/baselines (never over an existing one). */
static int save_baseline(const hb_results *r, const char *dir, const char *name, char *path,
                         size_t size)
{
    char bdir[PATH_MAX];
    snprintf(bdir, sizeof bdir, "%s/baselines", dir);
    mkdir(bdir, 0755);
    snprintf(path, size, "%s/%s.json", bdir, name);
    hb_error err = {0};
    FILE *f = hb_create_new(path, &err);
    if (!f) return hb_cli_error(err.msg);
    json_t *j = hb_results_to_json(r);
    char *s = json_dumps(j, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
    json_decref(j);
    bool ok = s && fputs(s, f) >= 0;
    free(s);
    ok = fclose(f) == 0 && ok;
    return ok ? HB_EXIT_OK : hb_cli_error("cannot write the baseline");
}

static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 100) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

int cmd_run(int argc, char **argv)
{
    static const char usage[] = "higgs-bench run [--unified-engine DIR --separate-text-engine DIR "
                                "--separate-audio-engine DIR] [options]";
    hb_suite_opts o = hb_suite_defaults();
    hb_string_list types = {.n = 0}, rates = {.n = 0};
    hb_size_list batches = {.n = 0}, seqs = {.n = 0};
    size_t num_runs = o.num_runs, warmups = o.warmup_runs, maxc = o.concurrency_max;
    int device = 0, order = 0;
    uint64_t seed = o.seed;
    double level = o.confidence_level, audio_s = o.audio_seconds;
    bool seen_runs = false, seen_warm = false, seen_b = false, seen_s = false, seen_c = false,
         seen_a = false;
    const hb_option opts[] = {
        {HB_OPT_STRING, "unified-engine", "DIR", "unified engine directory", &o.unified_dir, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "separate-text-engine", "DIR", "text engine of the separate pair", &o.text_dir, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "separate-audio-engine", "DIR", "audio engine of the separate pair", &o.audio_dir, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "model-config", "FILE", "config.json the engines must match", &o.model_config, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "output-dir", "DIR", "where reports go (./benchmark_results)", &o.output_dir, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING_LIST, "benchmark-types", "TYPE", "benchmark types to run (all)", &types, hb_bench_names, 0, 0, false, false, NULL},
        {HB_OPT_SIZE, "num-runs", "N", "measured runs per point and architecture (50)", &num_runs, NULL, 2, 100000, false, false, &seen_runs},
        {HB_OPT_SIZE, "warmup-runs", "N", "warm-up runs per point and architecture (5)", &warmups, NULL, 0, 10000, false, false, &seen_warm},
        {HB_OPT_SIZE_LIST, "batch-sizes", "N", "batch sizes (1 2 4 8)", &batches, NULL, 1, 4096, false, false, &seen_b},
        {HB_OPT_SIZE_LIST, "sequence-lengths", "N", "prompt lengths in tokens (128)", &seqs, NULL, 1, 4096, false, false, &seen_s},
        {HB_OPT_FLAG, "enable-cuda-graphs", NULL, "capture decode steps as CUDA graphs (cuda)", &o.cuda_graphs, NULL, 0, 0, false, false, NULL},
        {HB_OPT_FLAG, "enable-concurrent", NULL, "add open-loop (Poisson) throughput runs", &o.concurrent, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING_LIST, "arrival-rates", "R", "open-loop arrival rates, requests/s (2 8)", &rates, NULL, 0, 0, false, false, NULL},
        {HB_OPT_SIZE, "max-concurrent-requests", "N", "highest closed-loop concurrency (32)", &maxc, NULL, 1, 4096, false, false, &seen_c},
        {HB_OPT_DOUBLE, "confidence-level", "X", "confidence level (0.95)", &level, NULL, 0, 1, true, true, NULL},
        {HB_OPT_FLAG, "verbose", NULL, "log every point", &o.verbose, NULL, 0, 0, false, false, NULL},
        {HB_OPT_FLAG, "dry-run", NULL, "validate everything, print the plan, run nothing", &o.dry_run, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "claims", "FILE", "claims to validate (JSON; default: the five design claims)", &o.claims_file, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "save-baseline", "NAME", "save the results as OUTPUT-DIR/baselines/NAME.json", &o.save_baseline, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "baseline", "FILE", "compare with saved results", &o.baseline_file, NULL, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "device", "D", "backend (auto: cuda where built and present)", &device, device_choices, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "order", "O", "interleaved ABBA or sequential (interleaved)", &order, order_choices, 0, 0, false, false, NULL},
        {HB_OPT_U64, "seed", "S", "seed of prompts, sampling and bootstrap (1)", &seed, NULL, 0, 0, false, false, NULL},
        {HB_OPT_DOUBLE, "audio-seconds", "S", "audio generated per request (2)", &audio_s, NULL, 0, 600, true, false, &seen_a},
        {HB_OPT_STRING, "cache-dir", "DIR", "where the default engines are built", &o.cache_dir, NULL, 0, 0, false, false, NULL},
        HB_OPTIONS_END};
    int rc0 = hb_cli_options(argc, argv, opts, usage,
                             "Runs the benchmark suite: unified vs separate engines, every benchmark "
                             "type, claims and\nbaselines, and writes JSON, CSV, text, HTML and PNG "
                             "reports. With no engines it builds and\nuses the default small engines "
                             "and runs a quick suite. Exit status: 0 all claims validated and\nno "
                             "regression, 1 a claim failed or a regression was found, 2 usage or "
                             "configuration\nerror, 130 interrupted (partial results saved).",
                             0, NULL, NULL);
    if (rc0 >= 0) return rc0;
    hb_error err = {0};
    bool defaults = !o.unified_dir && !o.text_dir && !o.audio_dir;
    if (defaults) { /* the quick suite: minutes on two cores */
        if (!seen_runs) num_runs = 10;
        if (!seen_warm) warmups = 2;
        if (!seen_b) batches = (hb_size_list){.v = {1, 4}, .n = 2};
        if (!seen_s) seqs = (hb_size_list){.v = {64}, .n = 1};
        if (!seen_c) maxc = 4;
        if (!seen_a) audio_s = 1.0;
    }
    o.num_runs = num_runs;
    o.warmup_runs = warmups;
    o.concurrency_max = maxc;
    o.confidence_level = level;
    o.audio_seconds = audio_s;
    o.seed = seed;
    o.device = device_choices[device];
    o.interleaved = order == 0;
    o.progress = isatty(STDERR_FILENO) && !o.verbose;
    if (batches.n) {
        memcpy(o.batch_sizes, batches.v, batches.n * sizeof batches.v[0]);
        o.nbatch = batches.n;
    }
    if (seqs.n) {
        memcpy(o.seq_lens, seqs.v, seqs.n * sizeof seqs.v[0]);
        o.nseq = seqs.n;
    }
    if (rates.n) {
        for (size_t i = 0; i < rates.n; i++) {
            char *end;
            double v = strtod(rates.v[i], &end);
            if (end == rates.v[i] || *end || !(v > 0 && v <= 1e6)) {
                char m[160];
                snprintf(m, sizeof m, "--arrival-rates: '%.64s' is not a rate in (0, 1e6] requests/s",
                         rates.v[i]);
                return hb_cli_error(m);
            }
            o.arrival_rates[i] = v;
        }
        o.nrates = rates.n < HB_MAX_POINTS ? rates.n : HB_MAX_POINTS;
    }
    if (types.n) {
        for (int t = 0; t < HB_BENCH__COUNT; t++) o.types[t] = false;
        for (size_t i = 0; i < types.n; i++) {
            hb_bench_type t;
            hb_bench_parse(types.v[i], &t);
            o.types[t] = true;
        }
    }
    /* everything that can be checked before a long run is checked now */
    if (o.save_baseline && !valid_name(o.save_baseline)) {
        char m[256];
        snprintf(m, sizeof m, "--save-baseline: '%.100s' is not a name (letters, digits, - _ .)",
                 o.save_baseline);
        return hb_cli_error(m);
    }
    hb_results baseline;
    bool have_baseline = false;
    if (o.baseline_file) {
        if (hb_results_load(o.baseline_file, &baseline, &err)) {
            hb_results_free(&baseline);
            return hb_cli_error(err.msg);
        }
        have_baseline = true;
    }
    if (o.claims_file) {
        hb_results probe;
        hb_results_init(&probe);
        hb_status st = hb_suite_analyze(&probe, o.claims_file, level, seed, &err);
        hb_results_free(&probe);
        if (st) {
            if (have_baseline) hb_results_free(&baseline);
            return hb_cli_error(err.msg);
        }
    }
    if (o.dry_run) {
        char plan[4096];
        int rc = HB_EXIT_OK;
        if (hb_suite_dry_run(&o, plan, sizeof plan, &err)) rc = hb_cli_error(err.msg);
        else printf("dry run: everything is valid; no benchmark was run\n%s", plan);
        if (have_baseline) hb_results_free(&baseline);
        return rc;
    }
    if (mkdir(o.output_dir, 0755) && errno != EEXIST) {
        char m[PATH_MAX + 64];
        snprintf(m, sizeof m, "cannot create the output directory '%s': %s", o.output_dir, strerror(errno));
        if (have_baseline) hb_results_free(&baseline);
        return hb_cli_error(m);
    }
    char logpath[PATH_MAX];
    snprintf(logpath, sizeof logpath, "%s/benchmark_runner.log", o.output_dir);
    log_ctx lg = {fopen(logpath, "a"), o.verbose}; /* appended: earlier runs' logs are kept */
    if (!lg.log || access(o.output_dir, W_OK) != 0) {
        char m[PATH_MAX + 64];
        snprintf(m, sizeof m, "the output directory '%s' is not writable: %s", o.output_dir, strerror(errno));
        if (lg.log) fclose(lg.log);
        if (have_baseline) hb_results_free(&baseline);
        return hb_cli_error(m);
    }
    if (o.save_baseline) {
        char bp[PATH_MAX];
        snprintf(bp, sizeof bp, "%s/baselines/%s.json", o.output_dir, o.save_baseline);
        if (access(bp, F_OK) == 0) {
            char m[PATH_MAX + 80];
            snprintf(m, sizeof m, "baseline '%s' already exists; nothing was overwritten (choose another name)", bp);
            fclose(lg.log);
            if (have_baseline) hb_results_free(&baseline);
            return hb_cli_error(m);
        }
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    log_line(&lg, 0, "higgs-bench run: starting");
    hb_results r;
    hb_results_init(&r);
    hb_status st = hb_suite_run(&o, &r, &stop_flag, log_line, &lg, &err);
    int rc = HB_EXIT_OK;
    if (st && r.nseries == 0) { /* nothing measured: a usage or configuration error */
        log_line(&lg, 1, err.msg);
        rc = hb_cli_error(err.msg);
        goto out;
    }
    if (st) log_line(&lg, 0, err.msg);
    if (stop_flag) log_line(&lg, 0, "interrupted: saving what was measured as PARTIAL results");
    hb_error aerr = {0};
    if (hb_suite_analyze(&r, o.claims_file, level, seed, &aerr)) log_line(&lg, 0, aerr.msg);
    if (have_baseline) {
        snprintf(r.baseline_source, sizeof r.baseline_source, "%s", o.baseline_file);
        if (hb_suite_compare_baseline(&r, &baseline, level, seed, &aerr)) log_line(&lg, 0, aerr.msg);
    }
    char written[8192];
    if (hb_suite_write_reports(&r, o.output_dir, written, sizeof written, &aerr)) {
        rc = hb_cli_error(aerr.msg);
        goto out;
    }
    if (o.save_baseline) {
        char bp[PATH_MAX];
        if (save_baseline(&r, o.output_dir, o.save_baseline, bp, sizeof bp) == HB_EXIT_OK) {
            size_t used = strlen(written);
            snprintf(written + used, sizeof written - used, "%s (baseline)\n", bp);
        } else {
            rc = HB_EXIT_USAGE;
        }
    }
    hb_suite_summary(&r, stdout);
    printf("\nwritten:\n%s", written);
    log_line(&lg, 1, "reports written");
    if (rc == HB_EXIT_OK)
        rc = stop_flag ? HB_EXIT_INTERRUPTED : hb_suite_passed(&r) ? HB_EXIT_OK : HB_EXIT_FINDING;
out:
    if (lg.log) fclose(lg.log);
    hb_results_free(&r);
    if (have_baseline) hb_results_free(&baseline);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    static const char usage[] = "higgs-bench report RESULTS.json [--output-dir DIR] [--claims FILE] [--baseline FILE]";
    const char *out = NULL, *claims = NULL, *base = NULL;
    const hb_option opts[] = {
        {HB_OPT_STRING, "output-dir", "DIR", "where to write (default: the results' folder)", &out, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "claims", "FILE", "validate these claims instead of the saved ones", &claims, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "baseline", "FILE", "compare with saved results", &base, NULL, 0, 0, false, false, NULL},
        HB_OPTIONS_END};
    char *pos[1];
    int rc0 = hb_cli_options(argc, argv, opts, usage,
                             "Rebuilds every report (JSON, text, HTML, CSV, PNG) from saved results; "
                             "no engine is needed.", 1, "RESULTS.json", pos);
    if (rc0 >= 0) return rc0;
    const char *path = pos[0];
    hb_error err = {0};
    hb_results r, b;
    if (hb_results_load(path, &r, &err)) {
        hb_results_free(&r);
        return hb_cli_error(err.msg);
    }
    double level = json_number_value(json_object_get(r.plan, "confidence_level"));
    uint64_t seed = (uint64_t)json_integer_value(json_object_get(r.plan, "seed"));
    if (!(level > 0 && level < 1)) level = 0.95;
    int rc = HB_EXIT_OK;
    if (hb_suite_analyze(&r, claims, level, seed, &err)) rc = hb_cli_error(err.msg);
    if (rc == HB_EXIT_OK && base) {
        if (hb_results_load(base, &b, &err)) rc = hb_cli_error(err.msg);
        else {
            snprintf(r.baseline_source, sizeof r.baseline_source, "%s", base);
            hb_suite_compare_baseline(&r, &b, level, seed, &err);
        }
        hb_results_free(&b);
    }
    char dir[PATH_MAX];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else {
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else snprintf(dir, sizeof dir, ".");
    }
    char written[8192];
    if (rc == HB_EXIT_OK && hb_suite_write_reports(&r, dir, written, sizeof written, &err))
        rc = hb_cli_error(err.msg);
    if (rc == HB_EXIT_OK) {
        hb_suite_summary(&r, stdout);
        printf("\nwritten:\n%s", written);
        rc = hb_suite_passed(&r) ? HB_EXIT_OK : HB_EXIT_FINDING;
    }
    hb_results_free(&r);
    return rc;
}

int cmd_compare(int argc, char **argv)
{
    static const char usage[] = "higgs-bench compare OLD.json NEW.json [--confidence-level X]";
    double level = 0.95;
    uint64_t seed = 1;
    const hb_option opts[] = {
        {HB_OPT_DOUBLE, "confidence-level", "X", "confidence level (0.95)", &level, NULL, 0, 1, true, true, NULL},
        {HB_OPT_U64, "seed", "S", "bootstrap seed (1)", &seed, NULL, 0, 0, false, false, NULL},
        HB_OPTIONS_END};
    char *pos[2];
    int rc0 = hb_cli_options(argc, argv, opts, usage,
                             "Compares two saved results metric by metric: the change verdict (each "
                             "series' own p-value\nand bootstrap CI), with the Holm-adjusted p-values "
                             "over all series beside it;\nexit status 1 when a metric regressed.",
                             2, "OLD.json NEW.json", pos);
    if (rc0 >= 0) return rc0;
    const char *oldp = pos[0], *newp = pos[1];
    hb_error err = {0};
    hb_results a, b;
    if (hb_results_load(oldp, &a, &err)) {
        hb_results_free(&a);
        return hb_cli_error(err.msg);
    }
    if (hb_results_load(newp, &b, &err)) {
        hb_results_free(&a);
        hb_results_free(&b);
        return hb_cli_error(err.msg);
    }
    snprintf(b.baseline_source, sizeof b.baseline_source, "%s", oldp);
    int rc = HB_EXIT_OK;
    if (hb_suite_compare_baseline(&b, &a, level, seed, &err)) rc = hb_cli_error(err.msg);
    if (rc == HB_EXIT_OK) {
        size_t reg = 0;
        printf("%s -> %s%s%s\n", oldp, newp, b.baseline_env_differs ? "\nWARNING: " : "",
               b.baseline_env_note);
        printf("%-64s %12s %12s %9s %20s %9s %s\n", "series", "old median", "new median", "change",
               "95% CI", "p (Holm)", "verdict");
        for (size_t i = 0; i < b.nbase; i++) {
            const hb_baseline_comparison *c = &b.base[i];
            char ci[48];
            snprintf(ci, sizeof ci, "[%+.1f%%, %+.1f%%]", 100 * c->change.ci_lo, 100 * c->change.ci_hi);
            printf("%-64s %12.5g %12.5g %+8.2f%% %20s %9.2g %s%s%s\n", c->id, c->change.base_stat,
                   c->change.cand_stat, 100 * c->change.rel_change, ci, c->p_holm,
                   hb_verdict_name(c->change.verdict),
                   c->change.verdict == HB_REGRESSED ? " " : "",
                   c->change.verdict == HB_REGRESSED ? hb_severity_name(c->change.severity) : "");
            reg += c->change.verdict == HB_REGRESSED;
        }
        printf("%zu series compared, %zu regressed\n", b.nbase, reg);
        rc = reg ? HB_EXIT_FINDING : HB_EXIT_OK;
    }
    hb_results_free(&a);
    hb_results_free(&b);
    return rc;
}
