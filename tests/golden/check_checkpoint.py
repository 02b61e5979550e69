#!/usr/bin/env python3
"""Golden check of dynamo-synth: its checkpoints must be real Hugging Face files.

For each configuration, runs `dynamo-synth --dump-stats`, then independently
  * opens every .safetensors file with the `safetensors` package (the Rust reference parser),
    reads every tensor (F32/F16 through safetensors' numpy API, BF16 from the raw bytes since
    NumPy has no bfloat16) and compares name, dtype, shape, sum and sum of squares with what the
    tool printed;
  * checks model.safetensors.index.json (weight map, total_size) of sharded outputs;
  * checks config.json / generation_config.json fields against the tokenizer, which it loads
    with the `tokenizers` package;
  * renders the chat template of tokenizer_config.json with jinja2.
Exits non-zero on any mismatch.
"""
import argparse
import json
import math
import os
import shlex
import struct
import subprocess
import sys

import jinja2
import numpy as np
from jinja2.sandbox import ImmutableSandboxedEnvironment
from safetensors import safe_open
from tokenizers import Tokenizer

CONFIGS = {
    "llama_bf16_byte_level": "--dtype bf16",
    "qwen2_f16_sentencepiece_sharded": "--arch qwen2 --dtype f16 --tokenizer sentencepiece "
                                       "--shards 3 --untied --seed 5",
    "mistral_f32_plain_rope": "--arch mistral --dtype f32 --rope none --vocab 600 --layers 3",
}

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("MISMATCH:", what)


def run_synth(tool, out, extra):
    cmd = [tool, "--out", out, "--force", "--quiet", "--dump-stats"] + shlex.split(extra)
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    if res.returncode != 0:
        print(res.stdout, res.stderr)
        raise SystemExit(f"dynamo-synth failed with {res.returncode}: {' '.join(cmd)}")
    stats = {}
    for line in res.stdout.splitlines():
        if line.startswith("tensor "):
            _, name, dtype, shape, total, sumsq = line.split(" ")
            shape = [int(d) for d in shape.strip("[]").split(",") if d]
            stats[name] = (dtype, shape, float(total), float(sumsq))
    return stats, res.stdout


def raw_header(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n)), 8 + n


def read_tensor(path, handle, name, header, data_start):
    dtype = handle.get_slice(name).get_dtype()
    if dtype in ("F32", "F16"):
        return dtype, handle.get_tensor(name).astype(np.float64)
    begin, end = header[name]["data_offsets"]
    with open(path, "rb") as f:
        f.seek(data_start + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2")
    values = (raw.astype(np.uint32) << 16).view(np.float32)
    return dtype, values.reshape(header[name]["shape"]).astype(np.float64)


def check_weights(model_dir, stats):
    files = sorted(f for f in os.listdir(model_dir) if f.endswith(".safetensors"))
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    seen = {}
    total_bytes = 0
    for file in files:
        path = os.path.join(model_dir, file)
        header, data_start = raw_header(path)
        check(data_start % 8 == 0, f"{file}: data section not 8-aligned")
        with safe_open(path, framework="numpy") as handle:
            check(handle.metadata() == {"format": "pt"}, f"{file}: metadata {handle.metadata()}")
            for name in handle.keys():
                dtype, values = read_tensor(path, handle, name, header, data_start)
                seen[name] = file
                total_bytes += header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
                if name not in stats:
                    check(False, f"{name}: in {file} but not reported by dynamo-synth")
                    continue
                want_dtype, want_shape, want_sum, want_sumsq = stats[name]
                check(dtype == want_dtype, f"{name}: dtype {dtype} vs {want_dtype}")
                check(list(values.shape) == want_shape, f"{name}: shape {values.shape}")
                got_sum = float(values.sum())
                got_sumsq = float((values * values).sum())
                tol = 1e-9 * (1.0 + want_sumsq)
                check(math.isfinite(got_sum) and abs(got_sum - want_sum) <= tol,
                      f"{name}: sum {got_sum!r} vs {want_sum!r}")
                check(abs(got_sumsq - want_sumsq) <= tol,
                      f"{name}: sumsq {got_sumsq!r} vs {want_sumsq!r}")
    check(set(seen) == set(stats), f"tensor sets differ: {set(seen) ^ set(stats)}")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        check(index["weight_map"] == seen, "index weight_map does not match the shards")
        check(index["metadata"]["total_size"] == total_bytes,
              f"index total_size {index['metadata']['total_size']} vs {total_bytes}")
        check("model.safetensors" not in files, "sharded output also has model.safetensors")
    print(f"  {len(seen)} tensors in {len(files)} file(s) match the tool's stats")


def check_configs(model_dir):
    def load(name):
        with open(os.path.join(model_dir, name)) as f:
            return json.load(f)

    config = load("config.json")
    generation = load("generation_config.json")
    tok_config = load("tokenizer_config.json")
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    check(vocab <= config["vocab_size"], f"tokenizer vocab {vocab} > {config['vocab_size']}")
    check(config["hidden_size"] % config["num_attention_heads"] == 0, "heads do not divide")
    check(config["head_dim"] == config["hidden_size"] // config["num_attention_heads"], "head_dim")
    eos = config["eos_token_id"]
    eos = eos if isinstance(eos, list) else [eos]
    gen_eos = generation["eos_token_id"]
    gen_eos = gen_eos if isinstance(gen_eos, list) else [gen_eos]
    check(eos == gen_eos, f"eos differs: {eos} vs {gen_eos}")
    check(config["bos_token_id"] == generation["bos_token_id"], "bos differs")
    check(tok.id_to_token(config["bos_token_id"]) == tok_config["bos_token"], "bos token text")
    check(tok.token_to_id(tok_config["eos_token"]) in eos, "eos_token is not an eos id")
    if tok_config["bos_token"] == "<|endoftext|>":
        check(tok.token_to_id("<|im_end|>") in eos, "<|im_end|> does not stop generation")
    text = "Hello, world! The café opens at 9:30. 🚀"
    enc = tok.encode(text, add_special_tokens=False)
    check(tok.decode(enc.ids) == text, f"decode(encode(x)) != x: {tok.decode(enc.ids)!r}")
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.globals["raise_exception"] = raise_exception
    rendered = env.from_string(tok_config["chat_template"]).render(
        messages=[{"role": "user", "content": "Hi there"}], add_generation_prompt=True,
        bos_token=tok_config["bos_token"], eos_token=tok_config["eos_token"])
    check("Hi there" in rendered, f"chat template rendered {rendered!r}")
    prompt = tok.encode(rendered, add_special_tokens=False).ids
    print(f"  config ok: {config['architectures'][0]}, vocab {config['vocab_size']} "
          f"(tokenizer {vocab}), chat prompt of {len(prompt)} tokens")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tool", required=True, help="path of dynamo-synth")
    ap.add_argument("--work", required=True, help="scratch directory")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    for name, extra in CONFIGS.items():
        print(f"{name}: dynamo-synth {extra}")
        model_dir = os.path.join(args.work, name)
        stats, _ = run_synth(args.tool, model_dir, extra)
        check(len(stats) > 0, f"{name}: the tool printed no stats")
        check_weights(model_dir, stats)
        check_configs(model_dir)
    if failures:
        print(f"FAILED: {len(failures)} mismatch(es)")
        return 1
    print(f"OK: {len(CONFIGS)} synthesized checkpoints match safetensors/tokenizers/jinja2")
    return 0


if __name__ == "__main__":
    sys.exit(main())
