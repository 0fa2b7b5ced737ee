/* streak_driver.c - continuous batching on the CUDA backend, for comparing audio decode steps
 * queued from device state with steps planned on the host (tests/gpu/test_cuda.py).
 *
 * usage: streak_driver [--host-steps] [--host-sampling] [--graphs] [--greedy] ENGINE [AUDIO_ENGINE]
 * (two directories: a separate pair, text engine first). A scripted run: four requests with
 * different seeds, clip lengths and modes (one samples text first, one is exact, the others may
 * end early on a sampled EOS), stepped together; after 15 steps one of them leaves and a fifth
 * joins; then every request runs to its end. Prints JSON: whether the engine queues steps on
 * the device, how many audio positions the device planned, and each request's text tokens and
 * frames.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "higgsbench/engine.h"

#define NREQ 5

static void die(const hb_error *e)
{
    fprintf(stderr, "streak_driver: %s\n", e->msg);
    exit(1);
}

static void print_request(hb_engine *eng, uint64_t id, bool last)
{
    hb_error e = {0};
    const int32_t *text;
    const int32_t(*frames)[HB_NUM_CODEBOOKS];
    size_t nt, nf;
    if (hb_request_output(eng, id, &text, &nt, &frames, &nf, &e)) die(&e);
    printf("{\"id\": %llu, \"text\": [", (unsigned long long)id);
    for (size_t i = 0; i < nt; i++) printf("%s%d", i ? ", " : "", text[i]);
    printf("], \"frames\": [");
    for (size_t f = 0; f < nf; f++) {
        printf("%s[", f ? ", " : "");
        for (int k = 0; k < HB_NUM_CODEBOOKS; k++) printf("%s%d", k ? ", " : "", frames[f][k]);
        printf("]");
    }
    printf("]}%s\n", last ? "" : ",");
}

int main(int argc, char **argv)
{
    hb_engine_opts o = hb_engine_defaults();
    o.backend = "cuda";
    bool greedy = false;
    int a = 1;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a++) {
        if (strcmp(argv[a], "--host-steps") == 0) o.host_steps = true;
        else if (strcmp(argv[a], "--host-sampling") == 0) o.host_sampling = true;
        else if (strcmp(argv[a], "--graphs") == 0) o.cuda_graphs = true;
        else if (strcmp(argv[a], "--greedy") == 0) greedy = true;
        else {
            fprintf(stderr, "streak_driver: unknown option '%s'\n", argv[a]);
            return 2;
        }
    }
    if (a >= argc || argc - a > 2) {
        fprintf(stderr, "usage: streak_driver [--host-steps] [--host-sampling] [--graphs] [--greedy] ENGINE [AUDIO_ENGINE]\n");
        return 2;
    }
    hb_error e = {0};
    hb_engine *eng = NULL;
    if (argc - a == 2 ? hb_engine_open_pair(argv[a], argv[a + 1], &o, &eng, &e) : hb_engine_open(argv[a], &o, &eng, &e))
        die(&e);
    const hb_model_config *c = hb_engine_config(eng);
    hb_engine_info info;
    hb_engine_describe(eng, &info);
    /* seed, frames, text tokens first, exact */
    const struct { uint64_t seed; size_t frames, text; bool exact; } spec[NREQ] = {
        {11, 30, 0, false}, {12, 45, 0, true}, {13, 20, 3, false}, {14, 60, 0, false}, {15, 25, 0, false}};
    int32_t prompt[NREQ][40];
    size_t np[NREQ];
    uint64_t id[NREQ] = {0};
    for (int i = 0; i < NREQ; i++)
        np[i] = hb_prompt_synthetic(c, 12 + 3 * (size_t)i, spec[i].seed, false, spec[i].text == 0, prompt[i]);
    size_t planned = 0, steps = 0;
    for (int i = 0; i < NREQ; i++) {
        if (i == NREQ - 1) { /* the fifth joins after 15 steps, when the fourth leaves */
            for (; steps < 15; steps++) {
                hb_step_report rep;
                if (hb_engine_step(eng, &rep, &e)) die(&e);
                planned += rep.device_planned;
            }
            if (hb_request_remove(eng, id[3], &e)) die(&e);
        }
        hb_request_desc d = hb_request_defaults();
        d.prompt = prompt[i];
        d.prompt_len = np[i];
        d.max_frames = spec[i].frames;
        d.max_text_tokens = spec[i].text;
        d.exact = spec[i].exact;
        d.seed = spec[i].seed;
        if (greedy) d.audio_sampling = d.text_sampling = hb_sampling_greedy();
        if (hb_request_add(eng, &d, &id[i], &e)) die(&e);
    }
    while (hb_engine_pending(eng) > 0) {
        hb_step_report rep;
        if (hb_engine_step(eng, &rep, &e)) die(&e);
        planned += rep.device_planned;
        if (++steps > 10000) {
            fprintf(stderr, "streak_driver: no end after %zu steps\n", steps);
            return 1;
        }
    }
    printf("{\"device_steps\": %s, \"device_planned\": %zu, \"steps\": %zu, \"requests\": [\n",
           info.device_steps ? "true" : "false", planned, steps);
    for (int i = 0; i < NREQ; i++)
        if (i != 3) print_request(eng, id[i], i == NREQ - 1);
    printf("]}\n");
    hb_engine_close(eng);
    return 0;
}
