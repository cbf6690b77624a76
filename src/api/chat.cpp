// HTTP status codes for API errors. Both dialects agree except for "overloaded": Anthropic has
// its own 529 (overloaded_error), while OpenAI's API answers every "try again later" with 429.
#include "api/chat.h"

namespace pensieve::api {

int http_status(ErrorKind kind, bool openai) {
  switch (kind) {
    case ErrorKind::invalid_request: return 400;
    case ErrorKind::authentication: return 401;
    case ErrorKind::permission: return 403;
    case ErrorKind::not_found: return 404;
    case ErrorKind::request_too_large: return 413;
    case ErrorKind::rate_limited: return 429;
    case ErrorKind::overloaded: return openai ? 429 : 529;
    case ErrorKind::internal: return 500;
  }
  return 500;
}

}  // namespace pensieve::api
