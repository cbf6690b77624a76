"""References for the server tests: the prompt as Hugging Face builds it (chat template and
tokenizer.json, independent of Pensieve's code), and a test model rigged to end its turns."""
from __future__ import annotations

import json
from pathlib import Path

import pytest


# -- the reference prompt -------------------------------------------------------------------------
class ReferenceTokenizer:
    """The prompt as Hugging Face makes it: the chat template of tokenizer_config.json rendered the
    way transformers' apply_chat_template renders it (a sandboxed Jinja2 environment with
    trim_blocks and lstrip_blocks), and tokenizer.json encoded by the `tokenizers` library.
    (transformers itself is not used: importing it costs seconds, and version 5's Llama tokenizer
    class splits words after special tokens differently from tokenizer.json.)"""

    def __init__(self, model_dir: Path):
        import jinja2.sandbox
        import tokenizers

        config = json.loads((Path(model_dir) / "tokenizer_config.json").read_text())
        env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self.template = env.from_string(config["chat_template"])
        self.special = {k: config[k] for k in ("bos_token", "eos_token") if isinstance(config.get(k), str)}
        self.fast = tokenizers.Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))

    def render(self, messages: list[dict]) -> str:
        return self.template.render(messages=messages, add_generation_prompt=True, **self.special)

    def encode(self, text: str) -> list[int]:
        return self.fast.encode(text, add_special_tokens=False).ids

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        # The template writes <s> itself, so nothing is added when encoding.
        return self.encode(self.render(messages))


@pytest.fixture(scope="session")
def hf_tokenizer(tiny_model) -> ReferenceTokenizer:
    return ReferenceTokenizer(tiny_model)


def reference_prompt_ids(ref: ReferenceTokenizer, messages: list[dict]) -> list[int]:
    return ref.prompt_ids(messages)


# -- a model that ends its turns ------------------------------------------------------------------
END_OF_TURN_ID = 32007  # Phi-3's <|end|>


def turn_ending_model(base_dir: Path, eos_margin: float = 8.0) -> Path:
    """A copy of a quantized test model that ends its turn after a dozen tokens or so.

    A random model almost never picks <|end|> (3 ids in 32064), but clients such as Claude Code
    treat a turn cut by max_tokens as a failure. Here every token embedding gets a large
    component in dimension 0, so that after the final RMSNorm dimension 0 is about sqrt(hidden)
    whatever the layers did; lm_head reads dimension 0 only into <|end|>'s logit, and the other
    rows are scaled down to keep their logits near 0, so <|end|> sits about `eos_margin` above
    the rest: P(<|end|>) ≈ e^m / (e^m + 32063) per sampled token.
    """
    import shutil

    import mlx.core as mx

    out = Path(base_dir).with_name(Path(base_dir).name + f"-ends-turns-{eos_margin:g}")
    if out.is_dir():
        return out
    config = json.loads((Path(base_dir) / "config.json").read_text())
    q = config["quantization"]
    group, bits = q["group_size"], q["bits"]
    weights = mx.load(str(Path(base_dir) / "model.safetensors"))

    def dequantized(name):
        return mx.dequantize(weights[name + ".weight"], weights[name + ".scales"], weights[name + ".biases"],
                             group_size=group, bits=bits).astype(mx.float32)

    def store(name, matrix):
        w, s, b = mx.quantize(matrix, group_size=group, bits=bits)
        dtype = weights[name + ".scales"].dtype
        weights[name + ".weight"], weights[name + ".scales"], weights[name + ".biases"] = w, s.astype(dtype), b.astype(dtype)

    embed = dequantized("model.embed_tokens")
    big = 100.0
    embed[:, 0] = big
    store("model.embed_tokens", embed)
    head = dequantized("lm_head") * 0.1
    head[:, 0] = 0.0
    head[END_OF_TURN_ID, :] = 0.0
    head[END_OF_TURN_ID, 0] = eos_margin / (config["hidden_size"] ** 0.5)
    store("lm_head", head)

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(base_dir, tmp)
    mx.save_safetensors(str(tmp / "model.safetensors"), weights, metadata={"format": "mlx"})
    tmp.rename(out)
    return out
