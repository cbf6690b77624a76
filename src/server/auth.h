#pragma once
// API-key check. With a key configured, a request must carry it as `x-api-key` (Anthropic) or
// `Authorization: Bearer` (OpenAI); the comparison takes the same time wherever they differ.
#include <string_view>

namespace pensieve::server {

bool constant_time_equal(std::string_view a, std::string_view b);

// The key a request presents: x-api-key if present, else the Bearer token, else empty.
std::string_view presented_key(std::string_view x_api_key, std::string_view authorization);

}  // namespace pensieve::server
