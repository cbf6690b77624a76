#pragma once
// Writes an ApiError as the response in the error shape of the dialect the path belongs to.
#include <optional>
#include <string>

#include "api/chat.h"

namespace httplib {
struct Response;
}

namespace pensieve::server {

void write_error(httplib::Response& res, const std::string& path, const api::ApiError& error,
                 std::optional<int> status = std::nullopt);

}  // namespace pensieve::server
