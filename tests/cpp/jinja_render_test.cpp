// The Jinja interpreter's features, one at a time. Expected outputs are Jinja2 3.1's, rendered
// in the environment transformers uses (trim_blocks, lstrip_blocks), with the same context.
#include <gtest/gtest.h>

#include <string>

#include "common/error.h"
#include "tokenizer/chat_template.h"

namespace {

using pensieve::tokenizer::ChatTemplate;

std::string render(const std::string& source) {
  const auto context = nlohmann::ordered_json::parse(R"({"xs": [1, 2, 3], "d": {"b": 1, "a": [1, 2]}, "s": "héllo"})");
  return ChatTemplate(source).render(context);
}

std::string error_of(const std::string& source) {
  try {
    render(source);
  } catch (const pensieve::Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(JinjaWhitespace, TrimBlocksDropsTheNewlineAfterATag) {
  EXPECT_EQ(render("{% for x in xs %}\n  {{ x }}\n{% endfor %}\n"), "  1\n  2\n  3\n");
}

TEST(JinjaWhitespace, LstripBlocksDropsIndentBeforeATag) {
  EXPECT_EQ(render("  {% if true %}\nA\n  {% endif %}\nB"), "A\nB");
}

TEST(JinjaWhitespace, MinusStripsAndPlusKeeps) {
  EXPECT_EQ(render("{%- if true -%}  x  {%- endif %}\n y"), "x y");
  EXPECT_EQ(render("a\n  {%+ if true %}b{% endif %}"), "a\n  b");
  EXPECT_EQ(render("{{ 'x' }}\n{# c #}\n  {#- d -#}  \nz"), "x\nz");
}

TEST(JinjaValues, PrintLikePython) {
  EXPECT_EQ(render("{{ [1.0, 1e16, 1e-5, 0.1 + 0.2, -2.5] }}"), "[1.0, 1e+16, 1e-05, 0.30000000000000004, -2.5]");
  EXPECT_EQ(render("{{ {'k': 'it\\'s', 'n': none, 't': true} }}"), "{'k': \"it's\", 'n': None, 't': True}");
  EXPECT_EQ(render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 8 }}"), "3 -4 2 3.5 256");
}

TEST(JinjaValues, StringsAreCodePoints) {
  EXPECT_EQ(render("{{ s[::-1] }}|{{ s|length }}|{{ s|upper }}|{{ xs[1:] }}"), "olléh|5|HÉLLO|[2, 3]");
}

TEST(JinjaFilters, TojsonKeepsKeyOrderAndIndents) {
  EXPECT_EQ(render("{{ d|tojson(indent=2) }}"), "{\n  \"b\": 1,\n  \"a\": [\n    1,\n    2\n  ]\n}");
}

TEST(JinjaStatements, NamespaceCarriesValuesOutOfLoops) {
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}"),
            "6");
}

TEST(JinjaStatements, MacrosTakeDefaultsAndKeywords) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}"
                   "{{ greet('Bo') }} {{ greet('Al', punct='?') }}"),
            "Hi Bo! Hi Al?");
}

TEST(JinjaErrors, SyntaxErrorsNameLineAndColumn) {
  const std::string e = error_of("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("column"), std::string::npos) << e;
  EXPECT_NE(error_of("{% for x in xs %}").find("missing end tag"), std::string::npos);
  EXPECT_NE(error_of("{{ 'open }}").find("line 1"), std::string::npos);
}

TEST(JinjaErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  const std::string e = error_of("{{ raise_exception('roles must alternate') }}");
  EXPECT_NE(e.find("roles must alternate"), std::string::npos) << e;
}

TEST(JinjaErrors, UsingAnUndefinedValueFails) {
  EXPECT_EQ(render("{{ missing }}|{{ missing is defined }}"), "|False");
  EXPECT_NE(error_of("{{ missing.attr }}").find("'missing' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ d.zz.yy }}").find("has no attribute 'zz'"), std::string::npos);
  EXPECT_NE(error_of("{{ 1 + 'a' }}").find("unsupported operand"), std::string::npos);
}

TEST(JinjaLimits, HugeLoopsStopAtTheStepLimit) {
  const std::string e = error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  EXPECT_TRUE(e.find("step limit") != std::string::npos || e.find("output too large") != std::string::npos) << e;
  EXPECT_NE(error_of("{{ range(100001)|length }}").find("Range too big"), std::string::npos);
}

TEST(JinjaLimits, OutputAndRecursionAreBounded) {
  EXPECT_NE(error_of("{{ 'x' * 100000000 }}").find("too large"), std::string::npos);
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("recursion too deep"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(3000, '[') + std::string(3000, ']') + " }}").find("nested too deeply"),
            std::string::npos);
}

}  // namespace
