#include "server/auth.h"

#include <cstdint>

namespace pensieve::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Touch every byte of the expected key whatever the presented one is, and fold the length
  // difference into the result instead of returning early.
  std::size_t diff = a.size() ^ b.size();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]);
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : static_cast<unsigned char>(~x);
    diff |= static_cast<std::size_t>(x ^ y);
  }
  return diff == 0;
}

std::string_view presented_key(std::string_view x_api_key, std::string_view authorization) {
  if (!x_api_key.empty()) return x_api_key;
  constexpr std::string_view bearer = "Bearer ";
  if (authorization.size() > bearer.size() && authorization.substr(0, bearer.size()) == bearer)
    return authorization.substr(bearer.size());
  return {};
}

}  // namespace pensieve::server
