"""mlx-lm as the reference implementation: greedy ids and last-position logits, in float32."""
import mlx.core as mx
from models import load_with_mlx_lm
from mlx_lm.generate import generate_step

_loaded = {}


def _model(path):
    if path not in _loaded:
        model, tokenizer = load_with_mlx_lm(path)
        model.set_dtype(mx.float32)  # compare where both run in float32
        _loaded[path] = (model, tokenizer)
    return _loaded[path]


def greedy_ids(path, prompt_ids, max_tokens):
    model, tokenizer = _model(path)
    out = []
    for token, _ in generate_step(mx.array(prompt_ids), model, max_tokens=max_tokens):
        token = int(token)
        if token in tokenizer.eos_token_ids:
            break
        out.append(token)
    return out


def last_logits(path, prompt_ids):
    model, _ = _model(path)
    logits = model(mx.array(prompt_ids)[None])[0, -1].astype(mx.float32)
    return logits.tolist()


def tokenizer(path):
    return _model(path)[1]
