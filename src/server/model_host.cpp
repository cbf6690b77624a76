#include "server/model_host.h"

#include <cstdio>
#include <exception>

#include "common/log.h"
#include "server/output_constraint.h"

namespace pensieve::server {

ModelHost::ModelHost(std::string model_name, std::function<std::filesystem::path()> resolve,
                     engine::EngineOptions options, model::LoadOptions load)
    : model_name_(std::move(model_name)) {
  loader_ = std::thread([this, resolve = std::move(resolve), options, load] {
    try {
      using Clock = std::chrono::steady_clock;
      const auto t0 = Clock::now();
      auto lap = t0;
      std::string stages;  // "resolve 0.001 s, weights 1.800 s, ...": where the start-up went
      auto note = [&stages](const char* name, double secs) {
        char buf[80];
        std::snprintf(buf, sizeof buf, "%s%s %.3f s", stages.empty() ? "" : ", ", name, secs);
        stages += buf;
      };
      auto stage_done = [&](const char* name) {
        const auto now = Clock::now();
        note(name, std::chrono::duration<double>(now - lap).count());
        lap = now;
      };
      auto dir = resolve();
      stage_done("resolve");
      // The tokenizer and chat template load beside the weights: neither needs the other, and
      // the weights take the longest, so the text side costs the start-up nothing. A plain
      // thread, not std::async: a std::future instantiated in this binary interposes on MLX's own
      // (its parallel file reader uses futures), and with the GCC of some systems the two
      // call_once protocols disagree and the reader crashes.
      double text_secs = 0;
      std::exception_ptr text_error;
      std::thread text_side([&] {
        try {
          const auto begin = Clock::now();
          tokenizer_.emplace(tokenizer::Tokenizer::from_directory(dir));
          const auto& source = tokenizer_->chat_template();
          template_.emplace(source ? *source : tokenizer::ChatTemplate::builtin_phi3());
          text_secs = std::chrono::duration<double>(Clock::now() - begin).count();
        } catch (...) {
          text_error = std::current_exception();
        }
      });
      try {
        model_.emplace(model::Phi3Model::load(dir, load));
      } catch (...) {
        text_side.join();
        throw;
      }
      stage_done("weights");
      text_side.join();
      if (text_error) std::rethrow_exception(text_error);
      note("tokenizer_beside_weights", text_secs);
      stage_done("tokenizer_wait");
      vocabulary_ = grammar_vocabulary(*tokenizer_, model_->config().vocab_size);
      stage_done("vocabulary");
      engine_ = std::make_unique<engine::Engine>(*model_, *tokenizer_, options);
      stage_done("engine");
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      log::info("model " + model_name_ + " ready in " + std::to_string(secs) + " s (context " +
                std::to_string(engine_->context_size()) + " tokens)");
      log::debug("start-up: " + stages);
      std::lock_guard lock(mutex_);
      state_ = State::ready;
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      failure_ = e.what();
      state_ = State::failed;
    }
    changed_.notify_all();
  });
}

ModelHost::~ModelHost() { shutdown(); }

ModelHost::State ModelHost::wait() const {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return state_ != State::loading; });
  return state_;
}

void ModelHost::shutdown() {
  if (loader_.joinable()) loader_.join();
  if (engine_) engine_->shutdown();
}

}  // namespace pensieve::server
