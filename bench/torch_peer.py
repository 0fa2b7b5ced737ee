#!/usr/bin/env python3
"""The PyTorch peer: the Higgs Audio v2 audio decode step in the reference implementation's style.

The released 3B layout in bf16 with random weights (timing does not depend on the values),
static KV caches, the decoder layers replayed as one CUDA graph per batch size (as the reference
does; embeddings, the final norm and the head run eagerly), and eager prefill. The layers follow
the transformers Llama code the reference runs on: the RoPE tables' rows for the step taken once
per pass in the model's dtype and applied as q cos + rotate_half(q) sin, the static cache written
with index_copy_ at the step's positions, and one additive mask per pass for scaled-dot-product
attention over the whole cache (GQA inside SDPA). (An earlier form took the rows per layer in
fp32, wrote the cache with scatter_ and passed a boolean mask: on an H200 its batch-1 step took
4.50 ms against 3.54 ms for this one, 2026-11-27.) It prints, for
each batch size at the given context: the eager step, the graph step, audio seconds per wall
second, and the time to the first complete audio frame for a 128-token prompt (eager prefill,
then 8 audio steps: the AUDIO_INIT step and 7 delay steps).

usage: torch_peer.py [--batches 1,8,32,64] [--context 512] [--samples DIR]
--samples DIR also writes the raw times (ms, in run order, a CSV column "ms") of each batch's graph
step (step_bN.csv) and of the first frame (ttfa.csv) to DIR, as bench_engine --samples does, for
`higgs-bench stats compare`; a file that already exists is never overwritten.
"""
import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

H, I, L, NH, NKV, HD, V, A = 3072, 8192, 28, 24, 8, 128, 128256, 8 * 1026
CACHE = 1024


def rope_tables(max_pos, device):
    j = torch.arange(HD // 2, dtype=torch.float64)
    inv = 500000.0 ** (-2.0 * j / HD)
    wl = 2 * torch.pi / inv
    s = (8192 / wl - 1) / 3
    inv = torch.where(wl > 8192, inv / 32, torch.where(wl < 2048, inv, (1 - s) * inv / 32 + s * inv))
    ang = torch.arange(max_pos, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).to(device, torch.float32), torch.sin(ang).to(device, torch.float32)


class Model:
    def __init__(self, dev):
        g = torch.Generator(device=dev).manual_seed(1)

        def w(*shape, scale=0.02):
            return (torch.randn(*shape, device=dev, generator=g, dtype=torch.bfloat16) * scale)

        self.layers = []
        for _ in range(L):
            self.layers.append(dict(
                wqkv=w(NH * HD + 2 * NKV * HD, H), wo=w(H, NH * HD),
                a_in=torch.ones(H, device=dev, dtype=torch.bfloat16),
                a_post=torch.ones(H, device=dev, dtype=torch.bfloat16),
                a_gu=w(2 * I, H), a_down=w(H, I),
                t_in=torch.ones(H, device=dev, dtype=torch.bfloat16),
                t_post=torch.ones(H, device=dev, dtype=torch.bfloat16),
                t_gu=w(2 * I, H), t_down=w(H, I)))
        self.embed = w(V, H)
        self.audio_embed = w(A, H)
        self.norm = torch.ones(H, device=dev, dtype=torch.bfloat16)
        self.audio_head = w(A, H)
        self.cos, self.sin = rope_tables(CACHE, dev)
        self.dev = dev

    def alloc_cache(self, B):
        return [(torch.zeros(B, NKV, CACHE, HD, device=self.dev, dtype=torch.bfloat16),
                 torch.zeros(B, NKV, CACHE, HD, device=self.dev, dtype=torch.bfloat16)) for _ in range(L)]

    @staticmethod
    def rms(x, w):
        return F.rms_norm(x, (H,), w, 1e-5)

    @staticmethod
    def rope(x, cos, sin):
        """x [B, heads, T, HD]; cos, sin [B, 1, T, HD] in x's dtype (transformers' form)"""
        a, b = x[..., :HD // 2], x[..., HD // 2:]
        return x * cos + torch.cat([-b, a], -1) * sin

    def layers_fwd(self, x, pos, cache, audio):
        """x [B, T, H]; pos [B, T] positions (the same in every row, as the static cache has them);
        writes the cache at pos; attends to 0..pos."""
        B, T, _ = x.shape
        # once a pass: the additive mask over the whole cache and the RoPE rows
        keep = torch.arange(CACHE, device=x.device)[None, None, :] <= pos[:, :, None]  # [B, T, C]
        mask = torch.zeros(keep.shape, device=x.device, dtype=x.dtype).masked_fill(
            ~keep, torch.finfo(x.dtype).min)[:, None]
        cos = torch.cat([self.cos[pos], self.cos[pos]], -1).to(x.dtype)[:, None]
        sin = torch.cat([self.sin[pos], self.sin[pos]], -1).to(x.dtype)[:, None]
        at = pos[0]
        for lw, (kc, vc) in zip(self.layers, cache):
            h = self.rms(x, lw["a_in"] if audio else lw["t_in"])
            qkv = h @ lw["wqkv"].T
            q = qkv[..., :NH * HD].view(B, T, NH, HD).transpose(1, 2)
            k = qkv[..., NH * HD:NH * HD + NKV * HD].view(B, T, NKV, HD).transpose(1, 2)
            v = qkv[..., NH * HD + NKV * HD:].view(B, T, NKV, HD).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            kc.index_copy_(2, at, k)
            vc.index_copy_(2, at, v)
            o = F.scaled_dot_product_attention(q, kc, vc, attn_mask=mask, enable_gqa=True)
            x = x + o.transpose(1, 2).reshape(B, T, NH * HD) @ lw["wo"].T
            h = self.rms(x, lw["a_post"] if audio else lw["t_post"])
            gu = h @ (lw["a_gu"] if audio else lw["t_gu"]).T
            x = x + (F.silu(gu[..., :I]) * gu[..., I:]) @ (lw["a_down"] if audio else lw["t_down"]).T
        return x

    def audio_step_eager(self, codes, pos, cache):
        x = self.audio_embed[codes + torch.arange(8, device=codes.device) * 1026].sum(1)[:, None, :]
        x = self.layers_fwd(x, pos, cache, True)
        return self.rms(x, self.norm) @ self.audio_head.T


def save_samples(d, name, ts):
    """The raw times ts (ms, run order) to d/name as a CSV column "ms", never over a file."""
    if not d:
        return
    path = os.path.join(d, name)
    try:
        with open(path, "x") as f:
            f.write("ms\n" + "".join(f"{t:.6f}\n" for t in ts))
    except OSError as e:
        sys.exit(f"torch_peer.py: cannot write samples to '{path}': {e.strerror}"
                 + (" (a file is never overwritten; give --samples a new directory)"
                    if isinstance(e, FileExistsError) else ""))


def timed(fn, reps=50, raw=None):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    if raw is not None:
        raw.extend(ts)
    ts = sorted(ts)
    return ts[len(ts) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,8,32,64")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--samples", default=None)
    args = ap.parse_args()
    if args.samples is not None:
        try:
            os.makedirs(args.samples, exist_ok=True)
        except OSError as e:
            sys.exit(f"torch_peer.py: --samples is '{args.samples}'; it must be a directory that exists "
                     f"or can be made ({e.strerror})")
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = True
    m = Model(dev)
    print(f"PyTorch peer {torch.__version__}, {torch.cuda.get_device_name()}, bf16, context {args.context}")
    with torch.no_grad():
        for B in [int(b) for b in args.batches.split(",")]:
            cache = m.alloc_cache(B)
            codes = torch.randint(0, 1024, (B, 8), device=dev)
            pos = torch.full((B, 1), args.context, device=dev, dtype=torch.long)
            eager = timed(lambda: m.audio_step_eager(codes, pos, cache), 20)
            # the reference's graph: the decoder layers; embedding and head stay eager
            x_in = torch.zeros(B, 1, H, device=dev, dtype=torch.bfloat16)
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    m.layers_fwd(x_in, pos, cache, True)
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                x_out = m.layers_fwd(x_in, pos, cache, True)

            def step():
                x_in.copy_(m.audio_embed[codes + torch.arange(8, device=dev) * 1026].sum(1)[:, None, :])
                graph.replay()
                return m.rms(x_out, m.norm) @ m.audio_head.T

            raw = []
            graphed = timed(step, 100, raw)
            save_samples(args.samples, f"step_b{B}.csv", raw)
            print(f"batch {B:3d}: eager step {eager:8.3f} ms, graph step {graphed:7.3f} ms, "
                  f"{B * 0.040 / (graphed / 1e3):8.1f} s of audio per s")
            if B == 1:
                prompt = torch.randint(0, 16000, (1, 128), device=dev)
                ppos = torch.arange(128, device=dev)[None, :]

                def ttfa():
                    x = m.embed[prompt]
                    m.layers_fwd(x, ppos, cache, False)  # eager prefill, text path
                    for _ in range(8):  # AUDIO_INIT + 7 delay steps until frame 0 is complete
                        step()

                prefill = timed(lambda: m.layers_fwd(m.embed[prompt], ppos, cache, False), 20)
                raw = []
                first = timed(ttfa, 20, raw)
                save_samples(args.samples, "ttfa.csv", raw)
                print(f"time to first audio frame (128-token prompt): {first:.2f} ms "
                      f"(eager prefill {prefill:.2f} ms)")
            del cache, graph
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
