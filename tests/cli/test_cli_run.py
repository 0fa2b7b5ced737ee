#!/usr/bin/env python3
"""End-to-end tests of `higgs-bench run`, `report` and `compare` on tiny engines: every
benchmark type, dry-run, claims that pass and fail, baselines, report regeneration, the HTML in
headless Chromium, bad inputs and Ctrl-C.

usage: test_cli_run.py HIGGS_BENCH
"""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

BIN = None


def load(path):
    with open(path) as f:
        return json.load(f)


def run(*args, timeout=600):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


class RunCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="hb_run_")
        cls.eng = os.path.join(cls.tmp, "tiny")
        rc, _, err = run("build-engine", "--preset", "tiny", "--topology", "both", "--max-batch", "4",
                         "--max-seq-len", "512", "--output", cls.eng)
        assert rc == 0, err
        cls.small = os.path.join(cls.tmp, "other")
        rc, _, err = run("build-engine", "--preset", "small", "--topology", "unified",
                         "--max-batch", "4", "--max-seq-len", "512", "--output", cls.small)
        assert rc == 0, err
        cls.first = os.path.join(cls.tmp, "first")
        cls.rc, cls.out, cls.err = run(*cls.engines(), *cls.quick(), "--output-dir", cls.first,
                                       "--enable-concurrent", "--arrival-rates", "2", "50",
                                       "--save-baseline", "b1")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def engines(cls, unified=None, text=None, audio=None):
        return ["run", "--unified-engine", unified or os.path.join(cls.eng, "unified"),
                "--separate-text-engine", text or os.path.join(cls.eng, "text"),
                "--separate-audio-engine", audio or os.path.join(cls.eng, "audio")]

    @staticmethod
    def quick():
        return ["--num-runs", "4", "--warmup-runs", "1", "--batch-sizes", "1", "2",
                "--sequence-lengths", "16", "--max-concurrent-requests", "2", "--audio-seconds", "0.4"]

    def report(self, d):
        return load(glob.glob(os.path.join(d, "benchmark_report_*.json"))[0])

    def test_every_type_and_every_output(self):
        self.assertIn(self.rc, (0, 1), self.err)
        d = self.first
        for pattern in ("benchmark_report_*.json", "benchmark_summary_*.txt", "benchmark_report_*.html",
                        "benchmark_samples_*.csv", "benchmark_summary_*.csv",
                        "tts_generation_modes_results_*.json", "tts_delay_patterns_results_*.json",
                        "tts_streaming_results_*.json", "plots/dashboard_*.png",
                        "plots/detailed_latency_*.png", "plots/detailed_memory_*.png",
                        "plots/detailed_throughput_*.png", "benchmark_runner.log", "baselines/b1.json"):
            self.assertEqual(len(glob.glob(os.path.join(d, pattern))), 1, pattern)
        r = self.report(d)
        types = {s["type"] for s in r["series"]}
        self.assertEqual(types, {"latency", "memory", "throughput", "cuda_graphs", "generation_modes",
                                 "delay_patterns", "streaming", "dualffn"})
        ids = {s["id"] for s in r["series"]}
        self.assertIn("throughput/audio_s_per_s/open_R2/unified", ids)
        self.assertIn("throughput/request_p99_ms/open_R50/separate", ids)
        graphs = [s for s in r["series"] if s["type"] == "cuda_graphs"]
        self.assertTrue(all(s["samples"] == [] and "not applicable" in s["note"] for s in graphs))
        lat = [s for s in r["series"] if s["id"] == "latency/e2e_ms/L16_B1/unified"][0]
        self.assertEqual(len(lat["samples"]), 4)  # every raw sample kept
        self.assertGreater(len(r["comparisons"]), 10)
        self.assertEqual(len(r["claims"]), 5)
        names = {c["name"]: c for c in r["claims"]}
        self.assertFalse(names["cuda_graph_benefit_pct"]["applicable"])
        self.assertIn("criteria", names["streaming_latency_ms"])
        self.assertIn(r["harness"]["timer_resolution_ns"] > 0, (True,))
        # the CPU backend draws the audio codes on the host, and the fingerprint says so
        self.assertEqual({e["draws"] for e in r["environment"]["engines"].values()}, {"host"})
        self.assertEqual({e["steps"] for e in r["environment"]["engines"].values()}, {"planned on the host"})
        with open(glob.glob(os.path.join(d, "benchmark_summary_*.txt"))[0]) as f:
            last = f.read().strip().splitlines()[-1]
        self.assertIn(last, ("Overall Validation: PASSED", "Overall Validation: FAILED"))
        self.assertEqual(last.endswith("PASSED"), self.rc == 0)
        # delay pattern: a clip of T frames takes T + 8 positions
        dp = [s for s in r["series"] if s["id"] == "delay_patterns/positions_per_clip/clip_1s/unified"][0]
        self.assertEqual(set(dp["samples"]), {25 + 8})
        # the samples are readable by `stats describe` (a results JSON is a FILE it takes)
        rc, out, err = run("stats", "describe", glob.glob(os.path.join(d, "benchmark_report_*.json"))[0],
                           "--column", "latency/e2e_ms/L16_B1/unified")
        self.assertEqual(rc, 0, err)
        self.assertIn("n               4", out)

    def test_dry_run_runs_nothing(self):
        d = os.path.join(self.tmp, "dry")
        rc, out, err = run(*self.engines(), *self.quick(), "--output-dir", d, "--dry-run")
        self.assertEqual(rc, 0, err)
        self.assertIn("dry run", out)
        self.assertIn("measured runs:", out)
        self.assertFalse(os.path.exists(d))

    def test_claims_pass_and_fail(self):
        good = os.path.join(self.tmp, "good.json")
        bad = os.path.join(self.tmp, "bad.json")
        claim = {"name": "ttfa", "metric": "streaming/ttfa_ms", "kind": "value", "direction": "lower"}
        for path, hi in ((good, 1e6), (bad, 1e-6)):
            with open(path, "w") as f:
                json.dump({"claims": [dict(claim, min=0, max=hi)]}, f)
        for path, want in ((good, 0), (bad, 1)):
            d = os.path.join(self.tmp, "claims_" + str(want))
            rc, out, err = run(*self.engines(), *self.quick(), "--benchmark-types", "streaming",
                               "--claims", path, "--output-dir", d)
            self.assertEqual(rc, want, err)
            self.assertIn("Overall Validation: " + ("PASSED" if want == 0 else "FAILED"), out)

    def test_baseline_compare_and_regression(self):
        base = os.path.join(self.first, "baselines", "b1.json")
        d = os.path.join(self.tmp, "second")
        rc, out, err = run(*self.engines(), *self.quick(), "--benchmark-types", "latency",
                           "--baseline", base, "--output-dir", d)
        self.assertIn(rc, (0, 1), err)
        r = self.report(d)
        self.assertEqual(r["baseline"]["source"], base)
        self.assertGreater(len(r["baseline"]["comparisons"]), 0)
        # a slower copy of the same results is a regression, offline: every sample moved past the
        # slowest one by half the median (a factor alone can leave 4 noisy samples overlapping, and
        # 4 against 4 are significant only when they do not overlap)
        slow = load(base)
        for s in slow["series"]:
            if s["metric"] == "e2e_ms":
                v = sorted(s["samples"])
                shift = v[-1] - v[0] + 0.5 * (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2
                s["samples"] = [x + shift for x in s["samples"]]
        sp = os.path.join(self.tmp, "slow.json")
        with open(sp, "w") as f:
            json.dump(slow, f)
        rc, out, err = run("compare", base, sp)
        self.assertEqual(rc, 1, err)
        self.assertIn("regressed", out)
        rc, out, err = run("compare", base, base)
        self.assertEqual(rc, 0, err)
        self.assertIn("0 regressed", out)
        # the same baseline name again is refused before anything runs
        rc, _, err = run(*self.engines(), *self.quick(), "--output-dir", self.first,
                         "--save-baseline", "b1")
        self.assertEqual(rc, 2)
        self.assertIn("already exists", err)

    def test_report_regenerates(self):
        src = glob.glob(os.path.join(self.first, "benchmark_report_*.json"))[0]
        d = os.path.join(self.tmp, "regen")
        rc, out, err = run("report", src, "--output-dir", d)
        self.assertIn(rc, (0, 1), err)
        self.assertEqual(rc, self.rc)
        a, b = load(src), self.report(d)
        self.assertEqual([s["samples"] for s in a["series"]], [s["samples"] for s in b["series"]])
        self.assertEqual([c.get("validated") for c in a["claims"]], [c.get("validated") for c in b["claims"]])
        self.assertEqual(len(glob.glob(os.path.join(d, "plots", "*.png"))), 4)

    def test_html_in_chromium(self):
        chromium = shutil.which("chromium")
        self.assertIsNotNone(chromium, "chromium is not installed (scripts/install-deps.sh --test)")
        html = glob.glob(os.path.join(self.first, "benchmark_report_*.html"))[0]
        prof = tempfile.mkdtemp(dir=self.tmp)
        args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", f"--user-data-dir={prof}", "--enable-logging=stderr", "--v=0"]
        p = subprocess.run(args + ["--dump-dom", "file://" + html], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        dom = p.stdout
        for needle in ('id="overall"', "Overall Validation:", 'class="claim"', 'class="comparison"',
                       "<svg", 'id="environment"', "latency_improvement_ms", "not applicable"):
            self.assertIn(needle, dom)
        console = [l for l in p.stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]
        self.assertEqual(console, [], "console messages while rendering")
        shot = os.path.join(self.tmp, "shot.png")
        subprocess.run(args + [f"--screenshot={shot}", "--window-size=1200,2000", "file://" + html],
                       capture_output=True, timeout=120)
        self.assertGreater(os.path.getsize(shot), 20000)  # a rendered page, not a blank one

    def test_bad_inputs(self):
        t = self.tmp
        blocker = os.path.join(t, "a_file")
        open(blocker, "w").close()
        e = os.path.join(self.eng, "")
        cases = [
            (self.engines(unified=os.path.join(t, "missing")), "missing"),
            (self.engines(audio=os.path.join(e, "text")), "audio engine is needed"),
            (self.engines(unified=self.small) + ["--batch-sizes", "1", "--dry-run"], "different models"),
            (self.engines() + ["--batch-sizes", "0"], "--batch-sizes: '0' is not a positive integer"),
            (self.engines() + ["--arrival-rates", "2", "fast"], "--arrival-rates: 'fast'"),
            (self.engines() + ["--batch-sizes", "16", "--dry-run"], "exceeds the engines' max batch"),
            (self.engines() + ["--benchmark-types", "latency", "speed"], "'speed' is not one of"),
            (self.engines() + ["--output-dir", os.path.join(blocker, "sub")], "output directory"),
            (["run", "--unified-engine", os.path.join(e, "unified")], "give all of"),
            (self.engines() + ["--model-config", os.path.join(self.small, "config.json"), "--dry-run",
                               "--batch-sizes", "1"], "does not match"),
            (self.engines() + ["--claims", blocker], "claims file"),
            (self.engines() + ["--baseline", os.path.join(t, "nope.json")], "nope.json"),
            (self.engines() + ["--save-baseline", "../x"], "is not a name"),
            (["run", "--cache-dir", os.path.join(blocker, "sub"), "--dry-run"],
             "cannot create the cache directory '" + os.path.join(blocker, "sub") + "'"),
            (["report", os.path.join(t, "nope.json")], "nope.json"),
            (["compare", blocker, blocker], "a_file"),
        ]
        for args, msg in cases:
            with self.subTest(args=args[-3:]):
                rc, out, err = run(*args)
                self.assertEqual(rc, 2, f"rc {rc}: {err}")
                self.assertIn(msg, err)
                self.assertNotIn("Sanitizer", err)

    def test_interrupt_saves_partial_results(self):
        d = os.path.join(self.tmp, "interrupted")
        p = subprocess.Popen([BIN, *self.engines(), "--num-runs", "100000", "--warmup-runs", "0",
                              "--benchmark-types", "latency", "--batch-sizes", "1",
                              "--sequence-lengths", "16", "--audio-seconds", "0.4", "--output-dir", d],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 130, err)
        r = self.report(d)
        self.assertTrue(r["partial"])
        self.assertGreater(len(r["series"][0]["samples"]), 0)
        self.assertIn("PARTIAL", out)
        self.assertIn("Overall Validation: FAILED", out)


if __name__ == "__main__":
    BIN = sys.argv[1]
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{max(result.testsRun - failed, 0)} passed, {failed} failed")
    sys.exit(1 if failed else 0)
