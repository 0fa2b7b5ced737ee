#!/usr/bin/env python3
"""bench_engine --samples: each figure's raw times as CSV files that `higgs-bench stats compare`
reads, a directory made where missing, and nothing a user has written ever overwritten.

usage: test_bench_samples.py HIGGS_BENCH BENCH_ENGINE
"""
import os
import subprocess
import sys
import tempfile
import unittest

HB = BENCH = None


def run(*args):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


class Samples(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.eng = os.path.join(cls.tmp.name, "tiny")
        rc, _, err = run(HB, "build-engine", "--preset", "tiny", "--max-seq-len", "600", "--output", cls.eng)
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def bench(self, samples, *extra):
        return run(BENCH, "--backend", "cpu", "--context", "16", "--batches", "1,2", *extra,
                   "--samples", samples, self.eng)

    def test_files_and_compare(self):
        d = os.path.join(self.tmp.name, "new", "engine")  # two levels missing: the parent too
        rc, out, err = self.bench(d, "--mixed", "on")
        self.assertEqual(rc, 0, err)
        rows = {"prefill_128.csv": 7, "prefill_512.csv": 7, "step_b1.csv": 100, "step_b2.csv": 100,
                "mixed_b2.csv": 30, "text_step.csv": 30, "ttfa.csv": 7}
        self.assertEqual(sorted(os.listdir(d)), sorted(rows))
        for name, n in rows.items():
            with open(os.path.join(d, name)) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "ms", name)
            vals = [float(v) for v in lines[1:]]
            self.assertEqual(len(vals), n, name)
            self.assertTrue(all(v > 0 for v in vals), name)
        # the median printed for a figure is the median of its file
        with open(os.path.join(d, "step_b1.csv")) as f:
            vals = sorted(float(v) for v in f.read().splitlines()[1:])
        med = 0.5 * (vals[49] + vals[50])
        line = next(ln for ln in out.splitlines() if ln.startswith("audio decode step, batch 1 "))
        self.assertAlmostEqual(float(line.split()[5]), med, delta=0.0006)
        rc, out, err = run(HB, "stats", "compare", os.path.join(d, "step_b1.csv"), os.path.join(d, "step_b2.csv"),
                           "--column", "ms")
        self.assertIn(rc, (0, 1), err)
        self.assertIn("Change of the median", out)

    def test_never_overwrites(self):
        d = os.path.join(self.tmp.name, "kept")
        os.makedirs(d)
        mine = os.path.join(d, "prefill_128.csv")
        with open(mine, "w") as f:
            f.write("a user's data\n")
        rc, _, err = self.bench(d)
        self.assertNotEqual(rc, 0)
        self.assertIn("prefill_128.csv", err)
        self.assertIn("never overwritten", err)
        with open(mine) as f:
            self.assertEqual(f.read(), "a user's data\n")

    def test_bad_directory(self):
        f = os.path.join(self.tmp.name, "a_file")
        with open(f, "w") as fh:
            fh.write("x\n")
        for bad in (f, os.path.join(f, "below"), ""):
            rc, _, err = self.bench(bad)
            self.assertEqual(rc, 2, bad)
            self.assertIn(f"--samples is '{bad}'", err)


if __name__ == "__main__":
    HB, BENCH = sys.argv[1], sys.argv[2]
    unittest.main(argv=sys.argv[:1], verbosity=2)
