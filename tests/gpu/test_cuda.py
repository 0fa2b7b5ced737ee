#!/usr/bin/env python3
"""GPU tests of the CUDA backend (ctest label "gpu"); exit 77 (skipped) where there is no GPU.

  - logits: CUDA vs CPU on tiny and small engines, fp32 weights within 1e-3 of their scale, bf16
    weights within 1e-2; text prompts with text decode steps, mixed prompts with audio steps,
    passes with tokens on both paths (one path's MLP on a second stream with bf16 weights);
    unified and separate;
  - greedy codes over 100 frames identical between CUDA unified, CUDA separate and CPU;
  - text tokens and audio codes drawn on the device identical to the host's draws from the same
    head outputs, for top-p + RAS, top-k, plain temperature and greedy, with EOS allowed (the
    clip may end), unified, separate and with graphs;
  - audio decode steps queued from state on the device identical to steps planned on the host
    (and to host draws), under continuous batching (requests of different lengths and modes,
    EOS allowed, one leaving and one joining mid-run), unified, separate and with graphs;
  - compute-sanitizer memcheck clean on a forward pass of each topology (when the tool exists),
    and memcheck, racecheck and synccheck clean on base-3b's prompt passes through every
    attention kernel (test_cuda_kernels prompts, where built).
usage: test_cuda.py HIGGS_BENCH LOGITS_DRIVER STREAK_DRIVER [TEST_CUDA_KERNELS]
"""
import array
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

SKIP = 77


def run(args, timeout=900, env=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **env) if env else None)
    return p.returncode, p.stdout, p.stderr


class Results:
    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, ok, detail=""):
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else " " + detail))
        if ok:
            self.passed += 1
        else:
            self.failed += 1


def spec_file(tmp, cfg, rng, kind):
    lo = min(cfg["audio_eos_token_id"], cfg["audio_out_bos_token_id"], cfg["audio_in_token_idx"],
             cfg["audio_out_token_idx"], cfg["text_config"]["eos_token_id"])
    cb = cfg["audio_codebook_size"]

    def text(n):
        return [{"t": rng.randrange(lo)} for _ in range(n)]

    def audio(n):
        return [{"a": [rng.randrange(cb) for _ in range(8)]} for _ in range(n)]

    if kind == "text":
        steps = [[{"t": rng.randrange(lo)} for _ in range(24)]] + [[{"t": rng.randrange(lo)}] for _ in range(30)]
    elif kind == "paths":
        # passes with tokens on both paths: the side path (the one whose MLP products all run the
        # engine's own kernels) is the audio path through the weight-streaming GEMM (12 text + 10
        # audio) and through the batched GEMV (20 + 3), and at 40 tokens with down_proj by the
        # weight-streaming GEMM too (2 + 40), then the text path (2 + 70: the audio path's
        # products go to cuBLASLt)
        steps = [text(12) + audio(10), audio(3) + text(20), text(2) + audio(40), text(2) + audio(70)]
    else:
        steps = [[{"t": rng.randrange(lo)} for _ in range(12)] + [{"t": cfg["audio_out_bos_token_id"]}],
                 [{"a": [cb] * 8}]] + [[{"a": [rng.randrange(cb) for _ in range(8)]}] for _ in range(29)]
    path = os.path.join(tmp, f"spec_{kind}.json")
    with open(path, "w") as f:
        json.dump({"steps": steps}, f)
    return path


def floats(path):
    a = array.array("f")
    with open(path, "rb") as f:
        a.frombytes(f.read())
    return a


def rel_error(a, b, width):
    worst = 0.0
    for r in range(len(a) // width):
        ra, rb = a[r * width:(r + 1) * width], b[r * width:(r + 1) * width]
        scale = max(abs(v) for v in rb) or 1.0
        worst = max(worst, max(abs(x - y) for x, y in zip(ra, rb)) / scale)
    return worst


def main():
    bench, driver, streak = sys.argv[1], sys.argv[2], sys.argv[3]
    kernels = sys.argv[4] if len(sys.argv) > 4 else None  # test_cuda_kernels, where built
    tmp = tempfile.mkdtemp(prefix="hb_gpu_")
    res = Results()
    try:
        rc, _, err = run([bench, "build-engine", "--preset", "tiny", "--dtype", "f32", "--topology",
                          "both", "--output", os.path.join(tmp, "probe")])
        rc, _, err = run([bench, "generate", "--engine", os.path.join(tmp, "probe", "unified"),
                          "--backend", "cuda", "--frames", "2"])
        if rc != 0 and ("no CUDA device" in err or "not in this build" in err):
            print(f"skipped: {err.strip()}")
            return SKIP
        res.check("the CUDA backend runs", rc == 0, err)
        for var, bad in (("HB_WSG", "abc"), ("HB_WSG", "65"), ("HB_MMV", "-1"), ("HB_WSG_SWIGLU", "1x"),
                         ("HB_RESIDENT_O", "2"), ("HB_GEMV_EARLY", "yes"), ("HB_ONE_MMV", "on"),
                         ("HB_SHORT_PF", "-1"), ("HB_PDL", "yes"), ("HB_FUSE_SWIGLU", "2"), ("HB_DEC_MMA", "off"),
                         ("HB_DRAW_WIDE", "-1"), ("HB_DRAW_BKT", "no"), ("HB_ATT_KERNEL", "tiled"), ("HB_GEMM", "lt"),
                         ("HB_SIDE_PATH", "both"), ("HB_DEC_CLUSTER", "8"), ("HB_PF_MMA", "yes"),
                         ("HB_WSG_WGMMA", "on"), ("HB_WSG_DOWN", "65"), ("HB_ONE_LONG", "2"),
                         ("HB_FOLD_NORM", "no")):
            rc, _, err = run([bench, "generate", "--engine", os.path.join(tmp, "probe", "unified"),
                              "--backend", "cuda", "--frames", "2"], env={var: bad})
            res.check(f"{var}={bad} is refused, naming the value", rc != 0 and f"{var} is '{bad}'" in err, err)
        rng = random.Random(5)
        for preset, dtype, tol in (("tiny", "f32", 1e-3), ("small", "f32", 1e-3), ("small", "bf16", 1e-2)):
            d = os.path.join(tmp, f"{preset}_{dtype}")
            rc, _, err = run([bench, "build-engine", "--preset", preset, "--dtype", dtype, "--topology",
                              "both", "--seed", "3", "--output", d])
            with open(os.path.join(d, "unified", "config.json")) as f:
                cfg = json.load(f)
            width = {"text": cfg["text_config"]["vocab_size"], "mixed": 8 * (cfg["audio_codebook_size"] + 2)}
            for topo, eng in (("unified", ["--engine", os.path.join(d, "unified")]),
                              ("separate", ["--pair", os.path.join(d, "text"), os.path.join(d, "audio")])):
                for kind in ("text", "mixed", "paths"):
                    sp = spec_file(tmp, cfg, rng, kind)
                    outs = {}
                    # the prompts' attention (too few tokens for the tiled kernel) runs the decode
                    # kernel attending only; HB_ATT_KERNEL=group makes them run the grouped one; the prompts
                    # (13, 24 tokens) go to the weight-streaming GEMM with bf16 weights (warpgroup
                    # MMAs on sm_90a builds; HB_WSG_WGMMA=0: mma.sync), HB_WSG=0 gives them to cuBLASLt; one-token steps with bf16 weights run the batched
                    # GEMVs (the SwiGLU fused), or with HB_ONE_MMV=0 the one-token GEMVs, which
                    # copy o_proj's rows on chip during attention and request weights before the
                    # previous kernel ends, unless HB_RESIDENT_O=0 HB_GEMV_EARLY=0; with bf16 weights
                    # the mixed prompt's BOS frame (its audio-path token) runs its MLP on a second
                    # stream beside the text tokens', unless HB_SIDE_PATH=0; one-token steps past 32
                    # positions add decode attention's runs as a cluster, unless HB_DEC_CLUSTER=0;
                    # their down_proj runs the one-token split-K GEMV (bf16 activations), unless
                    # HB_ONE_LONG=0 (the batched GEMV); at 1-8 tokens on one path the MLP's input
                    # norm is folded into o_proj and gate/up, unless HB_FOLD_NORM=0 (the norm kernel)
                    variants = {"cuda": None, "cuda (grouped attention)": {"HB_ATT_KERNEL": "group"},
                                "cuda (cuBLASLt products)": {"HB_WSG": "0"},
                                "cuda (the weight-streaming GEMM by mma.sync)": {"HB_WSG_WGMMA": "0"},
                                "cuda (one-token GEMVs)": {"HB_ONE_MMV": "0"},
                                "cuda (one-token GEMVs, streamed o_proj, late loads)": {
                                    "HB_ONE_MMV": "0", "HB_RESIDENT_O": "0", "HB_GEMV_EARLY": "0"},
                                "cuda (the two paths' MLPs one after the other)": {"HB_SIDE_PATH": "0"},
                                "cuda (decode attention's runs through the counter)": {"HB_DEC_CLUSTER": "0"},
                                "cuda (one-token down_proj by the batched GEMV)": {"HB_ONE_LONG": "0"},
                                "cuda (the MLP's input norm as its own kernel)": {"HB_FOLD_NORM": "0"}}
                    for backend, env in (("cpu", None), *(("cuda", e) for e in variants.values())):
                        name = next(k for k, v in variants.items() if v == env) if backend == "cuda" else backend
                        op = os.path.join(tmp, f"out_{backend}.bin")
                        rc, _, err = run([driver, "--backend", backend, *eng, sp, op], env=env)
                        if rc != 0:
                            res.check(f"{preset} {dtype} {topo} {kind}: driver on {name}", False, err)
                            break
                        outs[name] = floats(op)
                    if len(outs) < 1 + len(variants):
                        continue
                    for name in variants:
                        # the mixed case mixes text rows (prompt) and audio rows: compare the audio rows
                        a, b = outs[name], outs["cpu"]
                        if kind == "mixed":
                            skip = 13 * width["text"]
                            a, b = a[skip:], b[skip:]
                        if kind == "paths":  # rows of both widths, in token order
                            with open(sp) as f:
                                rows = [width["mixed" if "a" in tk else "text"]
                                        for st in json.load(f)["steps"] for tk in st]
                            e, off = 0.0, 0
                            for w in rows:
                                e = max(e, rel_error(a[off:off + w], b[off:off + w], w))
                                off += w
                            ok = len(a) == len(b) == off
                        else:
                            e = rel_error(a, b, width[kind])
                            ok = len(a) == len(b)
                        res.check(f"{preset} {dtype} {topo} {kind}: {name} logits within {tol:g} of CPU "
                                  f"(worst {e:.2g})", e <= tol and ok)
            if dtype != "f32":
                continue
            frames = {}
            for name, args in (("cpu", ["--engine", os.path.join(d, "unified")]),
                               ("cuda unified", ["--engine", os.path.join(d, "unified"), "--backend", "cuda"]),
                               ("cuda separate", ["--text-engine", os.path.join(d, "text"), "--audio-engine",
                                                  os.path.join(d, "audio"), "--backend", "cuda"]),
                               ("cuda graphs", ["--engine", os.path.join(d, "unified"), "--backend", "cuda",
                                                "--cuda-graphs"]),
                               ("cuda grouped attention", ["--engine", os.path.join(d, "unified"), "--backend",
                                                           "cuda"])):
                rc, out, err = run([bench, "generate", *args, "--greedy", "--exact", "--frames", "100",
                                    "--text-tokens", "4", "--prompt-length", "20", "--seed", "9"],
                                   env={"HB_ATT_KERNEL": "group"} if "grouped" in name else None)
                frames[name] = json.loads(out)["frames"] if rc == 0 else err
            res.check(f"{preset}: greedy 100 frames identical on CUDA unified, CUDA separate, CUDA "
                      f"with graphs, CUDA with the grouped attention kernel and CPU",
                      frames["cpu"] == frames["cuda unified"] == frames["cuda separate"] == frames["cuda graphs"]
                      == frames["cuda grouped attention"] and len(frames["cpu"]) == 100, str({k: (v if isinstance(v, str) else len(v)) for k, v in frames.items()}))
        d = os.path.join(tmp, "small_f32")
        for label, opts in (("top-p 0.95 + RAS", []), ("top-p 0.95 + RAS, exact", ["--exact"]), ("top-k 40, top-p 0.8", ["--top-k", "40", "--top-p", "0.8"]),
                            ("temperature 1.3", ["--temperature", "1.3", "--top-p", "1", "--no-ras"]),
                            ("greedy", ["--greedy"])):
            got = {}
            for name, args in (("host", ["--engine", os.path.join(d, "unified"), "--host-sampling"]),
                               ("device", ["--engine", os.path.join(d, "unified")]),
                               ("device separate", ["--text-engine", os.path.join(d, "text"), "--audio-engine",
                                                    os.path.join(d, "audio")]),
                               ("device graphs", ["--engine", os.path.join(d, "unified"), "--cuda-graphs"])):
                rc, out, err = run([bench, "generate", *args, "--backend", "cuda", *opts, "--frames", "100",
                                    "--text-tokens", "12", "--prompt-length", "20", "--seed", "11"])
                doc = json.loads(out) if rc == 0 else None
                got[name] = (doc["frames"], doc["draws"], doc["text"], doc["steps"]) if doc else err
            ok = all(not isinstance(v, str) for v in got.values())
            ok = ok and got["host"][1] == "host" and all(got[k][1] == "device" for k in got if k != "host")
            ok = ok and got["host"][3] == "host" and all(got[k][3] == "device" for k in got if k != "host")
            ok = ok and len({json.dumps([v[0], v[2]]) for v in got.values()}) == 1 and len(got["host"][2]) > 0
            res.check(f"small: text tokens and audio codes drawn on the device = drawn on the host "
                      f"({label}, {len(got['host'][2]) if ok else '?'} text tokens, "
                      f"{len(got['host'][0]) if ok else '?'} frames)", ok,
                      str({k: (v if isinstance(v, str) else (len(v[2]), len(v[0]), v[1])) for k, v in got.items()}))
        # steps queued from device state (a streak) against steps planned on the host
        for label, eng, extra in (("unified", [os.path.join(d, "unified")], []),
                                  ("separate", [os.path.join(d, "text"), os.path.join(d, "audio")], []),
                                  ("unified, graphs", [os.path.join(d, "unified")], ["--graphs"]),
                                  ("unified, greedy", [os.path.join(d, "unified")], ["--greedy"])):
            got = {}
            for name, flags in (("device steps", []), ("host steps", ["--host-steps"]),
                                ("host draws", ["--host-sampling"])):
                rc, out, err = run([streak, *flags, *extra, *eng])
                got[name] = json.loads(out) if rc == 0 else err
            ok = all(not isinstance(v, str) for v in got.values())
            detail = str({k: (v if isinstance(v, str) else (v["device_steps"], v["device_planned"], v["steps"]))
                          for k, v in got.items()})
            ok = ok and got["device steps"]["device_steps"] and got["device steps"]["device_planned"] > 0
            ok = ok and not got["host steps"]["device_steps"] and got["host steps"]["device_planned"] == 0
            ok = ok and got["device steps"]["requests"] == got["host steps"]["requests"] == got["host draws"]["requests"]
            nf = [len(r["frames"]) for r in got["device steps"]["requests"]] if ok else []
            ok = ok and len(nf) == 4 and all(n > 0 for n in nf)
            res.check(f"small: steps queued from device state = steps planned on the host = host draws "
                      f"({label}; frames a request {nf}, "
                      f"{got['device steps']['device_planned'] if ok else '?'} positions planned on the device)",
                      ok, detail)
        cs = shutil.which("compute-sanitizer") or "/usr/local/cuda/bin/compute-sanitizer"
        if os.path.exists(cs):
            d = os.path.join(tmp, "tiny_f32")
            with open(os.path.join(d, "unified", "config.json")) as f:
                cfg = json.load(f)
            sp = spec_file(tmp, cfg, rng, "mixed")
            for topo, eng, env in (("unified", ["--engine", os.path.join(d, "unified")], None),
                                   ("unified, grouped attention", ["--engine", os.path.join(d, "unified")],
                                    {"HB_ATT_KERNEL": "group"}),
                                   ("separate", ["--pair", os.path.join(d, "text"), os.path.join(d, "audio")], None)):
                rc, out, err = run([cs, "--tool", "memcheck", "--error-exitcode", "9", driver, "--backend",
                                    "cuda", *eng, sp, os.path.join(tmp, "ms.bin")], env=env)
                res.check(f"compute-sanitizer memcheck clean ({topo})", rc == 0 and "ERROR SUMMARY: 0 errors" in out + err,
                          (out + err)[-1500:])
            # a 24-token prompt with bf16 weights: the weight-streaming GEMM (clusters, distributed
            # shared memory) and the batched GEMV (2 tokens; 1 token, the SwiGLU fused)
            db = os.path.join(tmp, "small_bf16")
            with open(os.path.join(db, "unified", "config.json")) as f:
                cfg = json.load(f)
            sp = os.path.join(tmp, "spec_wsg.json")
            lo = min(cfg["audio_eos_token_id"], cfg["audio_out_bos_token_id"], cfg["audio_in_token_idx"],
                     cfg["audio_out_token_idx"], cfg["text_config"]["eos_token_id"])
            with open(sp, "w") as f:
                json.dump({"steps": [[{"t": rng.randrange(lo)} for _ in range(24)],
                                     [{"t": rng.randrange(lo)} for _ in range(2)],
                                     [{"t": rng.randrange(lo)}]]}, f)
            for tool in ("memcheck", "racecheck"):
                rc, out, err = run([cs, "--tool", tool, "--error-exitcode", "9", driver, "--backend", "cuda",
                                    "--engine", os.path.join(db, "unified"), sp, os.path.join(tmp, "ms.bin")])
                clean = "ERROR SUMMARY: 0 errors" in out + err or "RACECHECK SUMMARY: 0 hazards" in out + err
                res.check(f"compute-sanitizer {tool} clean on bf16 passes of 24, 2 and 1 tokens",
                          rc == 0 and clean, (out + err)[-1500:])
            # bf16 passes with tokens on both paths: one path's MLP on the second stream
            sp = spec_file(tmp, cfg, rng, "paths")
            rc, out, err = run([cs, "--tool", "memcheck", "--error-exitcode", "9", driver, "--backend", "cuda",
                                "--engine", os.path.join(db, "unified"), sp, os.path.join(tmp, "ms.bin")])
            res.check("compute-sanitizer memcheck clean on bf16 passes with both paths side by side",
                      rc == 0 and "ERROR SUMMARY: 0 errors" in out + err, (out + err)[-1500:])
            rc, out, err = run([cs, "--tool", "memcheck", "--error-exitcode", "9", streak,
                                os.path.join(d, "unified")])
            res.check("compute-sanitizer memcheck clean on steps queued from device state",
                      rc == 0 and "ERROR SUMMARY: 0 errors" in out + err, (out + err)[-1500:])
            # a 36-token prompt: every step attends over more than 32 positions, in two runs that
            # decode attention adds as a thread-block cluster
            for tool in ("memcheck", "racecheck", "synccheck"):
                rc, out, err = run([cs, "--tool", tool, "--error-exitcode", "9", bench, "generate", "--engine",
                                    os.path.join(d, "unified"), "--backend", "cuda", "--frames", "12",
                                    "--prompt-length", "36"])
                clean = "ERROR SUMMARY: 0 errors" in out + err or "RACECHECK SUMMARY: 0 hazards" in out + err
                res.check(f"compute-sanitizer {tool} clean on generation with device draws",
                          rc == 0 and clean, (out + err)[-1500:])
            # base-3b's prompt passes (40 tokens; 66 in 5 requests; 129), every attention path, the
            # tensor-core prompt kernel's chunks staged by asynchronous copies among them
            if kernels:
                for tool in ("memcheck", "racecheck", "synccheck"):
                    rc, out, err = run([cs, "--tool", tool, "--error-exitcode", "9", kernels, "prompts"])
                    clean = "ERROR SUMMARY: 0 errors" in out + err or "RACECHECK SUMMARY: 0 hazards" in out + err
                    res.check(f"compute-sanitizer {tool} clean on base-3b prompt passes (kernel tests)",
                              rc == 0 and clean and "all passed" in out, (out + err)[-1500:])
        else:
            print("note: compute-sanitizer not found; memcheck not run")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{res.passed} passed, {res.failed} failed")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
