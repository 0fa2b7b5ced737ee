/* sampling.h - sampling of one token from logits, and the counter-based uniform draws. */
#ifndef HB_SAMPLING_H
#define HB_SAMPLING_H

#include <stdint.h>

#include "higgsbench/engine.h"

/* Functions the host and the CUDA kernels share (the device makes the same draws and plans). */
#ifdef __CUDACC__
#define HB_HOST_DEVICE __host__ __device__
#else
#define HB_HOST_DEVICE
#endif

/* splitmix64's finaliser */
static inline HB_HOST_DEVICE uint64_t hb_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1) that depends only on (seed, counter): 53 bits of two rounds of the
 * splitmix64 finaliser. */
static inline HB_HOST_DEVICE double hb_uniform(uint64_t seed, uint64_t counter)
{
    uint64_t z = hb_mix64(seed + 0x9e3779b97f4a7c15ull * (counter + 1));
    return (double)(hb_mix64(z) >> 11) * 0x1.0p-53;
}

/* The code the delay pattern fixes for codebook k of clip row p, or -1 where the row draws it:
 * bos before the codebook's first frame (w = p - k <= 0); eos past the frame budget
 * (w - 1 >= max_frames), or after the first sampled EOS (row eos_row, codebook eos_cb; -1 before):
 * at once below eos_cb, in turn above it. */
static inline HB_HOST_DEVICE int32_t hb_delay_code(long p, int k, long max_frames, long eos_row,
                                                   int eos_cb, int32_t bos, int32_t eos)
{
    long w = p - k;
    if (w <= 0) return bos;
    if (w - 1 >= max_frames || (eos_row >= 0 && (k < eos_cb || p >= eos_row + (k - eos_cb)))) return eos;
    return -1;
}

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

/* One audio codebook's draw, planned before the forward pass so that either the host or the
 * device can make it (the same rule on both): a code fixed by the delay pattern, or a draw from
 * the codebook's head output with the stream BOS (and, in exact mode, the stream EOS) banned,
 * followed by repetition-aware resampling when the drawn content code appears ras_repeat times or
 * more among hist (the codebook's latest content codes, newest first). */
#define HB_PICK_HIST 32 /* the longest RAS window */
typedef struct {
    int32_t forced;      /* >= 0: this code, nothing drawn */
    int32_t ban_eos;
    int32_t top_k;       /* 0: off */
    int32_t ras_repeat;  /* 0: no RAS */
    float temperature;   /* <= 0: greedy */
    float top_p;
    int32_t nhist;
    int32_t hist[HB_PICK_HIST];
    int32_t pad_;
    double u, u_ras;     /* the draw's and the RAS resample's uniforms */
} hb_pick;

/* The host's executor of a pick over one codebook's n = codebook_size + 2 head outputs (bos and
 * eos are the stream codes); ban is n zeroed bytes of scratch, left zeroed. */
int32_t hb_pick_sample(const float *logits, int n, const hb_pick *pk, int32_t bos, int32_t eos,
                       int32_t codebook_size, uint8_t *ban, hb_sample_ws *ws);

/* One text token's draw, planned before the forward pass like hb_pick: a token fixed by the
 * generation state (HB_PICK_NONE: the output is not used), or a draw with up to 5 banned ids. */
#define HB_PICK_NONE (-2)
typedef struct {
    int32_t forced;      /* >= 0: this token; HB_PICK_NONE: nothing to draw */
    int32_t nban;
    int32_t ban[5];
    int32_t top_k;       /* 0: off */
    float temperature;   /* <= 0: greedy */
    float top_p;
    double u;
} hb_text_pick;

/* The host's executor of a text pick over the n-entry text head; ban is n zeroed bytes of
 * scratch, left zeroed. HB_PICK_NONE gives 0. */
int32_t hb_text_pick_sample(const float *logits, int n, const hb_text_pick *pk, uint8_t *ban,
                            hb_sample_ws *ws);

#endif
