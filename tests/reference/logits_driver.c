/* logits_driver.c - runs token batches through an engine and dumps every head output, for the
 * PyTorch reference test (tests/reference/test_reference.py) to compare.
 *
 * usage: logits_driver [--backend cpu|cuda] (--engine DIR | --pair TEXT_DIR AUDIO_DIR) SPEC.json OUT.bin
 * SPEC.json: {"steps": [[tok, ...], ...]}; tok is {"t": id} or {"a": [8 codes]}. Each step is one
 * forward pass of slot 0 at the next positions; every token's head output (text: vocab floats,
 * audio: 8 x (codebook_size + 2) floats) is appended to OUT.bin as float32, in token order.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/engine_internal.h"

static void die(const char *m)
{
    fprintf(stderr, "logits_driver: %s\n", m);
    exit(2);
}

int main(int argc, char **argv)
{
    hb_error err = {0};
    hb_engine *e = NULL;
    hb_engine_opts o = hb_engine_defaults();
    if (argc >= 3 && strcmp(argv[1], "--backend") == 0) {
        o.backend = argv[2];
        argv += 2;
        argc -= 2;
    }
    int a = 1;
    if (argc >= 5 && strcmp(argv[1], "--engine") == 0) {
        if (hb_engine_open(argv[2], &o, &e, &err)) die(err.msg);
        a = 3;
    } else if (argc >= 6 && strcmp(argv[1], "--pair") == 0) {
        if (hb_engine_open_pair(argv[2], argv[3], &o, &e, &err)) die(err.msg);
        a = 4;
    } else {
        die("usage: logits_driver (--engine DIR | --pair TEXT AUDIO) SPEC.json OUT.bin");
    }
    json_error_t je;
    json_t *spec = json_load_file(argv[a], 0, &je);
    if (!spec) die(je.text);
    FILE *out = fopen(argv[a + 1], "wb");
    if (!out) die("cannot open the output");
    const hb_model_config *c = hb_engine_config(e);
    size_t V = (size_t)c->vocab, A = (size_t)hb_audio_vocab(c);
    json_t *steps = json_object_get(spec, "steps");
    int pos = 0;
    for (size_t s = 0; s < json_array_size(steps); s++) {
        json_t *st = json_array_get(steps, s);
        size_t n = json_array_size(st);
        hb_token *t = calloc(n, sizeof *t);
        size_t nt = 0, na = 0;
        for (size_t i = 0; i < n; i++) {
            json_t *j = json_array_get(st, i);
            t[i].slot = 0;
            t[i].pos = pos++;
            t[i].logits = 1;
            json_t *codes = json_object_get(j, "a");
            if (codes) {
                t[i].audio = 1;
                for (int k = 0; k < HB_NUM_CODEBOOKS; k++)
                    t[i].codes[k] = (int32_t)json_integer_value(json_array_get(codes, (size_t)k));
                na++;
            } else {
                t[i].text_id = (int32_t)json_integer_value(json_object_get(j, "t"));
                nt++;
            }
        }
        float *tl = malloc((nt ? nt : 1) * V * sizeof *tl), *al = malloc((na ? na : 1) * A * sizeof *al);
        if (hb__engine_forward(e, t, n, tl, al, NULL, NULL, &err)) die(err.msg);
        size_t it = 0, ia = 0;
        for (size_t i = 0; i < n; i++) {
            if (t[i].audio)
                fwrite(al + (ia++) * A, sizeof(float), A, out);
            else
                fwrite(tl + (it++) * V, sizeof(float), V, out);
        }
        free(t);
        free(tl);
        free(al);
    }
    fclose(out);
    json_decref(spec);
    hb_engine_close(e);
    return 0;
}
