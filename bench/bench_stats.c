/* bench_stats.c - speed of the statistics engine on benchmark-sized data.
 *
 *   describe: hb_describe() of 1,000,000 log-normal samples
 *   bootstrap: 95% BCa (and percentile) bootstrap CI of the median of 10,000 samples with
 *              10,000 resamples
 * Single-threaded. Prints one line per figure: name, median and min wall time over the repeats.
 * bench/run_stats_bench.sh runs this beside the SciPy peer (stats_scipy_peer.py).
 */
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>

#include "bench_common.h"
#include "higgsbench/stats.h"

static void fill_lognormal(double *x, size_t n, unsigned long seed)
{
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, seed);
    for (size_t i = 0; i < n; i++) x[i] = gsl_ran_lognormal(r, 3.0, 0.4);
    gsl_rng_free(r);
}

static void report(const char *name, double *t, size_t reps, double check)
{
    double lo = t[0];
    for (size_t i = 1; i < reps; i++) lo = t[i] < lo ? t[i] : lo;
    printf("%-34s median %9.3f ms   min %9.3f ms   (%zu runs; check %.6g)\n", name,
           1e3 * bench_median(t, reps), 1e3 * lo, reps, check);
}

int main(void)
{
    enum { N_DESCRIBE = 1000000, N_BOOT = 10000, REPS_DESCRIBE = 21, REPS_BOOT = 7 };
    double *x = malloc(N_DESCRIBE * sizeof *x), t[REPS_DESCRIBE];
    if (!x) return 1;
    fill_lognormal(x, N_DESCRIBE, 1);
    hb_describe_t d;
    for (int i = 0; i < REPS_DESCRIBE; i++) {
        double t0 = bench_now_s();
        if (hb_describe(x, N_DESCRIBE, &d, NULL)) return 1;
        t[i] = bench_now_s() - t0;
    }
    report("describe n=1e6", t, REPS_DESCRIBE, d.median);

    fill_lognormal(x, N_BOOT, 2);
    hb_boot_opts o = hb_boot_defaults(); /* 10,000 resamples, 95%, BCa */
    hb_boot_result br;
    for (int m = 0; m < 2; m++) {
        o.method = m ? HB_BOOT_PERCENTILE : HB_BOOT_BCA;
        for (int i = 0; i < REPS_BOOT; i++) {
            o.seed = (uint64_t)i + 1;
            double t0 = bench_now_s();
            if (hb_bootstrap_percentile_ci(x, N_BOOT, 50, &o, &br, NULL)) return 1;
            t[i] = bench_now_s() - t0;
        }
        report(m ? "bootstrap median percentile 1e4x1e4" : "bootstrap median BCa 1e4x1e4", t,
               REPS_BOOT, br.ci.lo);
    }
    free(x);
    return 0;
}
