#include "dynamo/jinja/template.hpp"

#include "dynamo/error.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace dynamo::jinja {
namespace {

// Renders `source` with HF options and `context_json`; returns the output or "ERR:<message>".
std::string render(std::string_view source, std::string_view context_json = "{}",
                   const render_options& options = {}) {
  auto tmpl = compiled_template::parse(source, template_options{true, true});
  if (!tmpl)
    return "ERR:" + client_message(tmpl.error());
  auto out = tmpl->render(json::parse(context_json), options);
  if (!out)
    return "ERR:" + client_message(out.error());
  return *out;
}

TEST(jinja_template, renders_text_and_expressions) {
  EXPECT_EQ(render("Hi {{ name }}!", R"({"name": "Al"})"), "Hi Al!");
  EXPECT_EQ(render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 / 2 }} {{ 2 ** 8 }}"),
            "7 3 -4 3.5 256");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true }} {{ 'ab' * 2 }} {{ [1] + [2] }}"),
            "a1NoneTrue abab [1, 2]");
  EXPECT_EQ(render("{{ x }}|{{ none }}|{{ 1.0 }}|{{ {'a': [1, 'b']} }}"),
            "|None|1.0|{'a': [1, 'b']}");
  EXPECT_EQ(render("{{ 'yes' if 1 < 2 < 3 else 'no' }} {{ 0 or 'x' }} {{ not '' }}"),
            "yes x True");
}

TEST(jinja_template, follows_jinja_undefined_semantics) {
  EXPECT_EQ(render("{{ d.missing }}|{{ d['missing'] is defined }}|{{ u | default('dflt') }}",
                   R"({"d": {}})"),
            "|False|dflt");
  EXPECT_EQ(render("{% for x in nothing %}x{% else %}empty{% endfor %}{{ nothing | length }}"),
            "empty0");
  EXPECT_EQ(render("{{ nothing.attr }}"), "ERR:template error at line 1, column 4: 'nothing' is undefined");
  EXPECT_EQ(render("{{ d.a.b }}", R"({"d": {}})"),
            "ERR:template error at line 1, column 4: 'dict object' has no attribute 'a'");
  EXPECT_EQ(render("{{ nothing() }}"), "ERR:template error at line 1, column 4: 'nothing' is undefined");
}

TEST(jinja_template, supports_tests_and_filters) {
  EXPECT_EQ(render("{{ 3 is odd }} {{ 4 is divisibleby 2 }} {{ 'a' is string }} "
                   "{{ none is none }} {{ x is not defined }} {{ {} is mapping }} {{ 1 is eq 1 }}"),
            "True True True True True True True");
  EXPECT_EQ(render("{{ '  hi ' | trim }}|{{ ['b', 'a'] | sort | join(',') }}|{{ 'x' | upper }}|"
                   "{{ [1, 2, 3] | select('odd') | list }}|{{ [3, 4] | first }}|{{ 'ab' | length }}"),
            "hi|a,b|X|[1, 3]|3|2");
  EXPECT_EQ(render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') "
                   "| join(' ') }}",
                   R"({"msgs": [{"role": "user", "content": "a"}, {"role": "bot", "content": "b"},
                                {"role": "user", "content": "c"}]})"),
            "a c");
  EXPECT_EQ(render("{{ t | tojson }}|{{ t | tojson(indent=2) }}", R"({"t": {"z": 1, "a": "é"}})"),
            "{\"z\": 1, \"a\": \"é\"}|{\n  \"z\": 1,\n  \"a\": \"é\"\n}");
  EXPECT_EQ(render("{{ x | nosuchfilter }}"),
            "ERR:template error at line 1, column 8: no filter named 'nosuchfilter'");
}

TEST(jinja_template, supports_string_and_dict_methods) {
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ 'a,b'.split(',') }}|{{ 'Hi'.startswith('H') }}|"
                   "{{ 'x</think>y'.split('</think>')[-1] }}|{{ d.get('k', 0) }}|"
                   "{% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}",
                   R"({"d": {"a": 1}})"),
            "a|['a', 'b']|True|y|0|a=1");
}

TEST(jinja_template, loops_expose_loop_variables_and_controls) {
  EXPECT_EQ(render("{% for x in 'abc' %}{{ loop.index }}{{ x }}{% if loop.last %}!{% endif %}"
                   "{% endfor %}"),
            "1a2b3c!");
  EXPECT_EQ(render("{% for x in range(10) if x is even %}{% if x > 4 %}{% break %}{% endif %}"
                   "{{ x }}{% endfor %}"),
            "024");
  EXPECT_EQ(render("{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }},{% endfor %}"), "3,7,");
  EXPECT_EQ(render("{% break %}"), "ERR:template syntax error at line 1, column 4: 'break' outside of a loop");
}

TEST(jinja_template, scopes_sets_namespaces_and_macros_like_jinja) {
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [5] %}{% set x = i %}{{ x }}{% endfor %}{{ x }}"),
            "51");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1, 2] %}{% set ns.n = ns.n + i %}"
                   "{% endfor %}{{ ns.n }}"),
            "3");
  EXPECT_EQ(render("{% macro m(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}"),
            "1B23");
  EXPECT_EQ(render("{% macro w() %}<{{ caller() }}>{% endmacro %}{% call w() %}in{% endcall %}"),
            "<in>");
  EXPECT_EQ(render("{% set s %}a{{ 1 }}{% endset %}{{ s }}{% filter upper %}b{% endfilter %}"),
            "a1B");
  EXPECT_EQ(render("{% set x = 1 %}{{ x.y = 2 }}"),
            "ERR:template syntax error at line 1, column 23: expected end of print statement "
            "'}}', got '='");
}

TEST(jinja_template, raise_exception_message_is_the_client_error) {
  auto tmpl = compiled_template::parse("{{ raise_exception('Roles must alternate') }}");
  ASSERT_TRUE(tmpl) << describe(tmpl.error());
  auto out = tmpl->render(json::object());
  ASSERT_FALSE(out);
  EXPECT_EQ(classify(out.error()), errc::invalid_request);
  EXPECT_EQ(client_message(out.error()), "Roles must alternate");
}

TEST(jinja_template, strftime_now_uses_the_injected_clock) {
  render_options options;
  options.clock = [] { return std::chrono::system_clock::time_point{std::chrono::hours{24}}; };
  auto out = render("{{ strftime_now('%Y') }}", "{}", options);
  EXPECT_TRUE(out == "1970") << out;
}

TEST(jinja_template, parse_errors_name_position_and_expectation) {
  EXPECT_EQ(render("{% if x %}\nabc"),
            "ERR:template syntax error at line 2, column 4: unexpected end of template: expected "
            "'elif' or 'else' or 'endif' to close 'if' opened at line 1");
  EXPECT_EQ(render("{% include 'x' %}"),
            "ERR:template syntax error at line 1, column 4: unsupported tag 'include'");
  EXPECT_EQ(render("{% frobnicate %}"),
            "ERR:template syntax error at line 1, column 4: unknown tag 'frobnicate'");
  EXPECT_EQ(render("{% endfor %}"),
            "ERR:template syntax error at line 1, column 4: unexpected tag 'endfor'");
  EXPECT_EQ(render("{{ 1 + }}"),
            "ERR:template syntax error at line 1, column 8: unexpected end of print statement '}}'");
  auto nested = render("{{ " + std::string(500, '(') + "1" + std::string(500, ')') + " }}");
  EXPECT_NE(nested.find("nesting exceeds the limit"), std::string::npos) << nested;
}

TEST(jinja_template, runtime_type_errors_are_errors_not_crashes) {
  for (auto source : {"{{ 'a' + 1 }}", "{{ 1 / 0 }}", "{{ 5 is divisibleby 0 }}",
                      "{{ [1][::0] }}", "{{ 1 in 2 }}", "{{ 'a' < 1 }}", "{{ 9223372036854775807 + 1 }}",
                      "{{ (1).x() }}", "{% for a, b in [1] %}{% endfor %}", "{% set x.y = 1 %}",
                      "{{ 'x' | tojson(indent='a', separators=1) }}", "{{ '%s' % 1 }}"}) {
    auto out = render(source);
    EXPECT_TRUE(out.starts_with("ERR:template error")) << source << " -> " << out;
  }
}

TEST(jinja_template, limits_stop_hostile_templates) {
  render_options small;
  small.max_output_bytes = 1000;
  small.max_iterations = 500;
  auto out = render("{% for i in range(100) %}{{ 'x' * 100 }}{% endfor %}", "{}", small);
  EXPECT_NE(out.find("output exceeds the limit of 1000 bytes"), std::string::npos) << out;
  out = render("{% for i in range(400) %}{% for j in range(400) %}{% endfor %}{% endfor %}", "{}",
               small);
  EXPECT_NE(out.find("iterations exceed the limit"), std::string::npos) << out;
  out = render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
               "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
               "{}", small);
  EXPECT_NE(out.find("exceeds the limit"), std::string::npos) << out;
  out = render("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
  EXPECT_NE(out.find("macro calls nested deeper than"), std::string::npos) << out;
  out = render("{{ range(100000000) | length }}", "{}", small);
  EXPECT_NE(out.find("iteration limit"), std::string::npos) << out;
  out = render("{{ 'x' * 100000000000 }}", "{}", small);
  EXPECT_NE(out.find("exceeds the limit"), std::string::npos) << out;
}

TEST(jinja_template, renders_concurrently_from_many_threads) {
  auto tmpl = compiled_template::parse(
    "{% for m in messages %}{{ m.role }}:{{ m.content | trim }};{% endfor %}", {true, true});
  ASSERT_TRUE(tmpl);
  auto context = std::make_shared<const json>(json::parse(
    R"({"messages": [{"role": "user", "content": " a "}, {"role": "assistant", "content": "b"}]})"));
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&tmpl, &context, &good] {
      for (int i = 0; i < 50; ++i) {
        auto out = tmpl->render(context);
        if (out && *out == "user:a;assistant:b;")
          ++good;
      }
    });
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(good.load(), 200);
}

} // namespace
} // namespace dynamo::jinja
