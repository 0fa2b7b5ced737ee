/* cmd_generate.c - `higgs-bench generate`: runs one engine (or a separate pair) on one prompt and
 * writes the generated text ids and audio codes as JSON, to check an engine by hand. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "higgsbench/engine.h"
#include "higgsbench/samples.h"
#include "options.h"

static const char *const backend_choices[] = {"cpu", "cuda", NULL};

typedef struct {
    double first_frame_s;
    double t0;
    size_t frames;
} timing;

static void on_frame(void *user, const hb_frame *f)
{
    timing *t = user;
    if (t->frames++ == 0) t->first_frame_s = f->t_s - t->t0;
}

static int read_prompt(const char *path, int32_t **ids, size_t *n)
{
    hb_samples s;
    hb_error err = {0};
    if (hb_samples_read_file(path, NULL, &s, &err)) return hb_cli_error(err.msg);
    *ids = malloc((s.n + 1) * sizeof **ids);
    for (size_t i = 0; *ids && i < s.n; i++) {
        double v = s.values[i];
        if (v != floor(v) || v < 0 || v > 2147483647.0) {
            char msg[600];
            snprintf(msg, sizeof msg, "%s: token %zu is %g, not a token id", path, i, v);
            hb_samples_free(&s);
            free(*ids);
            *ids = NULL;
            return hb_cli_error(msg);
        }
        (*ids)[i] = (int32_t)v;
    }
    *n = s.n;
    hb_samples_free(&s);
    return *ids ? HB_EXIT_OK : hb_cli_error("out of memory");
}

/* --audio-in: JSON, an array of frames (8 codes each) or {"frames": [...]} */
static int read_clip(const char *path, int32_t (**codes)[HB_NUM_CODEBOOKS], size_t *frames)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    char msg[700];
    if (!root) {
        snprintf(msg, sizeof msg, "%s: %s", path, je.text);
        return hb_cli_error(msg);
    }
    json_t *arr = json_is_array(root) ? root : json_object_get(root, "frames");
    int rc = HB_EXIT_OK;
    if (!json_is_array(arr)) {
        snprintf(msg, sizeof msg, "%s: expected an array of frames or {\"frames\": [...]}", path);
        rc = hb_cli_error(msg);
    } else {
        *frames = json_array_size(arr);
        *codes = calloc(*frames ? *frames : 1, sizeof **codes);
        for (size_t t = 0; rc == HB_EXIT_OK && t < *frames; t++) {
            json_t *f = json_array_get(arr, t);
            if (!json_is_array(f) || json_array_size(f) != HB_NUM_CODEBOOKS) {
                snprintf(msg, sizeof msg, "%s: frame %zu is not an array of %d codes", path, t,
                         HB_NUM_CODEBOOKS);
                rc = hb_cli_error(msg);
                break;
            }
            for (int k = 0; k < HB_NUM_CODEBOOKS; k++) {
                json_t *c = json_array_get(f, (size_t)k);
                if (!json_is_integer(c)) {
                    snprintf(msg, sizeof msg, "%s: frame %zu code %d is not an integer", path, t, k);
                    rc = hb_cli_error(msg);
                    break;
                }
                (*codes)[t][k] = (int32_t)json_integer_value(c);
            }
        }
    }
    json_decref(root);
    return rc;
}

static int write_output(const char *path, json_t *doc)
{
    char *s = json_dumps(doc, JSON_COMPACT);
    if (!s) return hb_cli_error("cannot serialise the output");
    if (!path) {
        puts(s);
        free(s);
        return HB_EXIT_OK;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644); /* never overwrite */
    if (fd < 0) {
        char msg[700];
        snprintf(msg, sizeof msg, "cannot create '%s': %s%s", path, strerror(errno),
                 errno == EEXIST ? " (nothing was overwritten; choose another --output)" : "");
        free(s);
        return hb_cli_error(msg);
    }
    size_t len = strlen(s);
    bool ok = write(fd, s, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
    ok = close(fd) == 0 && ok;
    free(s);
    if (!ok) return hb_cli_error("cannot write the output file");
    return HB_EXIT_OK;
}

int cmd_generate(int argc, char **argv)
{
    static const char usage[] =
        "higgs-bench generate (--engine DIR | --text-engine DIR --audio-engine DIR) [options]";
    const char *engine = NULL, *text_engine = NULL, *audio_engine = NULL, *prompt_file = NULL,
               *audio_in = NULL, *output = NULL;
    size_t prompt_len = 32, frames = 25, text_tokens = 0, top_k = 0, device = 0;
    uint64_t seed = 1;
    double temperature = 0.7, top_p = 0.95;
    bool greedy = false, no_ras = false, exact = false, prompt_len_seen = false, graphs = false,
         host_sampling = false, host_steps = false, bos_own_step = false;
    int backend = 0;
    const hb_option opts[] = {
        {HB_OPT_STRING, "engine", "DIR", "a unified engine directory", &engine, NULL, 0, 0, false,
         false, NULL},
        {HB_OPT_STRING, "text-engine", "DIR", "the text engine of a separate pair", &text_engine,
         NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "audio-engine", "DIR", "the audio engine of a separate pair",
         &audio_engine, NULL, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "backend", "B", "where to run (cpu)", &backend, backend_choices, 0, 0,
         false, false, NULL},
        {HB_OPT_SIZE, "device", "N", "GPU ordinal (0)", &device, NULL, 0, 64, false, false, NULL},
        {HB_OPT_FLAG, "cuda-graphs", NULL, "replay decode steps as CUDA graphs (cuda)", &graphs, NULL,
         0, 0, false, false, NULL},
        {HB_OPT_FLAG, "host-sampling", NULL, "draw tokens on the host, not the GPU (cuda)",
         &host_sampling, NULL, 0, 0, false, false, NULL},
        {HB_OPT_FLAG, "host-steps", NULL, "plan every audio step on the host, not queued on the GPU (cuda)",
         &host_steps, NULL, 0, 0, false, false, NULL},
        {HB_OPT_FLAG, "bos-own-step", NULL, "feed a clip's BOS frame in a step of its own, not with the prompt",
         &bos_own_step, NULL, 0, 0, false, false, NULL},
        {HB_OPT_STRING, "prompt-tokens", "FILE", "prompt token ids (text or JSON list)",
         &prompt_file, NULL, 0, 0, false, false, NULL},
        {HB_OPT_SIZE, "prompt-length", "N", "seeded synthetic prompt of N text tokens (32)",
         &prompt_len, NULL, 0, 1 << 20, false, false, &prompt_len_seen},
        {HB_OPT_STRING, "audio-in", "FILE", "reference clip codes (JSON frames of 8 codes)",
         &audio_in, NULL, 0, 0, false, false, NULL},
        {HB_OPT_SIZE, "frames", "N", "audio frames to generate (25 = 1 s)", &frames, NULL, 1,
         1 << 20, false, false, NULL},
        {HB_OPT_SIZE, "text-tokens", "N", "text tokens to sample before the audio (0)",
         &text_tokens, NULL, 0, 1 << 20, false, false, NULL},
        {HB_OPT_FLAG, "exact", NULL, "exactly --text-tokens and --frames (EOS ignored)", &exact,
         NULL, 0, 0, false, false, NULL},
        {HB_OPT_U64, "seed", "S", "sampling seed (1)", &seed, NULL, 0, 0, false, false, NULL},
        {HB_OPT_FLAG, "greedy", NULL, "greedy decoding", &greedy, NULL, 0, 0, false, false, NULL},
        {HB_OPT_DOUBLE, "temperature", "T", "sampling temperature (0.7)", &temperature, NULL, 0,
         100, false, false, NULL},
        {HB_OPT_SIZE, "top-k", "K", "keep the K most probable (0 = off)", &top_k, NULL, 0,
         1 << 20, false, false, NULL},
        {HB_OPT_DOUBLE, "top-p", "P", "nucleus sampling mass (0.95)", &top_p, NULL, 0, 1, true,
         false, NULL},
        {HB_OPT_FLAG, "no-ras", NULL, "no repetition-aware sampling", &no_ras, NULL, 0, 0, false,
         false, NULL},
        {HB_OPT_STRING, "output", "FILE", "write the JSON here (default: standard output)",
         &output, NULL, 0, 0, false, false, NULL},
        HB_OPTIONS_END};
    int rc0 = hb_cli_options(argc, argv, opts, usage,
                             "Generates with one engine or a separate pair and writes the text ids "
                             "and audio codes as JSON.", 0, NULL, NULL);
    if (rc0 >= 0) return rc0;
    hb_error err = {0};
    if (!engine == !(text_engine || audio_engine))
        return hb_cli_error("give --engine DIR, or --text-engine DIR and --audio-engine DIR");
    if (!engine && (!text_engine || !audio_engine))
        return hb_cli_error("a separate pair needs both --text-engine and --audio-engine");
    if (prompt_file && prompt_len_seen)
        return hb_cli_error("give one of --prompt-tokens and --prompt-length");

    hb_engine_opts eo = hb_engine_defaults();
    eo.backend = backend_choices[backend];
    eo.device = (int)device;
    eo.cuda_graphs = graphs;
    eo.host_sampling = host_sampling;
    eo.host_steps = host_steps;
    eo.bos_own_step = bos_own_step;
    hb_engine *e = NULL;
    hb_status st = engine ? hb_engine_open(engine, &eo, &e, &err)
                          : hb_engine_open_pair(text_engine, audio_engine, &eo, &e, &err);
    if (st) return hb_cli_error(err.msg);
    const hb_model_config *c = hb_engine_config(e);

    int32_t *ids = NULL, (*clip)[HB_NUM_CODEBOOKS] = NULL;
    size_t nids = 0, clip_frames = 0;
    int rc = HB_EXIT_OK;
    if (audio_in) rc = read_clip(audio_in, &clip, &clip_frames);
    if (rc == HB_EXIT_OK) {
        if (prompt_file) {
            rc = read_prompt(prompt_file, &ids, &nids);
        } else {
            ids = malloc((prompt_len + 2) * sizeof *ids);
            if (!ids) rc = hb_cli_error("out of memory");
            else nids = hb_prompt_synthetic(c, prompt_len, seed, audio_in != NULL, text_tokens == 0, ids);
        }
    }
    hb_audio_clip ac = {(const int32_t(*)[HB_NUM_CODEBOOKS])clip, clip_frames};
    hb_request_desc d = hb_request_defaults();
    d.prompt = ids;
    d.prompt_len = nids;
    d.clips = audio_in ? &ac : NULL;
    d.nclips = audio_in ? 1 : 0;
    d.max_frames = frames;
    d.max_text_tokens = text_tokens;
    d.exact = exact;
    d.seed = seed;
    hb_sampling s = greedy ? hb_sampling_greedy() : hb_sampling_reference();
    if (!greedy) {
        s.temperature = (float)temperature;
        s.top_p = (float)top_p;
        s.top_k = (int)top_k;
        s.ras = !no_ras;
    }
    d.text_sampling = d.audio_sampling = s;
    timing tm = {0};
    d.on_frame = on_frame;
    d.user = &tm;
    uint64_t id = 0;
    if (rc == HB_EXIT_OK) {
        tm.t0 = hb_now_s();
        if (hb_engine_generate(e, &d, &id, &err)) rc = hb_cli_error(err.msg);
    }
    if (rc == HB_EXIT_OK) {
        double total = hb_now_s() - tm.t0;
        const int32_t *text, (*fr)[HB_NUM_CODEBOOKS];
        size_t ntext, nfr;
        hb_request_output(e, id, &text, &ntext, &fr, &nfr, &err);
        json_t *jt = json_array(), *jf = json_array();
        for (size_t i = 0; i < ntext; i++) json_array_append_new(jt, json_integer(text[i]));
        for (size_t t = 0; t < nfr; t++) {
            json_t *row = json_array();
            for (int k = 0; k < HB_NUM_CODEBOOKS; k++) json_array_append_new(row, json_integer(fr[t][k]));
            json_array_append_new(jf, row);
        }
        hb_engine_info info;
        hb_engine_describe(e, &info);
        json_t *doc = json_pack(
            "{s:s, s:i, s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:o, s:o, s:{s:f, s:o}}", "format",
            "higgs-bench/generation", "version", 1, "topology",
            info.topology == HB_TOPO_UNIFIED ? "unified" : "separate", "backend", info.backend,
            "draws", info.device_sampling ? "device" : "host",
            "steps", info.device_steps ? "device" : "host", "bos_with_prompt", info.bos_with_prompt,
            "weights_hash", info.weights_hash, "seed", (json_int_t)seed, "prompt_tokens",
            (json_int_t)nids, "text", jt, "frames", jf, "timing", "total_s", total,
            "first_frame_s", tm.frames ? json_real(tm.first_frame_s) : json_null());
        rc = write_output(output, doc);
        json_decref(doc);
    }
    free(ids);
    free(clip);
    hb_engine_close(e);
    return rc;
}
