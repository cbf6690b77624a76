#!/usr/bin/env python3
"""Writes the Hugging Face tokenizer files of a SentencePiece-BPE ("llama") GGUF vocabulary.

The Phi-3 repositories carry tokenizer.json, tokenizer_config.json and special_tokens_map.json;
the machines here only have the vocabulary as a GGUF key/value section. This rebuilds those files
the way `transformers` converts a SentencePiece model: the vocabulary is the SentencePiece pieces
(ids as in the GGUF), the merges are every split of a piece into two pieces, ranked by the piece's
score (highest first), and the control tokens become added tokens.

Usage: gguf_to_tokenizer_json.py VOCAB.gguf OUT_DIR
"""
import argparse
import json
import struct
import sys
from pathlib import Path

# GGUF token types (llama.cpp's llama_token_type).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6

_SCALAR_FORMATS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?",
                   10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


def read_gguf_kv(path):
    """The key/value section of a GGUF v2/v3 file as a dict (tensors are not read)."""
    data = Path(path).read_bytes()
    pos = 0

    def unpack(fmt):
        nonlocal pos
        value = struct.unpack_from("<" + fmt, data, pos)[0]
        pos += struct.calcsize("<" + fmt)
        return value

    def string():
        nonlocal pos
        n = unpack("Q")
        value = data[pos:pos + n].decode("utf-8")
        pos += n
        return value

    def value(kind):
        if kind == _STRING:
            return string()
        if kind == _ARRAY:
            element, count = unpack("I"), unpack("Q")
            return [value(element) for _ in range(count)]
        if kind not in _SCALAR_FORMATS:
            raise ValueError(f"{path}: unknown GGUF value type {kind}")
        return unpack(_SCALAR_FORMATS[kind])

    if data[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    pos = 4
    version = unpack("I")
    if version not in (2, 3):
        raise ValueError(f"{path}: GGUF version {version} is not supported")
    unpack("Q")  # tensor count
    kv = {}
    for _ in range(unpack("Q")):
        key = string()
        kv[key] = value(unpack("I"))
    return kv


def sentencepiece_merges(vocab, scores):
    """Merges as transformers' SentencePiece converter derives them from piece scores: for each
    piece, every split into two known pieces (ordered by their ids), then all of them ranked by
    the score of the piece they form, highest first (a stable sort, so ties keep that order)."""
    merges = []
    for piece, score in scores.items():
        local = []
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in vocab and right in vocab:
                local.append((left, right, score))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [[left, right] for left, right, _ in merges]


# Flags of the added tokens in the published Phi-3-mini(-128k)-instruct tokenizer files: the
# role/placeholder tokens swallow the whitespace after them (rstrip), <|endoftext|>, <unk> and <s>
# do not, and </s> is an rstrip token that is not special (the GGUF marks it user-defined).
def added_token_flags(piece, token_type):
    special = token_type == CONTROL
    rstrip = piece not in ("<unk>", "<s>", "<|endoftext|>")
    return {"single_word": False, "lstrip": False, "rstrip": rstrip, "normalized": False,
            "special": special}


def build(kv):
    if kv.get("tokenizer.ggml.model") != "llama":
        raise ValueError("only SentencePiece BPE vocabularies (tokenizer.ggml.model = llama) "
                         "are supported")
    pieces = kv["tokenizer.ggml.tokens"]
    scores = kv["tokenizer.ggml.scores"]
    types = kv["tokenizer.ggml.token_type"]
    bos_id = kv["tokenizer.ggml.bos_token_id"]
    eos_id = kv["tokenizer.ggml.eos_token_id"]
    unk_id = kv.get("tokenizer.ggml.unknown_token_id", 0)
    pad_id = kv.get("tokenizer.ggml.padding_token_id")

    # The SentencePiece model is the leading run of pieces up to the first token that llama.cpp
    # appended afterwards (the control tokens of the fine-tune, then [PAD] fillers); those become
    # added tokens or, for the fillers, are dropped as the published tokenizer has none of them.
    first_appended = max(unk_id, bos_id, 2) + 1
    sp_size = next((i for i in range(first_appended, len(pieces))
                    if types[i] in (CONTROL, UNKNOWN)), len(pieces))
    vocab = {pieces[i]: i for i in range(sp_size)}
    piece_scores = {pieces[i]: scores[i] for i in range(sp_size)}
    merges = sentencepiece_merges(vocab, piece_scores)

    added = []
    for i, (piece, token_type) in enumerate(zip(pieces, types)):
        if i < sp_size and token_type not in (CONTROL, USER_DEFINED):
            continue
        if i >= sp_size and token_type != CONTROL:
            continue  # [PADnnnnn] fillers
        added.append({"id": i, "content": piece, **added_token_flags(piece, token_type)})

    bos, eos, unk = pieces[bos_id], pieces[eos_id], pieces[unk_id]
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        ]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}},
        },
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"},
            {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0},
        ]},
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        },
    }

    decoder_entries = {
        str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip",
                                         "single_word", "special")}
        for t in added
    }
    pad = pieces[pad_id] if pad_id is not None else None
    config = {
        "add_bos_token": bool(kv.get("tokenizer.ggml.add_bos_token", True)),
        "add_eos_token": bool(kv.get("tokenizer.ggml.add_eos_token", False)),
        "added_tokens_decoder": decoder_entries,
        "bos_token": bos,
        "chat_template": kv.get("tokenizer.chat_template"),
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "legacy": False,
        "model_max_length": 131072,
        "pad_token": pad,
        "padding_side": "left",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": unk,
        "use_default_system_prompt": False,
    }
    if config["chat_template"] is None:
        del config["chat_template"]

    def token_entry(content):
        flags = next(t for t in added if t["content"] == content)
        return {"content": content, "lstrip": flags["lstrip"], "normalized": flags["normalized"],
                "rstrip": flags["rstrip"], "single_word": flags["single_word"]}

    special_map = {"bos_token": token_entry(bos), "eos_token": token_entry(eos),
                   "unk_token": token_entry(unk)}
    if pad is not None:
        special_map["pad_token"] = token_entry(pad)
    return tokenizer, config, special_map


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    tokenizer, config, special_map = build(read_gguf_kv(args.gguf))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (("tokenizer.json", tokenizer),
                          ("tokenizer_config.json", config),
                          ("special_tokens_map.json", special_map)):
        (args.out_dir / name).write_text(dumps_compact_lists(content) + "\n", encoding="utf-8")
    return 0


def dumps_compact_lists(content):
    """JSON with an indent, except that each merge pair stays on one line (as `tokenizers`
    writes them), which keeps the file about half the size."""
    text = json.dumps(content, ensure_ascii=False, indent=2)
    model = content.get("model")
    if not isinstance(model, dict) or "merges" not in model:
        return text
    merges = model["merges"]
    marker = "@@MERGES@@"
    text = json.dumps({**content, "model": {**model, "merges": marker}},
                      ensure_ascii=False, indent=2)
    lines = ",\n".join("      " + json.dumps(m, ensure_ascii=False) for m in merges)
    return text.replace(json.dumps(marker), "[\n" + lines + "\n    ]")


if __name__ == "__main__":
    sys.exit(main())
