/* bench_engine.c - speed of the CPU backend: prefill and decode on an engine directory.
 *
 * usage: bench_engine ENGINE_DIR [--pair AUDIO_DIR]
 * (ENGINE_DIR is a unified engine, or the text engine when --pair gives the audio engine).
 * Figures, each the median of repeated runs:
 *   prefill of a 128- and a 512-token text prompt (ms, tokens/s)
 *   audio decode step at batch 1 and 4 (context ~ prompt 128 + 100 frames): ms a step and
 *   the real-time factor of one stream (step time / 40 ms)
 *   text decode step at batch 1 (text head over the whole vocabulary)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    return 1e3 * bench_median(t, 7);
}

/* Median decode step time with `batch` requests in the given mode. */
static double step_ms(int batch, bool text_mode, size_t steps)
{
    const hb_model_config *c = hb_engine_config(eng);
    int32_t p[200];
    size_t np = hb_prompt_synthetic(c, 127, 5, false, !text_mode, p);
    hb_error e = {0};
    uint64_t ids[64];
    for (int b = 0; b < batch; b++) {
        hb_request_desc d = req(p, np, text_mode ? steps + 10 : 0, text_mode ? 1 : steps + 10,
                                (uint64_t)b);
        if (hb_request_add(eng, &d, &ids[b], &e)) die(&e);
    }
    if (hb_engine_step(eng, NULL, &e)) die(&e); /* prefill */
    double *t = malloc(steps * sizeof *t);
    for (size_t s = 0; s < steps; s++) {
        double t0 = bench_now_s();
        if (hb_engine_step(eng, NULL, &e)) die(&e);
        t[s] = bench_now_s() - t0;
    }
    for (int b = 0; b < batch; b++) hb_request_remove(eng, ids[b], &e);
    double m = 1e3 * bench_median(t, steps);
    free(t);
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_engine ENGINE_DIR [--pair AUDIO_DIR]\n");
        return 2;
    }
    hb_error e = {0};
    hb_engine_opts o = hb_engine_defaults();
    bool pair = argc >= 4 && strcmp(argv[2], "--pair") == 0;
    if (pair ? hb_engine_open_pair(argv[1], argv[3], &o, &eng, &e) : hb_engine_open(argv[1], &o, &eng, &e))
        die(&e);
    hb_engine_info info;
    hb_engine_describe(eng, &info);
    printf("engine %s (%s, %s backend, %.1f M parameters in memory)\n", argv[1],
           pair ? "separate pair" : "unified", info.backend, (double)info.params / 1e6);
    for (size_t n = 128; n <= 512; n *= 4) {
        double ms = prefill_ms(n);
        printf("prefill %4zu tokens          %9.2f ms   %9.0f tokens/s\n", n, ms, (double)n / ms * 1e3);
    }
    for (int b = 1; b <= 4; b *= 4) {
        double ms = step_ms(b, false, 100);
        printf("audio decode step, batch %d   %9.2f ms   RTF %.3f per stream (40 ms of audio a step)\n",
               b, ms, ms / 40.0);
    }
    printf("text decode step, batch 1    %9.2f ms\n", step_ms(1, true, 30));
    hb_engine_close(eng);
    return 0;
}
