// POST /v1/chat/completions, POST /v1/completions, GET /v1/models.
#include <httplib.h>

#include <ctime>

#include "api/openai.h"
#include "server/choice_stream.h"
#include "server/http_server.h"
#include "server/json_body.h"
#include "server/output_constraint.h"
#include "server/prompt.h"
#include "server/request_log.h"
#include "server/response_timings.h"

namespace pensieve::server {
namespace openai = api::openai;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kCallIdPrefix = "call_";

std::vector<openai::TokenLogprob> to_logprobs(const std::vector<engine::TokenInfo>& tokens,
                                              const tokenizer::Tokenizer& tok) {
  std::vector<openai::TokenLogprob> out;
  for (const auto& t : tokens) {
    openai::TokenLogprob lp{tok.decode(std::vector<int32_t>{t.id}), t.logprob, {}};
    for (const auto& alt : t.top)
      lp.top.push_back({tok.decode(std::vector<int32_t>{alt.id}), alt.logprob});
    out.push_back(std::move(lp));
  }
  return out;
}

openai::Usage usage_of(const std::vector<std::unique_ptr<ChoiceStream>>& choices) {
  openai::Usage u;
  for (const auto& c : choices) {
    u.prompt_tokens = c->usage().prompt_tokens;
    u.cached_tokens = std::max(u.cached_tokens, c->usage().cached_prompt_tokens);
    u.completion_tokens += c->usage().completion_tokens;
  }
  return u;
}

// Submits all n choices up front so the engine decodes them together.
std::vector<std::unique_ptr<ChoiceStream>> start_choices(engine::Engine& engine, const api::ChatRequest& request,
                                                         const std::vector<int32_t>& prompt, bool tools,
                                                         const std::shared_ptr<const grammar::Vocabulary>& vocab) {
  const auto constraint = output_constraint(request, vocab);
  std::vector<std::unique_ptr<ChoiceStream>> choices;
  for (int i = 0; i < request.n; ++i)
    choices.push_back(std::make_unique<ChoiceStream>(engine, engine_request(request, prompt, i, constraint),
                                                     std::string(kCallIdPrefix), tools));
  return choices;
}

using Choices = std::vector<std::unique_ptr<ChoiceStream>>;
using Clock = std::chrono::steady_clock;

std::vector<const ChoiceStream*> views(const Choices& choices) {
  std::vector<const ChoiceStream*> out;
  for (const auto& c : choices) out.push_back(c.get());
  return out;
}

bool all_done(const Choices& choices) {
  for (const auto& c : choices)
    if (!c->done()) return false;
  return true;
}

// Waits for every choice to finish; returns each choice's tokens (with logprobs when asked).
std::vector<std::vector<engine::TokenInfo>> finish_all(Choices& choices) {
  std::vector<std::vector<engine::TokenInfo>> tokens(choices.size());
  while (!all_done(choices))
    for (std::size_t i = 0; i < choices.size(); ++i) {
      auto update = choices[i]->poll(50ms);
      tokens[i].insert(tokens[i].end(), update.tokens.begin(), update.tokens.end());
    }
  return tokens;
}

// Where a streamed response's figures go: timings from the receipt of the request, and how
// long text took from the engine to the socket.
struct StreamClock {
  Clock::time_point received;
  metrics::Histogram& delivery;
};

// The SSE loop of a streamed response: polls the choices in turn, sends what
// `write_update(index, choice, update)` makes of each update, then the writer's closing bytes
// (or its error event), each choice's last chunk and the usage chunk with their timings. A
// failed write means the client is gone: every choice is cancelled.
template <typename Writer, typename WriteUpdate>
bool pump(Choices& choices, Writer& writer, httplib::DataSink& sink, const std::string& preamble,
          const StreamClock& clock, WriteUpdate write_update) {
  auto send = [&](const std::string& bytes) { return bytes.empty() || sink.write(bytes.data(), bytes.size()); };
  try {
    if (!send(preamble)) return false;
    while (!all_done(choices)) {
      std::string out;
      std::optional<Clock::time_point> produced;
      for (std::size_t i = 0; i < choices.size(); ++i) {
        auto& c = *choices[i];
        if (c.done()) continue;
        auto update = c.poll(choices.size() == 1 ? 200ms : 20ms);
        if (update.produced && (!produced || *update.produced < *produced)) produced = update.produced;
        out += write_update(static_cast<int>(i), c, update);
        if (update.done) {
          const auto timings = response_timings(clock.received, {&c});
          out += writer.finish(static_cast<int>(i), c.stop(), &timings);
        }
      }
      if (!send(out)) {
        for (auto& c : choices) c->cancel();
        return false;
      }
      if (produced) clock.delivery.observe(std::chrono::duration<double>(Clock::now() - *produced).count());
    }
    const auto timings = response_timings(clock.received, views(choices));
    send(writer.done(usage_of(choices), &timings));
  } catch (const api::ApiError& e) {
    send(writer.error(e));
  }
  sink.done();
  return true;
}

}  // namespace

void HttpServer::add_openai_routes() {
  http_->Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(openai::models_response({host_.model_name()}, static_cast<int64_t>(std::time(nullptr))).dump(),
                    "application/json");
  });

  http_->Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    const auto received = request_log::received();
    auto request = openai::parse_chat_request(parse_json_body(req.body, options_.max_json_depth));
    check_message_count(request);
    require_ready();
    auto prompt = prompt_ids(request, host_.tokenizer(), host_.chat_template());
    const bool tools = !request.tools.empty() && request.tool_choice != api::ToolChoice::none;
    auto choices = std::make_shared<std::vector<std::unique_ptr<ChoiceStream>>>(
        start_choices(host_.engine(), request, prompt, tools, host_.vocabulary()));
    const std::string id = openai::new_chat_id();
    const auto created = static_cast<int64_t>(std::time(nullptr));
    const bool want_logprobs = request.top_logprobs >= 0;
    const auto& tok = host_.tokenizer();
    if (!request.stream) {
      const auto tokens = finish_all(*choices);
      openai::ChatResult result{id, request.model, created, {}, usage_of(*choices),
                                response_timings(received, views(*choices))};
      observe_timings(*result.timings);
      res.set_header("Server-Timing", server_timing_header(*result.timings));
      for (std::size_t i = 0; i < choices->size(); ++i) {
        const auto& c = *(*choices)[i];
        openai::ChatChoice choice{c.text(), c.tool_calls(), c.stop(), std::nullopt};
        if (want_logprobs) choice.logprobs = to_logprobs(tokens[i], tok);
        result.choices.push_back(std::move(choice));
      }
      res.set_content(openai::chat_response(result).dump(), "application/json");
      return;
    }
    auto writer = std::make_shared<openai::ChatStreamWriter>(id, request.model, created, request.n, request.include_usage);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, choices, writer, want_logprobs, &tok, received](std::size_t, httplib::DataSink& sink) {
      const StreamClock clock{received, stream_delivery_};
      const bool ok = pump(*choices, *writer, sink, "", clock, [&](int index, ChoiceStream&, const ChoiceUpdate& update) {
        std::string out;
        std::vector<openai::TokenLogprob> lps;
        if (want_logprobs) lps = to_logprobs(update.tokens, tok);
        bool logprobs_sent = false;  // the update's tokens go with its first text delta
        for (const auto& piece : update.pieces) {
          if (const auto* t = std::get_if<api::TextDelta>(&piece); t && want_logprobs && !logprobs_sent) {
            out += writer->text(index, t->text, &lps);
            logprobs_sent = true;
          } else {
            out += writer->write(index, piece);
          }
        }
        return out;
      });
      if (all_done(*choices)) observe_timings(response_timings(received, views(*choices)));
      return ok;
    });
  });

  http_->Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    const auto received = request_log::received();
    auto request = openai::parse_completion_request(parse_json_body(req.body, options_.max_json_depth));
    require_ready();
    auto prompt = prompt_ids(request, host_.tokenizer(), host_.chat_template());
    auto choices = std::make_shared<std::vector<std::unique_ptr<ChoiceStream>>>(
        start_choices(host_.engine(), request, prompt, false, host_.vocabulary()));
    const std::string id = openai::new_completion_id();
    const auto created = static_cast<int64_t>(std::time(nullptr));
    const bool want_logprobs = request.top_logprobs >= 0;
    const auto& tok = host_.tokenizer();
    const std::string echo = request.echo && request.raw_prompt ? *request.raw_prompt : std::string();
    if (!request.stream) {
      const auto tokens = finish_all(*choices);
      openai::CompletionResult result{id, request.model, created, {}, usage_of(*choices),
                                      response_timings(received, views(*choices))};
      observe_timings(*result.timings);
      res.set_header("Server-Timing", server_timing_header(*result.timings));
      for (std::size_t i = 0; i < choices->size(); ++i) {
        const auto& c = *(*choices)[i];
        openai::CompletionChoice choice{echo + c.text(), c.stop(), std::nullopt, {}};
        if (want_logprobs) {
          choice.logprobs = to_logprobs(tokens[i], tok);
          int offset = static_cast<int>(echo.size());
          for (const auto& t : *choice.logprobs) {
            choice.text_offsets.push_back(offset);
            offset += static_cast<int>(t.bytes.size());
          }
        }
        result.choices.push_back(std::move(choice));
      }
      res.set_content(openai::completion_response(result).dump(), "application/json");
      return;
    }
    auto writer = std::make_shared<openai::CompletionStreamWriter>(id, request.model, created, request.include_usage);
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, choices, writer, echo, received](std::size_t, httplib::DataSink& sink) {
      const StreamClock clock{received, stream_delivery_};
      std::string preamble;
      if (!echo.empty())
        for (std::size_t i = 0; i < choices->size(); ++i) preamble += writer->text(static_cast<int>(i), echo);
      const bool ok = pump(*choices, *writer, sink, preamble, clock, [&](int index, ChoiceStream&, const ChoiceUpdate& update) {
        std::string out;
        for (const auto& piece : update.pieces)
          if (const auto* t = std::get_if<api::TextDelta>(&piece)) out += writer->text(index, t->text);
        return out;
      });
      if (all_done(*choices)) observe_timings(response_timings(received, views(*choices)));
      return ok;
    });
  });
}

}  // namespace pensieve::server
