// Pensieve's CUDA 4-bit GEMV (src/kernels/gemv_cuda.h) against MLX's quantized_matmul, on
// Phi-3-mini's shapes: relative error of each against a float32 reference built from the same
// dequantized weights, and the time of one decode step's 129 matmuls (32 layers' four + lm_head,
// each on its own weight copy, one mx::eval), median of 20. Also the SwiGLU-staging variant
// against silu(gate)·up through the reference. PENSIEVE_CUDA_GEMV=float runs the float kernel
// for float16 too. JSON on stdout.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/gemv_cuda.h"

namespace mx = mlx::core;
using pensieve::kernels::cuda_gemv_q4;
using pensieve::kernels::cuda_gemv_q4_swiglu;

namespace {

struct QWeight {
  mx::array q, s, b;
};

QWeight make(int n, int k) {
  auto w = mx::multiply(mx::random::normal({n, k}, mx::float16), mx::array(1.0f / 64, mx::float16));
  auto parts = mx::quantize(w, 64, 4);
  mx::eval(parts);
  return {parts[0], parts[1], parts[2]};
}

double rel_err(const mx::array& y, const mx::array& ref) {
  auto d = mx::subtract(mx::astype(y, mx::float32), ref);
  auto e = mx::sqrt(mx::divide(mx::sum(mx::multiply(d, d)), mx::sum(mx::multiply(ref, ref))));
  return e.item<float>();
}

template <class F>
double median_ms(F&& step) {
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> t;
  for (int i = 0; i < 20; ++i) {
    mx::synchronize();
    auto t0 = std::chrono::steady_clock::now();
    step();
    mx::synchronize();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main() {
  mx::random::seed(7);
  const std::vector<std::pair<int, int>> shapes{{9216, 3072}, {3072, 3072}, {16384, 3072}, {3072, 8192}, {32064, 3072}};
  nlohmann::json out = {{"checks", nlohmann::json::array()}};
  for (auto [n, k] : shapes) {
    auto w = make(n, k);
    auto x = mx::random::normal({1, k}, mx::float16);
    auto deq = mx::astype(mx::dequantize(w.q, w.s, w.b, 64, 4), mx::float32);
    auto ref = mx::matmul(mx::astype(x, mx::float32), mx::transpose(deq));
    auto mlx_y = mx::quantized_matmul(x, w.q, w.s, w.b, true, 64, 4);
    auto ours = cuda_gemv_q4(x, w.q, w.s, w.b, 64, 4);
    if (!ours) {
      std::cerr << "cuda_gemv_q4 declined " << n << "x" << k << "\n";
      return 1;
    }
    // Poisoned output check: every row written (no NaN from uninitialised memory).
    bool finite = mx::all(mx::isfinite(*ours)).item<bool>();
    out["checks"].push_back({{"N", n}, {"K", k}, {"rel_err_pensieve", rel_err(*ours, ref)},
                             {"rel_err_mlx", rel_err(mlx_y, ref)}, {"all_finite", finite}});
    std::cerr << out["checks"].back().dump() << std::endl;
  }
  {  // SwiGLU staged inside the down projection's kernel.
    auto w = make(3072, 8192);
    auto gate_up = mx::random::normal({1, 16384}, mx::float16);
    auto halves = mx::split(mx::astype(gate_up, mx::float32), 2, -1);
    auto act = mx::multiply(mx::multiply(halves[0], mx::sigmoid(halves[0])), halves[1]);
    auto deq = mx::astype(mx::dequantize(w.q, w.s, w.b, 64, 4), mx::float32);
    auto ref = mx::matmul(act, mx::transpose(deq));
    auto ours = cuda_gemv_q4_swiglu(gate_up, w.q, w.s, w.b, 64, 4);
    out["swiglu"] = ours ? nlohmann::json{{"rel_err_pensieve", rel_err(*ours, ref)},
                                          {"all_finite", mx::all(mx::isfinite(*ours)).item<bool>()}}
                         : nlohmann::json("declined");
    std::cerr << out["swiglu"].dump() << std::endl;
  }
  // One decode step's matmuls.
  std::vector<QWeight> ws;
  std::size_t bytes = 0;
  for (int l = 0; l < 32; ++l)
    for (int i = 0; i < 4; ++i) ws.push_back(make(shapes[i].first, shapes[i].second));
  ws.push_back(make(shapes[4].first, shapes[4].second));
  for (const auto& w : ws) bytes += w.q.nbytes() + w.s.nbytes() + w.b.nbytes();
  auto x3 = mx::random::normal({1, 3072}, mx::float16), x8 = mx::random::normal({1, 8192}, mx::float16);
  mx::eval(x3, x8);
  auto step = [&](bool ours) {
    std::vector<mx::array> ys;
    for (const auto& w : ws) {
      const auto& x = w.q.shape(1) * 8 == 3072 ? x3 : x8;
      ys.push_back(ours ? *cuda_gemv_q4(x, w.q, w.s, w.b, 64, 4) : mx::quantized_matmul(x, w.q, w.s, w.b, true, 64, 4));
    }
    mx::eval(ys);
  };
  const double mlx_ms = median_ms([&] { step(false); });
  const double our_ms = median_ms([&] { step(true); });
  out["step"] = {{"matmuls", ws.size()}, {"weight_bytes", bytes},
                 {"mlx_ms", mlx_ms}, {"mlx_GBps", bytes / mlx_ms / 1e6},
                 {"pensieve_ms", our_ms}, {"pensieve_GBps", bytes / our_ms / 1e6}};
  std::cout << out.dump(2) << std::endl;
  return 0;
}
