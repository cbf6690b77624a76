#pragma once
// Request bodies: JSON with a nesting limit (deep nesting is a cheap way to exhaust a parser's
// stack) and valid UTF-8 (nlohmann rejects invalid sequences); failures are invalid_request errors.
#include <string_view>

#include <nlohmann/json.hpp>

namespace pensieve::server {

nlohmann::json parse_json_body(std::string_view body, int max_depth);

}  // namespace pensieve::server
