#include "server/model_host.h"

#include "common/log.h"
#include "server/output_constraint.h"

namespace pensieve::server {

ModelHost::ModelHost(std::string model_name, std::function<std::filesystem::path()> resolve,
                     engine::EngineOptions options)
    : model_name_(std::move(model_name)) {
  loader_ = std::thread([this, resolve = std::move(resolve), options] {
    try {
      const auto t0 = std::chrono::steady_clock::now();
      auto dir = resolve();
      tokenizer_.emplace(tokenizer::Tokenizer::from_directory(dir));
      const auto& source = tokenizer_->chat_template();
      template_.emplace(source ? *source : tokenizer::ChatTemplate::builtin_phi3());
      model_.emplace(model::Phi3Model::load(dir));
      vocabulary_ = grammar_vocabulary(*tokenizer_, model_->config().vocab_size);
      engine_ = std::make_unique<engine::Engine>(*model_, *tokenizer_, options);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      log::info("model " + model_name_ + " ready in " + std::to_string(secs) + " s (context " +
                std::to_string(engine_->context_size()) + " tokens)");
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
