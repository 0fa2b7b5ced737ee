/* build.h - building engine directories from a checkpoint or from a size preset.
 *
 * Output layout under `out` (see docs/ENGINE_FORMAT.md):
 *   unified:  out/{config.json, engine.json}
 *   separate: out/text/..., out/audio/...
 *   both:     out/unified/..., out/text/..., out/audio/...
 * Preset weights are written once to out/weights/model.safetensors and referenced by every
 * engine; checkpoint engines reference the checkpoint's own files (nothing is copied). The output
 * directory must not exist or be empty: nothing is ever overwritten.
 */
#ifndef HIGGSBENCH_BUILD_H
#define HIGGSBENCH_BUILD_H

#include "higgsbench/engine.h"

typedef enum { HB_BUILD_UNIFIED = 0, HB_BUILD_SEPARATE, HB_BUILD_BOTH } hb_build_topology;

typedef struct {
    const char *out;          /* output directory */
    const char *checkpoint;   /* HF checkpoint directory, or NULL with a preset */
    bool use_preset;
    hb_preset preset;
    uint64_t seed;            /* random weights are a function of (seed, tensor, element) */
    hb_dtype dtype;           /* storage dtype of preset weights */
    hb_build_topology topology;
    int max_batch;
    int max_seq_len;
    int threads;              /* weight generation threads; 0 = all cores */
} hb_build_opts;

hb_build_opts hb_build_defaults(void);

/* Builds the engines; on failure the partly written output directory is left for inspection
 * and the error says where. */
hb_status hb_build_engines(const hb_build_opts *o, hb_error *err);

/* The random value of element i of tensor `tensor` for a seed: mean plus uniform noise with the
 * given standard deviation. Exposed for tests. */
float hb_random_weight(uint64_t seed, uint32_t tensor, uint64_t i, float mean, float std);

#endif
