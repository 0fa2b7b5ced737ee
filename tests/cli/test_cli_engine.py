#!/usr/bin/env python3
"""End-to-end tests of `higgs-bench build-engine` and `higgs-bench generate`: the happy paths
and every bad input (each a clear message naming the value, exit status 2, no crash).

usage: test_cli_engine.py HIGGS_BENCH
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BIN = None


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


class EngineCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.eng = os.path.join(cls.tmp.name, "tiny")
        rc, out, err = run("build-engine", "--preset", "tiny", "--topology", "both",
                           "--max-seq-len", "300", "--output", cls.eng)
        assert rc == 0, err

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def p(self, *parts):
        return os.path.join(self.eng, *parts)

    def test_layout(self):
        for sub in ("unified", "text", "audio"):
            with open(self.p(sub, "engine.json")) as f:
                m = json.load(f)
            self.assertEqual(m["role"], sub)
            self.assertEqual(m["weights"], ["../weights/model.safetensors"])
            self.assertEqual(m["dtype"], "bf16")
            self.assertTrue(os.path.exists(self.p(sub, "config.json")))

    def test_generate_unified_and_pair_agree(self):
        out = os.path.join(self.tmp.name, "u.json")
        rc, _, err = run("generate", "--engine", self.p("unified"), "--frames", "30", "--exact",
                         "--seed", "4", "--output", out)
        self.assertEqual(rc, 0, err)
        rc, so, err = run("generate", "--text-engine", self.p("text"), "--audio-engine",
                          self.p("audio"), "--frames", "30", "--exact", "--seed", "4")
        self.assertEqual(rc, 0, err)
        with open(out) as f:
            a = json.load(f)
        b = json.loads(so)
        self.assertEqual(a["format"], "higgs-bench/generation")
        self.assertEqual(len(a["frames"]), 30)
        self.assertEqual(a["frames"], b["frames"])
        self.assertEqual((a["topology"], b["topology"]), ("unified", "separate"))
        # the output file is never overwritten
        rc, _, err = run("generate", "--engine", self.p("unified"), "--output", out)
        self.assertEqual(rc, 2)
        self.assertIn("nothing was overwritten", err)

    def test_bad_inputs(self):
        tmp = self.tmp.name
        prompt = os.path.join(tmp, "long.txt")
        with open(prompt, "w") as f:
            f.write(" ".join(["7"] * 400) + "\n")
        notint = os.path.join(tmp, "frac.txt")
        with open(notint, "w") as f:
            f.write("1 2.5 3\n")
        clip = os.path.join(tmp, "clip.json")
        with open(clip, "w") as f:
            f.write("[[1,2,3]]")
        missing = os.path.join(tmp, "missing")
        cases = [
            (["generate", "--engine", missing], "engine directory '" + missing),
            (["generate", "--engine", tmp], "no engine.json"),
            (["generate", "--engine", self.p("text")], "is a text engine"),
            (["generate", "--text-engine", self.p("audio"), "--audio-engine", self.p("text")],
             "a text engine is needed"),
            (["generate", "--text-engine", self.p("text")], "needs both"),
            (["generate"], "give --engine"),
            (["generate", "--engine", self.p("unified"), "--frames", "0"], "--frames: '0' is not a positive integer"),
            (["generate", "--engine", self.p("unified"), "--prompt-tokens", prompt],
             "max sequence length is 300"),
            (["generate", "--engine", self.p("unified"), "--prompt-tokens", notint], "2.5"),
            (["generate", "--engine", self.p("unified"), "--audio-in", clip], "not an array of 8 codes"),
            (["generate", "--engine", self.p("unified"), "--backend", "tpu"], "'tpu' is not one of"),
            (["generate", "--engine", self.p("unified"), "--top-p", "0"], "--top-p: 0 is outside"),
            (["build-engine", "--preset", "huge", "--output", os.path.join(tmp, "x")], "'huge' is not one of"),
            (["build-engine", "--preset", "tiny"], "--output DIR is required"),
            (["build-engine", "--preset", "tiny", "--checkpoint", tmp, "--output", os.path.join(tmp, "y")],
             "exactly one"),
            (["build-engine", "--preset", "tiny", "--output", self.eng], "not empty"),
            (["build-engine", "--checkpoint", missing, "--output", os.path.join(tmp, "z")], missing),
            (["build-engine", "--preset", "tiny", "--max-batch", "0", "--output", os.path.join(tmp, "w")],
             "'0' is not a positive integer"),
        ]
        for args, msg in cases:
            with self.subTest(args=args):
                rc, out, err = run(*args)
                self.assertEqual(rc, 2, f"rc {rc}: {err}")
                self.assertIn(msg, err)
                self.assertNotIn("Sanitizer", err)

    def test_sharded_checkpoint(self):
        """A checkpoint in 2 shards with model.safetensors.index.json: the index is referenced and
        every listed tensor checked against the shard the index names."""
        import struct
        with open(self.p("weights", "model.safetensors"), "rb") as f:
            raw = f.read()
        (hlen,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + hlen])
        data = raw[8 + hlen:]
        names = [n for n in header if n != "__metadata__"]
        ck = os.path.join(self.tmp.name, "sharded")
        os.mkdir(ck)
        weight_map = {}
        for i, part in enumerate((names[: len(names) // 2], names[len(names) // 2:])):
            fname = f"model-0000{i + 1}-of-00002.safetensors"
            h, blob, off = {}, b"", 0
            for n in part:
                b, e = header[n]["data_offsets"]
                h[n] = dict(header[n], data_offsets=[off, off + e - b])
                blob += data[b:e]
                off += e - b
                weight_map[n] = fname
            hj = json.dumps(h).encode()
            with open(os.path.join(ck, fname), "wb") as f:
                f.write(struct.pack("<Q", len(hj)) + hj + blob)
        with open(os.path.join(ck, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f)
        with open(self.p("unified", "config.json")) as f:
            cfg = f.read()
        with open(os.path.join(ck, "config.json"), "w") as f:
            f.write(cfg)
        out = os.path.join(self.tmp.name, "from_shards")
        rc, _, err = run("build-engine", "--checkpoint", ck, "--topology", "separate", "--output", out)
        self.assertEqual(rc, 0, err)
        a = run("generate", "--text-engine", os.path.join(out, "text"), "--audio-engine",
                os.path.join(out, "audio"), "--frames", "10", "--exact")[1]
        b = run("generate", "--engine", self.p("unified"), "--frames", "10", "--exact")[1]
        self.assertEqual(json.loads(a)["frames"], json.loads(b)["frames"])
        # an index that names the wrong shard for a tensor
        wrong = dict(weight_map)
        first = names[0]
        wrong[first] = "model-00002-of-00002.safetensors"
        with open(os.path.join(ck, "model.safetensors.index.json"), "w") as f:
            json.dump({"weight_map": wrong}, f)
        rc, _, err = run("generate", "--text-engine", os.path.join(out, "text"), "--audio-engine",
                         os.path.join(out, "audio"))
        self.assertEqual(rc, 2)
        self.assertIn(first, err)

    def test_checkpoint_round_trip(self):
        """An HF-style checkpoint (config.json + weights) builds an engine that references the
        checkpoint's file instead of copying it, and generates what the preset engine does."""
        ck = os.path.join(self.tmp.name, "ckpt")
        os.mkdir(ck)
        os.link(self.p("weights", "model.safetensors"), os.path.join(ck, "model.safetensors"))
        with open(self.p("unified", "config.json")) as f:
            cfg = json.load(f)
        cfg["audio_encoder_config"] = {"d_model": 1280}  # present in real configs, ignored
        with open(os.path.join(ck, "config.json"), "w") as f:
            json.dump(cfg, f)
        out = os.path.join(self.tmp.name, "from_ckpt")
        rc, _, err = run("build-engine", "--checkpoint", ck, "--output", out)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "engine.json")) as f:
            m = json.load(f)
        self.assertEqual(m["weights"], [os.path.join(os.path.realpath(ck), "model.safetensors")])
        a = run("generate", "--engine", out, "--frames", "10", "--exact")[1]
        b = run("generate", "--engine", self.p("unified"), "--frames", "10", "--exact")[1]
        self.assertEqual(json.loads(a)["frames"], json.loads(b)["frames"])
        # a checkpoint missing a tensor the config implies
        cfg["text_config"]["num_hidden_layers"] = 3
        cfg["audio_dual_ffn_layers"] = [0, 1, 2]
        bad = os.path.join(self.tmp.name, "ckpt_bad")
        os.mkdir(bad)
        os.link(self.p("weights", "model.safetensors"), os.path.join(bad, "model.safetensors"))
        with open(os.path.join(bad, "config.json"), "w") as f:
            json.dump(cfg, f)
        rc, _, err = run("build-engine", "--checkpoint", bad, "--output", os.path.join(self.tmp.name, "o2"))
        self.assertEqual(rc, 2)
        self.assertIn("lacks tensor 'layers.2.", err)


if __name__ == "__main__":
    BIN = sys.argv[1]
    result = unittest.main(argv=[sys.argv[0], "-v"], exit=False).result
    failed = len(result.failures) + len(result.errors)
    print(f"{max(result.testsRun - failed, 0)} passed, {failed} failed")
    sys.exit(1 if failed else 0)
