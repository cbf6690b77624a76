// Routes that are not a chat dialect: /health, /metrics, /tokenize, /detokenize.
#include <httplib.h>

#include <chrono>

#include "server/errors.h"
#include "server/http_server.h"
#include "server/json_body.h"

namespace pensieve::server {
using nlohmann::json;

namespace {
void write_json(httplib::Response& res, const json& body, int status = 200) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}
}  // namespace

std::string HttpServer::metrics_text() const {
  std::string out = requests_.render("pensieve_http_requests_total", "HTTP requests by route and status");
  const bool ready = host_.state() == ModelHost::State::ready;
  out += metrics::render_gauge("pensieve_model_ready", "1 once the model is loaded", ready ? 1 : 0);
  if (!ready) return out;
  auto& engine = host_.engine();
  const auto s = engine.stats();
  out += metrics::render_gauge("pensieve_active_sequences", "Sequences being generated", s.active);
  out += metrics::render_gauge("pensieve_queue_depth", "Requests waiting for a slot", s.queued);
  out += metrics::render_gauge("pensieve_kv_bytes", "KV cache memory reserved by running sequences", static_cast<double>(s.kv_bytes));
  out += metrics::render_gauge("pensieve_kv_budget_bytes", "KV cache memory budget", static_cast<double>(s.kv_budget_bytes));
  out += metrics::render_gauge("pensieve_prefix_cache_bytes", "KV memory held by the prefix cache", static_cast<double>(s.prefix_cache_bytes));
  out += metrics::render_counter("pensieve_prefix_cache_hits_total", "Requests that reused a cached prefix", static_cast<double>(s.prefix_cache_hits));
  out += metrics::render_counter("pensieve_prefix_cache_tokens_total", "Prompt tokens served from the prefix cache", static_cast<double>(s.prefix_cached_tokens));
  out += metrics::render_counter("pensieve_prompt_tokens_total", "Prompt tokens admitted", static_cast<double>(s.prompt_tokens));
  out += metrics::render_counter("pensieve_generated_tokens_total", "Tokens generated", static_cast<double>(s.generated_tokens));
  out += metrics::render_counter("pensieve_requests_finished_total", "Generations finished", static_cast<double>(s.requests_finished));
  out += metrics::render_counter("pensieve_batched_decode_steps_total",
                                 "Decode steps run with the sequences' keys and values in shared batch buffers",
                                 static_cast<double>(s.batched_decode_steps));
  out += metrics::render_counter("pensieve_queued_decode_steps_total",
                                 "Batched decode steps queued before the previous step's tokens were read",
                                 static_cast<double>(s.queued_decode_steps));
  out += metrics::render_counter("pensieve_device_decode_steps_total",
                                 "Decode steps on the CUDA decoder (a sequence running alone, or a batch)",
                                 static_cast<double>(s.device_decode_steps));
  out += metrics::render_gauge("pensieve_batch_kv_bytes", "Memory of those shared batch buffers",
                               static_cast<double>(s.batch_kv_bytes));
  out += metrics::render_gauge("pensieve_memory_active_bytes", "MLX active memory", static_cast<double>(mlx::core::get_active_memory()));
  out += metrics::render_gauge("pensieve_memory_peak_bytes", "MLX peak memory", static_cast<double>(mlx::core::get_peak_memory()));
  out += engine.time_to_first_token.render("pensieve_time_to_first_token_seconds", "Time from submission to the first token");
  out += engine.inter_token_latency.render("pensieve_inter_token_latency_seconds", "Time between consecutive tokens of a sequence");
  out += request_first_token_.render("pensieve_request_first_token_seconds",
                                     "Time from the receipt of a generation request to its first token");
  out += request_prepare_.render("pensieve_request_prepare_seconds",
                                 "Time from the receipt of a generation request to its submission to the engine");
  out += stream_delivery_.render("pensieve_stream_delivery_seconds",
                                 "Time from the engine making streamed text final to its bytes going to the socket");
  return out;
}

void HttpServer::observe_timings(const api::openai::Timings& timings) {
  if (timings.prompt_n + timings.cache_n == 0) return;  // the generation failed: nothing ran
  request_prepare_.observe(timings.prepare_ms / 1000);
  if (timings.predicted_n > 0) request_first_token_.observe(timings.first_token_ms / 1000);
}

void HttpServer::add_admin_routes() {
  http_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    const double uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - host_.started()).count();
    json body = {{"model", host_.model_name()}, {"uptime_s", uptime}};
    switch (host_.state()) {
      case ModelHost::State::loading:
        body["status"] = "loading";
        return write_json(res, body, 503);
      case ModelHost::State::failed:
        body["status"] = "failed";
        body["error"] = host_.failure();
        return write_json(res, body, 503);
      case ModelHost::State::ready: break;
    }
    const auto s = host_.engine().stats();
    body["status"] = "ok";
    body["active_requests"] = s.active;
    body["queued_requests"] = s.queued;
    body["context_size"] = host_.engine().context_size();
    body["memory"] = {{"active_bytes", mlx::core::get_active_memory()},
                      {"peak_bytes", mlx::core::get_peak_memory()},
                      {"kv_bytes", s.kv_bytes},
                      {"kv_budget_bytes", s.kv_budget_bytes},
                      {"prefix_cache_bytes", s.prefix_cache_bytes}};
    write_json(res, body);
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), "text/plain; version=0.0.4");
  });
  http_->Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_body(req.body, options_.max_json_depth);
    if (!body.contains("content") || !body["content"].is_string())
      throw api::ApiError(api::ErrorKind::invalid_request, "content: expected a string");
    const bool add_special = body.value("add_special", false);
    require_ready();
    auto ids = host_.tokenizer().encode(body["content"].get<std::string>(), add_special);
    write_json(res, {{"tokens", ids}});
  });
  http_->Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto body = parse_json_body(req.body, options_.max_json_depth);
    if (!body.contains("tokens") || !body["tokens"].is_array())
      throw api::ApiError(api::ErrorKind::invalid_request, "tokens: expected a list of token ids");
    require_ready();
    std::vector<int32_t> ids;
    const auto vocab = static_cast<long long>(host_.tokenizer().vocab_size());
    for (const auto& t : body["tokens"]) {
      if (!t.is_number_integer() || t.get<long long>() < 0 || t.get<long long>() >= vocab)
        throw api::ApiError(api::ErrorKind::invalid_request, "tokens: every entry must be a token id below " + std::to_string(vocab));
      ids.push_back(t.get<int32_t>());
    }
    write_json(res, {{"content", host_.tokenizer().decode(ids)}});
  });
}

void HttpServer::require_ready() const {
  switch (host_.state()) {
    case ModelHost::State::ready: return;
    case ModelHost::State::loading:
      throw api::ApiError(api::ErrorKind::overloaded, "the model is still loading; retry shortly");
    case ModelHost::State::failed:
      throw api::ApiError(api::ErrorKind::internal, "the model failed to load: " + host_.failure());
  }
}

}  // namespace pensieve::server
