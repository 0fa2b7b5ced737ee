/* suite_internal.h - what the runner and the benchmark types share.
 *
 * A benchmark type is a set of points (batch size, prompt length, concurrency...) and one
 * measure function that runs one measurement of one point on one architecture and returns named
 * values. The runner does the rest: warm-ups, ABBA interleaving, failure counting, progress.
 */
#ifndef HB_SUITE_INTERNAL_H
#define HB_SUITE_INTERNAL_H

#include "higgsbench/suite.h"

enum { ARCH_A = 0, ARCH_B = 1 }; /* A: the baseline (separate / graphs off), B: unified / on */

typedef struct {
    char name[48];
    char unit[16];
    hb_direction dir;
    double value;
} hb_metric_val;

typedef struct {
    hb_metric_val v[24];
    int n;
} hb_metric_out;

void hb_metric_put(hb_metric_out *m, const char *name, const char *unit, hb_direction dir,
                   double value);

typedef struct {
    int batch, seq_len, concurrency, chunk, clip_frames;
    double rate;           /* open loop: requests per second */
    bool open_loop;
    char label[64];
} hb_point;

typedef struct hb_ctx hb_ctx;
typedef hb_status (*hb_measure_fn)(hb_ctx *c, int arch, const hb_point *p, hb_metric_out *m,
                                   hb_error *err);

struct hb_ctx {
    hb_engine *eng[2];
    const char *arch[2];
    const hb_suite_opts *o;
    hb_results *r;
    hb_log_fn log;
    void *user;
    volatile int *stop;
    size_t frames;          /* frames of each generated clip */
    size_t done_runs, total_runs; /* progress */
    double t_start;
    const char *unified_dir;  /* for opening graphs-on/off copies */
    const char *backend;
};

/* Runs one point: warm-ups, then num_runs measurements of each architecture, ABBA-interleaved
 * (or all A then all B); samples go to series "type/metric/point/arch". */
hb_status hb_run_point(hb_ctx *c, const char *type, const hb_point *p, hb_measure_fn fn,
                       size_t runs, hb_error *err);

void hb_logf(hb_ctx *c, int verbose_only, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The benchmark types (bench_*.c): each plans its points and runs them. */
hb_status hb_bench_latency(hb_ctx *c, hb_error *err);
hb_status hb_bench_memory(hb_ctx *c, hb_error *err);
hb_status hb_bench_throughput(hb_ctx *c, hb_error *err);
hb_status hb_bench_cuda_graphs(hb_ctx *c, hb_error *err);
hb_status hb_bench_generation_modes(hb_ctx *c, hb_error *err);
hb_status hb_bench_delay_patterns(hb_ctx *c, hb_error *err);
hb_status hb_bench_streaming(hb_ctx *c, hb_error *err);
hb_status hb_bench_dualffn(hb_ctx *c, hb_error *err);

/* Shared helpers for measure functions. */
typedef struct {
    int32_t ids[4096 + 2];
    size_t n;
} hb_prompt_buf;

/* A synthetic prompt of about len positions (ends with <|audio_out_bos|>). */
void hb_make_prompt(const hb_engine *e, size_t len, uint64_t seed, bool audio_now, hb_prompt_buf *p);
hb_request_desc hb_bench_request(const hb_prompt_buf *p, size_t text, size_t frames, uint64_t seed);

/* GPU clocks, temperature, power and driver through NVML loaded at run time; NULL without it. */
json_t *hb_nvml_info(int device);

/* How many runs a point gets for a type (memory needs few: it does not vary). */
size_t hb_runs_for(const hb_ctx *c, hb_bench_type t);

#endif
