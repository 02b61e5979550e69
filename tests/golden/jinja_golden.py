#!/usr/bin/env python3
"""Golden test for the C++ Jinja engine (dynamo-template) against Python's jinja2.

Renders the public chat templates under chat_templates/ and a set of engine feature templates
over many conversations, once with jinja2 configured exactly as Hugging Face transformers
configures it (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, the
tojson override, raise_exception, strftime_now) and once with dynamo-template, and requires
byte-identical output, or the same raise_exception message when the template raises.
Exits non-zero on any mismatch.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = 1721995200  # 2024-07-26 12:00:00 UTC; strftime_now() formats this on both sides.


class Raised(Exception):
    """The template called raise_exception(message)."""


def make_env():
    def raise_exception(message):
        raise Raised(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_python(env, source, context):
    """Returns ("ok", text), ("raised", message) or ("error", description)."""
    try:
        return "ok", env.from_string(source).render(**context)
    except Raised as err:
        return "raised", str(err)
    except Exception as err:  # any other jinja2 failure: the C++ side must fail too
        return "error", f"{type(err).__name__}: {err}"


def render_tool(tool, template_path, context, workdir):
    ctx_path = Path(workdir) / "context.json"
    ctx_path.write_text(json.dumps(context, ensure_ascii=False), encoding="utf-8")
    cmd = [tool, "--template", str(template_path), "--messages", str(ctx_path),
           "--now", str(NOW)]
    if context.get("add_generation_prompt"):
        cmd.append("--add-generation-prompt")
    env = dict(os.environ, TZ="UTC")
    proc = subprocess.run(cmd, capture_output=True, timeout=60, env=env)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city, e.g. \"Paris\".",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7.5},
            },
            "required": ["city"],
        },
    },
}

CONVERSATIONS = {
    "user_only": [{"role": "user", "content": "Hello!"}],
    "system_user": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ],
    "multi_turn": [
        {"role": "system", "content": "Be helpful."},
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "multi_turn_no_system": [
        {"role": "user", "content": "First question"},
        {"role": "assistant", "content": "  First answer with padding  "},
        {"role": "user", "content": "Second question\n"},
    ],
    "unicode": [
        {"role": "system", "content": "Réponds en français, s'il te plaît. 日本語もOK"},
        {"role": "user", "content": "Ça va? 🎉 Ünïcödé — ß ǅ ﬁ \u00a0nbsp \u2028sep"},
    ],
    "braces_and_quotes": [
        {"role": "user",
         "content": "Literal {{ not a tag }} and {% if x %} and {# c #} 'single' \"double\" "
                    "back\\slash\ttab\r\nCRLF"},
        {"role": "assistant", "content": "<|im_end|> [INST] </s> {\"json\": [1, 2]}"},
        {"role": "user", "content": "%}}{{%"},
    ],
    "whitespace": [
        {"role": "user", "content": "\n\n  leading and trailing  \n\n"},
        {"role": "assistant", "content": "\t"},
        {"role": "user", "content": " "},
    ],
    "think": [
        {"role": "user", "content": "Solve it"},
        {"role": "assistant", "content": "<think>scratch</think>The answer is 4."},
        {"role": "user", "content": "Thanks"},
    ],
    "bad_alternation": [
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
    ],
    "empty": [],
}

TOOL_CONTEXTS = {
    "tools_call": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call12345", "type": "function",
                 "function": {"name": "get_weather",
                              "arguments": {"city": "Paris", "unit": "celsius"}}}]},
            {"role": "tool", "tool_call_id": "call12345", "content": "{\"temp\": 21.5}"},
            {"role": "assistant", "content": "It is 21.5°C in Paris."},
            {"role": "user", "content": "And tomorrow?"},
        ],
    },
    "tools_declared": {
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
    },
    "tools_in_system": {
        "tools": [WEATHER_TOOL],
        "tools_in_user_message": False,
        "date_string": "01 Jan 2025",
        "messages": [
            {"role": "system", "content": "  Use tools wisely.  "},
            {"role": "user", "content": "Weather?"},
        ],
    },
    "deepseek_tools": {
        "messages": [
            {"role": "system", "content": "Sys A"},
            {"role": "system", "content": "Sys B"},
            {"role": "user", "content": "Use a tool"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"type": "function",
                 "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                {"type": "function",
                 "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "content": "r1"},
            {"role": "tool", "content": "r2"},
        ],
    },
}

# Engine features beyond what the chat templates use, rendered with empty messages.
FEATURES = {
    "literals_and_math": "{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % -3 }} {{ 7 / 2 }} "
                         "{{ 2 ** 10 }} {{ 1.5 + 1 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1e-7 }} "
                         "{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 3 }} {{ [1, 2] + [3] }} "
                         "{{ 10000000000000000.0 }} {{ 123456.789 }} {{ -0.5 }} {{ 3.0 }}",
    "strings_escapes": "{{ 'tab\\there' }}|{{ \"q\\\"uote\" }}|{{ 'u\\u00e9\\U0001F600' }}|"
                       "{{ 'x\\x41' }}|{{ 'keep\\d' }}|{{ 'adj' 'acent' }}",
    "python_reprs": "{{ [1, 'a', none, true, 1.5, {'k': 'v'}] }} {{ {'a': [1, {'b': none}]} }} "
                    "{{ [\"it's\"] }} {{ ['a\\nb'] }}",
    "comparisons": "{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' in 'cat' }} {{ 2 not in [1, 3] }} "
                   "{{ 'k' in {'k': 1} }} {{ 1 == 1.0 }} {{ true == 1 }} {{ [1, 2] == [1, 2] }} "
                   "{{ {'a': 1, 'b': 2} == {'b': 2, 'a': 1} }} {{ 'b' > 'a' }} {{ none is none }}",
    "logic": "{{ 0 or 'x' }} {{ 1 and 'y' }} {{ not '' }} {{ [] or 'empty' }} "
             "{{ 'yes' if 0 else 'no' }} {{ 'no-else' if false }}|",
    "tests": "{% set n = none %}{{ n is none }} {{ 3 is odd }} {{ 4 is even }} "
             "{{ 9 is divisibleby 3 }} {{ 'x' is string }} {{ 1 is number }} {{ 1.0 is integer }} "
             "{{ {} is mapping }} {{ [] is iterable }} {{ 'a' is sequence }} {{ u is defined }} "
             "{{ u is undefined }} {{ true is boolean }} {{ false is false }} {{ 1 is eq 1 }} "
             "{{ 'a' is equalto 'a' }} {{ 2 is gt 1 }} {{ 1 is in [1] }} {{ 3 is not odd }}",
    "filters_text": "{{ '  hi  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'hello world' | title }}|"
                    "{{ 'hELLO' | capitalize }}|{{ 'abc' | upper }}|{{ 'ABC' | lower }}|"
                    "{{ 'a-b c(d' | title }}|{{ 'aaa' | replace('a', 'b', 2) }}|"
                    "{{ 'abc' | reverse }}|{{ 'x' | center(5) }}|{{ 'abc' | length }}|"
                    "{{ '<&>\"\\'' | e }}|{{ 'one two  three' | wordcount }}",
    "filters_lists": "{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} "
                     "{{ [3, 1, 2] | sort(reverse=true) }} {{ [1, 2, 3] | first }} "
                     "{{ [1, 2, 3] | last }} {{ [1, 2, 3] | join('-') }} {{ [1, 2, 3] | sum }} "
                     "{{ [1, 2, 2, 3] | unique | list }} {{ [1, 5, 3] | max }} {{ [4, 2] | min }} "
                     "{{ [1, 2, 3] | reverse | list }} {{ 'abc' | list }} {{ [-1.5] | map('abs') | list }} "
                     "{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} "
                     "{{ range(3) | list }} {{ range(5, 0, -2) | list }} {{ [] | first is undefined }}",
    "filters_dicts": "{% set d = {'b': 1, 'a': 2} %}{{ d | items | list | length }} "
                     "{% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %} "
                     "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys() | list }} "
                     "{{ d.values() | list }} {{ d.get('a') }} {{ d.get('z', 'dflt') }} {{ d | length }}",
    "attr_filters": "{% set people = [{'name': 'Al', 'age': 30, 'tags': ['x']}, "
                    "{'name': 'Bo', 'age': 20}, {'name': 'Cy', 'age': 40, 'admin': true}] %}"
                    "{{ people | map(attribute='name') | join(', ') }}|"
                    "{{ people | selectattr('admin') | map(attribute='name') | list }}|"
                    "{{ people | rejectattr('admin') | map(attribute='name') | list }}|"
                    "{{ people | selectattr('age', 'gt', 25) | map(attribute='name') | list }}|"
                    "{{ people | selectattr('name', 'equalto', 'Bo') | list | length }}|"
                    "{{ people | sort(attribute='age') | map(attribute='name') | join }}|"
                    "{{ people | map(attribute='tags.0', default='-') | list }}|"
                    "{{ people | sum(attribute='age') }}|{{ people | join(',', attribute='age') }}",
    "tojson": "{{ {'b': [1, 2.5, 'é', none, true], 'a': {'x': '\"q\"\\n'}} | tojson }}|"
              "{{ {'b': 1, 'a': [1, {}], 'c': []} | tojson(indent=2) }}|"
              "{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}|{{ 'x' | tojson }}|"
              "{{ [1, 2] | tojson(separators=(',', ':')) }}",
    "conversions": "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int(7) }} {{ 3 | float }} "
                   "{{ '2.5' | float }} {{ 42 | string }} {{ 3.7 | round }} {{ 3.14159 | round(2) }} "
                   "{{ 2.5 | round }} {{ -3 | abs }} {{ none | string }} {{ u | default('d') }} "
                   "{{ '' | default('e', true) }} {{ 0 | d('zero', boolean=true) }}",
    "slicing": "{% set l = [0, 1, 2, 3, 4, 5] %}{{ l[1:] }} {{ l[:2] }} {{ l[::-1] }} "
               "{{ l[-2:] }} {{ l[1:5:2] }} {{ l[-1] }} {{ 'héllo'[1:3] }} {{ 'abc'[::-1] }} "
               "{{ 'abc'[-1] }} {{ l[10] is defined }} {{ l[5:1:-2] }}",
    "string_methods": "{{ '  a b  '.strip() }}|{{ 'xxaxx'.lstrip('x') }}|{{ 'a,b,,c'.split(',') }}|"
                      "{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'a b c'.rsplit(' ', 1) }}|"
                      "{{ 'Hello'.startswith('He') }}|{{ 'Hello'.endswith(('x', 'lo')) }}|"
                      "{{ 'they\\'re bill'.title() }}|{{ 'ab'.upper() }}|{{ 'aXb'.replace('X', '-') }}|"
                      "{{ 'héllo'.find('l') }}|{{ 'banana'.count('an') }}|{{ '-'.join(['a', 'b']) }}|"
                      "{{ 'l1\\nl2\\r\\nl3'.splitlines() }}|{{ '123'.isdigit() }}|{{ 'abc'.isalpha() }}",
    "loops": "{% for x in [10, 20, 30] %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/"
             "{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/"
             "{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.cycle('a', 'b') }};{% endfor %}"
             "{% for x in [] %}never{% else %}empty-else{% endfor %}"
             "{% for x in range(10) if x is odd %}{{ x }}{% if x > 5 %}{% break %}{% endif %}{% endfor %}"
             "{% for x in range(5) %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}"
             "{% for a, b in [[1, 2], [3, 4]] %}({{ a }},{{ b }}){% endfor %}"
             "{% for c in 'hé' %}[{{ c }}]{% endfor %}{% for k in {'z': 1, 'y': 2} %}{{ k }}{% endfor %}",
    "scoping": "{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = i * 10 %}{{ x }}{% endfor %}{{ x }}"
               "{% set ns = namespace(total=0, items=[]) %}{% for i in [1, 2, 3] %}"
               "{% set ns.total = ns.total + i %}{% set ns.items = ns.items + [i] %}{% endfor %}"
               "{{ ns.total }}{{ ns.items }}{% if true %}{% set y = 'leak' %}{% endif %}{{ y }}"
               "{% with z = 5 %}{{ z }}{% endwith %}{{ z is defined }}",
    "macros": "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
              "{{ greet('Al') }} {{ greet('Bo', punct='?') }} {{ greet(name='Cy') }}"
              "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}"
              "{% call wrap('b') %}inside {{ 1 + 1 }}{% endcall %}"
              "{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(4) }}"
              "{% set captured %}  block {{ 'set' | upper }}  {% endset %}[{{ captured }}]"
              "{% filter upper %}filtered {{ 'text' }}{% endfilter %}",
    "whitespace_control": "a  {{- ' b ' -}}  c\n  {%- if true %}\n   d\n  {% endif -%}\n  e\n"
                          "    {% if true %}\n    f\n    {% endif %}\n  {#- comment -#}  g\n"
                          "{% if true +%}\nh{%+ if true %}i{% endif %}\n{% endif %}\n"
                          "  {# lstripped comment #}\nj\n",
    "strftime": "{{ strftime_now('%Y-%m-%d %H:%M') }} {{ strftime_now('%d %b %Y') }}",
    "raise_in_macro": "{% macro check(x) %}{% if x > 1 %}{{ raise_exception('too big: ' ~ x) }}"
                      "{% endif %}ok{% endmacro %}{{ check(1) }}{{ check(2) }}",
    "indent_filter": "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(4, first=true) }}|"
                     "{{ 'a\\n\\nb' | indent('--', blank=true) }}",
    "undefined_attr_error": "{{ missing.attr }}",
    "type_error": "{{ 'a' + 1 }}",
}

RAISING_TEMPLATES = {"raise_in_macro"}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tool", required=True, help="path to dynamo-template")
    parser.add_argument("--templates", default=str(Path(__file__).parent / "chat_templates"),
                        help="folder of *.jinja chat templates")
    args = parser.parse_args()

    env = make_env()
    failures = []
    checked = 0
    with tempfile.TemporaryDirectory() as workdir:
        def compare(label, template_path, source, context):
            nonlocal checked
            checked += 1
            kind, expected = render_python(env, source, context)
            code, out, err = render_tool(args.tool, template_path, context, workdir)
            if kind == "ok":
                if code != 0:
                    failures.append(f"{label}: jinja2 rendered, dynamo-template failed "
                                    f"(exit {code}): {err.strip()}")
                elif out != expected.encode("utf-8"):
                    failures.append(f"{label}: output differs\n  jinja2: {expected!r}\n"
                                    f"  dynamo: {out.decode('utf-8', 'replace')!r}")
            elif kind == "raised":
                if code != 1 or err != f"error: {expected}\n":
                    failures.append(f"{label}: jinja2 raised {expected!r}; dynamo-template "
                                    f"exit {code}, stderr {err!r}")
            else:
                if code != 1:
                    failures.append(f"{label}: jinja2 failed ({expected}); dynamo-template "
                                    f"exit {code}")
            return kind

        templates = sorted(Path(args.templates).glob("*.jinja"))
        if not templates:
            print(f"no templates found in {args.templates}", file=sys.stderr)
            return 1
        kinds = {}
        for path in templates:
            source = path.read_text(encoding="utf-8")
            cases = [(name, {"messages": msgs}) for name, msgs in CONVERSATIONS.items()]
            cases += [(name, json.loads(json.dumps(ctx))) for name, ctx in TOOL_CONTEXTS.items()]
            for name, base in cases:
                for add_generation_prompt in (False, True):
                    context = dict(base, add_generation_prompt=add_generation_prompt,
                                   bos_token="<s>", eos_token="</s>")
                    label = f"{path.stem}/{name}/gen={add_generation_prompt}"
                    kind = compare(label, path, source, context)
                    kinds[kind] = kinds.get(kind, 0) + 1
        for name, source in FEATURES.items():
            path = Path(workdir) / f"{name}.jinja"
            path.write_text(source, encoding="utf-8")
            kind = compare(f"feature/{name}", path, source, {"messages": []})
            kinds[kind] = kinds.get(kind, 0) + 1
            if name in RAISING_TEMPLATES and kind != "raised":
                failures.append(f"feature/{name}: expected jinja2 to raise, got {kind}")

        # The tokenizer_config.json path: chat_template list with a default entry, special
        # tokens given as AddedToken objects.
        chatml = (Path(args.templates) / "llama2.jinja").read_text(encoding="utf-8")
        config = {"bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>",
                  "chat_template": [{"name": "tool_use", "template": "unused"},
                                    {"name": "default", "template": chatml}]}
        config_path = Path(workdir) / "tokenizer_config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        messages_path = Path(workdir) / "messages.json"
        messages_path.write_text(json.dumps(CONVERSATIONS["multi_turn"]), encoding="utf-8")
        checked += 1
        kind, expected = render_python(env, chatml, {"messages": CONVERSATIONS["multi_turn"],
                                                     "add_generation_prompt": True,
                                                     "bos_token": "<s>", "eos_token": "</s>"})
        proc = subprocess.run([args.tool, "--tokenizer-config", str(config_path), "--messages",
                               str(messages_path), "--add-generation-prompt"],
                              capture_output=True, timeout=60)
        if kind != "ok" or proc.returncode != 0 or proc.stdout != expected.encode("utf-8"):
            failures.append(f"tokenizer_config: expected {expected!r}, got exit "
                            f"{proc.returncode} {proc.stdout!r} {proc.stderr!r}")

    print(f"compared {checked} renders of {len(templates)} chat templates and "
          f"{len(FEATURES)} feature templates (jinja2 {jinja2.__version__}); outcomes: "
          + ", ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
    for failure in failures:
        print(f"MISMATCH {failure}")
    if failures:
        print(f"{len(failures)} mismatches")
        return 1
    print("all byte-identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
