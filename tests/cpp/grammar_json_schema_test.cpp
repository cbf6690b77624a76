// Random walks through JSON-schema constraints on the real Phi-3 vocabulary: every finished
// walk must decode to JSON that is valid against its schema (checked by the test's own
// validator, grammar_schema_check.h).
#include <gtest/gtest.h>

#include <iostream>

#include "common/error.h"
#include "grammar_schema_check.h"
#include "grammar_test_support.h"

namespace pensieve::grammar::testing {
namespace {

constexpr int kWalks = 100;

MaskTiming walk_schema(const nlohmann::json& schema, uint32_t seed) {
  auto factory = ConstraintFactory::json_schema(phi3_vocabulary(), schema);
  std::mt19937 rng(seed);
  MaskTiming timing;
  for (int i = 0; i < kWalks; ++i) {
    auto c = factory->make();
    const size_t wander = std::uniform_int_distribution<size_t>(0, 40)(rng);
    const Walk walk = random_walk(*c, rng, wander, timing);
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(walk.text);
    } catch (const nlohmann::json::exception& e) {
      ADD_FAILURE() << "walk " << i << " is not JSON (" << e.what() << "): " << walk.text;
      continue;
    }
    EXPECT_EQ(schema_violation(value, schema), "") << walk.text;
    if (::testing::Test::HasFailure()) break;
  }
  std::cout << "[ mask    ] " << timing.masks << " masks, mean " << timing.mean_us()
            << " us, worst " << timing.worst_us << " us\n";
  return timing;
}

TEST(GrammarJsonSchema, RequiredOptionalAndClosedObject) {
  walk_schema(nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 12},
      "age": {"type": "integer", "minimum": 0, "maximum": 150},
      "admin": {"type": "boolean"},
      "note": {"type": ["string", "null"]}
    },
    "required": ["name", "age"],
    "additionalProperties": false
  })"), 1);
}

TEST(GrammarJsonSchema, ArraysEnumsAndNumberRanges) {
  walk_schema(nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "tags": {"type": "array", "items": {"enum": ["red", "green", "blue", 7, null]},
               "minItems": 1, "maxItems": 4},
      "scores": {"type": "array", "items": {"type": "number", "minimum": -1.5, "maximum": 2.5},
                 "maxItems": 3},
      "level": {"type": "integer", "exclusiveMinimum": 10, "maximum": 20},
      "mode": {"const": "fast"}
    },
    "required": ["tags", "level", "mode"],
    "additionalProperties": false
  })"), 2);
}

TEST(GrammarJsonSchema, StringPatternsAndLengths) {
  walk_schema(nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"},
      "word": {"type": "string", "minLength": 2, "maxLength": 5},
      "free": {"type": "string"}
    },
    "required": ["code", "word", "free"],
    "additionalProperties": false
  })"), 3);
}

TEST(GrammarJsonSchema, AnyOfAlternatives) {
  walk_schema(nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "shape": {"anyOf": [
        {"type": "object", "properties": {"kind": {"const": "circle"},
          "r": {"type": "number", "minimum": 0}}, "required": ["kind", "r"],
          "additionalProperties": false},
        {"type": "object", "properties": {"kind": {"const": "rect"},
          "w": {"type": "integer"}, "h": {"type": "integer"}}, "required": ["kind", "w", "h"],
          "additionalProperties": false},
        {"type": "string", "enum": ["none"]}
      ]}
    },
    "required": ["shape"],
    "additionalProperties": false
  })"), 4);
}

TEST(GrammarJsonSchema, NestedThreeLevels) {
  walk_schema(nlohmann::json::parse(R"({
    "type": "object",
    "properties": {
      "project": {
        "type": "object",
        "properties": {
          "owner": {
            "type": "object",
            "properties": {
              "login": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
              "id": {"type": "integer", "minimum": 1}
            },
            "required": ["login", "id"],
            "additionalProperties": false
          },
          "files": {"type": "array", "items": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "lines": {"type": "integer"}},
            "required": ["path"], "additionalProperties": false}, "maxItems": 3}
        },
        "required": ["owner"],
        "additionalProperties": false
      },
      "dry_run": {"type": "boolean"}
    },
    "required": ["project", "dry_run"],
    "additionalProperties": false
  })"), 5);
}

// Tool schemas as clients send them (Claude Code's are draft-07, with annotations and $ref).
TEST(GrammarJsonSchema, AnnotationsDraft07AndRefs) {
  walk_schema(nlohmann::json::parse(R"({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Edit", "description": "Replace text in a file",
    "type": "object",
    "definitions": {"path": {"type": "string", "description": "absolute path", "minLength": 1}},
    "properties": {
      "file_path": {"$ref": "#/definitions/path"},
      "old_string": {"type": "string", "examples": ["foo"]},
      "replace_all": {"type": "boolean", "default": false},
      "url": {"type": "string", "format": "uri"},
      "todos": {"type": "array", "items": {"type": "object",
        "properties": {"status": {"type": "string", "enum": ["pending", "done"]}},
        "required": ["status"], "additionalProperties": false}}
    },
    "required": ["file_path", "old_string"],
    "additionalProperties": false
  })"), 7);
}

TEST(GrammarJsonSchema, AnyJsonObject) {
  auto factory = ConstraintFactory::json_object(phi3_vocabulary());
  std::mt19937 rng(6);
  MaskTiming timing;
  for (int i = 0; i < kWalks; ++i) {
    auto c = factory->make();
    const Walk walk = random_walk(*c, rng, std::uniform_int_distribution<size_t>(0, 40)(rng), timing);
    nlohmann::json value;
    ASSERT_NO_THROW(value = nlohmann::json::parse(walk.text)) << walk.text;
    EXPECT_TRUE(value.is_object()) << walk.text;
  }
}

TEST(GrammarJsonSchema, InvalidSchemasAreErrors) {
  const auto vocab = phi3_vocabulary();
  for (const char* bad : {R"({"type": "frobnicate"})", R"({"type": "string", "pattern": "("})",
                          R"({"$ref": "#/nowhere"})", R"({"type": "integer", "minimum": 5, "maximum": 1})",
                          R"({"type": "array", "uniqueItems": true})", R"([1, 2])", "false"}) {
    try {
      ConstraintFactory::json_schema(vocab, nlohmann::json::parse(bad));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      std::cout << "[ message ] " << bad << " -> " << e.what() << "\n";
    }
  }
  try {
    ConstraintFactory::json_schema(vocab, nlohmann::json::parse(R"({"type": "frobnicate"})"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("invalid JSON schema"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pensieve::grammar::testing
