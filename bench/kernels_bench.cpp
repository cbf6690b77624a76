// Times the CPU quantized-matmul kernels on Phi-3-mini's shapes (4-bit, group 64, float16
// scales) against MLX's own quantized_matmul in float32, and measures the machine's memory read
// bandwidth for the decode roofline. Prints one JSON object. See bench/README.md.
// Usage: pensieve_kernels_bench [repeats] [--memory-only | --decode-only]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <mlx/mlx.h>
#include <nlohmann/json.hpp>

#include "kernels/huge_pages.h"
#include "kernels/qmm_cpu.h"
#include "kernels/quantized_matmul_primitive.h"
#include "kernels/thread_pool.h"

namespace mx = mlx::core;
namespace k = pensieve::kernels;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kLayers = 32;
constexpr int kBits = 4;
constexpr int kGroup = 64;
// Distinct copies of a layer's weights, cycled through so that every matmul streams its weight
// from memory as a real decode step does (4 copies ≈ 220 MB, far beyond the last-level cache).
constexpr int kLayerCopies = 4;

struct Shape {
  const char* name;
  int n, k;
};
constexpr Shape kLayerShapes[] = {
    {"qkv_proj", 9216, 3072}, {"o_proj", 3072, 3072}, {"gate_up_proj", 16384, 3072},
    {"down_proj", 3072, 8192}};
constexpr Shape kLmHead{"lm_head", 32064, 3072};

struct Weight {
  mx::array w, scales, biases;
};

Weight random_weight(const Shape& s, mx::Dtype scale_dtype) {
  auto w = mx::random::bits({s.n, s.k * kBits / 32}, 4);
  w = mx::view(w, mx::uint32);
  auto scales = mx::astype(mx::random::uniform(0.001f, 0.02f, {s.n, s.k / kGroup}), scale_dtype);
  auto biases = mx::astype(mx::random::uniform(-0.1f, 0.1f, {s.n, s.k / kGroup}), scale_dtype);
  mx::eval({w, scales, biases});
  return {w, scales, biases};
}

double bytes_of(const Shape& s) {
  return static_cast<double>(s.n) * s.k * kBits / 8 + 2.0 * s.n * (s.k / kGroup) * 2;  // f16 s, b
}

template <class F>
double best_seconds(int repeats, F&& f) {
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// Multi-threaded streaming sum over 1 GiB: the read bandwidth decode is bound by. On huge pages,
// as the engine's weights are (kernels/huge_pages.h): a few percent faster than small pages, so
// the roofline is the higher one.
double memory_read_gbps(int threads, int repeats) {
  const size_t bytes = size_t{1} << 30, n = bytes / sizeof(uint64_t);
  std::unique_ptr<uint64_t, decltype(&std::free)> buffer(
      static_cast<uint64_t*>(std::aligned_alloc(size_t{2} << 20, bytes)), &std::free);
  if (!buffer) throw std::bad_alloc();
  k::advise_huge_pages(buffer.get(), bytes);
  uint64_t* data = buffer.get();
  for (size_t i = 0; i < n; ++i) data[i] = i;
  std::atomic<uint64_t> sink{0};
  const double s = best_seconds(repeats, [&] {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t b = n * t / threads, e = n * (t + 1) / threads;
        uint64_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
        for (size_t i = b; i + 3 < e; i += 4) {
          acc0 += data[i];
          acc1 += data[i + 1];
          acc2 += data[i + 2];
          acc3 += data[i + 3];
        }
        sink += acc0 + acc1 + acc2 + acc3;
      });
    }
    for (auto& th : pool) th.join();
  });
  return static_cast<double>(n * sizeof(uint64_t)) / s / 1e9;
}

struct Variant {
  std::string name;
  k::WeightLayout layout;
  k::QmmIsa isa;
};

using MatmulFn = mx::array (*)(const mx::array& x, const Weight& w, const Variant& v);

// Random codes are random in either layout, so the same weights serve both.
mx::array run_kernel(const mx::array& x, const Weight& w, const Variant& v) {
  return k::cpu_quantized_matmul(x, w.w, w.scales, w.biases, kGroup, kBits, v.layout, v.isa);
}

mx::array run_mlx(const mx::array& x, const Weight& w, const Variant&) {
  return mx::quantized_matmul(x, w.w, w.scales, w.biases, true, kGroup, kBits, "affine");
}

// Seconds for `layers` layers' four matmuls at M rows, cycling through the weight copies; one
// eval per matmul, as a model's graph would interleave them with other ops. Best of `repeats`.
double time_layers(const std::vector<std::vector<Weight>>& copies, int layers, int M, MatmulFn fn,
                   const Variant& isa, int repeats) {
  std::vector<mx::array> xs;
  for (const auto& s : kLayerShapes) xs.push_back(mx::random::normal({M, s.k}));
  mx::eval(xs);
  return best_seconds(repeats, [&] {
    for (int l = 0; l < layers; ++l) {
      const auto& layer = copies[l % copies.size()];
      for (size_t i = 0; i < layer.size(); ++i) mx::eval(fn(xs[i], layer[i], isa));
    }
  });
}

double time_one(const Weight& w, const Shape& s, int M, MatmulFn fn, const Variant& isa,
                int repeats) {
  auto x = mx::random::normal({M, s.k});
  mx::eval(x);
  return best_seconds(repeats, [&] { mx::eval(fn(x, w, isa)); });
}

std::vector<std::vector<Weight>> layer_copies(mx::Dtype scale_dtype, int count) {
  std::vector<std::vector<Weight>> copies(count);
  for (auto& c : copies)
    for (const auto& s : kLayerShapes) c.push_back(random_weight(s, scale_dtype));
  return copies;
}

}  // namespace

int main(int argc, char** argv) {
  // Best of `repeats` for each decode figure (cheap), of 2 for prefill; the machine may be shared.
  int repeats = 10;
  bool memory_only = false, decode_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--memory-only")
      memory_only = true;
    else if (arg == "--decode-only")
      decode_only = true;
    else
      repeats = std::max(1, std::atoi(argv[i]));
  }
  const int threads = k::ThreadPool::global().threads();
  nlohmann::json out;
  out["threads"] = threads;
  if (memory_only) {
    // Just the bandwidth, cheap enough to take right beside an engine run (bench/run.py's
    // decode roofline) so that both see the same load on a shared machine.
    out["memory_read_GBps"] = memory_read_gbps(threads, std::max(repeats, 5));
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  mx::set_default_device(mx::Device::cpu);
  out["repeats_best_of"] = repeats;
  out["format"] = "affine 4-bit, group 64";

  double model_bytes = bytes_of(kLmHead);
  for (const auto& s : kLayerShapes) model_bytes += kLayers * bytes_of(s);
  const double gbps = memory_read_gbps(threads, std::max(repeats, 5));
  out["memory_read_GBps"] = gbps;
  out["decode_bytes_per_token_GB"] = model_bytes / 1e9;
  out["roofline_tokens_per_s"] = gbps * 1e9 / model_bytes;

  // Pensieve kernels: float32 activations, float16 scales and biases (as loaded for the CPU).
  {
    auto copies = layer_copies(mx::float16, kLayerCopies);
    const Weight lm_head = random_weight(kLmHead, mx::float16);
    const bool avx512 = k::best_qmm_isa() == k::QmmIsa::avx512vnni;
    std::vector<Variant> variants;
    if (k::tiled_layout_supported()) {
      if (avx512)
        variants.push_back({"tiled16_avx512vnni", k::WeightLayout::tiled16, k::QmmIsa::avx512vnni});
      variants.push_back({"tiled16_avx2", k::WeightLayout::tiled16, k::QmmIsa::avx2});
    }
    variants.push_back({std::string("rows_") + k::qmm_isa_name(k::best_qmm_isa()),
                        k::WeightLayout::rows, k::best_qmm_isa()});
    if (avx512) variants.push_back({"rows_avx2", k::WeightLayout::rows, k::QmmIsa::avx2});
    // --decode-only: the default variant's decode steps (one row, and 2, 4 and 8 rows) alone, with
    // the bandwidth read again after them and the kernel's rate from the cache (a quick check of
    // a kernel change on a machine whose bandwidth drifts).
    if (decode_only) variants.resize(1);
    for (const auto& isa : variants) {
      nlohmann::json r;
      const double layers = time_layers(copies, kLayers, 1, run_kernel, isa, repeats);
      const double head = time_one(lm_head, kLmHead, 1, run_kernel, isa, repeats);
      r["decode_step_s"] = layers + head;
      r["decode_tokens_per_s"] = 1.0 / (layers + head);
      r["decode_fraction_of_roofline"] =
          (1.0 / (layers + head)) / out["roofline_tokens_per_s"].get<double>();
      for (int M : {2, 4, 8})
        r["decode_step_s_M" + std::to_string(M)] =
            time_layers(copies, kLayers, M, run_kernel, isa, repeats) +
            time_one(lm_head, kLmHead, M, run_kernel, isa, repeats);
      if (decode_only) {
        r["memory_read_GBps_after"] = memory_read_gbps(threads, std::max(repeats, 5));
        // The same matmul again and again: o_proj's 5.3 MB stay in the last-level cache, so its
        // rate is the kernel's compute ceiling (what it would reach with unlimited bandwidth).
        const Shape& o = kLayerShapes[1];
        r["cached_o_proj_GBps"] =
            bytes_of(o) / time_one(copies[0][1], o, 1, run_kernel, isa, std::max(repeats, 20)) / 1e9;
        out["pensieve"][isa.name] = r;
        break;
      }
      for (const auto& s : kLayerShapes)
        r["decode_ms"][s.name] = 1e3 * time_one(copies[0][&s - kLayerShapes], s, 1, run_kernel, isa,
                                                repeats);
      // Prefill: 512 rows through every layer; logits for the last row only.
      const double layer512 = time_layers(copies, kLayerCopies, 512, run_kernel, isa, 2) / kLayerCopies;
      const double prefill = kLayers * layer512 + head;
      r["prefill512_s"] = prefill;
      r["prefill512_tokens_per_s"] = 512.0 / prefill;
      out["pensieve"][isa.name] = r;
    }
  }

  // MLX's quantized_matmul in float32 (its fast CPU dtype): one layer, extrapolated.
  if (!decode_only) {
    auto copies = layer_copies(mx::float32, 1);
    const Weight lm_head = random_weight(kLmHead, mx::float32);
    const int mlx_repeats = 1;
    const Variant mlx_op{"mlx", k::WeightLayout::rows, k::QmmIsa::scalar};
    const double layer = time_layers(copies, 1, 1, run_mlx, mlx_op, mlx_repeats);
    const double head = time_one(lm_head, kLmHead, 1, run_mlx, mlx_op, mlx_repeats);
    nlohmann::json r;
    r["note"] = "one layer timed, times 32, plus lm_head; prefill from 8 rows, scaled to 512";
    r["decode_step_s"] = kLayers * layer + head;
    r["decode_tokens_per_s"] = 1.0 / (kLayers * layer + head);
    const double layer8 = time_layers(copies, 1, 8, run_mlx, mlx_op, mlx_repeats);
    const double prefill = kLayers * layer8 * 512 / 8 + head;
    r["prefill512_s"] = prefill;
    r["prefill512_tokens_per_s"] = 512.0 / prefill;
    out["mlx_float32"] = r;
  }
  std::cout << out.dump(2) << std::endl;
  return 0;
}
