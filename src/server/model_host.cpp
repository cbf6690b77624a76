#include "server/model_host.h"

#include <cstdio>

#include "common/log.h"
#include "server/output_constraint.h"

namespace pensieve::server {

ModelHost::ModelHost(std::string model_name, std::function<std::filesystem::path()> resolve,
                     engine::EngineOptions options)
    : model_name_(std::move(model_name)) {
  loader_ = std::thread([this, resolve = std::move(resolve), options] {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      auto lap = t0;
      std::string stages;  // "resolve 0.001 s, tokenizer 0.080 s, ...": where the start-up went
      auto stage_done = [&](const char* name) {
        const auto now = std::chrono::steady_clock::now();
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%s %.3f s", stages.empty() ? "" : ", ", name,
                      std::chrono::duration<double>(now - lap).count());
        stages += buf;
        lap = now;
      };
      auto dir = resolve();
      stage_done("resolve");
      tokenizer_.emplace(tokenizer::Tokenizer::from_directory(dir));
      stage_done("tokenizer");
      const auto& source = tokenizer_->chat_template();
      template_.emplace(source ? *source : tokenizer::ChatTemplate::builtin_phi3());
      stage_done("template");
      model_.emplace(model::Phi3Model::load(dir));
      stage_done("weights");
      vocabulary_ = grammar_vocabulary(*tokenizer_, model_->config().vocab_size);
      stage_done("vocabulary");
      engine_ = std::make_unique<engine::Engine>(*model_, *tokenizer_, options);
      stage_done("engine");
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
