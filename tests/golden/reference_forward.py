#!/usr/bin/env python3
"""Golden test of the reference engine's forward pass.

An independent NumPy implementation of the Llama / Qwen2 decoder (fp32, contiguous KV cache,
Hugging Face rotate_half RoPE with llama3 / linear scaling, GQA, SwiGLU, RMSNorm, tied or untied
embeddings, Qwen2 q/k/v biases) is compared with `dynamo-logits`: the logits after the prompt
and after each greedy decode step must agree within 1e-4 * max(1, max|logit|), and the greedy
tokens must be identical.

Optionally synthesizes the model first (`--synth dynamo-synth --synth-args "..."`) and edits
its config (`--rope none|linear`) so that every variant is covered without downloads.
"""
import argparse
import json
import math
import os
import shlex
import shutil
import struct
import subprocess
import sys

import numpy as np
from safetensors import safe_open


# ---------------------------------------------------------------------------------------------
# Checkpoint reading


def _header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def _read_file(path):
    """All tensors of one .safetensors file as float32 arrays. The safetensors numpy API
    reads F32/F16; BF16 (which numpy lacks) is widened by hand from the raw bytes."""
    header, data_start = _header(path)
    out = {}
    with safe_open(path, framework="numpy") as f:
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            if meta["dtype"] == "BF16":
                begin, end = meta["data_offsets"]
                with open(path, "rb") as raw:
                    raw.seek(data_start + begin)
                    bits = np.frombuffer(raw.read(end - begin), dtype="<u2").astype(np.uint32)
                out[name] = (bits << 16).view(np.float32).reshape(meta["shape"])
            else:
                out[name] = f.get_tensor(name).astype(np.float32)
    return out


def read_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    weights = {}
    for name in files:
        weights.update(_read_file(os.path.join(model_dir, name)))
    return weights


def read_config(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# The model


def inv_freq(cfg, head_dim):
    theta = float(cfg.get("rope_theta", 10000.0))
    exponents = np.arange(0, head_dim, 2, dtype=np.int64).astype(np.float32) / np.float32(head_dim)
    inv = (1.0 / (np.float64(theta) ** exponents.astype(np.float64))).astype(np.float32)
    scaling = cfg.get("rope_scaling") or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "linear":
        return (inv / np.float32(scaling["factor"])).astype(np.float32)
    if kind == "llama3":
        factor = scaling["factor"]
        low = scaling["low_freq_factor"]
        high = scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        inv64 = inv.astype(np.float64)
        wavelen = 2 * math.pi / inv64
        scaled = np.where(wavelen > old / low, inv64 / factor, inv64)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) & ~(wavelen > old / low)
        return np.where(medium, smoothed, scaled).astype(np.float32)
    if kind not in ("default", None):
        raise SystemExit(f"unsupported rope scaling {kind}")
    return inv


def rms_norm(x, w, eps):
    var = np.mean(x * x, axis=-1, keepdims=True, dtype=np.float32)
    return w * (x / np.sqrt(var + np.float32(eps)))


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, positions, inv):
    # x: [T, heads, d]; angles in fp32 as HF computes them.
    freqs = positions.astype(np.float32)[:, None] * inv[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos = np.cos(emb)[:, None, :]
    sin = np.sin(emb)[:, None, :]
    return x * cos + rotate_half(x) * sin


def silu(x):
    return x / (np.float32(1) + np.exp(-x))


class numpy_llama:
    def __init__(self, cfg, w):
        self.cfg = cfg
        self.w = w
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("rms_norm_eps", 1e-6)
        self.inv = inv_freq(cfg, self.head_dim)
        if cfg.get("tie_word_embeddings", False):
            self.lm_head = w["model.embed_tokens.weight"]
        else:
            self.lm_head = w["lm_head.weight"]
        self.k_cache = [np.zeros((0, self.kv_heads, self.head_dim), np.float32)
                        for _ in range(self.layers)]
        self.v_cache = [np.zeros((0, self.kv_heads, self.head_dim), np.float32)
                        for _ in range(self.layers)]

    def _linear(self, x, name, bias=False):
        y = x @ self.w[name + ".weight"].T
        if bias and (name + ".bias") in self.w:
            y = y + self.w[name + ".bias"]
        return y.astype(np.float32)

    def forward(self, tokens):
        """Appends `tokens` to the sequence; returns the logits after the last one."""
        start = self.k_cache[0].shape[0]
        t = len(tokens)
        positions = np.arange(start, start + t)
        x = self.w["model.embed_tokens.weight"][np.array(tokens)]
        d = self.head_dim
        group = self.heads // self.kv_heads
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps)
            q = self._linear(h, p + "self_attn.q_proj", True).reshape(t, self.heads, d)
            k = self._linear(h, p + "self_attn.k_proj", True).reshape(t, self.kv_heads, d)
            v = self._linear(h, p + "self_attn.v_proj", True).reshape(t, self.kv_heads, d)
            q = apply_rope(q, positions, self.inv)
            k = apply_rope(k, positions, self.inv)
            self.k_cache[i] = np.concatenate([self.k_cache[i], k], axis=0)
            self.v_cache[i] = np.concatenate([self.v_cache[i], v], axis=0)
            keys = np.repeat(self.k_cache[i], group, axis=1)    # [S, heads, d]
            values = np.repeat(self.v_cache[i], group, axis=1)
            scores = np.einsum("thd,shd->hts", q, keys) * np.float32(1.0 / math.sqrt(d))
            seen = np.arange(keys.shape[0])[None, :] <= positions[:, None]  # causal [t, S]
            scores = np.where(seen[None, :, :], scores, -np.inf).astype(np.float32)
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs = probs / probs.sum(axis=-1, keepdims=True)
            attn = np.einsum("hts,shd->thd", probs, values).reshape(t, self.heads * d)
            x = x + self._linear(attn, p + "self_attn.o_proj", True)
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
            gate = self._linear(h, p + "mlp.gate_proj")
            up = self._linear(h, p + "mlp.up_proj")
            x = x + self._linear((silu(gate) * up).astype(np.float32), p + "mlp.down_proj")
            x = x.astype(np.float32)
        last = rms_norm(x[-1:], self.w["model.norm.weight"], self.eps)
        return (last @ self.lm_head.T)[0].astype(np.float32)


# ---------------------------------------------------------------------------------------------
# Driver


def synthesize(args, model_dir):
    cmd = [args.synth, "--out", model_dir, "--preset", "tiny", "--force"]
    cmd += shlex.split(args.synth_args)
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def edit_model(args, model_dir):
    """Applies --rope to a synthesized model's config.json."""
    cfg = read_config(model_dir)
    if args.rope == "none":
        cfg["rope_scaling"] = None
        cfg["rope_theta"] = 10000.0
    elif args.rope == "linear":
        cfg["rope_scaling"] = {"rope_type": "linear", "factor": 4.0}
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def run_tool(args, model_dir, prompt):
    cmd = [args.tool, "--model", model_dir, "--tokens", ",".join(map(str, prompt)),
           "--decode", str(args.decode)]
    if args.chunk:
        cmd += ["--chunk", str(args.chunk)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    print("+", " ".join(cmd[:3]), f"--tokens <{len(prompt)} ids>", " ".join(cmd[5:]), flush=True)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tool", required=True, help="path of dynamo-logits")
    ap.add_argument("--model", help="checkpoint directory (or use --synth + --work)")
    ap.add_argument("--synth", help="path of dynamo-synth: synthesize the model first")
    ap.add_argument("--synth-args", default="", help="extra dynamo-synth arguments")
    ap.add_argument("--work", help="scratch directory for the synthesized model")
    ap.add_argument("--rope", choices=["keep", "none", "linear"], default="keep")
    ap.add_argument("--prompt-len", type=int, default=13)
    ap.add_argument("--decode", type=int, default=6)
    ap.add_argument("--chunk", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()

    if args.synth:
        if not args.work:
            ap.error("--synth needs --work")
        model_dir = os.path.join(args.work, "model")
        shutil.rmtree(args.work, ignore_errors=True)
        os.makedirs(args.work)
        synthesize(args, model_dir)
        if args.rope != "keep":
            edit_model(args, model_dir)
    elif args.model:
        model_dir = args.model
    else:
        ap.error("give --model or --synth")

    cfg = read_config(model_dir)
    weights = read_weights(model_dir)
    ref = numpy_llama(cfg, weights)
    vocab = cfg["vocab_size"]
    rng = np.random.default_rng(args.seed)
    prompt = [int(t) for t in rng.integers(0, vocab, size=args.prompt_len)]
    print(f"model: {cfg['architectures'][0]}, layers {ref.layers}, hidden {ref.hidden}, heads "
          f"{ref.heads}/{ref.kv_heads}, vocab {vocab}, tied {cfg.get('tie_word_embeddings')}, "
          f"rope {cfg.get('rope_scaling')}, bias {'model.layers.0.self_attn.q_proj.bias' in weights}")

    steps = run_tool(args, model_dir, prompt)
    if len(steps) != args.decode + 1:
        print(f"FAIL: expected {args.decode + 1} JSON lines, got {len(steps)}")
        return 1
    failures = 0
    inputs = prompt
    for step in steps:
        want = ref.forward(inputs)
        got = np.array(step["logits"], dtype=np.float32)
        if got.shape != want.shape:
            print(f"FAIL step {step['step']}: {got.shape[0]} logits, expected {want.shape[0]}")
            return 1
        diff = float(np.max(np.abs(got - want)))
        bound = 1e-4 * max(1.0, float(np.max(np.abs(want))))
        token = int(np.argmax(want))
        ok = diff <= bound and token == step["token"] and step["input"] == inputs
        print(f"step {step['step']} ({step['kind']}, {len(inputs)} input tokens): max|diff| "
              f"{diff:.3e} (bound {bound:.3e}), max|logit| {np.max(np.abs(want)):.3f}, token "
              f"{step['token']} vs numpy {token}: {'ok' if ok else 'MISMATCH'}")
        if not ok:
            failures += 1
            if step["input"] != inputs:
                print(f"  tool's input {step['input']} != expected {inputs}")
            break
        inputs = [token]
    if failures:
        print("FAIL")
        return 1
    print(f"PASS: {len(steps)} steps agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
