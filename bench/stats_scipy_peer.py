#!/usr/bin/env python3
"""The SciPy/NumPy peer of bench_stats.c: the same quantities on data of the same shape.

describe: n, mean, sd, se, min, max, median, percentiles 1/5/25/50/75/95/99, IQR, MAD, CV of
1,000,000 log-normal samples; bootstrap: scipy.stats.bootstrap of the median of 10,000 samples,
10,000 resamples, 95 %, BCa and percentile (vectorised, one batch: SciPy's fastest setting).
"""
import time

import numpy as np
from scipy import stats


def describe(x):
    sd = np.std(x, ddof=1)
    return (len(x), np.mean(x), sd, stats.sem(x), np.min(x), np.max(x), np.median(x),
            np.percentile(x, [1, 5, 25, 50, 75, 95, 99]), stats.iqr(x),
            stats.median_abs_deviation(x), sd / np.mean(x))


def timed(fn, reps):
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        out = fn(i)
        t.append(time.perf_counter() - t0)
    return np.median(t), min(t), out


def main():
    rng = np.random.default_rng(1)
    x = rng.lognormal(3.0, 0.4, 1_000_000)
    med, lo, d = timed(lambda i: describe(x), 21)
    print(f"{'scipy describe n=1e6':34s} median {1e3*med:9.3f} ms   min {1e3*lo:9.3f} ms   "
          f"(21 runs; check {d[6]:.6g})")
    y = rng.lognormal(3.0, 0.4, 10_000)
    for method in ("BCa", "percentile"):
        med, lo, r = timed(lambda i: stats.bootstrap((y,), np.median, n_resamples=10_000,
                                                     method=method, random_state=i + 1), 3)
        print(f"{'scipy bootstrap median ' + method + ' 1e4x1e4':34s} median {1e3*med:9.3f} ms"
              f"   min {1e3*lo:9.3f} ms   (3 runs; check {r.confidence_interval.low:.6g})")


if __name__ == "__main__":
    main()
