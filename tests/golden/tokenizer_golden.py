#!/usr/bin/env python3
"""Golden test for the C++ Hugging Face BPE tokenizer (dynamo-tokenize) against `tokenizers`.

Builds five tokenizer.json files: two with our trainer (dynamo-tokenize --train, byte-level and
SentencePiece style) and three trained independently with the `tokenizers` package (Llama 3
style byte-level BPE with the Llama 3 split regex, a BOS template and lstrip/non-special added
tokens; a SentencePiece-style BPE with byte_fallback + Metaspace; a GPT-2/Qwen style ByteLevel
regex + individual Digits with ignore_merges). Every tricky string is encoded and decoded by
dynamo-tokenize (JSON-lines batch mode) and by `tokenizers`, which must agree on the ids (with
and without special-token matching), on the decoded text (skipping specials or not) and on
the prompt prefix; the incremental stream decode must concatenate to the decoded text with
every delta valid UTF-8. Exits non-zero on any mismatch.
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors, trainers

LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

TRICKY = [
    "", " ", "  ", "\t", "\n", "hello", "Hello world!", "  leading and trailing  ",
    "tabs\tand\nnewlines\r\n\n", "\n\n\n   \n", "a      b", "trailing spaces   ",
    "digits 1234567890 and 3.14159, 007 and 1,000,000", "9999999999999999999",
    "can't won't I'm you're they've he'll she'd", "CAN'T WON'T I'M", "it's o'clock''",
    "東京は日本の首都です。", "한국어 텍스트입니다", "中文，标点！", "Ünïcödé çàfé naïve",
    "e\u0301 combining acute, n\u0303, a\u030a", "Zalgo: z\u0351\u0300a\u0300\u0301l\u0302",
    "emoji 🙂🚀👍🏽", "family 👨\u200d👩\u200d👧\u200d👦 and 🏳️\u200d🌈", "flag 🇺🇸🇯🇵",
    "<|endoftext|>", "text<|endoftext|>more", "<|im_start|>user\nhi<|im_end|>\n",
    "<s>[INST] hi [/INST]", "a</s>b<unk>c<s>", "<|begin_of_text|>x", "mask here  <mask>  end",
    "call <tool_call>{\"a\": 1}</tool_call>", "<|endoftext", "endoftext|>",
    "\u00a0nbsp\u2003emspace\u3000ideographic\u2028line", "zero\u200bwidth\u200djoiner",
    "\ufeffbom", "control \x01\x02\x7f\x1b[0m chars", "replacement \ufffd char",
    "nonchar \uffff \ufdd0", "private \ue000 use", "math 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "def f(x):\n    return x**2  # comment\n", "x" * 300, "ab" * 100,
    "mixed English, français, русский, العربية, हिन्दी, ไทย",
    "URL https://example.com/path?q=1&b=2#frag", "email a.b@c.de",
    "▁already▁metaspace", "Ġbyte Ċlevel chars",
]

# Ill-formed UTF-8: encoded as if each maximal ill-formed subpart were U+FFFD.
INVALID_UTF8 = [b"a\xffb", b"\xe6\x9d", b"x\xf0\x9f\x99", b"\xc0\xaf ok", b"\xed\xa0\x80 surrogate"]

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SP_SPECIALS = ["<unk>", "<s>", "</s>"]


def make_corpus(seed=7):
    rng = random.Random(seed)
    words = ("the quick brown fox jumps over a lazy dog while people talk about tokenizers "
             "and models that generate text in many languages like Français Deutsch español "
             "東京 大阪 日本語 한국어 русский язык can't won't I'm it's 2024 3.14 1000 "
             "def return print() {} [] <> == != += x**2 # @ ! ? emoji 🙂 👍 café naïve").split()
    lines = []
    for _ in range(2500):
        n = rng.randint(3, 16)
        line = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.1:
            line += "  \t" + rng.choice(words)
        lines.append(line)
    return "\n".join(lines) + "\n"


def train_ours(tool, corpus_file, style, vocab, specials, out):
    cmd = [tool, "--train", str(corpus_file), "--style", style, "--vocab", str(vocab),
           "--out", str(out)]
    for s in specials:
        cmd += ["--special", s]
    subprocess.run(cmd, check=True)
    return Tokenizer.from_file(str(out))


def train_llama3_style(corpus, out):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=["<|begin_of_text|>"] + SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus.splitlines(), trainer=trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, special=True,
                                       normalized=False)])
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False),
                    AddedToken("</tool_call>", special=False, normalized=False)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A",
                                      pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    tok.save(str(out))
    return Tokenizer.from_file(str(out))


def train_sentencepiece_style(corpus, out):
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Metaspace(replacement="▁", prepend_scheme="first")])
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SP_SPECIALS, show_progress=False)
    tok.train_from_iterator(corpus.splitlines(), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    # Give the model the 256 <0xNN> byte tokens that byte_fallback needs.
    doc = json.loads(tok.to_str())
    vocab = doc["model"]["vocab"]
    next_id = max(max(vocab.values()), max(t["id"] for t in doc["added_tokens"])) + 1
    for b in range(256):
        name = "<0x%02X>" % b
        if name not in vocab:
            vocab[name] = next_id
            next_id += 1
    Path(out).write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return Tokenizer.from_file(str(out))


def train_gpt2_digits_style(corpus, out):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=500, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus.splitlines(), trainer=trainer)
    tok.save(str(out))
    return Tokenizer.from_file(str(out))


def run_batch(tool, tokenizer_file, requests):
    lines = "".join(json.dumps(r) + "\n" for r in requests)
    proc = subprocess.run([tool, "--tokenizer", str(tokenizer_file), "--batch"], input=lines,
                          capture_output=True, text=True, encoding="utf-8")
    replies = [json.loads(line) for line in proc.stdout.split("\n") if line]
    if proc.returncode != 0 or len(replies) != len(requests):
        sys.exit(f"dynamo-tokenize --batch failed (rc {proc.returncode}): {proc.stderr}")
    return replies


def hf_encode(tok, text, special):
    tok.encode_special_tokens = not special
    try:
        return tok.encode(text, add_special_tokens=False).ids
    finally:
        tok.encode_special_tokens = False


def check(name, tool, path, hf):
    requests = [{"op": "info"}]
    for text in TRICKY:
        requests.append({"op": "encode", "text": text, "special": False})
        requests.append({"op": "encode", "text": text, "special": True})
    for raw in INVALID_UTF8:
        requests.append({"op": "encode", "text_hex": raw.hex(), "special": False})
    replies = run_batch(tool, path, requests)
    failures = []
    for n, raw in enumerate(INVALID_UTF8):
        ours = replies[1 + 2 * len(TRICKY) + n]["ids"]
        theirs = hf_encode(hf, raw.decode("utf-8", errors="replace"), False)
        if ours != theirs:
            failures.append(f"encode(bytes {raw!r}): {ours} != {theirs}")
    info = replies[0]
    with_prefix = hf.encode("x", add_special_tokens=True).ids
    bare = hf.encode("x", add_special_tokens=False).ids
    expected_prefix = with_prefix[:len(with_prefix) - len(bare)]
    if info["prefix"] != expected_prefix:
        failures.append(f"prompt prefix {info['prefix']} != {expected_prefix}")
    id_lists = []
    for i, text in enumerate(TRICKY):
        for k, special in enumerate((False, True)):
            ours = replies[1 + 2 * i + k]["ids"]
            theirs = hf_encode(hf, text, special)
            if ours != theirs:
                failures.append(f"encode(special={special}) {text!r}: {ours} != {theirs}")
            id_lists.append(theirs)
    decode_requests = []
    for ids in id_lists:
        for skip in (True, False):
            decode_requests.append({"op": "decode", "ids": ids, "skip_special": skip})
            decode_requests.append({"op": "stream", "ids": ids, "skip_special": skip})
    decoded = run_batch(tool, path, decode_requests)
    for j, ids in enumerate(id_lists):
        for k, skip in enumerate((True, False)):
            ours = decoded[4 * j + 2 * k]["text"]
            stream = decoded[4 * j + 2 * k + 1]
            theirs = hf.decode(ids, skip_special_tokens=skip)
            if ours != theirs:
                failures.append(f"decode(skip={skip}) {ids}: {ours!r} != {theirs!r}")
            if stream["text"] != ours or not stream["valid"]:
                failures.append(f"stream(skip={skip}) {ids}: {stream['deltas']!r} joins to "
                                f"{stream['text']!r}, decode gives {ours!r}")
    count = len(TRICKY) * 2
    print(f"{name}: compared prefix, {count + len(INVALID_UTF8)} encodings, {count * 2} decodes and "
          f"{count * 2} stream decodes: {len(failures)} mismatches")
    for f in failures[:20]:
        print("  MISMATCH", f)
    return not failures


def check_cli(tool):
    """--help succeeds; usage errors exit 2; a missing tokenizer is a runtime error (1)."""
    ok = True
    for args, want in ((["--help"], 0), ([], 2), (["--tokenizer"], 2), (["--bogus"], 2),
                       (["--tokenizer", "/nonexistent", "encode", "x"], 1),
                       (["--train", "c.txt", "--style", "odd", "--vocab", "300", "--out", "o"], 2),
                       (["--train", "c.txt", "--style", "byte_level", "--vocab", "x", "--out", "o"],
                        2)):
        rc = subprocess.run([tool] + args, capture_output=True).returncode
        if rc != want:
            print(f"  MISMATCH dynamo-tokenize {args}: exit {rc}, expected {want}")
            ok = False
    print(f"cli: checked exit codes: {'ok' if ok else 'mismatch'}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", required=True, help="path to dynamo-tokenize")
    parser.add_argument("--workdir", help="where tokenizer.json files go (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="tokenizer_golden_"))
    work.mkdir(parents=True, exist_ok=True)
    corpus = make_corpus()
    corpus_file = work / "corpus.txt"
    corpus_file.write_text(corpus, encoding="utf-8")

    cases = [
        ("ours_byte_level", work / "ours_byte_level.json",
         lambda p: train_ours(args.tool, corpus_file, "byte_level", 800, SPECIALS, p)),
        ("ours_sentencepiece", work / "ours_sentencepiece.json",
         lambda p: train_ours(args.tool, corpus_file, "sentencepiece", 700, SP_SPECIALS, p)),
        ("hf_llama3_style", work / "hf_llama3_style.json", lambda p: train_llama3_style(corpus, p)),
        ("hf_sentencepiece_style", work / "hf_sentencepiece_style.json",
         lambda p: train_sentencepiece_style(corpus, p)),
        ("hf_gpt2_digits_style", work / "hf_gpt2_digits_style.json",
         lambda p: train_gpt2_digits_style(corpus, p)),
    ]
    ok = check_cli(args.tool)
    for name, path, build in cases:
        hf = build(path)
        ok = check(name, args.tool, path, hf) and ok
    print("tokenizer golden:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
