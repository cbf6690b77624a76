#pragma once
// The served model: loaded on a background thread so the server answers /health (503) while it
// loads; afterwards the tokenizer, chat template and engine the routes use.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "engine/engine.h"
#include "grammar/vocabulary.h"
#include "model/phi3.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace pensieve::server {

class ModelHost {
 public:
  // `resolve` turns the model argument into a directory (it may download); it runs on the
  // loading thread too, so a slow download never blocks the listener.
  ModelHost(std::string model_name, std::function<std::filesystem::path()> resolve,
            engine::EngineOptions options, model::LoadOptions load = {});
  ~ModelHost();

  enum class State { loading, ready, failed };
  State state() const { return state_.load(); }
  const std::string& failure() const { return failure_; }  // when failed
  const std::string& model_name() const { return model_name_; }
  std::chrono::steady_clock::time_point started() const { return started_; }

  // Valid once ready.
  engine::Engine& engine() { return *engine_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const tokenizer::ChatTemplate& chat_template() const { return *template_; }
  const model::Phi3Model& model() const { return *model_; }
  const std::shared_ptr<const grammar::Vocabulary>& vocabulary() const { return vocabulary_; }

  // Blocks until ready or failed.
  State wait() const;
  void shutdown();

 private:
  std::string model_name_;
  std::atomic<State> state_{State::loading};
  std::string failure_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<tokenizer::Tokenizer> tokenizer_;
  std::optional<tokenizer::ChatTemplate> template_;
  std::optional<model::Phi3Model> model_;
  std::unique_ptr<engine::Engine> engine_;
  std::shared_ptr<const grammar::Vocabulary> vocabulary_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::thread loader_;
};

}  // namespace pensieve::server
