#!/usr/bin/env python3
"""The CPU engine against an independent PyTorch implementation (higgs_ref.py).

On tiny and small fp32 engines (unified, and the separate pair):
  - logits of prefill and 30 decode steps, for a text prompt and for a mixed text/audio prompt
    decoding audio, agree to 1e-4 relative to their scale;
  - greedy generation (text tokens, then a 100-frame clip) gives identical text and codes;
  - sampled generation (temperature, top-p, RAS; and top-k) gives identical text and codes for
    the same seed.
usage: test_reference.py HIGGS_BENCH LOGITS_DRIVER
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import higgs_ref  # noqa: E402

LOGIT_TOL = 1e-4


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def guard(self, name, fn, *args):
        """Runs one case; an exception (a crashed driver, say) is that case's failure."""
        try:
            fn(self, *args)
        except Exception as e:  # noqa: BLE001
            self.check(name, False, f"({type(e).__name__}: {e})")

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name} {detail}")


def run(args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def rand_ids(rng, c, n):
    lo = min(c.audio_in, c.audio_out, c.eos, c.audio_out_bos, c.audio_eos)
    return [int(v) for v in rng.integers(0, lo, n)]


def logits_case(res, tag, ref, driver, engine_args, steps, tmp):
    """steps: list of lists of ('t', id) / ('a', codes)."""
    spec = {"steps": [[{"t": v} if k == "t" else {"a": v} for k, v in st] for st in steps]}
    sp, op = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.bin")
    with open(sp, "w") as f:
        json.dump(spec, f)
    run([driver, *engine_args, sp, op])
    ours = np.fromfile(op, dtype="<f4")
    ref.reset()
    pos, off, worst = 0, 0, 0.0
    for st in steps:
        for tok in st:
            r = ref.step(tok, pos).numpy()
            pos += 1
            o = ours[off:off + len(r)]
            off += len(r)
            worst = max(worst, float(np.max(np.abs(o - r)) / max(np.max(np.abs(r)), 1e-30)))
    res.check(f"{tag}: logits within {LOGIT_TOL:g} of scale (worst {worst:.2g})",
              worst <= LOGIT_TOL and off == len(ours), f"({off} of {len(ours)} values)")


def generation_case(res, tag, ref, bench, engine_args, prompt, clip, tmp, seed, extra, sampling,
                    max_text=4, frames=100):
    pf, cf = os.path.join(tmp, "prompt.txt"), os.path.join(tmp, "clip.json")
    with open(pf, "w") as f:
        f.write(" ".join(map(str, prompt)) + "\n")
    with open(cf, "w") as f:
        json.dump(clip, f)
    out = json.loads(run([bench, "generate", *engine_args, "--prompt-tokens", pf, "--audio-in", cf,
                          "--exact", "--text-tokens", str(max_text), "--frames", str(frames),
                          "--seed", str(seed), *extra]))
    text, fr = higgs_ref.generate(ref, prompt, [clip], max_text, frames, True, seed, sampling)
    same = out["text"] == text and out["frames"] == fr
    detail = ""
    if not same:
        first = next((i for i, (a, b) in enumerate(zip(out["frames"], fr)) if a != b), None)
        detail = (f"(text ours {out['text']} ref {text}; frames {len(out['frames'])}/{len(fr)}, "
                  f"first differing frame {first})")
    res.check(f"{tag}: seed {seed} {' '.join(extra)} identical text and {frames} frames", same, detail)


def main():
    bench, driver = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    res = Results()
    with tempfile.TemporaryDirectory() as tmp:
        for preset in ("tiny", "small"):
            edir = os.path.join(tmp, preset)
            run([bench, "build-engine", "--preset", preset, "--dtype", "f32", "--topology", "both",
                 "--seed", "7", "--output", edir])
            ref = higgs_ref.Reference(os.path.join(edir, "unified"),
                                      os.path.join(edir, "weights", "model.safetensors"))
            c = ref.c
            rng = np.random.default_rng(11)
            engines = {"unified": ["--engine", os.path.join(edir, "unified")],
                       "separate": ["--pair", os.path.join(edir, "text"), os.path.join(edir, "audio")]}
            gen_engines = {"unified": ["--engine", os.path.join(edir, "unified")],
                           "separate": ["--text-engine", os.path.join(edir, "text"),
                                        "--audio-engine", os.path.join(edir, "audio")]}
            # 1. text prompt, prefill + 30 text decode steps
            text_steps = [[("t", v) for v in rand_ids(rng, c, 16)]] + \
                         [[("t", v)] for v in rand_ids(rng, c, 30)]
            # 2. mixed prompt (text, a 5-frame clip, text, audio_out_bos), then the BOS frame
            #    (AUDIO_INIT) and 29 audio positions (AUDIO_IN_PROGRESS)
            clip = [[int(v) for v in rng.integers(0, c.cb, 8)] for _ in range(5)]
            mixed = [("t", v) for v in rand_ids(rng, c, 6)] + \
                    [("a", r) for r in higgs_ref.delay_wrap(clip, c.bos_code, c.eos_code)] + \
                    [("t", v) for v in rand_ids(rng, c, 4)] + [("t", c.audio_out_bos)]
            audio_steps = [mixed, [("a", [c.bos_code] * 8)]] + \
                          [[("a", [int(v) for v in rng.integers(0, c.cb, 8)])] for _ in range(29)]
            for name, args in engines.items():
                res.guard(f"{preset} {name} text logits", logits_case,
                          f"{preset} {name} text prompt + 30 text steps", ref, driver, args,
                          text_steps, tmp)
                res.guard(f"{preset} {name} mixed logits", logits_case,
                          f"{preset} {name} mixed prompt + 30 audio steps", ref, driver, args,
                          audio_steps, tmp)
            prompt = rand_ids(rng, c, 10) + [c.audio_in] + rand_ids(rng, c, 5)
            gclip = [[int(v) for v in rng.integers(0, c.cb, 8)] for _ in range(6)]
            reference_sampling = dict(temp=0.7, top_k=0, top_p=0.95, ras=True, window=7, repeat=2)
            topk_sampling = dict(temp=1.0, top_k=20, top_p=1.0, ras=False, window=7, repeat=2)
            for name, args in gen_engines.items():
                res.guard(f"{preset} {name} greedy", generation_case, f"{preset} {name} greedy",
                          ref, bench, args, prompt, gclip, tmp, 1, ["--greedy"], None)
                for seed in (1, 2):
                    res.guard(f"{preset} {name} sampled", generation_case,
                              f"{preset} {name} sampled", ref, bench, args, prompt, gclip, tmp,
                              seed, [], reference_sampling)
                res.guard(f"{preset} {name} top-k", generation_case, f"{preset} {name} top-k", ref,
                          bench, args, prompt, gclip, tmp, 3,
                          ["--temperature", "1", "--top-k", "20", "--top-p", "1", "--no-ras"],
                          topk_sampling)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
