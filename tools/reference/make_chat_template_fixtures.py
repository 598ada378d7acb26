#!/usr/bin/env python3
"""Reference renders of chat templates for SKETokenizer's Jinja interpreter tests.

Renders every template given on the command line with Python's jinja2, set up the way
Hugging Face transformers' `apply_chat_template` sets it up (ImmutableSandboxedEnvironment,
trim_blocks, lstrip_blocks, loopcontrols, `raise_exception`, `strftime_now`, a `tojson` that keeps
key order and non-ASCII text, `safe` as identity), over a fixed set of conversations. llama.cpp's own template engine
follows the same conventions. Writes, into OUT_DIR, a copy of each template and `expected.json`:
{ template_file: { case_name: {"output": str} | {"error": str} } }.

Usage: make_chat_template_fixtures.py OUT_DIR TEMPLATE.jinja...
Sources used for the committed fixtures: ../shared/reference/chat-templates/*.jinja, the
`llama-cpp-python==0.3.36` sdist's vendor/llama.cpp/models/templates/*.jinja, and SmolLM2's
`tokenizer.chat_template` (written to smollm2-gguf.jinja by the caller).
"""
import json, os, shutil, sys
from datetime import datetime
import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)

def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

def strftime_now(fmt):
    return datetime(2026, 11, 26).strftime(fmt)  # fixed, so the fixture is reproducible

class Generation(jinja2.ext.Extension):
    """transformers' AssistantTracker: `{% generation %}…{% endgeneration %}` renders its body."""
    tags = {"generation"}
    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)

env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols, Generation])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now
# `|safe` as identity, as llama.cpp's template engine has it: with jinja2's Markup, `"…"|safe + text` would
# HTML-escape `text` (one template, functionary v3.1, hits this), which no chat format intends.
env.filters["safe"] = lambda x: x

TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city, in °C.",
          "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name"},
                         "days": {"type": "integer"}}, "required": ["city"]}}}]
CASES = {
    "user": dict(messages=[{"role": "user", "content": "Hello!"}], add_generation_prompt=True),
    "system_user": dict(messages=[{"role": "system", "content": "You are terse."},
                                  {"role": "user", "content": "What is 2+2?"}], add_generation_prompt=True),
    "multi_turn": dict(messages=[{"role": "system", "content": "  Be kind.  "},
                                 {"role": "user", "content": "Hi there"},
                                 {"role": "assistant", "content": "Hello! How can I help? 😊"},
                                 {"role": "user", "content": "Tell me a joke\nabout cats."}], add_generation_prompt=True),
    "no_generation_prompt": dict(messages=[{"role": "user", "content": "Q?"},
                                           {"role": "assistant", "content": "A."}], add_generation_prompt=False),
    "tools": dict(messages=[{"role": "user", "content": "Weather in Paris?"}], tools=TOOLS, add_generation_prompt=True),
}

def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    expected = {}
    for path in sys.argv[2:]:
        name = os.path.basename(path)
        source = open(path, encoding="utf-8").read()
        try:
            template = env.from_string(source)
        except Exception as e:
            print(f"skip {name}: jinja2 cannot parse it ({e})", file=sys.stderr)
            continue
        results = {}
        for case, ctx in CASES.items():
            ctx = dict(ctx, bos_token="<s>", eos_token="</s>", date_string="26 Nov 2026")
            try:
                results[case] = {"output": template.render(**ctx)}
            except (jinja2.exceptions.TemplateError) as e:  # raise_exception, undefined values
                results[case] = {"error": f"{type(e).__name__}: {e}"}
            except Exception as e:  # a Python artefact (e.g. json.dumps of a generator): not a template's answer
                print(f"  {name}/{case}: left out ({type(e).__name__}: {e})", file=sys.stderr)
        expected[name] = results
        shutil.copyfile(path, os.path.join(out, name))
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=1, sort_keys=True)
    print(f"{len(expected)} templates, {sum(len(v) for v in expected.values())} renders")

main()
