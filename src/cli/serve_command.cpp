// `pensieve serve`: load (or first download) the model and serve the Anthropic and OpenAI APIs.
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/model_source.h"
#include "common/error.h"
#include "common/log.h"
#include "hub/repo_ref.h"
#include "server/http_server.h"
#include "server/model_host.h"

namespace pensieve::cli {
namespace {

using hub::kDefaultModel;

struct ServeOptions {
  std::string model = kDefaultModel;
  server::ServerOptions server;
  double kv_budget_gb = 0;
  double prefix_cache_gb = 0;
  std::string kv_dtype = "auto";  // unquantized KV storage (model::LoadOptions::kv_dtype)
  std::string log_level = "info";
  std::string config_file;
};

// SIGINT and SIGTERM are blocked in every thread and taken by one thread with sigwait, so the
// shutdown runs as ordinary code (locks, joins) instead of inside a signal handler.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void serve(ServeOptions o) {
  if (o.kv_budget_gb > 0) o.server.engine.kv_budget_bytes = static_cast<std::size_t>(o.kv_budget_gb * (1u << 30));
  if (o.prefix_cache_gb > 0)
    o.server.engine.prefix_cache_bytes = static_cast<std::size_t>(o.prefix_cache_gb * (1u << 30));
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts: all inherit it
  model::LoadOptions load;
  if (o.kv_dtype != "auto") load.kv_dtype = o.kv_dtype == "float16" ? mlx::core::float16 : mlx::core::float32;
  server::ModelHost host(o.model, [model = o.model] { return resolve_model_dir(model); }, o.server.engine, load);
  server::HttpServer http(o.server, host);
  const int port = http.bind();
  if (port < 0) throw Error("cannot listen on " + o.server.host + ":" + std::to_string(o.server.port));
  std::atomic<bool> finished{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (finished) return;  // woken by serve() itself on the way out
    log::info(std::string("stopping (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ")");
    // Stop accepting, then end the running generations: their streams get an error event and
    // close, so the HTTP threads finish and listen returns.
    http.stop();
    if (host.state() == server::ModelHost::State::ready) host.engine().shutdown();
  });
  std::thread announce([&] {
    if (host.wait() == server::ModelHost::State::failed) {
      http.stop();  // the failure is reported once, as the command's error
      return;
    }
    const std::string url = "http://" + o.server.host + ":" + std::to_string(port);
    std::cerr << "Pensieve is serving " << o.model << " at " << url << "\n"
              << "  export ANTHROPIC_BASE_URL=" << url << "\n"
              << "  export ANTHROPIC_API_KEY=" << (o.server.api_key.empty() ? "pensieve" : o.server.api_key)
              << std::endl;
  });
  log::info("listening on " + o.server.host + ":" + std::to_string(port) + " (loading " + o.model + ")");
  http.listen_after_bind();
  finished = true;
  kill(getpid(), SIGTERM);  // wakes the stopper if no signal came
  stopper.join();
  announce.join();
  host.shutdown();
  if (host.state() == server::ModelHost::State::failed) throw Error(host.failure());
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve the Anthropic Messages and OpenAI APIs");
  cmd->add_option("-m,--model", o->model, "Hugging Face repo id org/name[@revision] or a local directory")
      ->envname("PENSIEVE_MODEL")->capture_default_str();
  cmd->add_option("--host", o->server.host, "Address to bind")->envname("PENSIEVE_HOST")->capture_default_str();
  cmd->add_option("--port", o->server.port, "Port (0: any free port)")->envname("PENSIEVE_PORT")->capture_default_str();
  cmd->add_option("--api-key", o->server.api_key, "Require this key (x-api-key or Authorization: Bearer)")
      ->envname("PENSIEVE_API_KEY");
  cmd->add_option("--parallel", o->server.engine.max_batch, "Sequences decoded together")
      ->envname("PENSIEVE_PARALLEL")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-queue", o->server.engine.max_queue, "Requests that may wait for a slot")
      ->envname("PENSIEVE_MAX_QUEUE")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--ctx-size", o->server.engine.context_size, "Context size in tokens (0: model maximum within the KV budget)")
      ->envname("PENSIEVE_CTX_SIZE")->check(CLI::NonNegativeNumber);
  cmd->add_option("--kv-budget-gb", o->kv_budget_gb, "KV cache memory for running sequences (default: half the free memory)")
      ->envname("PENSIEVE_KV_BUDGET_GB");
  cmd->add_option("--prefix-cache-gb", o->prefix_cache_gb, "KV memory kept for prefix reuse (default: a quarter of the KV budget)")
      ->envname("PENSIEVE_PREFIX_CACHE_GB");
  cmd->add_option("--kv-bits", o->server.engine.kv_bits, "KV cache storage: 8 or 4 bits (quantized); default: unquantized")
      ->envname("PENSIEVE_KV_BITS")->check(CLI::IsMember({4, 8}));
  cmd->add_option("--kv-group-size", o->server.engine.kv_group_size, "Quantization group of --kv-bits along head_dim (must divide it; 96 on Phi-3: 4.33 bits a value at 4 bits)")
      ->envname("PENSIEVE_KV_GROUP_SIZE")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--kv-dtype", o->kv_dtype, "Unquantized KV cache storage: auto (float16 for float32 activations on the CPU, else the activation dtype), float16, float32")
      ->envname("PENSIEVE_KV_DTYPE")->check(CLI::IsMember({"auto", "float16", "float32"}))->capture_default_str();
  cmd->add_option("--max-body-mb", o->server.max_body_bytes, "Largest request body")
      ->envname("PENSIEVE_MAX_BODY_MB")
      ->transform([](std::string v) { return std::to_string(static_cast<std::size_t>(std::stod(v) * (1 << 20))); });
  // Also here, not only on `pensieve`, so that a config file can set it.
  cmd->add_option("--log-level", o->log_level, "debug, info, warn, error or off")
      ->envname("PENSIEVE_LOG_LEVEL")
      ->trigger_on_parse()
      ->each([](const std::string& v) { log::set_level(log::parse_level(v)); });
  cmd->add_option("--config", o->config_file, "TOML or INI file of these options: long names as keys (port = 8080)")
      ->envname("PENSIEVE_CONFIG")->check(CLI::ExistingFile);
  cmd->footer(
      "Options can also come from the environment variable named in their line (Env:...) or\n"
      "from --config; the command line wins, then the environment, then the file.\n"
      "Requests are logged one line each at info level; request bodies (prompts) at debug only.\n\n"
      "Examples:\n"
      "  pensieve serve\n"
      "  pensieve serve -m ~/models/phi3 --port 8080 --api-key secret --parallel 4\n"
      "  PENSIEVE_PORT=8080 PENSIEVE_LOG_LEVEL=debug pensieve serve\n"
      "  pensieve serve --config pensieve.toml    # e.g. port = 8080 and ctx-size = 8192");
  cmd->callback([o, cmd] {
    if (!o->config_file.empty()) apply_config_file(*cmd, o->config_file);
    serve(*o);
  });
}

}  // namespace pensieve::cli
