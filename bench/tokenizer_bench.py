#!/usr/bin/env python3
"""Tokenizer throughput: Pensieve's C++ tokenizer against Hugging Face `tokenizers` on the same
1 MB of text (the test corpus), and the time to encode one prompt of about 100,000 tokens.

Pensieve is timed inside its process (`pensieve tokenize --bench FILE`: best of 3 encodes from
an empty segment cache, no start-up or loading; then once more with the cache warm, as a client
sending the same prompt again finds it); `tokenizers` likewise (best of 3, loading excluded, one encode call).
Usage: tokenizer_bench.py [--binary build/pensieve] [--model DIR] [--out FILE]
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "python"))
from tokenizer_corpus import corpus  # noqa: E402

ONE_MB = 1 << 20


def one_mb_of_text():
    text = "\n".join(corpus(20_000, seed=1234))
    data = text.encode("utf-8")[:ONE_MB]
    return data.decode("utf-8", errors="ignore")


def long_prompt(tok, tokens=100_000):
    """English-like prose repeated up to about `tokens` tokens."""
    paragraph = ("Pensieve serves Phi-3 on a laptop. It reads the prompt, encodes it into tokens, "
                 "and streams the answer back as soon as each piece of text is final. ")
    per = len(tok.encode(paragraph, add_special_tokens=False).ids)
    return paragraph * (int(tokens * 1.05) // per + 1)  # joins merge a little


def pensieve_time(binary, model, text):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write(text)
        path = f.name
    out = subprocess.run([str(binary), "tokenize", "-m", str(model), "--bench", path],
                         capture_output=True, text=True, check=True).stdout
    Path(path).unlink()
    return json.loads(out)


def hf_time(tok, text):
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        n = len(tok.encode(text, add_special_tokens=False).ids)
        best = min(best, time.perf_counter() - start)
    return {"bytes": len(text.encode()), "tokens": n, "seconds": best}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", type=Path, default=ROOT / "build" / "pensieve")
    parser.add_argument("--model", type=Path, default=ROOT / "tests" / "fixtures" / "phi3-tokenizer")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    results = {}
    for name, text in (("corpus_1mb", one_mb_of_text()), ("prompt_100k", long_prompt(tok))):
        p, h = pensieve_time(args.binary, args.model, text), hf_time(tok, text)
        if p["tokens"] != h["tokens"]:
            raise SystemExit(f"{name}: token counts differ: pensieve {p['tokens']}, hf {h['tokens']}")
        results[name] = {
            "bytes": p["bytes"], "tokens": p["tokens"],
            "pensieve_seconds": p["seconds"], "hf_tokenizers_seconds": h["seconds"],
            # The same text again: segments seen before come from Pensieve's segment cache.
            "pensieve_seconds_sent_again": p["seconds_cached"],
            "pensieve_tokens_per_s": p["tokens"] / p["seconds"],
            "hf_tokenizers_tokens_per_s": h["tokens"] / h["seconds"],
        }
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
