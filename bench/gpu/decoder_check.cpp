// model::CudaDecoder against Phi3Model::forward (MLX) on a CUDA GPU: both continue the same
// prompt from their own MLX-prefilled caches, fed the same tokens (MLX's greedy choice), and each
// step's logits are compared: relative L2 error, largest absolute difference, argmax agreement.
// Prompts that make the cache grow mid-decode and that cross LongRoPE's switch at 4096.
// Then the same for batches (the decoder's batch mode against Phi3Model::forward over a
// BatchKVCache, rows of different lengths, one row leaving mid-way as a free row), and the decode
// speed at batch 1 and of chained batched steps. JSON on stdout.
//
//   decoder_check MODEL_DIR [--batch-only | --no-batch | --batch-speed ROWS PROMPT_LEN]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "model/cuda_decoder.h"
#include "model/phi3.h"
#include "random_prompt.h"

namespace mx = mlx::core;
using pensieve::model::BatchKVCache;
using pensieve::model::CudaDecoder;
using pensieve::model::KVCache;
using pensieve::model::Phi3Model;

namespace {

nlohmann::json compare(const Phi3Model& model, CudaDecoder& decoder, int prompt_len, int steps) {
  const auto prompt = random_prompt(prompt_len, 11u + static_cast<unsigned>(prompt_len));
  KVCache mlx_cache = model.make_cache(), our_cache = model.make_cache();
  auto logits = pensieve::engine::prefill(model, prompt, mlx_cache, 512);
  mx::eval(pensieve::engine::prefill(model, prompt, our_cache, 512));
  decoder.bind(our_cache);
  int32_t token = mx::argmax(mx::reshape(logits, {-1}), 0).item<int32_t>();
  double worst_rel = 0, worst_abs = 0;
  int same_argmax = 0;
  for (int s = 0; s < steps; ++s) {
    auto ref = mx::astype(mx::reshape(model.forward(mx::array(&token, {1, 1}, mx::int32), mlx_cache), {-1}), mx::float32);
    mx::eval(ref);
    decoder.step(token);
    auto ours = decoder.logits();
    const float* r = ref.data<float>();
    double num = 0, den = 0, mx_abs = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) {
      const double d = ours[i] - r[i];
      num += d * d;
      den += static_cast<double>(r[i]) * r[i];
      mx_abs = std::max(mx_abs, std::abs(d));
    }
    worst_rel = std::max(worst_rel, std::sqrt(num / std::max(den, 1e-30)));
    worst_abs = std::max(worst_abs, mx_abs);
    const int32_t ref_id = static_cast<int32_t>(std::max_element(r, r + ours.size()) - r);
    const int32_t our_id = static_cast<int32_t>(std::max_element(ours.begin(), ours.end()) - ours.begin());
    same_argmax += ref_id == our_id;
    token = ref_id;
  }
  decoder.finish();
  return {{"prompt", prompt_len}, {"steps", steps}, {"capacity_after", our_cache.capacity()},
          {"offsets_equal", our_cache.offset() == mlx_cache.offset()}, {"worst_rel_l2", worst_rel},
          {"worst_abs", worst_abs}, {"same_argmax", same_argmax}};
}

// Relative L2 error, largest absolute difference and argmax agreement of two logit rows.
struct RowDiff {
  double rel = 0, abs = 0;
  bool same_argmax = false;
};
RowDiff diff(const float* ours, const float* ref, std::size_t n) {
  double num = 0, den = 0, worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = ours[i] - ref[i];
    num += d * d;
    den += static_cast<double>(ref[i]) * ref[i];
    worst = std::max(worst, std::abs(d));
  }
  return {std::sqrt(num / std::max(den, 1e-30)), worst,
          std::max_element(ours, ours + n) - ours == std::max_element(ref, ref + n) - ref};
}

// Batches: the same sequences prefilled into two BatchKVCaches, one stepped by MLX's forward,
// the other by the decoder, each fed MLX's greedy tokens; after `steps / 2` steps the second row
// leaves both (a free row from then on) and the steps go on.
nlohmann::json compare_batch(const Phi3Model& model, CudaDecoder& decoder, const std::vector<int>& prompts, int steps) {
  const int L = model.config().num_hidden_layers;
  BatchKVCache mlx_batch(L), our_batch(L);
  std::vector<int32_t> tokens;
  std::vector<KVCache> caches, alone;  // alone: each sequence stepped by itself (MLX, batch of one)
  caches.reserve(2 * prompts.size());
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const auto prompt = random_prompt(prompts[i], 101u + static_cast<unsigned>(i));
    alone.push_back(model.make_cache());
    mx::eval(pensieve::engine::prefill(model, prompt, alone.back(), 512));
    for (auto* batch : {&mlx_batch, &our_batch}) {
      caches.push_back(model.make_cache());
      auto logits = pensieve::engine::prefill(model, prompt, caches.back(), 512);
      if (batch == &mlx_batch) tokens.push_back(mx::argmax(mx::reshape(logits, {-1}), 0).item<int32_t>());
      batch->add(&caches[caches.size() - 1], caches.back());
    }
  }
  const int V = model.config().vocab_size;
  double worst_rel = 0, worst_abs = 0, worst_rel_alone_ours = 0, worst_rel_alone_mlx = 0;
  int same = 0, compared = 0;
  bool rows_agree = true;
  nlohmann::json bad = nlohmann::json::array();  // (step, sequence, row, rel) where rel > 0.02
  std::vector<bool> live(prompts.size(), true);
  for (int s = 0; s < steps; ++s) {
    if (s == steps / 2 && prompts.size() > 2) {  // sequence 1 leaves (a free row, or the batch compacts)
      decoder.finish();
      mlx_batch.remove(&caches[2], nullptr);
      our_batch.remove(&caches[3], nullptr);
      live[1] = false;
    }
    if (s == 0 || s == steps / 2) decoder.bind(our_batch);
    const int rows = mlx_batch.rows();
    std::vector<int32_t> row_tokens(static_cast<std::size_t>(rows), 0);
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (!live[i]) continue;
      rows_agree = rows_agree && mlx_batch.row_of(&caches[2 * i]) == our_batch.row_of(&caches[2 * i + 1]);
      row_tokens[static_cast<std::size_t>(mlx_batch.row_of(&caches[2 * i]))] = tokens[i];
    }
    auto ref = mx::astype(mx::reshape(model.forward(mx::array(row_tokens.data(), {rows, 1}, mx::int32), mlx_batch), {rows, V}),
                          mx::float32);
    mx::eval(ref);
    decoder.step_rows(row_tokens);
    const auto ours = decoder.logits();
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      if (!live[i]) continue;
      const std::size_t r = static_cast<std::size_t>(mlx_batch.row_of(&caches[2 * i]));
      const float* want = ref.data<float>() + r * V;
      const auto d = diff(ours.data() + r * V, want, static_cast<std::size_t>(V));
      // Each sequence alone (its own cache, MLX) steps every time; compared at a few steps.
      auto one = mx::astype(mx::reshape(model.forward(mx::array(&tokens[i], {1, 1}, mx::int32), alone[i]), {-1}), mx::float32);
      double alone_ours = 0, alone_mlx = 0;
      if (s < 2 || s == steps / 2 || s == steps - 1) {
        mx::eval(one);
        alone_ours = diff(ours.data() + r * V, one.data<float>(), static_cast<std::size_t>(V)).rel;
        alone_mlx = diff(want, one.data<float>(), static_cast<std::size_t>(V)).rel;
      } else {
        mx::eval(alone[i].state());
      }
      worst_rel_alone_ours = std::max(worst_rel_alone_ours, alone_ours);
      worst_rel_alone_mlx = std::max(worst_rel_alone_mlx, alone_mlx);
      if (d.rel > 0.02 && bad.size() < 12)
        bad.push_back({s, i, r, std::round(d.rel * 1000) / 1000, std::round(alone_ours * 1000) / 1000,
                       std::round(alone_mlx * 1000) / 1000});
      worst_rel = std::max(worst_rel, d.rel);
      worst_abs = std::max(worst_abs, d.abs);
      same += d.same_argmax;
      ++compared;
      tokens[i] = static_cast<int32_t>(std::max_element(want, want + V) - want);
    }
  }
  decoder.finish();
  return {{"batch_prompts", prompts}, {"steps", steps}, {"rows", mlx_batch.rows()},
          {"columns_equal", mlx_batch.column() == our_batch.column()}, {"rows_agree", rows_agree}, {"worst_rel_l2", worst_rel},
          {"worst_abs", worst_abs}, {"same_argmax", same}, {"compared", compared},
          {"worst_rel_l2_vs_alone", {{"decoder", worst_rel_alone_ours}, {"mlx_batch", worst_rel_alone_mlx}}},
          {"over_0.02_step_seq_row_rel_alone_ours_alone_mlx", bad}};
}

// Aggregate greedy tokens/s of `rows` sequences after a prompt each, chained batched steps.
double batch_speed(const Phi3Model& model, CudaDecoder& decoder, int rows, int prompt_len, int steps) {
  BatchKVCache batch(model.config().num_hidden_layers);
  std::vector<KVCache> caches;
  caches.reserve(static_cast<std::size_t>(rows));
  std::vector<int32_t> tokens;
  for (int r = 0; r < rows; ++r) {
    caches.push_back(model.make_cache());
    auto logits = pensieve::engine::prefill(model, random_prompt(prompt_len, 7u + static_cast<unsigned>(r)), caches.back(), 512);
    tokens.push_back(mx::argmax(mx::reshape(logits, {-1}), 0).item<int32_t>());
    batch.add(&caches.back(), caches.back());
  }
  decoder.bind(batch);
  decoder.step_rows(tokens);
  decoder.next_tokens();
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    decoder.step_rows({});
    if (s > 0) decoder.next_tokens();
  }
  decoder.next_tokens();
  decoder.finish();
  return rows * steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Greedy tokens/s of `steps` steps after a prompt, through the decoder's chained steps; host_ms
// gets the mean host time of a step's launches (CudaDecoder::step): near the time a token takes,
// the GPU would wait for the host.
double decoder_speed(const Phi3Model& model, CudaDecoder& decoder, int prompt_len, int steps, double* host_ms = nullptr) {
  KVCache cache = model.make_cache();
  cache.reserve_hint(prompt_len + steps + 1);
  auto logits = pensieve::engine::prefill(model, random_prompt(prompt_len, 5), cache, 512);
  int32_t token = mx::argmax(mx::reshape(logits, {-1}), 0).item<int32_t>();
  decoder.bind(cache);
  decoder.step(token);
  decoder.next_token();
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::duration<double> launching{0};
  for (int s = 0; s < steps; ++s) {
    const auto l0 = std::chrono::steady_clock::now();
    decoder.step(-1);
    launching += std::chrono::steady_clock::now() - l0;
    if (s > 0) decoder.next_token();
  }
  decoder.next_token();
  decoder.finish();
  if (host_ms) *host_ms = 1e3 * launching.count() / steps;
  return steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: decoder_check MODEL_DIR\n";
    return 2;
  }
  auto model = Phi3Model::load(argv[1]);
  auto decoder = CudaDecoder::create(model);
  if (!decoder) {
    std::cerr << "CudaDecoder::create declined\n";
    return 1;
  }
  nlohmann::json out = {{"model", argv[1]}, {"checks", nlohmann::json::array()}};
  const bool batch_only = argc > 2 && std::string(argv[2]) == "--batch-only";
  if (argc > 4 && std::string(argv[2]) == "--batch-speed") {  // for a profiler: that alone
    std::cout << batch_speed(model, *decoder, std::atoi(argv[3]), std::atoi(argv[4]), 16) << std::endl;
    return 0;
  }
  for (auto [prompt, steps] : {std::pair{17, 24}, {500, 24}, {4085, 24}}) {
    if (batch_only) break;
    out["checks"].push_back(compare(model, *decoder, prompt, steps));
    std::cerr << out["checks"].back().dump() << std::endl;
  }
  for (int r = 0; r < 3 && !batch_only; ++r) {
    double host_ms = 0;
    out["decoder_tokens_per_s"].push_back(decoder_speed(model, *decoder, 512, 128, &host_ms));
    out["decoder_host_launch_ms_a_step"].push_back(host_ms);
  }
  std::cerr << "batch-1 " << out["decoder_tokens_per_s"].dump() << std::endl;
  const bool no_batch = argc > 2 && std::string(argv[2]) == "--no-batch";
  const char* batch_switch = getenv("PENSIEVE_CUDA_BATCH_DECODER");
  if (!no_batch && (batch_switch == nullptr || std::string(batch_switch) != "0")) {
    // The long-context batch first: the case after it once caught stale cached activations.
    for (const auto& prompts : {std::vector<int>{500, 9, 120, 64, 33, 250, 77, 2}, std::vector<int>(12, 40),
                                std::vector<int>(20, 40), std::vector<int>{17, 300, 45}, std::vector<int>(32, 40),
                                std::vector<int>{4085, 30, 200}}) {
      out["batch_checks"].push_back(compare_batch(model, *decoder, prompts, 16));
      std::cerr << out["batch_checks"].back().dump() << std::endl;
    }
    for (auto [rows, prompt] : {std::pair{8, 512}, {16, 512}, {32, 512}, {32, 32}}) {
      const double v = batch_speed(model, *decoder, rows, prompt, 128);
      out["batch_tokens_per_s"][std::to_string(rows) + "_rows_after_" + std::to_string(prompt)] = v;
      std::cerr << "batch " << rows << " rows after " << prompt << ": " << v << " tokens/s" << std::endl;
    }
  }
  std::cout << out.dump(2) << std::endl;
  return 0;
}
