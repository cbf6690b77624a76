#pragma once
// Random identifiers for API objects: "msg_…", "toolu_…" (Anthropic), "chatcmpl-…", "call_…"
// (OpenAI). They only need to be unique, not secret, so a per-thread generator seeded from
// std::random_device is enough.
#include <string>
#include <string_view>

namespace pensieve::api {

// `prefix` followed by `length` random characters from [A-Za-z0-9].
std::string random_id(std::string_view prefix, int length = 24);

}  // namespace pensieve::api
