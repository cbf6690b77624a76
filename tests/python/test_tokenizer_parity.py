"""Pensieve's C++ tokenizer gives the same ids and text as Hugging Face `tokenizers` with the
same tokenizer.json: the Phi-3 files, variants of them, and byte-level BPE tokenizers trained
here. Runs the `pensieve tokenize/detokenize --jsonl` batch modes, one process per check."""
import copy
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from tokenizers import AddedToken

from tokenizer_corpus import corpus

ROOT = Path(__file__).resolve().parents[2]
PHI3 = ROOT / "tests" / "fixtures" / "phi3-tokenizer"
BINARY = Path(os.environ.get("PENSIEVE_BINARY", ROOT / "build" / "pensieve"))
CORPUS = corpus(10_000, seed=1234)


def cli(args, lines):
    """Runs a --jsonl command with one JSON value per line in, one per line out."""
    assert BINARY.exists(), f"build {BINARY} first (make build)"
    payload = "".join(json.dumps(x) + "\n" for x in lines)
    proc = subprocess.run([str(BINARY), *args, "--jsonl"], input=payload.encode(),
                          capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    out = [json.loads(line) for line in proc.stdout.decode().split("\n")[:-1]]
    assert len(out) == len(lines)
    return out


def encode_cli(model_dir, texts, bos=False):
    return cli(["tokenize", "-m", str(model_dir)] + (["--bos"] if bos else []), texts)


def decode_cli(model_dir, id_lists, skip_special=False, stream=False):
    args = ["detokenize", "-m", str(model_dir)]
    args += ["--skip-special"] if skip_special else []
    args += ["--stream"] if stream else []
    return cli(args, id_lists)


def assert_same(got, want, inputs, what):
    bad = [(x, g, w) for x, g, w in zip(inputs, got, want) if g != w]
    assert not bad, f"{len(bad)} {what} differ, first: {bad[0]!r}"


def random_id_lists(tok, n, seed):
    """Id sequences a model might generate: any id, byte tokens in runs, special tokens."""
    rng = random.Random(seed)
    size = tok.get_vocab_size(with_added_tokens=True)
    specials = [t.content for t in tok.get_added_tokens_decoder().values()]
    special_ids = [tok.token_to_id(s) for s in specials]
    byte_ids = [i for i in (tok.token_to_id(f"<0x{b:02X}>") for b in range(256)) if i is not None]
    out = []
    for _ in range(n):
        ids = []
        for _ in range(rng.randint(0, 30)):
            r = rng.random()
            if r < 0.25 and byte_ids:
                ids += rng.sample(byte_ids, rng.randint(1, 4))
            elif r < 0.35:
                ids.append(rng.choice(special_ids))
            else:
                ids.append(rng.randrange(size))
        out.append(ids)
    return out


def check_tokenizer(model_dir, texts, decode_lists, with_bos):
    """Encode (without and, if asked, with template tokens), decode with and without special
    tokens, and stream decode, all against `tokenizers`."""
    tok = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
    want = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    assert_same(encode_cli(model_dir, texts), want, texts, "encodings")
    if with_bos:
        some = texts[:1500]
        want_bos = [e.ids for e in tok.encode_batch(some, add_special_tokens=True)]
        assert_same(encode_cli(model_dir, some, bos=True), want_bos, some, "encodings with BOS")
    id_lists = want + decode_lists
    for skip in (False, True):
        full = tok.decode_batch(id_lists, skip_special_tokens=skip)
        assert_same(decode_cli(model_dir, id_lists, skip), full, id_lists, f"decodes (skip={skip})")
        streamed = decode_cli(model_dir, id_lists, skip, stream=True)
        assert_same(streamed, full, id_lists, f"stream decodes (skip={skip})")


def test_phi3_matches_hf_on_corpus():
    tok = Tokenizer.from_file(str(PHI3 / "tokenizer.json"))
    check_tokenizer(PHI3, CORPUS, random_id_lists(tok, 3000, seed=7), with_bos=True)


def test_phi3_cli_plain_commands():
    out = subprocess.run([str(BINARY), "tokenize", "-m", str(PHI3), "--bos", "Hello world"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == [1, 15043, 3186]
    out = subprocess.run([str(BINARY), "detokenize", "-m", str(PHI3), "[1, 15043, 3186, 32007]",
                          "--skip-special"], capture_output=True, text=True, check=True).stdout
    assert out == "Hello world\n"
    proc = subprocess.run([str(BINARY), "tokenize", "-m", str(ROOT / "no-such-model"), "x"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "local model directory" in proc.stderr


def write_variant(tmp_path, name, spec):
    d = tmp_path / name
    d.mkdir()
    (d / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    return d


def test_phi3_metaspace_variant(tmp_path):
    """The same vocabulary with the newer Metaspace pre-tokenizer/decoder layout."""
    spec = json.loads((PHI3 / "tokenizer.json").read_text(encoding="utf-8"))
    spec = copy.deepcopy(spec)
    spec["normalizer"] = None
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first",
                             "split": False}
    spec["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    d = write_variant(tmp_path, "metaspace", spec)
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    check_tokenizer(d, CORPUS[:3000], random_id_lists(tok, 500, seed=8), with_bos=True)


LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")


@pytest.fixture(scope="module")
def byte_level_model(tmp_path_factory):
    """A small byte-level BPE trained on the corpus, saved once; variants reuse its model."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=3000, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|begin|>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_special_tokens([AddedToken("<|eot|>", lstrip=True, rstrip=True, special=True)])
    tok.add_tokens([AddedToken("hello world", normalized=True),
                    AddedToken("[tool]", single_word=True, normalized=False)])
    path = tmp_path_factory.mktemp("bytelevel") / "tokenizer.json"
    tok.save(str(path))
    return json.loads(path.read_text(encoding="utf-8"))


def byte_level_variant(tmp_path, spec, name):
    d = write_variant(tmp_path, name, spec)
    tok = Tokenizer.from_file(str(d / "tokenizer.json"))
    check_tokenizer(d, CORPUS[:5000], random_id_lists(tok, 500, seed=9),
                    with_bos=spec.get("post_processor") is not None)


def test_gpt2_style_byte_level(tmp_path, byte_level_model):
    byte_level_variant(tmp_path, byte_level_model, "gpt2")


def test_gpt2_style_with_prefix_space(tmp_path, byte_level_model):
    spec = copy.deepcopy(byte_level_model)
    spec["pre_tokenizer"]["add_prefix_space"] = True
    spec["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                              "use_regex": True}
    byte_level_variant(tmp_path, spec, "gpt2-prefix")


def split_variant(spec, regex, bos):
    spec = copy.deepcopy(spec)
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    spec["model"]["ignore_merges"] = True
    if bos:
        begin = next(t["id"] for t in spec["added_tokens"] if t["content"] == "<|begin|>")
        spec["post_processor"] = {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
             "use_regex": True},
            {"type": "TemplateProcessing",
             "single": [{"SpecialToken": {"id": "<|begin|>", "type_id": 0}},
                        {"Sequence": {"id": "A", "type_id": 0}}],
             "pair": [{"SpecialToken": {"id": "<|begin|>", "type_id": 0}},
                      {"Sequence": {"id": "A", "type_id": 0}},
                      {"SpecialToken": {"id": "<|begin|>", "type_id": 1}},
                      {"Sequence": {"id": "B", "type_id": 1}}],
             "special_tokens": {"<|begin|>": {"id": "<|begin|>", "ids": [begin],
                                              "tokens": ["<|begin|>"]}}}]}
    return spec


def test_llama3_style_split(tmp_path, byte_level_model):
    byte_level_variant(tmp_path, split_variant(byte_level_model, LLAMA3_REGEX, True), "llama3")


def test_qwen2_style_split(tmp_path, byte_level_model):
    byte_level_variant(tmp_path, split_variant(byte_level_model, QWEN2_REGEX, False), "qwen2")


def test_unsupported_component_is_named(tmp_path, byte_level_model):
    spec = copy.deepcopy(byte_level_model)
    spec["normalizer"] = {"type": "NFKC"}
    d = write_variant(tmp_path, "nfkc", spec)
    proc = subprocess.run([str(BINARY), "tokenize", "-m", str(d), "x"], capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "NFKC" in proc.stderr
