// model::CudaDecoder against Phi3Model::forward (MLX) on a CUDA GPU: both continue the same
// prompt from their own MLX-prefilled caches, fed the same tokens (MLX's greedy choice), and each
// step's logits are compared: relative L2 error, largest absolute difference, argmax agreement.
// Prompts that make the cache grow mid-decode and that cross LongRoPE's switch at 4096.
// Then the decode speed of both at batch 1. JSON on stdout.
//
//   decoder_check MODEL_DIR
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/generator.h"
#include "model/cuda_decoder.h"
#include "model/phi3.h"
#include "random_prompt.h"

namespace mx = mlx::core;
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

// Greedy tokens/s of `steps` steps after a prompt, through the decoder's chained steps.
double decoder_speed(const Phi3Model& model, CudaDecoder& decoder, int prompt_len, int steps) {
  KVCache cache = model.make_cache();
  cache.reserve_hint(prompt_len + steps + 1);
  auto logits = pensieve::engine::prefill(model, random_prompt(prompt_len, 5), cache, 512);
  int32_t token = mx::argmax(mx::reshape(logits, {-1}), 0).item<int32_t>();
  decoder.bind(cache);
  decoder.step(token);
  decoder.next_token();
  const auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < steps; ++s) {
    decoder.step(-1);
    if (s > 0) decoder.next_token();
  }
  decoder.next_token();
  decoder.finish();
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
  for (auto [prompt, steps] : {std::pair{17, 24}, {500, 24}, {4085, 24}}) {
    out["checks"].push_back(compare(model, *decoder, prompt, steps));
    std::cerr << out["checks"].back().dump() << std::endl;
  }
  for (int r = 0; r < 3; ++r) out["decoder_tokens_per_s"].push_back(decoder_speed(model, *decoder, 512, 128));
  std::cout << out.dump(2) << std::endl;
  return 0;
}
