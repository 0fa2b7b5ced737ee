#!/usr/bin/env python3
"""End-to-end tests of `higgs-bench stats`: outputs, exit codes and every bad-input message.

usage: test_cli_stats.py HIGGS_BENCH EXAMPLES_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BIN = None
EXAMPLES = None


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def strict_json(text):
    """JSON without NaN/Infinity, which are not JSON."""
    def reject(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=reject)


class StatsCli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.base = os.path.join(EXAMPLES, "latency_baseline.csv")
        self.cand = os.path.join(EXAMPLES, "latency_candidate.csv")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_describe_text_and_json(self):
        rc, out, err = run("stats", "describe", self.base, "--column", "latency_ms")
        self.assertEqual(rc, 0, err)
        self.assertIn("95% CI median", out)
        self.assertIn("1 by iqr (1 severe)", out)
        rc, out, err = run("stats", "describe", self.base, "--column", "latency_ms",
                           "--format", "json", "--confidence-level", "0.9")
        self.assertEqual(rc, 0, err)
        doc = strict_json(out)
        self.assertEqual(doc["schema"], "higgs-bench/stats-describe")
        self.assertEqual(doc["sample"]["n"], 50)
        self.assertEqual(doc["confidence_level"], 0.9)
        ci = doc["intervals"]["median_bootstrap"]
        self.assertLessEqual(ci["lo"], doc["sample"]["describe"]["median"])
        self.assertEqual(doc["sample"]["outliers"]["items"][0]["index"], 17)  # 0-based: run 18

    def test_remove_outliers_reports_count(self):
        rc, out, _ = run("stats", "describe", self.base, "--column", "latency_ms",
                         "--remove-outliers", "--format", "json")
        doc = strict_json(out)
        self.assertEqual(rc, 0)
        self.assertEqual(doc["sample"]["n"], 49)
        self.assertEqual(doc["sample"]["outliers"]["removed_count"], 1)
        self.assertTrue(doc["sample"]["outliers"]["removed"])

    def test_compare_improved_and_regressed_exit_codes(self):
        rc, out, err = run("stats", "compare", self.base, self.cand, "--column", "latency_ms",
                           "--paired", "--format", "json")
        self.assertEqual(rc, 0, err)
        doc = strict_json(out)
        self.assertEqual(doc["change"]["verdict"], "improved")
        self.assertIn("wilcoxon", doc["tests"])
        self.assertEqual(doc["effect_sizes"]["cohens_d"]["label"], "large")
        # swapped: the candidate is slower -> regression, exit 1, with a severity
        rc, out, _ = run("stats", "compare", self.cand, self.base, "--column", "latency_ms")
        self.assertEqual(rc, 1)
        self.assertIn("Verdict: regressed (severity medium)", out)
        # higher is better: the same data is an improvement
        rc, out, _ = run("stats", "compare", self.cand, self.base, "--column", "latency_ms",
                         "--direction", "higher")
        self.assertEqual(rc, 0)
        self.assertIn("Verdict: improved", out)

    def test_same_data_no_change(self):
        rc, out, _ = run("stats", "compare", self.base, self.base, "--column", "latency_ms")
        self.assertEqual(rc, 0)
        self.assertIn("Verdict: no change", out)

    def test_zero_variance_is_defined(self):
        a = self.write("a.txt", "5\n5\n5\n5\n")
        b = self.write("b.txt", "5\n5\n5\n")
        c = self.write("c.txt", "6\n6\n6\n")
        rc, out, err = run("stats", "describe", a, "--format", "json")
        self.assertEqual(rc, 0, err)
        d = strict_json(out)["sample"]["describe"]
        self.assertEqual((d["sd"], d["cv"], d["mad"]), (0, 0, 0))
        rc, out, err = run("stats", "compare", a, b, "--format", "json")
        self.assertEqual(rc, 0, err)
        doc = strict_json(out)
        self.assertEqual(doc["tests"]["welch_t"]["pvalue"], 1)
        self.assertEqual(doc["change"]["verdict"], "no change")
        rc, out, err = run("stats", "compare", a, c, "--format", "json")
        self.assertEqual(rc, 1, err)  # 5 -> 6 is a 20 % regression with certainty
        doc = strict_json(out)
        self.assertIsNone(doc["effect_sizes"]["cohens_d"]["value"])
        self.assertEqual(doc["effect_sizes"]["cohens_d"]["infinite"], 1)
        self.assertEqual(doc["change"]["severity"], "high")

    def test_bad_inputs(self):
        missing = os.path.join(self.tmp.name, "missing.csv")
        cases = [
            (["stats", "describe", missing], "cannot open '" + missing),
            (["stats", "describe", self.write("e.txt", "")], "is empty"),
            (["stats", "describe", self.write("h.csv", "latency\n")], "no samples"),
            (["stats", "describe", self.write("x.txt", "1\n2\nfoo\n")], "x.txt:3: 'foo' is not a number"),
            (["stats", "describe", self.write("n.txt", "1\nNaN\n3\n")], "not a finite number"),
            (["stats", "describe", self.write("i.txt", "1\n-inf\n")], "not a finite number"),
            (["stats", "describe", self.write("one.txt", "42\n")], "1 sample, at least 2 needed"),
            (["stats", "describe", self.base], "3 columns"),
            (["stats", "describe", self.base, "--column", "nope"], "no column 'nope'"),
            (["stats", "compare", self.base, self.write("s.txt", "1\n2\n3\n"), "--paired",
              "--column", "latency_ms"], "no column 'latency_ms'"),
            (["stats", "compare", self.write("p1.txt", "1\n2\n3\n"),
              self.write("p2.txt", "1\n2\n"), "--paired"], "equal length"),
            (["stats", "describe", self.base, "--outliers", "grubbs"], "'grubbs' is not one of"),
            (["stats", "compare", self.base, self.cand, "--alpha", "1.5"], "--alpha: 1.5 is outside"),
            (["stats", "compare", self.base, self.cand, "--noise-threshold", "-1"], "outside"),
            (["stats", "describe", self.base, "--confidence-level", "95"], "outside (0, 1)"),
            (["stats", "describe", self.base, "--resamples", "10"], "outside [100"),
            (["stats", "describe"], "expected 1 argument (FILE), got 0"),
            (["stats", "frobnicate"], "'stats frobnicate' is not a command"),
            (["nonsense"], "'nonsense' is not a higgs-bench command"),
        ]
        for args, message in cases:
            with self.subTest(args=args):
                rc, out, err = run(*args)
                self.assertEqual(rc, 2, f"{args}: rc {rc}, stderr {err}")
                self.assertIn(message, err)
                self.assertNotIn("Sanitizer", err)

    def test_directory_is_not_a_file(self):
        rc, _, err = run("stats", "describe", self.tmp.name)
        self.assertEqual(rc, 2)
        self.assertIn(self.tmp.name, err)

    def test_help(self):
        for args in (["--help"], ["stats", "--help"], ["stats", "compare", "--help"]):
            rc, out, _ = run(*args)
            self.assertEqual(rc, 0)
            self.assertIn("usage", out)
        _, out, _ = run("stats", "compare", "--help")
        for opt in ("--paired", "--confidence-level", "--noise-threshold", "--alpha",
                    "--outliers", "--format", "--column"):
            self.assertIn(opt, out)


if __name__ == "__main__":
    BIN, EXAMPLES = sys.argv[1], sys.argv[2]
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{max(result.testsRun - failed, 0)} passed, {failed} failed")
    sys.exit(1 if failed else 0)
