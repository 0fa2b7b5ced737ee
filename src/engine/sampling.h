/* sampling.h - sampling of one token from logits, and the counter-based uniform draws. */
#ifndef HB_SAMPLING_H
#define HB_SAMPLING_H

#include <stdint.h>

#include "higgsbench/engine.h"

/* A uniform double in [0, 1) that depends only on (seed, counter): 53 bits of two rounds of the
 * splitmix64 finaliser. */
double hb_uniform(uint64_t seed, uint64_t counter);

/* Streams within a position's counter: counter = position * 32 + stream. */
enum { HB_STREAM_TEXT = 0, HB_STREAM_CODEBOOK = 1, HB_STREAM_RAS = 9 };

typedef struct {
    int n;
    double *p;
    int *idx, *tmp;
    uint64_t *keys, *keys2; /* radix-sort scratch */
} hb_sample_ws;

hb_status hb_sample_ws_init(hb_sample_ws *ws, int n, hb_error *err);
void hb_sample_ws_free(hb_sample_ws *ws);

/* One token: greedy (temperature <= 0: argmax, lowest index on ties); else softmax(l / T) over
 * the entries not banned, cut to the top_k most probable (ties by index) and then to the
 * smallest prefix reaching top_p, and drawn by inverse CDF with u over that ordered set. */
int hb_sample_token(const float *logits, int n, const hb_sampling *s, const uint8_t *banned,
                    double u, hb_sample_ws *ws);

/* softmax(l / temp) over the entries not banned, drawn in index order (RAS's resample). */
int hb_sample_plain(const float *logits, int n, double temp, const uint8_t *banned, double u,
                    hb_sample_ws *ws);

#endif
