"""An independent PyTorch implementation of Higgs Audio v2 for the tests, written from
shared/reference/HIGGS_AUDIO_V2.md (not from the C code): it loads the same safetensors files,
runs the forward pass in float64 with a KV cache, and generates with the same semantics (delay
pattern, TEXT / AUDIO_INIT / AUDIO_IN_PROGRESS, EOS countdown, sampling with the engine's
counter-based random numbers).
"""
import json
import math
import struct

import numpy as np
import torch

K = 8


# ----------------------------------------------------------------------------- weights ----

def load_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + hlen])
    data = raw[8 + hlen:]
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        buf = data[b:e]
        if t["dtype"] == "F32":
            a = np.frombuffer(buf, dtype="<f4")
        elif t["dtype"] == "F16":
            a = np.frombuffer(buf, dtype="<f2").astype(np.float32)
        elif t["dtype"] == "BF16":
            u = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            a = u.view(np.float32)
        else:
            raise ValueError(t["dtype"])
        out[name] = torch.from_numpy(a.astype(np.float64).reshape(t["shape"]))
    return out


class Config:
    def __init__(self, path):
        with open(path) as f:
            c = json.load(f)
        t = c["text_config"]
        self.hidden = t["hidden_size"]
        self.layers = t["num_hidden_layers"]
        self.heads = t["num_attention_heads"]
        self.kv_heads = t["num_key_value_heads"]
        self.head_dim = t.get("head_dim", self.hidden // self.heads)
        self.vocab = t["vocab_size"]
        self.eps = t["rms_norm_eps"]
        self.theta = t["rope_theta"]
        self.rs = t.get("rope_scaling")
        self.eos = t["eos_token_id"]
        self.cb = c["audio_codebook_size"]
        self.rows = self.cb + 2
        self.bos_code = c["audio_stream_bos_id"]
        self.eos_code = c["audio_stream_eos_id"]
        self.audio_out_bos = c["audio_out_bos_token_id"]
        self.audio_out = c["audio_out_token_idx"]
        self.audio_in = c["audio_in_token_idx"]
        self.audio_eos = c["audio_eos_token_id"]


# ----------------------------------------------------------------------------- model ----

class Reference:
    def __init__(self, engine_dir, weights_path):
        self.c = Config(f"{engine_dir}/config.json")
        self.w = load_safetensors(weights_path)
        c = self.c
        j = torch.arange(c.head_dim // 2, dtype=torch.float64)
        inv = c.theta ** (-2.0 * j / c.head_dim)
        if c.rs:
            f, lo, hi, orig = (c.rs["factor"], c.rs["low_freq_factor"], c.rs["high_freq_factor"],
                               c.rs["original_max_position_embeddings"])
            wavelen = 2 * math.pi / inv
            low_wl, high_wl = orig / lo, orig / hi
            s = (orig / wavelen - lo) / (hi - lo)
            mid = (1 - s) * inv / f + s * inv
            inv = torch.where(wavelen > low_wl, inv / f, torch.where(wavelen < high_wl, inv, mid))
        self.inv_freq = inv
        self.k_cache = [[] for _ in range(c.layers)]
        self.v_cache = [[] for _ in range(c.layers)]

    def reset(self):
        self.k_cache = [[] for _ in range(self.c.layers)]
        self.v_cache = [[] for _ in range(self.c.layers)]

    def rms(self, x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.c.eps))

    def rope(self, x, pos):
        half = self.c.head_dim // 2
        ang = pos * self.inv_freq
        cos, sin = torch.cos(ang), torch.sin(ang)
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * cos - b * sin, b * cos + a * sin], -1)

    def embed(self, tok):
        c = self.c
        if tok[0] == "t":
            return self.w["embed_tokens.weight"][tok[1]].clone()
        e = self.w["audio_codebook_embeddings.weight"]
        return sum(e[k * c.rows + tok[1][k]] for k in range(K))

    def step(self, tok, pos):
        """Feeds one token at pos (the cache holds 0..pos-1); returns the head output."""
        c, w = self.c, self.w
        audio = tok[0] == "a"
        x = self.embed(tok)
        for l in range(c.layers):
            p = f"layers.{l}."
            h = self.rms(x, w[p + ("audio_input_layernorm.weight" if audio else "input_layernorm.weight")])
            q = (w[p + "self_attn.q_proj.weight"] @ h).view(c.heads, c.head_dim)
            k = (w[p + "self_attn.k_proj.weight"] @ h).view(c.kv_heads, c.head_dim)
            v = (w[p + "self_attn.v_proj.weight"] @ h).view(c.kv_heads, c.head_dim)
            q, k = self.rope(q, pos), self.rope(k, pos)
            self.k_cache[l].append(k)
            self.v_cache[l].append(v)
            ks = torch.stack(self.k_cache[l])  # [pos+1, kvh, hd]
            vs = torch.stack(self.v_cache[l])
            group = c.heads // c.kv_heads
            out = []
            for hh in range(c.heads):
                kv = hh // group
                sc = (ks[:, kv, :] @ q[hh]) / math.sqrt(c.head_dim)
                pr = torch.softmax(sc, 0)
                out.append(pr @ vs[:, kv, :])
            x = x + w[p + "self_attn.o_proj.weight"] @ torch.cat(out)
            pre = "audio_" if audio else ""
            h = self.rms(x, w[p + pre + "post_attention_layernorm.weight"])
            mlp = p + ("audio_mlp." if audio else "mlp.")
            g = w[mlp + "gate_proj.weight"] @ h
            u = w[mlp + "up_proj.weight"] @ h
            x = x + w[mlp + "down_proj.weight"] @ (g * torch.sigmoid(g) * u)
        h = self.rms(x, w["norm.weight"])
        head = "audio_decoder_proj.audio_lm_head.weight" if audio else "audio_decoder_proj.text_lm_head.weight"
        return w[head] @ h


# ------------------------------------------------------------------------- sampling ----

M64 = (1 << 64) - 1


def _mix(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def uniform(seed, counter):
    z = _mix((seed + 0x9E3779B97F4A7C15 * (counter + 1)) & M64)
    return (_mix(z) >> 11) * 2.0 ** -53


def sample(logits, banned, temp, top_k, top_p, u):
    """The engine's rule: greedy at temp <= 0; else softmax(l/T) over the allowed entries,
    top-k then top-p over entries ordered by probability (ties by index), inverse CDF."""
    l = logits.tolist()
    n = len(l)
    allowed = [i for i in range(n) if i not in banned]
    if temp <= 0:
        return max(allowed, key=lambda i: (l[i], -i))
    mx = max(l[i] for i in allowed)
    p = [0.0] * n
    for i in allowed:
        p[i] = math.exp((l[i] - mx) / temp)
    if top_k <= 0 and top_p >= 1:
        return _draw(p, [i for i in range(n) if p[i] > 0], u)
    order = sorted([i for i in range(n) if p[i] > 0], key=lambda i: (-p[i], i))
    if 0 < top_k < len(order):
        order = order[:top_k]
    if top_p < 1:
        need = top_p * sum(p[i] for i in order)
        acc = 0.0
        for j, i in enumerate(order):
            acc += p[i]
            if acc >= need:
                order = order[:j + 1]
                break
    return _draw(p, order, u)


def _draw(p, order, u):
    total = 0.0
    for i in order:
        total += p[i]
    target, acc = u * total, 0.0
    for i in order:
        acc += p[i]
        if acc > target:
            return i
    return order[-1]


# ----------------------------------------------------------------------- generation ----

def delay_wrap(frames, bos, eos):
    T = len(frames)
    out = []
    for p in range(T + 2 + K - 1):
        row = []
        for k in range(K):
            w = p - k
            row.append(bos if w <= 0 else frames[w - 1][k] if w <= T else eos)
        out.append(row)
    return out


def generate(ref, prompt, clips, max_text, max_frames, exact, seed, sampling):
    """Runs the generation loop; returns (text ids, frames). sampling: dict(temp, top_k, top_p,
    ras, window, repeat) or None for greedy."""
    c = ref.c
    ref.reset()
    toks = []
    ci = 0
    for t in prompt:
        if t == c.audio_in:
            toks += [("a", r) for r in delay_wrap(clips[ci], c.bos_code, c.eos_code)]
            ci += 1
        else:
            toks.append(("t", t))
    pos = 0
    for tok in toks:
        out = ref.step(tok, pos)
        pos += 1
    s = sampling or dict(temp=0, top_k=0, top_p=1, ras=False, window=7, repeat=2)
    inp = toks[-1]
    text, rows, frames = [], [], []
    eos_row, eos_cb = -1, -1
    while True:
        in_pos = pos - 1
        if inp[0] == "t":
            if inp[1] == c.audio_out_bos:
                rows.append([c.bos_code] * K)
                inp = ("a", rows[-1])
            else:
                if len(text) >= max_text:
                    t = c.audio_out_bos
                else:
                    ban = {c.audio_in, c.audio_out}
                    if exact:
                        ban |= {c.eos, c.audio_out_bos, c.audio_eos}
                    t = sample(out, ban, s["temp"], s["top_k"], s["top_p"], uniform(seed, in_pos * 32))
                text.append(t)
                if t == c.eos:
                    return text, frames
                inp = ("t", t)
        else:
            p = len(rows)
            row = []
            sampled_eos = -1
            for k in range(K):
                w = p - k
                forced_eos = (w - 1 >= max_frames) or (
                    eos_row >= 0 and (k < eos_cb or p >= eos_row + (k - eos_cb)))
                if w <= 0:
                    row.append(c.bos_code)
                elif forced_eos:
                    row.append(c.eos_code)
                else:
                    lg = out[k * c.rows:(k + 1) * c.rows]
                    ban = {c.bos_code} | ({c.eos_code} if exact else set())
                    code = sample(lg, ban, s["temp"], s["top_k"], s["top_p"],
                                  uniform(seed, in_pos * 32 + 1 + k))
                    if s["ras"] and code < c.cb:
                        recent = [r[k] for r in rows if r[k] < c.cb][-s["window"]:]
                        if recent.count(code) >= s["repeat"]:
                            code = sample(lg, ban, s["temp"] if s["temp"] > 0 else 1, 0, 1,
                                          uniform(seed, in_pos * 32 + 9 + k))
                    row.append(code)
                    if code == c.eos_code:
                        sampled_eos = k
            if sampled_eos >= 0 and eos_row < 0:
                eos_row, eos_cb = p, sampled_eos
                for k in range(sampled_eos):
                    if p - k >= 1:
                        row[k] = c.eos_code
            rows.append(row)
            t = p - 1 - (K - 1)
            if t >= 0 and t == len(frames):
                f = [rows[t + 1 + k][k] for k in range(K)]
                if all(v < c.cb for v in f):
                    frames.append(f)
            if all(v == c.eos_code for v in row):
                return text, frames
            inp = ("a", row)
        out = ref.step(inp, pos)
        pos += 1
