#include "server/errors.h"

#include <httplib.h>

#include "api/anthropic.h"
#include "api/openai.h"
#include "server/http_server.h"

namespace pensieve::server {

void write_error(httplib::Response& res, const std::string& path, const api::ApiError& error,
                 std::optional<int> status) {
  const bool openai = is_openai_path(path);
  res.status = status.value_or(api::http_status(error.kind, openai));
  const auto body = openai ? api::openai::error_body(error) : api::anthropic::error_body(error);
  if (error.kind == api::ErrorKind::overloaded || error.kind == api::ErrorKind::rate_limited)
    res.set_header("Retry-After", "1");
  res.set_content(body.dump(), "application/json");
}

}  // namespace pensieve::server
