#pragma once
// The HTTP front: routes, authentication, body limits, error shapes per dialect, SSE streaming,
// /health and /metrics. It translates with api/ and talks to the engine through ModelHost;
// it never touches MLX.
#include <memory>
#include <string>

#include "api/chat.h"
#include "api/openai.h"
#include "common/metrics.h"
#include "server/model_host.h"
#include "server/options.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace pensieve::server {

class HttpServer {
 public:
  HttpServer(ServerOptions options, ModelHost& host);
  ~HttpServer();

  // Binds and serves until stop(); false when the address cannot be bound.
  bool listen();
  // Binds only (port 0 picks a free one); returns the bound port or -1.
  int bind();
  bool listen_after_bind();
  void stop();

 private:
  void add_routes();
  void add_admin_routes();
  void add_anthropic_routes();
  void add_openai_routes();
  void add_web_routes();
  bool authorized(const httplib::Request& req) const;
  void require_ready() const;  // throws ApiError while loading or after a failed load
  void check_message_count(const api::ChatRequest& request) const;
  std::string metrics_text() const;

  ServerOptions options_;
  ModelHost& host_;
  std::unique_ptr<httplib::Server> http_;
  int listen_socket_ = -1;  // set when bound (see bind)
  // A generation's response is done: its timings into the histograms below.
  void observe_timings(const api::openai::Timings& timings);

  metrics::LabeledCounter requests_;  // route, status
  // From the engine making text final to its bytes being handed to the socket (streams only).
  metrics::Histogram stream_delivery_{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}};
  // From the receipt of a request to its first token, and the part before the engine had it.
  metrics::Histogram request_first_token_{{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}};
  metrics::Histogram request_prepare_{{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}};
};

// Which error shape a path answers in.
bool is_openai_path(const std::string& path);

}  // namespace pensieve::server
