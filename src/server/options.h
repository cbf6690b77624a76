#pragma once
// How the HTTP server is configured (flags and environment of `pensieve serve`).
#include <cstddef>
#include <string>

#include "engine/engine.h"

namespace pensieve::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 7777;
  std::string api_key;             // empty: no authentication
  std::size_t max_body_bytes = 16u << 20;
  int max_json_depth = 64;
  int max_messages = 2000;
  int http_threads = 96;           // connections served at once (streams hold one each)
  engine::EngineOptions engine;
};

}  // namespace pensieve::server
