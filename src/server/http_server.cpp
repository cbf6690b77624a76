#include "server/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <array>
#include <chrono>

#include "api/chat.h"
#include "common/log.h"
#include "server/auth.h"
#include "server/errors.h"
#include "server/json_body.h"
#include "server/request_log.h"

namespace pensieve::server {
using nlohmann::json;

bool is_openai_path(const std::string& path) {
  return path.rfind("/v1/chat/", 0) == 0 || path.rfind("/v1/completions", 0) == 0 ||
         path.rfind("/v1/models", 0) == 0 || path == "/tokenize" || path == "/detokenize";
}

namespace {
// The route a request is counted under in /metrics: its path when a route serves it, else one
// shared label, so that invented paths neither grow the metrics without bound nor put quotes and
// newlines into the Prometheus text.
std::string route_label(const std::string& path) {
  static const std::array<std::string_view, 10> routes = {
      "/health", "/metrics", "/v1/messages", "/v1/messages/count_tokens", "/v1/chat/completions",
      "/v1/completions", "/v1/models", "/tokenize", "/detokenize", "/"};
  for (auto route : routes)
    if (path == route) return path;
  return "unmatched";
}
constexpr int kListenBacklog = 1024;

}  // namespace

HttpServer::HttpServer(ServerOptions options, ModelHost& host)
    : options_(std::move(options)), host_(host), http_(std::make_unique<httplib::Server>()) {
  const int threads = options_.http_threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  http_->set_read_timeout(60, 0);
  http_->set_write_timeout(60, 0);
  http_->set_keep_alive_max_count(1000);
  // A stream is many small writes, each a token's text that should leave now: without this, a
  // write waits in the kernel while an earlier one is unacknowledged (Nagle), and the client's
  // delayed ACK (up to 40 ms) would become the stream's pace. Each SSE write is already one
  // chunk in one send, so this makes no extra small packets.
  http_->set_tcp_nodelay(true);
  // Debian's compiled cpp-httplib listens with a backlog of 5: a burst of clients connecting at
  // once (parallel agents, a benchmark's streams) overflows it and some get reset. The listening
  // socket is noted here (with httplib's own options set on it) and its backlog raised once bound
  // (see bind).
  http_->set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_socket_ = sock;
  });

  // Authentication before routing; /health and the web page stay open.
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    request_log::begin();
    if (req.path == "/health" || req.path == "/") return httplib::Server::HandlerResponse::Unhandled;
    if (!authorized(req)) {
      write_error(res, req.path, api::ApiError(api::ErrorKind::authentication, "invalid or missing API key"));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Statuses httplib sets itself (unknown route, body too large, bad request line) get a body
  // in the dialect's own error shape.
  http_->set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    switch (res.status) {
      case 404: write_error(res, req.path, api::ApiError(api::ErrorKind::not_found, "no route " + req.method + " " + req.path)); break;
      case 413: write_error(res, req.path, api::ApiError(api::ErrorKind::request_too_large, "the request body is too large")); break;
      case 405: write_error(res, req.path, api::ApiError(api::ErrorKind::invalid_request, "method not allowed")); break;
      default: write_error(res, req.path, api::ApiError(api::ErrorKind::invalid_request, "bad request"), res.status); break;
    }
  });
  http_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const api::ApiError& e) {
      write_error(res, req.path, e);
    } catch (const std::exception& e) {
      log::error(std::string("request failed: ") + e.what());
      write_error(res, req.path, api::ApiError(api::ErrorKind::internal, e.what()));
    }
  });
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    requests_.add("route=\"" + route_label(req.path) + "\",status=\"" + std::to_string(res.status) + "\"");
    // Request bodies carry the prompt text: debug level only.
    constexpr std::size_t kBodyShown = 16u << 10;
    if (log::level() == log::Level::debug && !req.body.empty())
      log::debug("request body: " + req.body.substr(0, kBodyShown) + (req.body.size() > kBodyShown ? " [...]" : ""));
    const std::string line = request_log::finish(req.method, req.path, res.status);
    // Health probes and metric scrapes would drown the info log.
    if (req.path == "/health" || req.path == "/metrics") log::debug(line);
    else log::info(line);
  });
  add_routes();
}

HttpServer::~HttpServer() = default;

bool HttpServer::authorized(const httplib::Request& req) const {
  if (options_.api_key.empty()) return true;
  const std::string x_api_key = req.get_header_value("x-api-key");
  const std::string authorization = req.get_header_value("Authorization");
  return constant_time_equal(options_.api_key, presented_key(x_api_key, authorization));
}

bool HttpServer::listen() { return http_->listen(options_.host, options_.port); }

int HttpServer::bind() {
  const int port = options_.port == 0 ? http_->bind_to_any_port(options_.host)
                                      : (http_->bind_to_port(options_.host, options_.port) ? options_.port : -1);
  // Listening again on a listening socket sets its backlog (capped by net.core.somaxconn).
  if (port > 0 && listen_socket_ >= 0) ::listen(listen_socket_, kListenBacklog);
  return port;
}

bool HttpServer::listen_after_bind() { return http_->listen_after_bind(); }

void HttpServer::stop() { http_->stop(); }

void HttpServer::add_routes() {
  add_admin_routes();
  add_anthropic_routes();
  add_openai_routes();
  add_web_routes();
}

}  // namespace pensieve::server
