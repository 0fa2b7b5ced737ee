/* test_engine.c - engine pieces: the delay pattern, safetensors validation, config errors,
 * engine directories and their bad inputs, requests, continuous batching and memory accounting.
 * (Numerical correctness against PyTorch is tests/reference.) */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/engine/sampling.h"
#include "higgsbench/build.h"
#include "higgsbench/engine.h"
#include "hb_test.h"

#define K HB_NUM_CODEBOOKS

static char tmpdir[256];

static void delay_round_trips(void)
{
    for (size_t T = 0; T <= 64; T++) {
        int32_t(*f)[K] = malloc((T + 1) * sizeof *f), (*p)[K] = malloc((T + 9) * sizeof *p);
        int32_t(*back)[K] = malloc((T + 1) * sizeof *back), (*w)[K] = malloc((T + 9) * sizeof *w);
        for (size_t t = 0; t < T; t++)
            for (int k = 0; k < K; k++) f[t][k] = (int32_t)((t * 31 + (size_t)k * 7) % 1000);
        hb_delay_apply((const int32_t(*)[K])f, T, 1024, 1025, p);
        hb_delay_revert((const int32_t(*)[K])p, T, back);
        CHECK(T == 0 || memcmp(f, back, T * sizeof *f) == 0);
        /* layout: the gap before codebook k is BOS, the tail after it EOS */
        for (size_t r = 0; r < T + 7; r++)
            for (size_t k = 0; k < K; k++) {
                int32_t want = r < k ? 1024 : r - k < T ? f[r - k][k] : 1025;
                CHECK(p[r][k] == want);
            }
        hb_delay_wrap((const int32_t(*)[K])f, T, 1024, 1025, w);
        for (int k = 0; k < K; k++) {
            CHECK(w[0][k] == 1024);     /* the BOS frame (and the gaps) */
            CHECK(w[T + 8][k] == 1025); /* the EOS frame (and the tails) */
            CHECK(w[k][k] == 1024);     /* codebook k starts with the wrapped BOS frame at row k */
            if (T) CHECK(w[k + 1][k] == f[0][k]);
            CHECK(w[T + 1 + k][k] == 1025);
        }
        free(f), free(p), free(back), free(w);
    }
}

static hb_status write_tensor_file(const char *path, const char *header, size_t data_bytes)
{
    FILE *f = fopen(path, "wb");
    if (!f) return HB_ERR_IO;
    uint64_t n = strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, n, f);
    for (size_t i = 0; i < data_bytes; i++) fputc(0, f);
    fclose(f);
    return HB_OK;
}

static void safetensors_round_trip_and_errors(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/t.safetensors", tmpdir);
    hb_error e = {0};
    hb_st_writer *w;
    int64_t s1[2] = {2, 3}, s2[1] = {4};
    CHECK(hb_st_writer_open(path, &w, &e) == HB_OK);
    CHECK(hb_st_writer_declare(w, "a", HB_DT_F32, 2, s1, &e) == HB_OK);
    CHECK(hb_st_writer_declare(w, "b", HB_DT_BF16, 1, s2, &e) == HB_OK);
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[4] = {1.5f, -2, 1e-3f, 65504};
    uint16_t bb[4];
    hb_convert_from_f32(HB_DT_BF16, bv, bb, 4);
    CHECK(hb_st_writer_data(w, av, sizeof av, &e) == HB_OK);
    CHECK(hb_st_writer_data(w, bb, sizeof bb, &e) == HB_OK);
    CHECK(hb_st_writer_close(w, &e) == HB_OK);
    hb_safetensors st;
    CHECK(hb_st_open(path, &st, &e) == HB_OK);
    const hb_st_tensor *a = hb_st_find(&st, "a"), *b = hb_st_find(&st, "b");
    CHECK(a && b && a->ndim == 2 && a->shape[1] == 3 && b->dtype == HB_DT_BF16);
    float back[4];
    if (b) hb_convert_to_f32(HB_DT_BF16, b->data, back, 4);
    CHECK(back[0] == 1.5f && back[1] == -2 && fabsf(back[2] - 1e-3f) < 1e-5f);
    if (a) CHECK(memcmp(a->data, av, sizeof av) == 0);
    hb_st_close(&st);
    /* f16 round trip of exactly representable values */
    float hv[3] = {0.5f, -3.25f, 2048}, hb2[3];
    uint16_t hh[3];
    hb_convert_from_f32(HB_DT_F16, hv, hh, 3);
    hb_convert_to_f32(HB_DT_F16, hh, hb2, 3);
    CHECK(memcmp(hv, hb2, sizeof hv) == 0);

    struct {
        const char *header;
        size_t data;
        const char *msg;
    } bad[] = {
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "truncated"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 16, "needs 16"},
        {"{\"x\":{\"dtype\":\"I8\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4, "dtype I8"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap"},
        {"{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "bad shape"},
        {"{\"x\":", 0, "not valid JSON"},
        {"[1,2]", 0, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(write_tensor_file(path, bad[i].header, bad[i].data) == HB_OK);
        CHECK(hb_st_open(path, &st, &e) != HB_OK);
        CHECK_STR_CONTAINS(e.msg, bad[i].msg);
        CHECK_STR_CONTAINS(e.msg, "t.safetensors");
    }
    FILE *f = fopen(path, "wb"); /* header length beyond the file */
    fwrite("\xff\xff\x00\x00\x00\x00\x00\x00{}", 1, 10, f);
    fclose(f);
    CHECK(hb_st_open(path, &st, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "runs past the end");
    CHECK(hb_st_open("/nonexistent.safetensors", &st, &e) == HB_ERR_IO);
}

static void config_errors(void)
{
    hb_model_config c;
    hb_error e = {0};
    const char *no_tc = "{\"audio_num_codebooks\": 8}";
    CHECK(hb_config_parse(no_tc, strlen(no_tc), "cfg", &c, &e) == HB_ERR_PARSE);
    CHECK_STR_CONTAINS(e.msg, "text_config");
    /* a valid config with one field at a time broken */
    hb_model_config good = hb_preset_config(HB_PRESET_TINY);
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", tmpdir);
    CHECK(hb_config_save(&good, path, &e) == HB_OK);
    CHECK(hb_config_load(path, &c, &e) == HB_OK);
    CHECK(hb_config_equal(&c, &good));
    hb_model_config bad = good;
    bad.heads = 3; /* not a multiple of the 2 KV heads */
    CHECK(hb_config_validate(&bad, "cfg", &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "num_key_value_heads");
    bad = good;
    bad.audio_out_bos_id = 5000;
    CHECK(hb_config_validate(&bad, "cfg", &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "5000");
    const char *tower = "{\"skip_audio_tower\": false, \"text_config\": {}}";
    CHECK(hb_config_parse(tower, strlen(tower), "cfg", &c, &e) == HB_ERR_UNSUPPORTED);
    CHECK_STR_CONTAINS(e.msg, "skip_audio_tower");
    /* the released layout's parameter count */
    hb_model_config base = hb_preset_config(HB_PRESET_BASE_3B);
    CHECK(hb_model_params(&base, HB_ROLE_UNIFIED) == 11542566912ull / 2);
}

static char engines[512];

static void build_tiny(void)
{
    snprintf(engines, sizeof engines, "%s/engines", tmpdir);
    hb_build_opts b = hb_build_defaults();
    b.out = engines;
    b.use_preset = true;
    b.preset = HB_PRESET_TINY;
    b.dtype = HB_DT_F32;
    b.topology = HB_BUILD_BOTH;
    b.max_batch = 4;
    b.max_seq_len = 256;
    hb_error e = {0};
    CHECK(hb_build_engines(&b, &e) == HB_OK);
    /* never over an existing build */
    CHECK(hb_build_engines(&b, &e) == HB_ERR_IO);
    CHECK_STR_CONTAINS(e.msg, "not empty");
}

static void path_of(char *out, size_t n, const char *sub)
{
    snprintf(out, n, "%s/%s", engines, sub);
}

static void open_errors(void)
{
    char uni[600], text[600], audio[600];
    path_of(uni, sizeof uni, "unified");
    path_of(text, sizeof text, "text");
    path_of(audio, sizeof audio, "audio");
    hb_engine *eng = NULL;
    hb_error e = {0};
    CHECK(hb_engine_open("/nonexistent/engine", NULL, &eng, &e) == HB_ERR_IO);
    CHECK_STR_CONTAINS(e.msg, "/nonexistent/engine");
    CHECK(hb_engine_open(tmpdir, NULL, &eng, &e) == HB_ERR_IO);
    CHECK_STR_CONTAINS(e.msg, "no engine.json");
    CHECK(hb_engine_open(text, NULL, &eng, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "text engine");
    CHECK(hb_engine_open_pair(audio, text, NULL, &eng, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "text engine is needed");
    CHECK(hb_engine_open_pair(text, uni, NULL, &eng, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "audio engine is needed");
    hb_engine_opts o = hb_engine_defaults();
    o.backend = "tpu";
    CHECK(hb_engine_open(uni, &o, &eng, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "tpu");
    o = hb_engine_defaults();
    o.max_batch = 99;
    CHECK(hb_engine_open(uni, &o, &eng, &e) == HB_ERR_INVALID);
    /* a config that does not match the weights: a copy of the audio engine with a wider model */
    char wrong[600], cmd[2048];
    snprintf(wrong, sizeof wrong, "%s/wrong", tmpdir);
    mkdir(wrong, 0755);
    hb_model_config c = hb_preset_config(HB_PRESET_TINY);
    c.hidden = 128;
    snprintf(cmd, sizeof cmd, "%s/config.json", wrong);
    CHECK(hb_config_save(&c, cmd, &e) == HB_OK);
    snprintf(cmd, sizeof cmd, "sed 's#\\.\\./weights#%s/weights#' %s/engine.json > %s/engine.json",
             engines, audio, wrong);
    CHECK(system(cmd) == 0);
    CHECK(hb_engine_open_pair(text, wrong, NULL, &eng, &e) == HB_ERR_MISMATCH);
    CHECK_STR_CONTAINS(e.msg, "different models");
    /* and alone, as the unified engine it claims to be */
    snprintf(cmd, sizeof cmd, "sed -i 's/\"audio\"/\"unified\"/' %s/engine.json", wrong);
    CHECK(system(cmd) == 0);
    CHECK(hb_engine_open(wrong, NULL, &eng, &e) == HB_ERR_MISMATCH);
    CHECK_STR_CONTAINS(e.msg, "embed_tokens.weight");
    CHECK_STR_CONTAINS(e.msg, "[1024, 64]");
}

typedef struct {
    size_t frames;
    double last_t;
    bool ordered;
} frame_log;

/* The tiny unified engine of build_tiny (NULL, with a failed check, when it does not open). */
static hb_engine *open_unified(hb_error *e)
{
    char uni[600];
    path_of(uni, sizeof uni, "unified");
    hb_engine *eng = NULL;
    CHECK(hb_engine_open(uni, NULL, &eng, e) == HB_OK);
    return eng;
}

static void count_frames(void *user, const hb_frame *f)
{
    frame_log *l = user;
    if (f->index != l->frames || f->t_s < l->last_t) l->ordered = false;
    l->frames++;
    l->last_t = f->t_s;
}

static hb_request_desc request(const int32_t *prompt, size_t n, size_t frames, uint64_t seed,
                               frame_log *log)
{
    hb_request_desc d = hb_request_defaults();
    d.prompt = prompt;
    d.prompt_len = n;
    d.max_frames = frames;
    d.exact = true;
    d.seed = seed;
    d.on_frame = count_frames;
    d.user = log;
    return d;
}

/* A prompt that ends with <|audio_out_bos|> is prefilled with the clip's BOS frame: one step
 * fewer to the first frame, the same frames, positions and status as when the BOS frame takes
 * a step of its own (bos_own_step); a prompt that does not end so is fed as before. */
static void bos_frame_with_prompt(void)
{
    hb_error e = {0};
    char uni[600];
    path_of(uni, sizeof uni, "unified");
    hb_engine *eng[2] = {NULL, NULL};
    hb_engine_opts own = hb_engine_defaults();
    own.bos_own_step = true;
    CHECK(hb_engine_open(uni, NULL, &eng[0], &e) == HB_OK);
    CHECK(hb_engine_open(uni, &own, &eng[1], &e) == HB_OK);
    if (!eng[0] || !eng[1]) {
        hb_engine_close(eng[0]);
        hb_engine_close(eng[1]);
        return;
    }
    hb_engine_info info[2];
    for (int i = 0; i < 2; i++) hb_engine_describe(eng[i], &info[i]);
    CHECK(info[0].bos_with_prompt && !info[1].bos_with_prompt);
    const hb_model_config *c = hb_engine_config(eng[0]);
    int32_t p[64];
    size_t np = hb_prompt_synthetic(c, 17, 41, false, true, p);
    CHECK(p[np - 1] == c->audio_out_bos_id);
    int32_t got[2][12][K] = {{{0}}};
    size_t steps_to_first[2] = {0, 0}, positions[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        frame_log lg = {0, 0, true};
        hb_request_desc d = request(p, np, 12, 77, &lg);
        uint64_t id;
        CHECK(hb_request_add(eng[i], &d, &id, &e) == HB_OK);
        hb_request_status s = {0};
        for (size_t n = 1; n < 100 && !s.done; n++) {
            CHECK(hb_engine_step(eng[i], NULL, &e) == HB_OK);
            if (lg.frames > 0 && !steps_to_first[i]) steps_to_first[i] = n;
            CHECK(hb_request_status_get(eng[i], id, &s, &e) == HB_OK);
        }
        CHECK(s.done && lg.frames == 12 && lg.ordered);
        positions[i] = s.positions;
        const int32_t *t, (*f)[K];
        size_t nt, nf;
        CHECK(hb_request_output(eng[i], id, &t, &nt, &f, &nf, &e) == HB_OK);
        CHECK(nf == 12);
        if (nf == 12) memcpy(got[i], f, sizeof got[i]);
        CHECK(hb_request_remove(eng[i], id, &e) == HB_OK);
    }
    /* prefill, then 7 steps (with the prompt) or 8 (BOS frame on its own) to frame 0 */
    CHECK(steps_to_first[0] == 8 && steps_to_first[1] == 9);
    CHECK(positions[0] == positions[1]);
    CHECK(memcmp(got[0], got[1], sizeof got[0]) == 0);
    /* a prompt without <|audio_out_bos|> at its end: text first, the clip after a drawn one */
    np = hb_prompt_synthetic(c, 9, 42, false, false, p);
    CHECK(p[np - 1] != c->audio_out_bos_id);
    frame_log lg = {0, 0, true};
    hb_request_desc d = request(p, np, 3, 78, &lg);
    d.max_text_tokens = 2;
    uint64_t id;
    CHECK(hb_engine_generate(eng[0], &d, &id, &e) == HB_OK);
    CHECK(lg.frames == 3);
    hb_engine_close(eng[0]);
    hb_engine_close(eng[1]);
}

/* Requests of different lengths joining and leaving between steps give the same codes as when
 * each runs alone, and every frame is delivered once, in order. */
static void continuous_batching_is_invisible(void)
{
    hb_error e = {0};
    hb_engine *eng = open_unified(&e);
    if (!eng) return;
    const hb_model_config *c = hb_engine_config(eng);
    int32_t p[3][64];
    size_t np[3], frames[3] = {30, 12, 21};
    for (int r = 0; r < 3; r++) np[r] = hb_prompt_synthetic(c, 10 + 9 * (size_t)r, 100 + (uint64_t)r, false, true, p[r]);
    int32_t alone[3][40][K];
    for (int r = 0; r < 3; r++) {
        frame_log lg = {0, 0, true};
        hb_request_desc d = request(p[r], np[r], frames[r], 5 + (uint64_t)r, &lg);
        uint64_t id;
        CHECK(hb_engine_generate(eng, &d, &id, &e) == HB_OK);
        const int32_t *t, (*f)[K];
        size_t nt, nf;
        CHECK(hb_request_output(eng, id, &t, &nt, &f, &nf, &e) == HB_OK);
        CHECK(nf == frames[r] && lg.frames == frames[r] && lg.ordered);
        memcpy(alone[r], f, nf * sizeof *f);
        CHECK(hb_request_remove(eng, id, &e) == HB_OK);
    }
    /* together: request 0 starts, 1 joins after 5 steps, 2 after 9; each leaves when done */
    uint64_t ids[3];
    frame_log logs[3] = {{0, 0, true}, {0, 0, true}, {0, 0, true}};
    bool added[3] = {false}, checked[3] = {false};
    for (int step = 0; step < 200; step++) {
        for (int r = 0; r < 3; r++)
            if (!added[r] && step == (int[]){0, 5, 9}[r]) {
                hb_request_desc d = request(p[r], np[r], frames[r], 5 + (uint64_t)r, &logs[r]);
                CHECK(hb_request_add(eng, &d, &ids[r], &e) == HB_OK);
                added[r] = true;
            }
        hb_step_report rep;
        CHECK(hb_engine_step(eng, &rep, &e) == HB_OK);
        for (int r = 0; r < 3; r++) {
            hb_request_status s;
            if (!added[r] || checked[r]) continue;
            CHECK(hb_request_status_get(eng, ids[r], &s, &e) == HB_OK);
            if (!s.done) continue;
            const int32_t *t, (*f)[K];
            size_t nt, nf;
            CHECK(hb_request_output(eng, ids[r], &t, &nt, &f, &nf, &e) == HB_OK);
            CHECK(nf == frames[r] && memcmp(f, alone[r], nf * sizeof *f) == 0);
            CHECK(s.audio_steps == frames[r] + 8); /* T frames cost T + 8 audio steps */
            CHECK(logs[r].frames == frames[r] && logs[r].ordered);
            CHECK(hb_request_remove(eng, ids[r], &e) == HB_OK);
            checked[r] = true;
        }
        if (checked[0] && checked[1] && checked[2]) break;
    }
    CHECK(checked[0] && checked[1] && checked[2] && hb_engine_active(eng) == 0);
    hb_engine_close(eng);
}

static void request_errors(void)
{
    hb_error e = {0};
    hb_engine *eng = open_unified(&e);
    if (!eng) return;
    const hb_model_config *c = hb_engine_config(eng);
    int32_t prompt[300];
    size_t n = hb_prompt_synthetic(c, 250, 1, false, true, prompt);
    frame_log lg = {0, 0, true};
    hb_request_desc d = request(prompt, n, 10, 1, &lg);
    uint64_t id;
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_INVALID); /* longer than max_seq_len 256 */
    CHECK_STR_CONTAINS(e.msg, "max sequence length is 256");
    int32_t bad_id[] = {5, 99999, c->audio_out_bos_id};
    d = request(bad_id, 3, 10, 1, &lg);
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "99999");
    int32_t placeholder[] = {5, c->audio_in_id, c->audio_out_bos_id};
    d = request(placeholder, 3, 10, 1, &lg);
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "placeholders");
    int32_t codes[2][K] = {{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6, 7, 999}};
    hb_audio_clip clip = {(const int32_t(*)[K])codes, 2};
    d.clips = &clip;
    d.nclips = 1;
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_INVALID);
    CHECK_STR_CONTAINS(e.msg, "code 999");
    d = request(prompt, 5, 10, 1, &lg);
    d.audio_sampling.top_p = 0;
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_INVALID);
    d = request(prompt, 5, 10, 1, &lg);
    uint64_t ids[4];
    for (int i = 0; i < 4; i++) CHECK(hb_request_add(eng, &d, &ids[i], &e) == HB_OK);
    CHECK(hb_request_add(eng, &d, &id, &e) == HB_ERR_UNSUPPORTED); /* 4 slots */
    CHECK_STR_CONTAINS(e.msg, "slots");
    hb_engine_close(eng);
}

static void memory_accounting(void)
{
    char text[600], audio[600], uni[600];
    path_of(uni, sizeof uni, "unified");
    path_of(text, sizeof text, "text");
    path_of(audio, sizeof audio, "audio");
    hb_engine *u, *p;
    hb_error e = {0};
    CHECK(hb_engine_open(uni, NULL, &u, &e) == HB_OK);
    CHECK(hb_engine_open_pair(text, audio, NULL, &p, &e) == HB_OK);
    if (!u || !p) return;
    const hb_model_config *c = hb_engine_config(u);
    hb_memory_report mu, mp;
    hb_engine_memory(u, &mu);
    hb_engine_memory(p, &mp);
    CHECK(mu.current[HB_MEM_WEIGHTS] == hb_model_params(c, HB_ROLE_UNIFIED) * 4);
    CHECK(mp.current[HB_MEM_WEIGHTS] == (hb_model_params(c, HB_ROLE_TEXT) + hb_model_params(c, HB_ROLE_AUDIO)) * 4);
    uint64_t kv = (uint64_t)c->layers * 4 * 256 * (uint64_t)c->kv_heads * (uint64_t)c->head_dim * 2 * 4;
    CHECK(mu.current[HB_MEM_KV] == kv && mp.current[HB_MEM_KV] == 2 * kv);
    CHECK(mp.current[HB_MEM_WEIGHTS] > mu.current[HB_MEM_WEIGHTS]); /* duplicated attention */
    CHECK(mu.process_peak_rss > 0);
    for (int i = 0; i < HB_MEM__COUNT; i++) CHECK(mu.peak[i] >= mu.current[i]);
    hb_engine_info info;
    hb_engine_describe(p, &info);
    CHECK(info.topology == HB_TOPO_SEPARATE && strcmp(info.backend, "cpu") == 0 && !info.has_cuda_graphs);
    hb_engine_close(u);
    hb_engine_close(p);
}

/* The random weights keep activations finite over thousands of steps: a 4,000-frame clip (4,008
 * audio steps) on the tiny preset, every logit checked by the engine as it samples. */
static void long_generation_stays_finite(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/long", tmpdir);
    hb_build_opts b = hb_build_defaults();
    b.out = dir;
    b.use_preset = true;
    b.preset = HB_PRESET_TINY;
    b.max_batch = 1;
    b.max_seq_len = 4096;
    hb_error e = {0};
    CHECK(hb_build_engines(&b, &e) == HB_OK);
    hb_engine *eng;
    CHECK(hb_engine_open(dir, NULL, &eng, &e) == HB_OK);
    if (!eng) return;
    int32_t p[40];
    size_t n = hb_prompt_synthetic(hb_engine_config(eng), 30, 3, false, true, p);
    frame_log lg = {0, 0, true};
    hb_request_desc d = request(p, n, 4000, 9, &lg);
    d.audio_sampling = hb_sampling_reference();
    uint64_t id;
    hb_status st = hb_engine_generate(eng, &d, &id, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    CHECK(st == HB_OK && lg.frames == 4000);
    hb_engine_close(eng);
}

/* The sampling rules on hand-made logits: greedy and top-k ties go to the lowest index, the
 * order of a filtered draw is logit descending then index ascending (equal logits drawn in index
 * order), top-p keeps the crossing token, bans hold, and a planned pick draws what
 * hb_sample_token draws and applies RAS. */
static void sampling_rules(void)
{
    hb_sample_ws ws;
    hb_error e = {0};
    CHECK(hb_sample_ws_init(&ws, 8, &e) == HB_OK);
    uint8_t ban[8] = {0};
    float l[8] = {1, 3, 2, 3, 0, 3, -1, 2}; /* max 3 at 1, 3, 5 */
    hb_sampling g = hb_sampling_greedy();
    CHECK(hb_sample_token(l, 8, &g, NULL, 0.5, &ws) == 1);
    ban[1] = 1;
    CHECK(hb_sample_token(l, 8, &g, ban, 0.5, &ws) == 3);
    ban[1] = 0;
    hb_sampling s = {.temperature = 1, .top_k = 1, .top_p = 1};
    for (int i = 0; i < 10; i++) CHECK(hb_sample_token(l, 8, &s, NULL, i / 10.0, &ws) == 1);
    /* top-3: the three tied maxima, each a third of the mass, in index order 1, 3, 5 */
    s.top_k = 3;
    CHECK(hb_sample_token(l, 8, &s, NULL, 0.10, &ws) == 1);
    CHECK(hb_sample_token(l, 8, &s, NULL, 0.50, &ws) == 3);
    CHECK(hb_sample_token(l, 8, &s, NULL, 0.90, &ws) == 5);
    /* top-4 reaches the first of the two 2s (index 2 before 7) */
    s.top_k = 4;
    CHECK(hb_sample_token(l, 8, &s, NULL, 0.999, &ws) == 2);
    /* top-p: a small mass keeps only the first maximum (the crossing token) */
    s.top_k = 0;
    s.top_p = 0.01f;
    for (int i = 0; i < 10; i++) CHECK(hb_sample_token(l, 8, &s, NULL, i / 10.0, &ws) == 1);
    /* the last of the order is drawn for u close to 1 without a filter on the order */
    s.top_p = 1;
    s.top_k = 0;
    CHECK(hb_sample_token(l, 8, &s, NULL, 0.9999999, &ws) == 7);
    /* a planned pick: forced, and a draw with RAS (a code seen twice is redrawn in index order) */
    hb_pick pk = {.forced = 6};
    CHECK(hb_pick_sample(l, 8, &pk, 6, 7, 6, ban, &ws) == 6);
    pk = (hb_pick){.forced = -1, .temperature = 1, .top_k = 3, .top_p = 1, .u = 0.1,
                   .ras_repeat = 2, .nhist = 3, .hist = {1, 4, 1}, .u_ras = 0.0};
    CHECK(hb_pick_sample(l, 8, &pk, 6, 7, 6, ban, &ws) == 0); /* 1 repeated: plain draw, u 0 */
    pk.ras_repeat = 3;
    CHECK(hb_pick_sample(l, 8, &pk, 6, 7, 6, ban, &ws) == 1);
    for (int i = 0; i < 8; i++) CHECK(ban[i] == 0); /* the scratch is left as it came */
    hb_sample_ws_free(&ws);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hb_test_engine_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    static const hb_test_case tests[] = {
        T(delay_round_trips), T(safetensors_round_trip_and_errors), T(config_errors),
        T(build_tiny), T(open_errors), T(continuous_batching_is_invisible), T(bos_frame_with_prompt), T(request_errors),
        T(memory_accounting), T(long_generation_stays_finite), T(sampling_rules)};
    int rc = hb_test_run(tests, sizeof tests / sizeof tests[0]);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return rc;
}
