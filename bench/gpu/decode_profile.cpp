// Where a decode step's time goes on MLX's GPU backend, for one model, as JSON on stdout:
//   - graph_build_ms: building one step's graph (Phi3Model::forward + argmax), nothing evaluated;
//   - sync_step_ms: build + evaluate, waiting for each step (no overlap of host and device);
//   - pipelined_step_ms: the Generator's scheme, step t+1 queued before step t is read;
//   - encode_ms: of that, the host's time in mx::async_eval (MLX encoding the step's kernels into
//     CUDA graphs on the calling thread): a step near it is bound by the host, not the GPU;
//   - the same for B sequences decoded together through the batched forward (one step = B tokens).
// Median over the timed steps; the prompt is `prompt` random ordinary ids per sequence.
//
//   decode_profile MODEL_DIR [prompt=512] [steps=64] [batches=1,8,32]
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "model/phi3.h"
#include "random_prompt.h"

namespace mx = mlx::core;
using Clock = std::chrono::steady_clock;
using pensieve::model::KVCache;
using pensieve::model::Phi3Model;

namespace {

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

mx::array next_tokens(const Phi3Model& model, const mx::array& tokens, std::vector<KVCache*>& caches) {
  auto logits = model.forward(tokens, std::span<KVCache* const>(caches), true);
  const int B = static_cast<int>(caches.size());
  return mx::reshape(mx::astype(mx::argmax(mx::reshape(logits, {B, -1}), -1), mx::int32), {B, 1});
}

// Warm-up, synchronous steps, then pipelined ones (step t+1 queued before step t is read, as
// engine::Generator does). step(tokens) → the next tokens, lazily.
template <class Step>
nlohmann::json time_steps(mx::array tokens, int B, int steps, const Step& step) {
  for (int i = 0; i < 3; ++i) {
    tokens = step(tokens);
    mx::eval(tokens);
  }
  std::vector<double> build, sync;
  for (int i = 0; i < steps / 2; ++i) {
    auto t0 = Clock::now();
    mx::array next = step(tokens);
    build.push_back(ms_since(t0));
    mx::eval(next);
    (void)next.data<int32_t>();
    sync.push_back(ms_since(t0));
    tokens = next;
  }
  mx::async_eval(tokens);
  std::vector<double> encode;
  auto t0 = Clock::now();
  for (int i = 0; i < steps; ++i) {
    mx::array next = step(tokens);
    auto e0 = Clock::now();
    mx::async_eval(next);
    encode.push_back(ms_since(e0));
    mx::eval(tokens);
    (void)tokens.data<int32_t>();
    tokens = next;
  }
  mx::eval(tokens);
  const double pipelined = ms_since(t0) / steps;
  return {{"batch", B},
          {"graph_build_ms", median(build)},
          {"sync_step_ms", median(sync)},
          {"pipelined_step_ms", pipelined},
          {"encode_ms", median(encode)},
          {"pipelined_tokens_per_s", 1000.0 * B / pipelined},
          {"sync_tokens_per_s", 1000.0 * B / median(sync)}};
}

nlohmann::json profile_batch(const Phi3Model& model, int B, int prompt, int steps) {
  std::vector<KVCache> owned;
  owned.reserve(static_cast<std::size_t>(B));
  std::vector<KVCache*> caches;
  std::vector<int32_t> first;
  for (int b = 0; b < B; ++b) {
    owned.push_back(model.make_cache());
    caches.push_back(&owned.back());
    auto logits = pensieve::engine::prefill(model, random_prompt(prompt, 1000u + b), owned.back(), 512);
    auto id = mx::astype(mx::argmax(mx::reshape(logits, {-1}), 0), mx::int32);
    mx::eval(id);
    first.push_back(id.item<int32_t>());
  }
  mx::array tokens(first.data(), {B, 1}, mx::int32);
  auto out = time_steps(tokens, B, steps, [&](const mx::array& t) { return next_tokens(model, t, caches); });
  out["context_at_start"] = prompt;
  return out;
}

// The same through the shared batch buffers (model::BatchKVCache), prompts of different lengths.
nlohmann::json profile_shared(const Phi3Model& model, int B, int prompt, int steps) {
  std::vector<KVCache> owned;
  owned.reserve(static_cast<std::size_t>(B));
  pensieve::model::BatchKVCache batch(model.config().num_hidden_layers);
  std::vector<int32_t> first;
  for (int b = 0; b < B; ++b) {
    owned.push_back(model.make_cache());
    auto logits = pensieve::engine::prefill(model, random_prompt(prompt + 7 * b, 1000u + b), owned.back(), 512);
    auto id = mx::astype(mx::argmax(mx::reshape(logits, {-1}), 0), mx::int32);
    mx::eval(id);
    first.push_back(id.item<int32_t>());
    batch.add(&owned[static_cast<std::size_t>(b)], owned.back());
  }
  auto step = [&](const mx::array& t) {
    auto logits = model.forward(t, batch);
    return mx::reshape(mx::astype(mx::argmax(mx::reshape(logits, {batch.rows(), -1}), -1), mx::int32), {batch.rows(), 1});
  };
  std::vector<int32_t> padded(static_cast<std::size_t>(batch.rows()), 0);
  std::copy(first.begin(), first.end(), padded.begin());
  auto out = time_steps(mx::array(padded.data(), {batch.rows(), 1}, mx::int32), B, steps, step);
  out["shared_buffers"] = true;
  out["rows"] = batch.rows();
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: decode_profile MODEL_DIR [prompt] [steps] [batches,...]\n";
    return 2;
  }
  const int prompt = argc > 2 ? std::atoi(argv[2]) : 512;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 64;
  std::vector<int> batches{1, 8, 32};
  if (argc > 4) {
    batches.clear();
    std::stringstream s(argv[4]);
    for (std::string item; std::getline(s, item, ',');) batches.push_back(std::stoi(item));
  }
  auto model = Phi3Model::load(argv[1]);
  nlohmann::json out = {{"model", argv[1]},
                        {"device", mx::default_device() == mx::Device::gpu ? "gpu" : "cpu"},
                        {"weight_bytes", model.weight_bytes()},
                        {"runs", nlohmann::json::array()}};
  for (int B : batches) {
    out["runs"].push_back(profile_batch(model, B, prompt, steps));
    mx::clear_cache();
    std::cerr << out["runs"].back().dump() << std::endl;
    out["runs"].push_back(profile_shared(model, B, prompt, steps));
    mx::clear_cache();
    std::cerr << out["runs"].back().dump() << std::endl;
  }
  out["peak_memory_bytes"] = mx::get_peak_memory();
  std::cout << out.dump(2) << std::endl;
  return 0;
}
