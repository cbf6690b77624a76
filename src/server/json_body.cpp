#include "server/json_body.h"

#include "api/chat.h"

namespace pensieve::server {

nlohmann::json parse_json_body(std::string_view body, int max_depth) {
  using nlohmann::json;
  if (body.empty()) throw api::ApiError(api::ErrorKind::invalid_request, "the request body is empty; expected JSON");
  bool too_deep = false;
  json::parser_callback_t limit = [&](int depth, json::parse_event_t, json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;
  };
  try {
    // Stop at the first token past the limit: the callback cannot abort, so parse the body
    // without building anything once it is known to be too deep.
    json j = json::parse(body.begin(), body.end(), limit);
    if (too_deep) throw api::ApiError(api::ErrorKind::invalid_request,
                                      "the JSON body nests deeper than " + std::to_string(max_depth) + " levels");
    if (!j.is_object()) throw api::ApiError(api::ErrorKind::invalid_request, "the request body must be a JSON object");
    return j;
  } catch (const json::parse_error& e) {
    std::string what = e.what();
    if (what.find("invalid UTF-8") != std::string::npos || what.find("UTF-8") != std::string::npos)
      throw api::ApiError(api::ErrorKind::invalid_request, "the request body is not valid UTF-8");
    throw api::ApiError(api::ErrorKind::invalid_request, "the request body is not valid JSON: " + what);
  }
}

}  // namespace pensieve::server
