/* suite.h - the benchmark suite: the plan, the runner, and the results model.
 *
 * The suite compares two architectures (the separate text+audio pair, "separate", as the
 * baseline A and the unified engine, "unified", as B) through the engine interface only. For each
 * benchmark type and point it runs warm-ups, then num_runs measurements of each architecture
 * interleaved in ABBA blocks, and keeps every raw sample in a series. The results model is the
 * one structure everything else reads: it serialises to the documented JSON (docs/RESULTS.md), and
 * `higgs-bench report` reloads it to rebuild every report without an engine.
 */
#ifndef HIGGSBENCH_SUITE_H
#define HIGGSBENCH_SUITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "higgsbench/analysis.h"
#include "higgsbench/engine.h"
#include "higgsbench/stats.h"

/* ------------------------------------------------------------------------- benchmarks ---- */

typedef enum {
    HB_BENCH_LATENCY = 0,
    HB_BENCH_MEMORY,
    HB_BENCH_THROUGHPUT,
    HB_BENCH_CUDA_GRAPHS,
    HB_BENCH_GENERATION_MODES,
    HB_BENCH_DELAY_PATTERNS,
    HB_BENCH_STREAMING,
    HB_BENCH_DUALFFN,
    HB_BENCH__COUNT
} hb_bench_type;

const char *hb_bench_name(hb_bench_type t);
bool hb_bench_parse(const char *s, hb_bench_type *out);
extern const char *const hb_bench_names[HB_BENCH__COUNT + 1]; /* NULL-terminated */

/* ---------------------------------------------------------------------------- options ---- */

#define HB_MAX_POINTS 16

typedef struct {
    const char *unified_dir, *text_dir, *audio_dir; /* NULL: the built-in default engines */
    const char *model_config;  /* optional; must match the engines' config.json */
    const char *output_dir;
    bool types[HB_BENCH__COUNT];
    size_t num_runs, warmup_runs;
    size_t batch_sizes[HB_MAX_POINTS], nbatch;
    size_t seq_lens[HB_MAX_POINTS], nseq;
    size_t concurrency_max;
    double arrival_rates[HB_MAX_POINTS];
    size_t nrates;
    bool cuda_graphs, concurrent;
    double confidence_level;
    const char *claims_file;   /* NULL: the five default claims */
    const char *save_baseline; /* name */
    const char *baseline_file;
    const char *device;        /* cpu, cuda, auto */
    bool interleaved;          /* ABBA (default) or sequential */
    uint64_t seed;
    double audio_seconds;      /* length of each generated clip */
    bool verbose, dry_run, progress;
    const char *cache_dir;     /* where default engines are built */
} hb_suite_opts;

hb_suite_opts hb_suite_defaults(void);

/* ---------------------------------------------------------------------- results model ---- */

typedef struct {
    char id[192];       /* "type/metric/point/arch", unique */
    char type[24];
    char metric[48];
    char point[64];
    char arch[16];      /* "unified", "separate", "graphs_on", "graphs_off" */
    char unit[16];
    hb_direction direction;
    double *samples;
    size_t n, cap;
    size_t failed;      /* runs that failed; their samples are absent, never invented */
    char note[160];     /* e.g. why a series is not applicable */
} hb_series;

typedef struct {
    char name[64], metric[96], compare[16]; /* compare: "architectures" or "cuda_graphs" */
    hb_claim claim;
    bool applicable;
    char why[160];
    hb_claim_result r;
    bool evaluated;
} hb_claim_entry;

typedef struct {
    char metric_id[160];   /* "type/metric/point" */
    hb_change_t change;    /* baseline = A (separate), candidate = B (unified) */
    hb_effect_t cohens_d;
    double p_holm;
    bool ok;
} hb_arch_comparison;

typedef struct {
    char id[192];
    hb_change_t change;
    double p_holm;
    bool ok;
} hb_baseline_comparison;

typedef struct {
    json_t *environment;   /* fingerprint (owned) */
    json_t *plan;          /* options and the plan (owned) */
    json_t *extras;        /* per-type derived results (owned): tts_*, throughput summary */
    hb_series *series;
    size_t nseries, cap;
    hb_arch_comparison *cmp;
    size_t ncmp;
    hb_claim_entry claims[16];
    size_t nclaims;
    hb_baseline_comparison *base;
    size_t nbase;
    char baseline_source[512];
    bool baseline_env_differs;
    char baseline_env_note[256];
    bool partial;          /* interrupted: what was measured so far */
    double timer_resolution_ns;
    double harness_overhead_ns;
    double shortest_op_ms;
    char timestamp[32];    /* UTC, YYYYmmdd_HHMMSS */
    double wall_s;
} hb_results;

void hb_results_init(hb_results *r);
void hb_results_free(hb_results *r);
hb_series *hb_results_series(hb_results *r, const char *type, const char *metric,
                             const char *point, const char *arch, const char *unit,
                             hb_direction dir);
const hb_series *hb_results_find(const hb_results *r, const char *id);
/* The series type/metric/point/arch, or NULL. */
const hb_series *hb_results_get(const hb_results *r, const char *type, const char *metric,
                                const char *point, const char *arch);
/* The distinct points (in first-seen order, at most max) of the non-empty series type/metric,
 * into points; their count. *top gets the largest sample among them (0 when none is larger). */
size_t hb_results_points(const hb_results *r, const char *type, const char *metric,
                         const char **points, size_t max, double *top);
/* The closed-loop throughput curve of arch ("unified" or "separate"): for concurrency 1, 2, 4, ...
 * (up to 1024, at most max points) with a measured series throughput/audio_s_per_s/closed_C<k>,
 * the concurrency into streams and the median into medians; their count. */
size_t hb_results_throughput_curve(const hb_results *r, const char *arch, double *streams,
                                   double *medians, size_t max);
/* The string at key of obj, or fallback when it is missing or not a string. */
const char *hb_json_str(const json_t *obj, const char *key, const char *fallback);

/* Median of a series' samples; NaN for a missing or empty series. */
double hb_series_median(const hb_series *s);
hb_status hb_series_add(hb_series *s, double v, hb_error *err);

/* JSON (docs/RESULTS.md), without and with the analysis. */
json_t *hb_results_to_json(const hb_results *r);
hb_status hb_results_from_json(const json_t *j, hb_results *r, hb_error *err);
hb_status hb_results_load(const char *path, hb_results *r, hb_error *err);

/* ------------------------------------------------------------------------- analysis ---- */

/* Compares unified with separate for every metric (paired when interleaved and equal lengths),
 * Holm-adjusts the p-values, and validates the claims (the default five, or claims_file). */
hb_status hb_suite_analyze(hb_results *r, const char *claims_file, double level, uint64_t seed,
                           hb_error *err);

/* Compares r with a saved baseline, metric by metric, with the change verdict; flags a baseline
 * from a different environment. */
hb_status hb_suite_compare_baseline(hb_results *r, const hb_results *baseline, double level,
                                    uint64_t seed, hb_error *err);

/* True when every applicable claim was validated and no baseline metric regressed. */
bool hb_suite_passed(const hb_results *r);

/* ---------------------------------------------------------------------------- running ---- */

typedef void (*hb_log_fn)(void *user, int verbose_only, const char *msg);

/* Runs the suite (after validating everything); results are filled even when it fails part-way
 * or is interrupted (r->partial). *stop is polled between runs (set it from a signal handler). */
hb_status hb_suite_run(const hb_suite_opts *o, hb_results *r, volatile int *stop, hb_log_fn log,
                       void *user, hb_error *err);

/* Opens and validates everything and returns the plan as text (for --dry-run). */
hb_status hb_suite_dry_run(const hb_suite_opts *o, char *plan, size_t size, hb_error *err);

/* The environment fingerprint: CPU model and governor, GPU where there is one, build flags,
 * engine configs and weight hashes. */
json_t *hb_environment(hb_engine *const *engines, const char *const *names, int n);

#endif
