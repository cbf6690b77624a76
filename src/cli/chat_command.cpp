// `pensieve chat`: a conversation with the model in the terminal. The whole conversation is
// rendered with the model's chat template every turn (the engine's prefix cache keeps the work
// of earlier turns), and the answer is printed as it is generated.
#include <chrono>
#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>

#include "api/chat.h"
#include "cli/chat_input.h"
#include "cli/commands.h"
#include "cli/interrupt_flag.h"
#include "cli/line_reader.h"
#include "cli/model_source.h"
#include "cli/terminal_text.h"
#include "common/error.h"
#include "common/log.h"
#include "hub/repo_ref.h"
#include "server/model_host.h"
#include "server/prompt.h"

namespace pensieve::cli {
namespace {
using namespace std::chrono_literals;

struct ChatOptions {
  std::string model = hub::kDefaultModel;
  std::string system;
  sampling::SamplingParams sampling;
  int max_tokens = 1024;
  int context_size = 0;
  int kv_bits = 0;
  int kv_group_size = 32;
  std::string history_file;
};

constexpr const char* kHelp =
    "Type a message and press Enter. End a line with \\ to go on to the next one, or put a\n"
    "longer text between two lines of \"\"\".\n"
    "  /reset         forget the conversation\n"
    "  /system TEXT   set the system prompt (/system alone: remove it)\n"
    "  /temp T        set the temperature (0: always the most likely token)\n"
    "  /help          this text\n"
    "  /quit          leave (or Ctrl-D)\n"
    "Ctrl-C stops an answer.\n";

api::ChatMessage message(std::string role, std::string content) {
  api::ChatMessage m;
  m.role = std::move(role);
  m.content = std::move(content);
  return m;
}

class ChatSession {
 public:
  ChatSession(server::ModelHost& host, ChatOptions options, InterruptFlag& interrupt)
      : host_(host), options_(std::move(options)), interrupt_(interrupt) {}

  void run(LineReader& reader) {
    const std::string prompt = reader.interactive() ? ">>> " : "";
    const std::string continuation = reader.interactive() ? "... " : "";
    for (;;) {
      auto input = read_chat_input(reader, prompt, continuation);
      switch (input.kind) {
        case ChatInput::Kind::end:
          if (reader.interactive()) std::cout << std::endl;
          return;
        case ChatInput::Kind::interrupted:
          std::cerr << "\n(Ctrl-C stops an answer; /quit or Ctrl-D leaves)" << std::endl;
          break;
        case ChatInput::Kind::command:
          reader.remember("/" + input.text + (input.argument.empty() ? "" : " " + input.argument));
          if (!command(input)) return;
          break;
        case ChatInput::Kind::message:
          if (input.text.empty()) break;
          reader.remember(input.text);
          answer(input.text);
          break;
      }
    }
  }

 private:
  // Returns false for /quit.
  bool command(const ChatInput& c) {
    if (c.text == "quit" || c.text == "exit" || c.text == "bye") return false;
    if (c.text == "help" || c.text == "?") {
      std::cerr << kHelp;
    } else if (c.text == "reset" || c.text == "clear") {
      turns_.clear();
      std::cerr << "(conversation cleared)" << std::endl;
    } else if (c.text == "system") {
      options_.system = c.argument;
      std::cerr << (c.argument.empty() ? "(system prompt removed)" : "(system prompt set)") << std::endl;
    } else if (c.text == "temp" || c.text == "temperature") {
      set_temperature(c.argument);
    } else {
      std::cerr << "unknown command /" << c.text << " (/help lists them)" << std::endl;
    }
    return true;
  }

  void set_temperature(const std::string& argument) {
    if (argument.empty()) {
      std::cerr << "(temperature " << options_.sampling.temperature << ")" << std::endl;
      return;
    }
    try {
      std::size_t used = 0;
      const float t = std::stof(argument, &used);
      if (used != argument.size() || !(t >= 0)) throw std::invalid_argument("");
      options_.sampling.temperature = t;
      std::cerr << "(temperature " << t << ")" << std::endl;
    } catch (const std::exception&) {
      std::cerr << "/temp takes a number of 0 or more, got '" << argument << "'" << std::endl;
    }
  }

  api::ChatRequest conversation() const {
    api::ChatRequest request;
    if (!options_.system.empty()) request.messages.push_back(message("system", options_.system));
    request.messages.insert(request.messages.end(), turns_.begin(), turns_.end());
    return request;
  }

  void answer(const std::string& text) {
    turns_.push_back(message("user", text));
    std::shared_ptr<engine::RequestHandle> handle;
    try {
      engine::GenerationRequest request;
      // As server::prompt_ids, with the rendered text shown at debug level.
      const std::string rendered = server::render_prompt(conversation(), host_.tokenizer(), host_.chat_template());
      log::debug("prompt " + nlohmann::json(rendered).dump());
      request.prompt = host_.tokenizer().encode(rendered, false);
      request.sampling = options_.sampling;
      request.max_tokens = options_.max_tokens;
      handle = host_.engine().submit(std::move(request));
    } catch (const std::exception& e) {
      turns_.pop_back();
      std::cerr << "error: " << e.what() << " (/reset starts a new conversation)" << std::endl;
      return;
    }
    interrupt_.take();
    std::string reply;
    const bool stopped = stream(*handle, reply);
    if (!reply.empty() && reply.back() != '\n') std::cout << '\n';
    std::cout << std::endl;
    if (stopped) std::cerr << "(answer stopped)" << std::endl;
    if (reply.empty()) {
      turns_.pop_back();  // nothing to answer to next time
      return;
    }
    turns_.push_back(message("assistant", reply));
  }

  // Prints the answer as it arrives; returns whether Ctrl-C stopped it.
  bool stream(engine::RequestHandle& handle, std::string& reply) {
    bool stopped = false;
    const auto started = std::chrono::steady_clock::now();
    for (;;) {
      if (!stopped && interrupt_.take()) {
        handle.cancel();
        stopped = true;
      }
      // A request cancelled before the engine took it up ends without a last event.
      auto event = handle.events.pop(stopped ? 2000ms : 50ms);
      if (!event) {
        if (stopped) return true;
        continue;
      }
      switch (event->kind) {
        case engine::Event::Kind::text:
          if (stopped) break;
          reply += event->text;  // exact: it is the conversation's next turn
          std::cout << (on_terminal_ ? printable_on_terminal(event->text) : event->text) << std::flush;
          break;
        case engine::Event::Kind::done: {
          const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          log::debug("answer: " + std::to_string(event->usage.prompt_tokens) + " prompt tokens (" +
                     std::to_string(event->usage.cached_prompt_tokens) + " cached), " +
                     std::to_string(event->usage.completion_tokens) + " generated in " + std::to_string(secs) +
                     " s, first token after " + std::to_string(event->time_to_first_token_s) + " s");
          return stopped || event->finish == engine::FinishReason::cancelled;
        }
        case engine::Event::Kind::error:
          std::cerr << "\nerror: " << event->error << std::endl;
          return stopped;
      }
    }
  }

  server::ModelHost& host_;
  ChatOptions options_;
  InterruptFlag& interrupt_;
  const bool on_terminal_ = stdout_is_terminal();
  std::vector<api::ChatMessage> turns_;  // user and assistant, oldest first
};

std::string default_history_file() {
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.pensieve_history";
  return {};
}

void chat(ChatOptions o) {
  engine::EngineOptions engine_options;
  engine_options.max_batch = 1;
  engine_options.context_size = o.context_size;
  engine_options.kv_bits = o.kv_bits;
  engine_options.kv_group_size = o.kv_group_size;
  server::ModelHost host(o.model, [model = o.model] { return resolve_model_dir(model); }, engine_options);
  if (host.wait() == server::ModelHost::State::failed) throw Error(host.failure());

  InterruptFlag interrupt;
  LineReader reader(interrupt, o.history_file);
  if (reader.interactive())
    std::cerr << "Chatting with " << o.model << ". /help for commands; Ctrl-D or /quit to leave." << std::endl;
  ChatSession session(host, std::move(o), interrupt);
  session.run(reader);
}

}  // namespace

void add_chat_command(CLI::App& app) {
  auto o = std::make_shared<ChatOptions>();
  o->sampling.temperature = 0.7f;
  o->history_file = default_history_file();
  auto* cmd = app.add_subcommand("chat", "Talk with the model in the terminal; answers stream as they are generated");
  cmd->add_option("-m,--model", o->model, "Hugging Face repo id org/name[@revision] or a local directory")
      ->envname("PENSIEVE_MODEL")->capture_default_str();
  cmd->add_option("--system", o->system, "System prompt");
  cmd->add_option("--temp,--temperature", o->sampling.temperature, "Temperature; 0 = greedy")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("-n,--max-tokens", o->max_tokens, "Longest answer in tokens")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--top-p", o->sampling.top_p, "Top-p nucleus (1 = off)");
  cmd->add_option("--top-k", o->sampling.top_k, "Top-k (0 = off)");
  cmd->add_option("--seed", o->sampling.seed, "Random seed (same seed, same answers)");
  cmd->add_option("--ctx-size", o->context_size, "Context size in tokens (0: the model's, within the KV budget)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--kv-bits", o->kv_bits, "KV cache storage: 8 or 4 bits (quantized); default: unquantized")->check(CLI::IsMember({4, 8}));
  cmd->add_option("--kv-group-size", o->kv_group_size, "Quantization group of --kv-bits along head_dim (must divide it; 96 on Phi-3: 4.33 bits a value at 4 bits)")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--history-file", o->history_file, "Where typed lines are kept between sessions ('' = nowhere)")
      ->envname("PENSIEVE_HISTORY")->capture_default_str();
  cmd->footer(
      "In the chat: /help, /reset, /system TEXT, /temp T, /quit. A line ending in \\ goes on;\n"
      "\"\"\" opens and closes a multi-line message. Ctrl-C stops an answer, Ctrl-D leaves.\n\n"
      "Examples:\n"
      "  pensieve chat\n"
      "  pensieve chat -m ~/models/phi3 --system \"Answer in French.\" --temp 0.2\n"
      "  echo \"Write a haiku about tea.\" | pensieve chat -m ~/models/phi3 -n 64");
  cmd->callback([o] { chat(*o); });
}

}  // namespace pensieve::cli
