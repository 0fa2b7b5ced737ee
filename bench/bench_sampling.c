/* bench_sampling.c - the host's token draw over a text head (128,256 entries) and an audio
 * codebook (1,026 entries): greedy and the reference sampling (temperature 0.7, top-p 0.95),
 * median of 21 draws each on seeded random logits. This is the host-side cost a text decode step
 * pays per request (audio codes are drawn on the GPU by the CUDA backend).
 * usage: bench_sampling */
#include <stdio.h>
#include <stdlib.h>

#include "../src/engine/sampling.h"
#include "bench_common.h"

static void run(const char *name, int n, const hb_sampling *s)
{
    float *l = malloc((size_t)n * sizeof *l);
    hb_sample_ws ws;
    hb_error e = {0};
    if (!l || hb_sample_ws_init(&ws, n, &e)) {
        fprintf(stderr, "bench_sampling: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < n; i++) l[i] = (float)(4 * hb_uniform(7, (uint64_t)i) - 2);
    double t[21];
    long check = 0;
    for (int r = 0; r < 21; r++) {
        double t0 = bench_now_s();
        check += hb_sample_token(l, n, s, NULL, hb_uniform(9, (uint64_t)r), &ws);
        t[r] = bench_now_s() - t0;
    }
    printf("%-40s %9.3f ms   (median of 21; check %ld)\n", name, 1e3 * bench_median(t, 21), check);
    hb_sample_ws_free(&ws);
    free(l);
}

int main(void)
{
    hb_sampling g = hb_sampling_greedy(), ref = hb_sampling_reference();
    run("text head 128256, greedy", 128256, &g);
    run("text head 128256, T 0.7 top-p 0.95", 128256, &ref);
    run("audio codebook 1026, T 0.7 top-p 0.95", 1026, &ref);
    return 0;
}
