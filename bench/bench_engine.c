/* bench_engine.c - speed of an engine directory on a backend: prefill and decode.
 *
 * usage: bench_engine [--backend cpu|cuda] [--graphs on|off] [--host-sampling on|off]
 *                     [--device-steps on|off] [--bos-step own|prompt] [--mixed on|off]
 *                     [--context N] [--batches 1,4] ENGINE_DIR [--pair AUDIO]
 * (ENGINE_DIR is a unified engine, or the text engine when --pair gives the audio engine;
 * --context is the prompt length the decode steps run behind).
 * Figures, each the median of repeated runs:
 *   prefill of a 128- and a 512-token prompt ending with <|audio_out_bos|> (ms, tokens/s)
 *   audio decode step at each batch size: ms a step and the real-time factor of one stream
 *   (step time / 40 ms), seconds of audio a second
 *   with --mixed on, at each batch size from 2: a decode step with half the requests in text
 *   mode and half generating audio
 *   text decode step at batch 1 (text head over the whole vocabulary)
 *   time to the first complete audio frame of a 128-token prompt
 * --samples DIR also writes each figure's raw times (ms, in run order, a CSV column "ms") to DIR
 * (created if missing): prefill_128.csv, prefill_512.csv, step_bN.csv, mixed_bN.csv,
 * text_step.csv, ttfa.csv, for `higgs-bench stats compare` against another run or the PyTorch
 * peer's. A file that already exists is never overwritten: the run stops, naming it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/common/fs.h"
#include "bench_common.h"
#include "higgsbench/engine.h"

static hb_engine *eng;

static hb_request_desc req(const int32_t *p, size_t n, size_t text, size_t frames, uint64_t seed)
{
    hb_request_desc d = hb_request_defaults();
    d.prompt = p;
    d.prompt_len = n;
    d.max_text_tokens = text;
    d.max_frames = frames;
    d.exact = true;
    d.seed = seed;
    return d;
}

static void die(const hb_error *e)
{
    fprintf(stderr, "bench_engine: %s\n", e->msg);
    exit(1);
}

static const char *samples_dir; /* --samples: where the raw times go, or NULL */

/* The raw times t[0..n) (seconds, run order) to samples_dir/name as a CSV column "ms"; never over
 * an existing file. */
static void save_samples(const char *name, const double *t, size_t n)
{
    if (!samples_dir) return;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", samples_dir, name) >= (int)sizeof path) {
        fprintf(stderr, "bench_engine: --samples path '%s' is too long\n", samples_dir);
        exit(2);
    }
    FILE *f = fopen(path, "wx");
    if (!f) {
        fprintf(stderr, "bench_engine: cannot write samples to '%s': %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (a file is never overwritten; give --samples a new directory)" : "");
        exit(1);
    }
    fputs("ms\n", f);
    for (size_t i = 0; i < n; i++) fprintf(f, "%.6f\n", 1e3 * t[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_engine: cannot write samples to '%s'\n", path);
        exit(1);
    }
}

/* Median time of the first step (the prefill) of a request with an n-token prompt. */
static double prefill_ms(size_t n)
{
    const hb_model_config *c = hb_engine_config(eng);
    int32_t *p = malloc((n + 2) * sizeof *p);
    size_t np = hb_prompt_synthetic(c, n - 1, 3, false, true, p);
    double t[7];
    hb_error e = {0};
    for (int r = 0; r < 7; r++) {
        uint64_t id;
        hb_request_desc d = req(p, np, 0, 1, (uint64_t)r);
        if (hb_request_add(eng, &d, &id, &e)) die(&e);
        double t0 = bench_now_s();
        if (hb_engine_step(eng, NULL, &e)) die(&e);
        t[r] = bench_now_s() - t0;
        hb_request_remove(eng, id, &e);
    }
    free(p);
    char name[64];
    snprintf(name, sizeof name, "prefill_%zu.csv", n);
    save_samples(name, t, 7);
    return 1e3 * bench_median(t, 7);
}

static size_t context = 128;
static bool mixed; /* --mixed on: also steps with half the batch in text mode */
static double last_forward_ms; /* of the last step_ms() call: median forward-pass time */

static double first_frame_t;
static void on_first(void *user, const hb_frame *f)
{
    (void)user;
    if (f->index == 0) first_frame_t = f->t_s;
}

/* Median time from adding a request with a 128-token prompt to its first complete frame. */
static double ttfa_ms(void)
{
    const hb_model_config *c = hb_engine_config(eng);
    int32_t p[130];
    size_t np = hb_prompt_synthetic(c, 127, 9, false, true, p);
    double t[7];
    hb_error e = {0};
    for (int r = 0; r < 7; r++) {
        hb_request_desc d = req(p, np, 0, 4, (uint64_t)r);
        d.on_frame = on_first;
        first_frame_t = 0;
        uint64_t id;
        double t0 = bench_now_s();
        if (hb_request_add(eng, &d, &id, &e)) die(&e);
        while (first_frame_t == 0)
            if (hb_engine_step(eng, NULL, &e)) die(&e);
        t[r] = first_frame_t - t0;
        hb_request_remove(eng, id, &e);
        /* the engine idle before the next clock starts: a step it had queued from device state
         * for the request just removed completes here */
        if (hb_engine_step(eng, NULL, &e)) die(&e);
    }
    save_samples("ttfa.csv", t, 7);
    return 1e3 * bench_median(t, 7);
}

/* Median decode step time with `batch` requests, the first `text` of them in text mode (their
 * prompts without <|audio_out_bos|>), the others generating audio. */
static double step_ms(int batch, int text, size_t steps)
{
    const hb_model_config *c = hb_engine_config(eng);
    int32_t *pt = malloc((context + 2) * sizeof *pt), *pa = malloc((context + 2) * sizeof *pa);
    size_t nt = hb_prompt_synthetic(c, context - 1, 5, false, false, pt);
    size_t na = hb_prompt_synthetic(c, context - 1, 5, false, true, pa);
    hb_error e = {0};
    uint64_t ids[256];
    for (int b = 0; b < batch; b++) {
        bool tm = b < text;
        hb_request_desc d = req(tm ? pt : pa, tm ? nt : na, tm ? steps + 10 : 0, tm ? 1 : steps + 10, (uint64_t)b);
        if (hb_request_add(eng, &d, &ids[b], &e)) die(&e);
    }
    if (hb_engine_step(eng, NULL, &e)) die(&e); /* prefill */
    double *t = malloc(steps * sizeof *t), *f = malloc(steps * sizeof *f);
    for (size_t s = 0; s < steps; s++) {
        hb_step_report rep;
        double t0 = bench_now_s();
        if (hb_engine_step(eng, &rep, &e)) die(&e);
        t[s] = bench_now_s() - t0;
        f[s] = rep.forward_s;
    }
    last_forward_ms = 1e3 * bench_median(f, steps);
    free(f);
    for (int b = 0; b < batch; b++) hb_request_remove(eng, ids[b], &e);
    char name[64];
    if (text == batch) snprintf(name, sizeof name, "text_step.csv");
    else snprintf(name, sizeof name, "%s_b%d.csv", text ? "mixed" : "step", batch);
    save_samples(name, t, steps);
    double m = 1e3 * bench_median(t, steps);
    free(t);
    free(pt);
    free(pa);
    return m;
}

/* An option's value that must be one of two words: true for `yes`, false for `no`; else the
 * run stops, naming the value. */
static bool two_way(const char *opt, const char *v, const char *yes, const char *no)
{
    if (strcmp(v, yes) == 0) return true;
    if (strcmp(v, no) == 0) return false;
    fprintf(stderr, "bench_engine: %s is '%s'; it must be %s or %s\n", opt, v, yes, no);
    exit(2);
}

static const char usage[] =
    "usage: bench_engine [--backend B] [--graphs on|off] [--host-sampling on|off] [--device-steps on|off] "
    "[--bos-step own|prompt] [--mixed on|off] [--context N] [--batches 1,4] [--samples DIR] ENGINE_DIR "
    "[--pair AUDIO_DIR]\n";

int main(int argc, char **argv)
{
    hb_error e = {0};
    hb_engine_opts o = hb_engine_defaults();
    int batches[16] = {1, 4}, nb = 2, a = 1;
    for (; a + 1 < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        const char *opt = argv[a], *v = argv[a + 1];
        char *end;
        if (strcmp(opt, "--backend") == 0) o.backend = v;
        else if (strcmp(opt, "--graphs") == 0) o.cuda_graphs = two_way(opt, v, "on", "off");
        else if (strcmp(opt, "--host-sampling") == 0) o.host_sampling = two_way(opt, v, "on", "off");
        else if (strcmp(opt, "--device-steps") == 0) o.host_steps = !two_way(opt, v, "on", "off");
        else if (strcmp(opt, "--bos-step") == 0) o.bos_own_step = two_way(opt, v, "own", "prompt");
        else if (strcmp(opt, "--mixed") == 0) mixed = two_way(opt, v, "on", "off");
        else if (strcmp(opt, "--samples") == 0) {
            if (hb_make_dirs(v, 0777) != 0) {
                fprintf(stderr, "bench_engine: --samples is '%s'; it must be a directory that exists or can be "
                        "made (%s)\n", v, strerror(errno));
                return 2;
            }
            samples_dir = v;
        }
        else if (strcmp(opt, "--context") == 0) {
            unsigned long n = strtoul(v, &end, 10);
            if (end == v || *end || n < 2 || n > 1000000) {
                fprintf(stderr, "bench_engine: --context is '%s'; it must be a whole number from 2\n", v);
                return 2;
            }
            context = n;
        } else if (strcmp(opt, "--batches") == 0) {
            nb = 0;
            for (char *t = strtok(argv[a + 1], ","); t; t = strtok(NULL, ",")) {
                long n = strtol(t, &end, 10);
                if (end == t || *end || n < 1 || n > 4096 || nb == 16) {
                    fprintf(stderr, "bench_engine: --batches entry '%s' is not a batch size from 1 to 4096 "
                            "(16 entries at most)\n", t);
                    return 2;
                }
                batches[nb++] = (int)n;
            }
        } else {
            fprintf(stderr, "bench_engine: unknown option '%s'\n%s", opt, usage);
            return 2;
        }
    }
    if (a >= argc || nb == 0) {
        fputs(usage, stderr);
        return 2;
    }
    bool pair = a + 2 < argc && strcmp(argv[a + 1], "--pair") == 0;
    if (pair ? hb_engine_open_pair(argv[a], argv[a + 2], &o, &eng, &e) : hb_engine_open(argv[a], &o, &eng, &e))
        die(&e);
    hb_engine_info info;
    hb_engine_describe(eng, &info);
    printf("engine %s (%s, %s backend%s, tokens drawn on the %s%s, %s, %.1f M parameters in "
           "memory, context %zu)\n", argv[a], pair ? "separate pair" : "unified", info.backend,
           o.cuda_graphs ? ", CUDA graphs on" : "", info.device_sampling ? "device" : "host",
           info.device_steps ? ", audio steps queued from device state" : "",
           info.bos_with_prompt ? "BOS frame with the prompt" : "BOS frame in its own step",
           (double)info.params / 1e6, context);
    for (size_t n = 128; n <= 512; n *= 4) {
        double ms = prefill_ms(n);
        printf("prefill %4zu tokens          %9.2f ms   %9.0f tokens/s\n", n, ms, (double)n / ms * 1e3);
    }
    for (int i = 0; i < nb; i++) {
        double ms = step_ms(batches[i], 0, 100);
        printf("audio decode step, batch %-3d %9.3f ms   RTF %.4f a stream; %.1f s of audio per s"
               " (forward pass %.3f ms)\n", batches[i], ms, ms / 40.0,
               batches[i] * 0.040 / (ms / 1e3), last_forward_ms);
    }
    for (int i = 0; i < nb && mixed; i++) {
        if (batches[i] < 2) continue;
        int text = batches[i] / 2;
        double ms = step_ms(batches[i], text, 30);
        printf("mixed decode step, batch %-3d %9.3f ms   (%d text, %d audio; forward pass %.3f ms)\n",
               batches[i], ms, text, batches[i] - text, last_forward_ms);
    }
    double tms = step_ms(1, 1, 30);
    printf("text decode step, batch 1    %9.3f ms   (forward pass %.3f ms)\n", tms, last_forward_ms);
    printf("time to first audio frame, 128-token prompt: %.3f ms\n", ttfa_ms());
    size_t gcount;
    double gcap;
    uint64_t gbytes;
    hb_engine_graph_stats(eng, &gcount, &gcap, &gbytes);
    if (gcount)
        printf("CUDA graphs: %zu captured in %.1f ms in all, %.1f MiB of device memory\n", gcount,
               gcap * 1e3, gbytes / 1048576.0);
    hb_memory_report m;
    hb_engine_memory(eng, &m);
    printf("memory: weights %.1f MiB, KV %.1f MiB, workspace %.1f MiB (counted); device in use %.1f MiB\n",
           m.current[HB_MEM_WEIGHTS] / 1048576.0, m.current[HB_MEM_KV] / 1048576.0,
           m.peak[HB_MEM_WORKSPACE] / 1048576.0, m.device_used / 1048576.0);
    hb_engine_close(eng);
    return 0;
}
