/* test_bootstrap_internal.c - the two ways of drawing a bootstrap percentile agree.
 *
 * Unpaired percentiles are drawn by binomial descent, everything else by drawing every index
 * and counting. Both must give the same bootstrap distribution: a two-sample
 * Kolmogorov-Smirnov test on 20,000 draws of each must not reject at the 0.1% level, for
 * several data shapes, percentiles and sample sizes (odd, even, with ties). */
#include <stdlib.h>

#include "../../src/stats/bootstrap_internal.h"
#include "hb_test.h"

static double ks_statistic(double *a, double *b, size_t n)
{
    hb_sort_doubles(a, n);
    hb_sort_doubles(b, n);
    size_t i = 0, j = 0;
    double d = 0;
    while (i < n && j < n) {
        double v = a[i] < b[j] ? a[i] : b[j];
        while (i < n && a[i] <= v) i++;
        while (j < n && b[j] <= v) j++;
        double diff = fabs((double)i / (double)n - (double)j / (double)n);
        d = diff > d ? diff : d;
    }
    return d;
}

static void descent_matches_direct_counting(void)
{
    enum { B = 20000 };
    const size_t sizes[] = {2, 5, 10, 37, 400};
    const double pcts[] = {50, 90, 2.5};
    double *d1 = malloc(B * sizeof *d1), *d2 = malloc(B * sizeof *d2);
    for (size_t si = 0; si < 5; si++) {
        size_t n = sizes[si];
        double *x = malloc(n * sizeof *x);
        for (size_t i = 0; i < n; i++) x[i] = (double)((i * 7919) % 101) / (i % 3 ? 1 : 4);
        for (int pi = 0; pi < 3; pi++) {
            hb_boot_sample s;
            CHECK(hb__boot_sample_init(&s, x, n, HB_LOCATION_MEDIAN, pcts[pi], 1, NULL) == HB_OK);
            /* k = 1 sample: paired = 1 forces the direct path, paired = 0 the descent */
            CHECK(hb__boot_distribution(&s, 1, 1, B, 11, NULL, NULL, d1, NULL) == HB_OK);
            CHECK(hb__boot_distribution(&s, 1, 0, B, 12, NULL, NULL, d2, NULL) == HB_OK);
            double d = ks_statistic(d1, d2, B);
            /* critical value at alpha = 0.001: 1.95 sqrt(2 / B) */
            if (!(d < 1.95 * sqrt(2.0 / B)))
                fprintf(stderr, "n=%zu p=%g: KS D = %g\n", n, pcts[pi], d);
            CHECK(d < 1.95 * sqrt(2.0 / B));
            hb__boot_sample_free(&s);
        }
        free(x);
    }
    free(d1);
    free(d2);
}

HB_TEST_MAIN(T(descent_matches_direct_counting))
