"""The C++ chat template renderer (`pensieve template`) against transformers' apply_chat_template.

Every template of tests/python/chat_templates/ is rendered for a set of conversations, with and
without the generation prompt, by both; the texts must be identical, and a conversation one of
them rejects (raise_exception, undefined use) must be rejected by the other. A second set of small
templates checks single Jinja features against Jinja2 itself, configured as transformers does.
"""
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast
from transformers.utils.chat_template_utils import _compile_jinja_template

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATES = ROOT / "tests" / "python" / "chat_templates"
BINARY = Path(os.environ.get("PENSIEVE_BINARY", ROOT / "build" / "pensieve"))

BOS, EOS = "<s>", "</s>"
TOKENIZER = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE()), bos_token=BOS, eos_token=EOS)


def render_cpp(template_path, context):
    proc = subprocess.run([str(BINARY), "template", "--template", str(template_path), "--context", "-"],
                          input=json.dumps(context).encode(), capture_output=True, timeout=30)
    if proc.returncode != 0:
        assert proc.returncode == 1, proc.stderr.decode(errors="replace")
        assert proc.stderr.startswith(b"error: "), proc.stderr
        return None, proc.stderr.decode(errors="replace")
    return proc.stdout.decode(), None


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search",
        "description": "Search the web for \"quoted\" things — ünïcode",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    },
}
CALL = {"id": "call12345", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}
CALL2 = {"id": "call67890", "type": "function", "function": {"name": "search", "arguments": {"q": "rain"}}}

CONVERSATIONS = {
    "user": ([{"role": "user", "content": "Hello!"}], None),
    "system_user": ([{"role": "system", "content": "You are terse."},
                     {"role": "user", "content": "What is 2+2?"}], None),
    "multi_turn": ([{"role": "system", "content": "  Be kind.  "},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Tell me a joke.\n"}], None),
    "assistant_last": ([{"role": "user", "content": "Say hi"},
                        {"role": "assistant", "content": " hi there "}], None),
    "unicode": ([{"role": "user", "content": "héllo 世界 🎉 \"quotes\" 'single' \\ back\ttab\nnew line"},
                 {"role": "assistant", "content": "Ça va? Привет! ✓"},
                 {"role": "user", "content": "ß İ ǅ — ok"}], None),
    "empty_content": ([{"role": "user", "content": ""}], None),
    "null_field": ([{"role": "user", "content": "hi", "name": None}], None),
    "tools_defined": ([{"role": "system", "content": "Use tools."},
                       {"role": "user", "content": "Weather in Paris?"}], [WEATHER_TOOL, SEARCH_TOOL]),
    "tool_round_trip": ([{"role": "user", "content": "Weather in Paris?"},
                         {"role": "assistant", "tool_calls": [CALL]},
                         {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
                          "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
                         {"role": "assistant", "content": "It is 21 °C and clear."},
                         {"role": "user", "content": "Thanks"}], [WEATHER_TOOL]),
    "tool_call_last": ([{"role": "system", "content": "sys"},
                        {"role": "user", "content": "Weather?"},
                        {"role": "assistant", "content": "Let me check.", "tool_calls": [CALL]}], [WEATHER_TOOL]),
    "two_tool_calls": ([{"role": "user", "content": "Weather and news?"},
                        {"role": "assistant", "content": "", "tool_calls": [CALL, CALL2]},
                        {"role": "tool", "tool_call_id": "call12345", "content": "sunny"},
                        {"role": "tool", "tool_call_id": "call67890", "content": "no news"}],
                       [WEATHER_TOOL, SEARCH_TOOL]),
    "tool_dict_result": ([{"role": "user", "content": "Weather?"},
                          {"role": "assistant", "tool_calls": [CALL]},
                          {"role": "tool", "tool_call_id": "call12345", "content": {"temp": 21.5, "ok": True}}],
                         [WEATHER_TOOL]),
    "not_alternating": ([{"role": "user", "content": "one"}, {"role": "user", "content": "two"}], None),
    "assistant_first": ([{"role": "assistant", "content": "I start"},
                         {"role": "user", "content": "ok"}], None),
    "unknown_role": ([{"role": "narrator", "content": "Once upon a time"}], None),
    "reasoning": ([{"role": "user", "content": "Think"},
                   {"role": "assistant", "content": "Done", "reasoning_content": "hmm"}], None),
}

TEMPLATE_FILES = sorted(p.name for p in TEMPLATES.glob("*.jinja"))


def reference(template, messages, tools, add_generation_prompt, extra):
    try:
        return TOKENIZER.apply_chat_template(messages, tools=tools, chat_template=template, tokenize=False,
                                             add_generation_prompt=add_generation_prompt, **extra), None
    except Exception as e:  # the template rejected the conversation
        return None, f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("template_name", TEMPLATE_FILES)
def test_template_matches_transformers(template_name):
    path = TEMPLATES / template_name
    template = path.read_text(encoding="utf-8")
    checked = 0
    for conv_name, (messages, tools) in CONVERSATIONS.items():
        for agp in (False, True):
            for extra in ({}, {"date_string": "01 Jan 2025", "custom_flag": True}):
                want, want_err = reference(template, messages, tools, agp, extra)
                context = {"messages": messages, "add_generation_prompt": agp, "bos_token": BOS, "eos_token": EOS,
                           **extra}
                if tools is not None:
                    context["tools"] = tools
                got, got_err = render_cpp(path, context)
                where = f"{template_name} / {conv_name} / add_generation_prompt={agp} / {extra}"
                if want_err is not None:
                    assert got is None, f"{where}: transformers raised {want_err} but C++ rendered {got!r}"
                else:
                    assert got_err is None, f"{where}: C++ failed: {got_err}; transformers gave {want!r}"
                    assert got == want, where
                checked += 1
    assert checked == len(CONVERSATIONS) * 4


def test_builtin_phi3_template_is_the_gguf_one():
    """phi3-mini-gguf.jinja is tokenizer.chat_template of the Phi-3 vocabulary GGUF fixture."""
    data = (ROOT / "tests/fixtures/phi3-vocab/ggml-vocab-phi-3.gguf").read_bytes()
    pos = 4
    _version, _n_tensors, n_kv = struct.unpack_from("<IQQ", data, pos)
    pos += 20
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def read_string(p):
        (n,) = struct.unpack_from("<Q", data, p)
        return data[p + 8:p + 8 + n].decode("utf-8"), p + 8 + n

    def read_value(kind, p):
        if kind == 8:
            return read_string(p)
        if kind == 9:
            item_kind, count = struct.unpack_from("<IQ", data, p)
            p += 12
            items = []
            for _ in range(count):
                v, p = read_value(item_kind, p)
                items.append(v)
            return items, p
        fmt = "<" + scalar[kind]
        return struct.unpack_from(fmt, data, p)[0], p + struct.calcsize(fmt)

    found = None
    for _ in range(n_kv):
        key, pos = read_string(pos)
        (kind,) = struct.unpack_from("<I", data, pos)
        value, pos = read_value(kind, pos + 4)
        if key == "tokenizer.chat_template":
            found = value
    assert found is not None
    assert (TEMPLATES / "phi3-mini-gguf.jinja").read_text(encoding="utf-8") == found


def test_model_directory_mode(tmp_path):
    """-m MODEL_DIR reads chat_template and special tokens from tokenizer_config.json."""
    template = (TEMPLATES / "chatml.jinja").read_text(encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"chat_template": template, "bos_token": {"content": "<s>", "special": True}, "eos_token": "</s>"}))
    messages = [{"role": "user", "content": "hi"}]
    (tmp_path / "messages.json").write_text(json.dumps(messages))
    proc = subprocess.run([str(BINARY), "template", "-m", str(tmp_path), "--messages", str(tmp_path / "messages.json"),
                           "--add-generation-prompt"], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    want = TOKENIZER.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)
    assert proc.stdout.decode() == want


# Small templates, one Jinja feature each, compared with Jinja2 as transformers configures it.
FEATURE_CONTEXT = {"xs": [1, 2, 3], "d": {"b": 1, "a": [1, 2]}, "s": "héllo wörld", "n": None, "t": True,
                   "f": 2.5, "msgs": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                                      {"role": "user", "content": "c", "extra": 1}], "e": ""}
FEATURES = [
    "{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}",
    "{% for i in [1,2] %}{% if i == 2 %}{{ y }}{% endif %}{% set y = i %}{% endfor %}|{{ y }}",
    "{% if true %}{% set z = 5 %}{% endif %}{{ z }}",
    "{% macro m(a, b=2) %}{{ a }}{{ b }}{{ w }}{% endmacro %}{{ m(1) }}{% set w = 'late' %}{{ m(3, b=4) }}",
    "{{ u is sequence }}{{ u is iterable }}{{ u|length }}{{ u == u }}{{ u|list }}{{ u ~ 'x' }}{{ u }}",
    "{{ 1/2 }} {{ 7//2 }} {{ -7//2 }} {{ -7 % 3 }} {{ 2**10 }} {{ 2**-1 }} {{ 1e16 }} {{ 0.1+0.2 }} {{ 1.0 }}"
    " {{ 3 * 'ab' }} {{ True + 1 }} {{ 1e-5 }} {{ 123456789.125 }} {{ 10/4 }} {{ -0.0 }} {{ 2.0**70 }}",
    "{{ d }} {{ xs }} {{ (1, 'a') }} {{ (1,) }} {{ n }} {{ \"it's\" }} {{ ['it\\'s', \"q\\\"\", '\\n'] }}"
    " {{ d|items|list }} {{ msgs[2] }}",
    "{{ d|tojson }} {{ d|tojson(indent=2) }} {{ s|tojson }} {{ 1.5|tojson }} {{ [] | tojson(indent=2) }}"
    " {{ msgs|tojson(indent=4) }} {{ {'a': {}, 'b': [n, t, f]}|tojson(indent=1) }} {{ 'é\\u0001\\n'|tojson }}"
    " {{ d|tojson(sort_keys=true) }} {{ s|tojson(ensure_ascii=true) }}",
    "{{ s|title }} {{ 'hello-world foo(bar'|title }} {{ s.title() }} {{ 'aBc'|capitalize }} {{ s|upper }}"
    " {{ 'ÀÉÎ'|lower }} {{ 'x1y'.title() }}",
    "{{ '  a b  '.split() }} {{ 'a,b,,c'.split(',') }} {{ s[1:3] }} {{ s[::-1] }} {{ s|length }} {{ xs[-1] }}"
    " {{ xs[5] }}| {{ xs[::2] }} {{ xs[-2:] }} {{ xs[:-1] }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.rsplit(' ', 1) }}",
    "{{ x if false }}|{{ 'a' if true else 'b' }}|{{ xs|join(', ') }}|{{ xs|first }}{{ xs|last }}{{ xs|sum }}",
    "  {% if true %}\n  X\n  {% endif %}\n  Y {{ 1 }}\n  {#- c #}\nZ\n",
    "{{ d.get('zz', 'dflt') }} {{ d.keys()|list }} {{ d['b'] }} {{ d.b }} {{ d.zz }}|{{ d.get('b') }}",
    "{{ d.zz.yy }}",
    "{% for k, v in d.items() %}{{ loop.index }}:{{ k }}={{ v }}{% if not loop.last %},{% endif %}{% endfor %}",
    "{% for x in xs %}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}"
    "{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('a', 'b') }}{% endfor %}",
    "{% for x in xs if x > 1 %}{{ x }}{{ loop.index }}/{{ loop.length }} {% else %}none{% endfor %}"
    "{% for x in [] %}x{% else %}empty{% endfor %}",
    "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}{{ x }}{% endfor %}",
    "{% set ns = namespace(count=0, found=false) %}{% for m in msgs %}{% if m.role == 'user' %}"
    "{% set ns.count = ns.count + 1 %}{% endif %}{% endfor %}{{ ns.count }}{{ ns.found }}",
    "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='content')|join }}"
    "{{ msgs|rejectattr('role', 'equalto', 'user')|list|length }}{{ msgs|selectattr('extra', 'defined')|list }}"
    "{{ msgs|selectattr('extra')|list|length }}{{ msgs|map(attribute='extra', default='-')|join }}",
    "{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'a']|unique|list }} {{ xs|reverse|list }} {{ xs|max }} {{ xs|min }}"
    " {{ 'abc'|reverse }} {{ [1, 2, 1]|unique|list }}",
    "{{ '  x  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ ' x '.strip() }}|{{ 'xyx'.lstrip('x') }}|{{ 'xyx'.rstrip('x') }}",
    "{{ 'a' in 'cat' }} {{ 2 in xs }} {{ 'b' in d }} {{ 'z' not in d }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }}"
    " {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ none == none }} {{ xs == [1, 2, 3] }}",
    "{{ n is none }} {{ t is boolean }} {{ f is number }} {{ 1 is integer }} {{ f is float }} {{ s is string }}"
    " {{ d is mapping }} {{ xs is iterable }} {{ xs is sequence }} {{ 3 is odd }} {{ 4 is even }}"
    " {{ 9 is divisibleby 3 }} {{ xs is not string }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ 1 is in xs }}",
    "{{ n|default('dflt') }} {{ u|default('dflt') }} {{ e|default('dflt', true) }} {{ u|d('x') }}",
    "{{ '42'|int }} {{ 'x'|int }} {{ 3.9|int }} {{ '3.5'|float }} {{ 'ff'|int(base=16) }} {{ 42|string }}"
    " {{ -3|abs }} {{ 2.5|round }} {{ 3.14159|round(2) }} {{ 2.675|round(2) }} {{ 7|round }}",
    "{{ 'a\\nb\\n\\nc'|indent(2) }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'x\\n\\ny'|indent('> ', blank=true) }}",
    "{{ 'hello world'.replace('o', '0') }} {{ 'aaa'|replace('a', 'b', 2) }} {{ 'abc'.startswith('a') }}"
    " {{ 'abc'.endswith(('x', 'c')) }} {{ 'abcabc'.find('c') }} {{ 'abcabc'.count('bc') }} {{ '-'.join(['a', 'b']) }}",
    "{{ 'x' ~ 1 ~ none ~ 2.0 }} {{ [1] + [2] }} {{ 'a' + 'b' }} {{ -xs[0] }} {{ not xs }} {{ xs and 'y' }} {{ e or 'z' }}",
    "{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(5, 0, -2)|list }} {{ 'é'|length }}",
    "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c %}block {{ a }}{% endset %}[{{ c }}]"
    "{% filter upper %}shout {{ b }}{% endfilter %}",
    "{{ raise_exception('custom failure') }}",
    "{{ 1 + 'a' }}",
    "{{ u.attr }}",
    "{{ xs|length + u }}",
    "{% for x in 5 %}{% endfor %}",
    "{{ 1 // 0 }}",
    "{% if %}",
    "{% for x in xs %}",
    "{{ 'unterminated }}",
    "{% endif %}",
    "{{ x ! y }}",
    "{% raw %}{{ not rendered }}{% endraw %} after",
    "{{ dict(a=1, b='x') }} {{ namespace(a=1).a }}",
    "{{ '%s and %s'|format('a', 1) }} {{ '{} + {}'.format(1, 'b') }}",
    "{%- for m in msgs -%}\n  {{- m.role }}\n{%- endfor %}\n  {%+ if true %}kept{% endif %}",
    "a  {%- if true -%}  b  {%- endif -%}  c\n    {% if true %}\n      d\n    {% endif %}\n",
    "{# comment #}\n{% if true %}\nline\n{% endif %}\n\n{{ 'end' }}\n\n",
    "{{ 'a' 'b' }} {{ \"\\x41\\u00e9\\t|\" }} {{ 0x1F }} {{ 1_000 }} {{ 1.5e3 }}",
    "{{ t|tojson }} {{ xs|tojson(separators=(',', ':')) }} {{ 1e100|tojson }} {{ -1|tojson }}",
    "{{ [1, 'a', none, true, 1.5, {'k': ('t', 1)}] }} {{ {'a': 1, 1: 'b'} }} {{ 'a\\'b\"c' }}|{{ ['a\\'b\"c'] }}",
    "{{ xs|map('string')|join('|') }} {{ ['a', 'b']|map('upper')|list }} {{ xs|select('odd')|list }}"
    " {{ xs|reject('equalto', 2)|list }} {{ msgs|map(attribute='role')|unique|list }}",
    "{{ msgs[0]['content'] }}{{ msgs[0].content }}{{ msgs.0.role }}{{ msgs[-1]['extra'] + 1 }}",
]


def jinja_reference(template):
    try:
        return _compile_jinja_template(template).render(**FEATURE_CONTEXT), None
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


@pytest.mark.parametrize("index", range(len(FEATURES)))
def test_jinja_feature_matches_jinja2(index, tmp_path):
    template = FEATURES[index]
    want, want_err = jinja_reference(template)
    path = tmp_path / "t.jinja"
    path.write_text(template, encoding="utf-8")
    got, got_err = render_cpp(path, FEATURE_CONTEXT)
    if want_err is not None:
        assert got is None, f"Jinja2 raised {want_err}; C++ rendered {got!r}"
    else:
        assert got_err is None, f"C++ failed: {got_err}; Jinja2 gave {want!r}"
        assert got == want
