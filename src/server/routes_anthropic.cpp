// POST /v1/messages (also ?beta=true) and /v1/messages/count_tokens.
#include <httplib.h>

#include "api/anthropic.h"
#include "common/log.h"
#include "server/choice_stream.h"
#include "server/http_server.h"
#include "server/json_body.h"
#include "server/output_constraint.h"
#include "server/prompt.h"
#include "server/request_log.h"
#include "server/response_timings.h"

namespace pensieve::server {
namespace anthropic = api::anthropic;
using namespace std::chrono_literals;

namespace {
// How long a stream may stay silent before a ping: also how soon a vanished client is noticed
// while a long prompt is being read.
constexpr auto kPingInterval = 1000ms;

// What a client really sent, for --log-level debug (Claude Code's system prompt and tools).
void log_request_shape(const api::ChatRequest& request, std::size_t prompt_tokens) {
  if (log::level() > log::Level::debug) return;
  const std::size_t system_chars =
      !request.messages.empty() && request.messages.front().role == "system" ? request.messages.front().content.size() : 0;
  log::debug("messages request: " + std::to_string(request.messages.size()) + " messages, " +
             std::to_string(request.tools.size()) + " tools, system prompt " + std::to_string(system_chars) +
             " chars, prompt " + std::to_string(prompt_tokens) + " tokens");
}
}  // namespace

void HttpServer::add_anthropic_routes() {
  http_->Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
    const auto received = request_log::received();
    auto request = anthropic::parse_messages_request(parse_json_body(req.body, options_.max_json_depth));
    check_message_count(request);
    require_ready();
    auto prompt = prompt_ids(request, host_.tokenizer(), host_.chat_template());
    log_request_shape(request, prompt.size());
    const bool tools = !request.tools.empty() && request.tool_choice != api::ToolChoice::none;
    auto constraint = output_constraint(request, host_.vocabulary());
    auto stream = std::make_shared<ChoiceStream>(host_.engine(), engine_request(request, prompt, 0, constraint),
                                                 std::string(anthropic::kToolIdPrefix), tools);
    const std::string id = anthropic::new_message_id();
    if (!request.stream) {
      while (!stream->done()) stream->poll(1000ms);
      anthropic::MessageResult result{id, request.model, stream->text(), stream->tool_calls(), stream->stop(),
                                      stream->stop_sequence(), stream->usage().prompt_tokens,
                                      stream->usage().cached_prompt_tokens, stream->usage().completion_tokens};
      const auto timings = response_timings(received, {stream.get()});
      observe_timings(timings);
      res.set_header("Server-Timing", server_timing_header(timings));
      res.set_content(anthropic::message_response(result).dump(), "application/json");
      return;
    }
    const int prompt_tokens = static_cast<int>(prompt.size());
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream, id, model = request.model, prompt_tokens, received](std::size_t, httplib::DataSink& sink) {
          anthropic::AnthropicStreamWriter writer;
          auto send = [&](const std::string& bytes) { return bytes.empty() || sink.write(bytes.data(), bytes.size()); };
          if (!send(writer.start(id, model, prompt_tokens, 0))) return false;
          auto quiet_since = std::chrono::steady_clock::now();
          try {
            while (!stream->done()) {
              auto update = stream->poll(200ms);
              std::string out;
              for (const auto& piece : update.pieces) out += writer.write(piece);
              if (update.done)
                out += writer.finish(stream->stop(), stream->stop_sequence(), stream->usage().completion_tokens,
                                     stream->usage().prompt_tokens, stream->usage().cached_prompt_tokens);
              const auto now = std::chrono::steady_clock::now();
              if (out.empty() && now - quiet_since > kPingInterval) out = writer.ping();
              if (!out.empty()) {
                quiet_since = now;
                if (!send(out)) {
                  stream->cancel();
                  return false;
                }
                if (update.produced)
                  stream_delivery_.observe(
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - *update.produced).count());
              }
            }
            observe_timings(response_timings(received, {stream.get()}));
          } catch (const api::ApiError& e) {
            send(writer.error(e));
          }
          sink.done();
          return true;
        });
  });

  http_->Post("/v1/messages/count_tokens", [this](const httplib::Request& req, httplib::Response& res) {
    auto request = anthropic::parse_count_tokens_request(parse_json_body(req.body, options_.max_json_depth));
    check_message_count(request);
    require_ready();
    const auto prompt = prompt_ids(request, host_.tokenizer(), host_.chat_template());
    res.set_content(anthropic::count_tokens_response(static_cast<int>(prompt.size())).dump(), "application/json");
  });
}

void HttpServer::check_message_count(const api::ChatRequest& request) const {
  if (static_cast<int>(request.messages.size()) > options_.max_messages)
    throw api::ApiError(api::ErrorKind::invalid_request,
                        "messages: at most " + std::to_string(options_.max_messages) + " messages per request");
}

}  // namespace pensieve::server
