#!/usr/bin/env python3
"""Cross-checks the statistics engine against SciPy/NumPy, computed now, on generated data.

For each of the generated data sets (normal, log-normal, heavy-tailed, with ties; n from 3 to
5,000) the C driver prints every statistic it computes; this script computes the same quantities
with NumPy/SciPy and compares: statistics to 1e-9 relative, p-values to 1e-6. Bootstrap
intervals use different random streams, so they are compared through SciPy's own bootstrap
distribution: each of our endpoints must sit at (nearly) the same quantile level of SciPy's
bootstrap distribution as SciPy's endpoint does, within Monte-Carlo error.

usage: crosscheck.py DRIVER [--quick]
Prints one line per data set and 'N passed, N failed'; exits 1 on any failure.
"""
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np
from scipy import special, stats

REL = 1e-9
P_TOL = 1e-6
BOOT_B = 5000
BOOT_LEVEL_TOL = 0.025


def datasets():
    """(name, a, b) triples; b may be None. Seeded: the same sets every run."""
    rng = np.random.default_rng(20261126)
    out = []
    sizes = [3, 4, 5, 7, 8, 10, 20, 30, 50, 51, 100, 500, 2000, 5000]
    for n in sizes:
        a = rng.normal(100, 15, n)
        out.append((f"normal n={n}", a, rng.normal(104, 15, n)))
    for n in [5, 12, 40, 300, 5000]:
        out.append((f"lognormal n={n}", rng.lognormal(3, 0.5, n), rng.lognormal(3.1, 0.5, n)))
    for n in [6, 25, 200, 3000]:
        out.append((f"student-t(2) n={n}", 50 + 5 * rng.standard_t(2, n),
                    52 + 5 * rng.standard_t(2, n + (n // 3))))
    for n in [8, 60, 1000]:
        out.append((f"pareto n={n}", 10 * (1 + rng.pareto(1.5, n)), 10 * (1 + rng.pareto(1.7, n))))
    for n in [5, 9, 30, 45, 400, 4000]:
        a = np.round(rng.normal(20, 3, n))
        out.append((f"ties (rounded) n={n}", a, np.round(rng.normal(21, 3, n))))
    for n in [10, 100]:
        out.append((f"few levels n={n}", rng.integers(0, 4, n).astype(float),
                    rng.integers(1, 5, n).astype(float)))
    # small samples for the exact Mann-Whitney path (one side <= 8, no ties)
    for na, nb in [(3, 5), (4, 4), (5, 8), (8, 8), (6, 20), (2, 40), (8, 60)]:
        out.append((f"exact MWU {na}x{nb}", rng.normal(0, 1, na), rng.normal(0.8, 1, nb)))
    # paired data with small differences, for the exact Wilcoxon path (n <= 50) and beyond
    for n in [6, 15, 50, 80]:
        a = rng.normal(40, 4, n)
        out.append((f"paired n={n}", a, a + rng.normal(0.5, 1, n)))
    # paired with zero differences (Wilcoxon drops them) and with tied |d|
    a = np.round(rng.normal(30, 3, 40))
    b = a.copy()
    b[::3] += np.round(rng.normal(1, 1, len(b[::3])))
    out.append(("paired zeros+ties n=40", a, b))
    out.append(("exponential n=1000", rng.exponential(12, 1000), 1 + rng.exponential(12, 900)))
    out.append(("bimodal n=777", np.concatenate([rng.normal(10, 1, 500), rng.normal(20, 1, 277)]),
                np.concatenate([rng.normal(10, 1, 400), rng.normal(20, 1, 377)])))
    out.append(("uniform n=3", rng.uniform(0, 1, 3), rng.uniform(0.5, 1.5, 3)))
    # a data set with a 0 MAD and outliers (modified z fallback), and extremes
    a = np.concatenate([np.full(30, 5.0), [5.5, 4.0, 25.0]])
    out.append(("zero MAD n=33", a, None))
    out.append(("spread 1e6 n=200", rng.normal(1e6, 1, 200), rng.normal(1e6 + 0.1, 1, 200)))
    out.append(("near zero n=300", rng.normal(0, 1e-3, 300), rng.normal(1e-4, 1e-3, 300)))
    return out


class Checker:
    def __init__(self, name):
        self.name = name
        self.failures = []

    def close(self, what, ours, ref, rel=REL, floor=0.0):
        ours = np.nan if ours is None else float(ours)
        ref = float(ref)
        if np.isnan(ref) and np.isnan(ours):
            return
        tol = rel * max(abs(ref), floor)
        if not (abs(ours - ref) <= tol):
            self.failures.append(f"{what}: ours {ours!r} vs ref {ref!r} (tol {tol:.3g})")

    def pvalue(self, what, ours, ref):
        if not (abs(float(ours) - float(ref)) <= P_TOL):
            self.failures.append(f"{what}: p ours {ours!r} vs ref {ref!r}")

    def equal(self, what, ours, ref):
        if ours != ref:
            self.failures.append(f"{what}: ours {ours!r} vs ref {ref!r}")


def t_ppf(p, df):
    """SciPy 1.10's t.ppf is off by up to ~2e-9 (relative) for few degrees of freedom, while its
    t.cdf is accurate to ~1e-16; one Newton step on the CDF gives the reference quantile."""
    q = stats.t.ppf(p, df)
    for _ in range(2):
        q -= (stats.t.cdf(q, df) - p) / stats.t.pdf(q, df)
    return q


def check_one(c, x, r, boot):
    n = len(x)
    scale = max(np.max(np.abs(x)), 1e-300)
    c.equal("n", r["n"], n)
    c.close("mean", r["mean"], np.mean(x), floor=scale)
    c.close("sd", r["sd"], np.std(x, ddof=1))
    c.close("se", r["se"], stats.sem(x))
    c.close("min", r["min"], np.min(x))
    c.close("max", r["max"], np.max(x))
    c.close("median", r["median"], np.median(x), floor=scale)
    c.close("q1", r["q1"], np.percentile(x, 25), floor=scale)
    c.close("q3", r["q3"], np.percentile(x, 75), floor=scale)
    c.close("iqr", r["iqr"], stats.iqr(x), floor=scale)
    c.close("mad", r["mad"], stats.median_abs_deviation(x), floor=scale)
    c.close("cv", r["cv"], np.std(x, ddof=1) / np.mean(x), floor=1e-6)
    for p, v in zip(r["pct_levels"], r["pct_values"]):
        c.close(f"percentile {p}", v, np.percentile(x, p), floor=scale)
    for level, (lo, hi) in r["ci_mean_t"].items():
        q = t_ppf((1 + float(level)) / 2, n - 1)
        rlo, rhi = np.mean(x) - q * stats.sem(x), np.mean(x) + q * stats.sem(x)
        c.close(f"t CI {level} lo", lo, rlo, floor=scale)
        c.close(f"t CI {level} hi", hi, rhi, floor=scale)
    # outliers, recomputed from their definitions with NumPy/SciPy
    q1, q3 = np.percentile(x, [25, 75])
    iqr = q3 - q1
    mild = np.flatnonzero((x < q1 - 1.5 * iqr) | (x > q3 + 1.5 * iqr))
    severe = np.flatnonzero((x < q1 - 3 * iqr) | (x > q3 + 3 * iqr))
    c.equal("iqr outliers", r["outliers"]["iqr"]["index"], mild.tolist())
    c.equal("iqr severe", r["outliers"]["iqr"]["severe"], severe.tolist())
    with np.errstate(divide="ignore", invalid="ignore"):
        z = stats.zscore(x)
    c.equal("zscore outliers", r["outliers"]["zscore"]["index"],
            np.flatnonzero(np.abs(z) > 3).tolist())
    med = np.median(x)
    mad = stats.median_abs_deviation(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        if mad > 0:
            mz = 0.6745 * (x - med) / mad
        else:
            mz = (x - med) / (1.253314 * np.mean(np.abs(x - med)))
    c.equal("modified-z outliers", r["outliers"]["modified-zscore"]["index"],
            np.flatnonzero(np.abs(mz) > 3.5).tolist())
    if boot:
        check_bootstrap(c, x, r["bootstrap"])


def boot_level_interval(dist_sorted, v):
    """[F(v-), F(v)] of the empirical distribution: the quantile levels v can stand for."""
    B = len(dist_sorted)
    lo = np.searchsorted(dist_sorted, v, side="left") / B
    hi = np.searchsorted(dist_sorted, v, side="right") / B
    return lo, hi


def check_bootstrap(c, x, rb):
    rng = np.random.default_rng(7)
    cases = [("median_percentile", np.median, "percentile"),
             ("median_bca", np.median, "BCa"),
             ("p90_bca", lambda a, axis=-1: np.percentile(a, 90, axis=axis), "BCa"),
             ("mean_bca", np.mean, "BCa")]
    for key, fn, method in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((x,), fn, n_resamples=BOOT_B, method=method,
                                  random_state=rng, batch=500, vectorized=True)
        ours = rb[key]
        if method == "BCa" and ours["method"] != "bca":
            # ours fell back to the percentile interval (degenerate z0): SciPy gives NaN there
            if not (np.isnan(res.confidence_interval.low)):
                c.failures.append(f"bootstrap {key}: ours fell back to percentile, SciPy did not")
            continue
        d = np.sort(res.bootstrap_distribution)
        refs = (res.confidence_interval.low, res.confidence_interval.high)
        if method == "BCa" and np.isnan(refs[0]):
            # SciPy's acceleration is 0/0 when every jackknife value is equal (a percentile of
            # tied data); ours takes a = 0 there, the bias-corrected (BC) interval, which is
            # computed here from SciPy's own distribution
            theta = fn(x, axis=-1)
            share = (np.sum(d < theta) + np.sum(d <= theta)) / (2 * len(d))
            z0 = special.ndtri(share)
            za = special.ndtri(0.025)
            refs = (np.percentile(d, 100 * special.ndtr(2 * z0 + za)),
                    np.percentile(d, 100 * special.ndtr(2 * z0 - za)))
        for end, ref in (("lo", refs[0]), ("hi", refs[1])):
            a0, a1 = boot_level_interval(d, ours[end])
            b0, b1 = boot_level_interval(d, ref)
            gap = max(0.0, a0 - b1, b0 - a1)  # distance between the two level intervals
            if gap > BOOT_LEVEL_TOL:
                c.failures.append(
                    f"bootstrap {key} {end}: ours {ours[end]!r} at levels [{a0:.4f},{a1:.4f}], "
                    f"SciPy {ref!r} at [{b0:.4f},{b1:.4f}]")
        se_ref = res.standard_error
        # a standard error from a distribution of few distinct values is itself too noisy to
        # compare; elsewhere the two must agree within 15 %
        if len(np.unique(d)) >= 50 and abs(ours["se"] - se_ref) > 0.15 * se_ref:
            c.failures.append(f"bootstrap {key} se: ours {ours['se']!r} vs SciPy {se_ref!r}")


def cohen_d(a, b):
    na, nb = len(a), len(b)
    sp = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    return (np.mean(a) - np.mean(b)) / sp


def holm(p):
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    running = 0.0
    for j, i in enumerate(order):
        running = max(running, min(1.0, (m - j) * p[i]))
        adj[i] = running
    return adj


def t_floor(a, b, se):
    """Rounding error that the data allow in a difference of means divided by se: the means of
    data far from zero carry eps * max|x| each, and both NumPy and we round there."""
    eps = np.finfo(float).eps
    return 8 * eps * max(np.max(np.abs(a)), np.max(np.abs(b))) / se / REL


def check_two(c, a, b, r):
    na, nb = len(a), len(b)
    sp = np.sqrt(((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2))
    fl = max(1.0, t_floor(a, b, sp * np.sqrt(1 / na + 1 / nb)))
    t = stats.ttest_ind(a, b)
    c.close("student t", r["student"]["statistic"], t.statistic, floor=fl)
    c.pvalue("student p", r["student"]["pvalue"], t.pvalue)
    t = stats.ttest_ind(a, b, equal_var=False)
    c.close("welch t", r["welch"]["statistic"], t.statistic, floor=fl)
    c.pvalue("welch p", r["welch"]["pvalue"], t.pvalue)
    u = stats.mannwhitneyu(a, b, alternative="two-sided")
    c.close("mwu U", r["mannwhitney"]["statistic"], u.statistic, floor=1)
    c.pvalue("mwu p", r["mannwhitney"]["pvalue"], u.pvalue)
    if len(a) == len(b):
        t = stats.ttest_rel(a, b)
        dd = a - b
        fp = max(1.0, t_floor(a, b, np.std(dd, ddof=1) / np.sqrt(len(dd))))
        c.close("paired t", r["paired_t"]["statistic"], t.statistic, floor=fp)
        c.pvalue("paired p", r["paired_t"]["pvalue"], t.pvalue)
        d = a - b
        nz = d[d != 0]
        ties = len(np.unique(np.abs(nz))) < len(nz)
        # SciPy 1.10 keeps 'exact' when |d| has ties (truncating R+); ours, like later SciPy,
        # uses the normal approximation there: ask SciPy for that explicitly
        method = "approx" if (ties and len(d) <= 50) else "auto"
        if len(nz) > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                w = stats.wilcoxon(a, b, method=method)
            c.close("wilcoxon T", r["wilcoxon"]["statistic"], w.statistic, floor=1)
            c.pvalue("wilcoxon p", r["wilcoxon"]["pvalue"], w.pvalue)
    d = cohen_d(a, b)
    fd = max(1.0, t_floor(a, b, sp))
    c.close("cohen d", r["cohens_d"]["value"], d, floor=fd)
    df = len(a) + len(b) - 2
    j = np.exp(special.gammaln(df / 2) - 0.5 * np.log(df / 2) - special.gammaln((df - 1) / 2))
    c.close("hedges g", r["hedges_g"]["value"], d * j, floor=fd)
    delta = np.mean(np.sign(a[:, None] - b[None, :]))
    c.close("cliffs delta", r["cliffs_delta"]["value"], delta, floor=1)
    ref = holm(r["holm_in"])
    for i, (o, e) in enumerate(zip(r["holm_out"], ref)):
        c.close(f"holm[{i}]", o, e, floor=1e-300)


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    driver = sys.argv[1]
    quick = "--quick" in sys.argv
    sets = datasets()
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, a, b) in enumerate(sets):
            fa = os.path.join(tmp, f"a{k}.txt")
            np.savetxt(fa, a, fmt="%.17g")
            args = [driver]
            boot = (k % 3 == 0) and not quick  # bootstrap on every third set: SciPy is slow
            if boot:
                args += ["--boot", str(BOOT_B), "--seed", str(k + 1)]
            args.append(fa)
            if b is not None:
                fb = os.path.join(tmp, f"b{k}.txt")
                np.savetxt(fb, b, fmt="%.17g")
                args.append(fb)
            proc = subprocess.run(args, capture_output=True, text=True)
            c = Checker(name)
            if proc.returncode != 0:
                c.failures.append(f"driver exit {proc.returncode}: {proc.stderr.strip()}")
            else:
                r = json.loads(proc.stdout)
                check_one(c, a, r["a"], boot)
                if b is not None:
                    check_one(c, b, r["b"], False)
                    check_two(c, a, b, r["ab"])
            if c.failures:
                failed += 1
                print(f"FAIL {name}{' (+bootstrap)' if boot else ''}")
                for f in c.failures:
                    print(f"     {f}")
            else:
                passed += 1
                print(f"ok   {name}{' (+bootstrap)' if boot else ''}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
