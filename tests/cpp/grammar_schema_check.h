#pragma once
// A small JSON Schema validator, written for the tests from the specification (draft 2020-12,
// validation vocabulary), covering only the keywords the grammar tests use. It is the reference
// the constrained outputs are checked against.
#include <cmath>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

namespace pensieve::grammar::testing {

inline size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

inline bool has_type(const nlohmann::json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  if (type == "number") return v.is_number();
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    return v.is_number_float() && std::floor(v.get<double>()) == v.get<double>();
  }
  return false;
}

// "" when `v` is valid against `schema`, else where and why it is not.
inline std::string schema_violation(const nlohmann::json& v, const nlohmann::json& s,
                                    const std::string& at = "$",
                                    const nlohmann::json* root = nullptr) {
  if (root == nullptr) root = &s;
  if (s.is_boolean()) return s.get<bool>() ? "" : at + ": schema false";
  if (s.contains("$ref")) {  // local references only, "#/definitions/name" and the like
    const auto ref = s["$ref"].get<std::string>();
    return schema_violation(v, root->at(nlohmann::json::json_pointer(ref.substr(1))), at, root);
  }
  if (s.contains("type")) {
    bool ok = false;
    if (s["type"].is_array()) {
      for (const auto& t : s["type"]) ok = ok || has_type(v, t.get<std::string>());
    } else {
      ok = has_type(v, s["type"].get<std::string>());
    }
    if (!ok) return at + ": not of type " + s["type"].dump();
  }
  if (s.contains("const") && v != s["const"]) return at + ": not the const";
  if (s.contains("enum")) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || v == e;
    if (!found) return at + ": not in the enum";
  }
  if (s.contains("anyOf")) {
    bool any = false;
    for (const auto& alt : s["anyOf"]) any = any || schema_violation(v, alt, at, root).empty();
    if (!any) return at + ": matches no anyOf alternative";
  }
  if (v.is_number()) {
    const double x = v.get<double>();
    if (s.contains("minimum") && x < s["minimum"].get<double>()) return at + ": below minimum";
    if (s.contains("maximum") && x > s["maximum"].get<double>()) return at + ": above maximum";
    if (s.contains("exclusiveMinimum") && x <= s["exclusiveMinimum"].get<double>())
      return at + ": not above exclusiveMinimum";
    if (s.contains("exclusiveMaximum") && x >= s["exclusiveMaximum"].get<double>())
      return at + ": not below exclusiveMaximum";
  }
  if (v.is_string()) {
    const auto& str = v.get_ref<const std::string&>();
    if (s.contains("minLength") && code_points(str) < s["minLength"].get<size_t>())
      return at + ": shorter than minLength";
    if (s.contains("maxLength") && code_points(str) > s["maxLength"].get<size_t>())
      return at + ": longer than maxLength";
    if (s.contains("pattern") &&
        !std::regex_search(str, std::regex(s["pattern"].get<std::string>())))
      return at + ": does not match the pattern";
  }
  if (v.is_array()) {
    if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>())
      return at + ": fewer than minItems";
    if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>())
      return at + ": more than maxItems";
    if (s.contains("items")) {
      for (size_t i = 0; i < v.size(); ++i) {
        auto e = schema_violation(v[i], s["items"], at + "[" + std::to_string(i) + "]", root);
        if (!e.empty()) return e;
      }
    }
  }
  if (v.is_object()) {
    if (s.contains("required")) {
      for (const auto& r : s["required"])
        if (!v.contains(r.get<std::string>())) return at + ": lacks required " + r.dump();
    }
    for (const auto& [key, value] : v.items()) {
      const std::string here = at + "." + key;
      if (s.contains("properties") && s["properties"].contains(key)) {
        auto e = schema_violation(value, s["properties"][key], here, root);
        if (!e.empty()) return e;
      } else if (s.contains("additionalProperties")) {
        auto e = schema_violation(value, s["additionalProperties"], here, root);
        if (!e.empty()) return e;
      }
    }
  }
  return "";
}

}  // namespace pensieve::grammar::testing
