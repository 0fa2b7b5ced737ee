/* cmd_build_engine.c - `higgs-bench build-engine`: engine directories from a preset or an HF
 * checkpoint. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "higgsbench/build.h"
#include "options.h"

static const char *const preset_choices[] = {"tiny", "small", "base-3b", NULL};
static const char *const topo_choices[] = {"unified", "separate", "both", NULL};
static const char *const dtype_choices[] = {"bf16", "f16", "f32", NULL};

int cmd_build_engine(int argc, char **argv)
{
    static const char usage[] =
        "higgs-bench build-engine --output DIR (--preset NAME | --checkpoint DIR) [options]";
    hb_build_opts b = hb_build_defaults();
    const char *out = NULL, *checkpoint = NULL;
    int preset = 0, topo = 0, dtype = 0;
    bool preset_seen = false;
    size_t max_batch = (size_t)b.max_batch, max_seq = (size_t)b.max_seq_len, threads = 0;
    uint64_t seed = b.seed;
    const hb_option opts[] = {
        {HB_OPT_STRING, "output", "DIR", "directory to create (must not exist or be empty)", &out,
         NULL, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "preset", "NAME", "random weights of a size preset", &preset,
         preset_choices, 0, 0, false, false, &preset_seen},
        {HB_OPT_STRING, "checkpoint", "DIR", "HF checkpoint (config.json + safetensors)",
         &checkpoint, NULL, 0, 0, false, false, NULL},
        {HB_OPT_CHOICE, "topology", "T", "engines to write (unified)", &topo, topo_choices, 0, 0,
         false, false, NULL},
        {HB_OPT_CHOICE, "dtype", "D", "storage dtype of preset weights (bf16)", &dtype,
         dtype_choices, 0, 0, false, false, NULL},
        {HB_OPT_U64, "seed", "S", "seed of the preset weights (1)", &seed, NULL, 0, 0, false,
         false, NULL},
        {HB_OPT_SIZE, "max-batch", "N", "request slots (8)", &max_batch, NULL, 1, 4096, false,
         false, NULL},
        {HB_OPT_SIZE, "max-seq-len", "N", "positions per request (2048)", &max_seq, NULL, 16,
         1 << 22, false, false, NULL},
        {HB_OPT_SIZE, "threads", "N", "weight generation threads (all cores)", &threads, NULL, 0,
         256, false, false, NULL},
        HB_OPTIONS_END};
    int rc = hb_cli_options(argc, argv, opts, usage,
                            "Builds engine directories: a unified engine, a separate text and audio "
                            "pair, or both,\nfrom a size preset with deterministic random weights or "
                            "from an HF checkpoint.", 0, NULL, NULL);
    if (rc >= 0) return rc;
    hb_error err = {0};
    if (!out) return hb_cli_error("--output DIR is required");
    if (preset_seen == (checkpoint != NULL))
        return hb_cli_error("give exactly one of --preset NAME and --checkpoint DIR");
    b.out = out;
    b.checkpoint = checkpoint;
    b.use_preset = preset_seen;
    hb_preset_parse(preset_choices[preset], &b.preset);
    b.topology = (hb_build_topology)topo;
    hb_dtype_parse(dtype_choices[dtype], &b.dtype);
    b.seed = seed;
    b.max_batch = (int)max_batch;
    b.max_seq_len = (int)max_seq;
    b.threads = (int)threads;
    if (hb_build_engines(&b, &err)) return hb_cli_error(err.msg);
    printf("built %s engine%s in %s\n", topo_choices[topo], topo ? "s" : "", out);
    return HB_EXIT_OK;
}
