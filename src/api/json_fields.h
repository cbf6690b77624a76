#pragma once
// Typed reads of request fields that fail with an ApiError naming the field by its path
// ("messages.2.content: expected a string or a list of content blocks"), so a client sees which
// part of its body was wrong. Shared by the Anthropic and OpenAI request parsers.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pensieve::api::fields {

using nlohmann::json;

// Throws ApiError(invalid_request, "<path>: <problem>", path).
[[noreturn]] void reject(const std::string& path, const std::string& problem);

// The member `key` of `object`, or nullptr when it is absent or JSON null (clients send null for
// "not set" as often as they leave a field out).
const json* find(const json& object, std::string_view key);

// `path` + "." + key, or key alone at the top level.
std::string join(const std::string& path, std::string_view key);
std::string join(const std::string& path, std::size_t index);

const json& expect_object(const json& value, const std::string& path);
const json& expect_array(const json& value, const std::string& path);
const std::string& expect_string(const json& value, const std::string& path);
bool expect_bool(const json& value, const std::string& path);
double expect_number(const json& value, const std::string& path);
// An integer (a float with an integral value, such as 100.0, counts) within [min, max].
int64_t expect_integer(const json& value, const std::string& path, int64_t min, int64_t max);
// A number within [min, max] (NaN never passes).
double expect_number_in(const json& value, const std::string& path, double min, double max);

// JSON text for the wire. Generated text is valid UTF-8 in the normal case, but a stray byte must
// never turn a finished generation into an exception: invalid sequences become U+FFFD.
std::string to_wire(const json& value);

}  // namespace pensieve::api::fields
