"""The Phi-3 tokenizer files generated from the GGUF vocabulary reproduce the reference ids."""
import json
import subprocess
import sys
from pathlib import Path

from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[2]
VOCAB = ROOT / "tests" / "fixtures" / "phi3-vocab" / "ggml-vocab-phi-3.gguf"
FIXTURE = ROOT / "tests" / "fixtures" / "phi3-tokenizer"
FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def reference_vectors():
    """(text, ids) pairs of llama.cpp's test files: inputs end with a separator line, the .out
    file has one line of ids per input."""
    text = VOCAB.with_name(VOCAB.name + ".inp").read_text(encoding="utf-8")
    inputs = text.split("\n__ggml_vocab_test__\n")
    assert inputs[-1] == ""
    inputs = inputs[:-1]
    lines = VOCAB.with_name(VOCAB.name + ".out").read_text().split("\n")
    return [(t, [int(x) for x in line.split()]) for t, line in zip(inputs, lines, strict=False)]


def test_reference_vectors_are_complete():
    assert len(reference_vectors()) == 46


def test_hf_tokenizers_gives_reference_ids():
    tok = Tokenizer.from_file(str(FIXTURE / "tokenizer.json"))
    for text, ids in reference_vectors():
        assert tok.encode(text, add_special_tokens=False).ids == ids, repr(text)


def test_post_processor_adds_bos_and_special_tokens_split():
    tok = Tokenizer.from_file(str(FIXTURE / "tokenizer.json"))
    ids = tok.encode("<|user|>\nHi<|end|>\n<|assistant|>\n").ids
    assert ids[0] == 1
    assert [i for i in ids if i >= 32000] == [32010, 32007, 32001]


def test_committed_files_match_the_tool(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "gguf_to_tokenizer_json.py"),
                    str(VOCAB), str(tmp_path)], check=True)
    for name in FILES:
        assert json.loads((tmp_path / name).read_text(encoding="utf-8")) == \
            json.loads((FIXTURE / name).read_text(encoding="utf-8")), name


def test_transformers_loads_the_folder():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(FIXTURE))
    assert tok.is_fast
    assert type(tok).__name__ in ("LlamaTokenizerFast", "LlamaTokenizer")
    assert tok.bos_token == "<s>" and tok.eos_token == "<|endoftext|>"
    assert tok.pad_token == "<|endoftext|>" and tok.unk_token == "<unk>"
    assert tok("Hello world").input_ids == [1, 15043, 3186]
    assert tok.convert_tokens_to_ids("<|end|>") == 32007
    assert tok.chat_template and "<|user|>" in tok.chat_template
    assert tok.model_max_length == 131072
