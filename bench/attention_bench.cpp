// Decode-step attention alone (one query row per head, Phi-3-mini's 32 heads × 96) over deep
// contexts, per KV format and kernel variant, as GB/s of KV read against the machine's read
// bandwidth: a decode step must read every stored key and value once, so that bandwidth is its
// bound. Prints one JSON object (bench/README.md).
//
// With --chunk N, also a prompt chunk's attention (N query rows at the end of each depth, float16
// KV, the CPU's default) as ms a layer and GFLOP/s (2 products of 2·head_dim flops a visible key).
//
//   pensieve_attention_bench [--depths 4096,32768] [--repeats 5] [--chunk 512]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <mlx/mlx.h>
#include <nlohmann/json.hpp>

#include "kernels/attention_cpu.h"
#include "kernels/thread_pool.h"
#include "model/kv_cache.h"

namespace {

namespace mx = mlx::core;
namespace k = pensieve::kernels;
using Clock = std::chrono::steady_clock;

constexpr int kHeads = 32, kHeadDim = 96;
// Enough layers that one pass over them cannot sit in the CPU's caches, as in a real model.
constexpr std::size_t kMinBytesPerPass = std::size_t{768} << 20;

struct Format {
  const char* name;
  int bits, group;
  mx::Dtype float_dtype = mx::float32;  // bits 0: how keys and values are stored
};

// Streaming sum over 1 GiB on the kernels' thread pool.
double read_gbps(int repeats) {
  const std::size_t n = (std::size_t{1} << 30) / sizeof(float);
  std::vector<float> data(n, 1.0f);
  const int64_t parts = k::ThreadPool::global().threads() * 4;
  std::atomic<double> sink{0};
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    k::ThreadPool::global().run(parts, [&](int64_t p) {
      const std::size_t b = n * static_cast<std::size_t>(p) / static_cast<std::size_t>(parts);
      const std::size_t e = n * static_cast<std::size_t>(p + 1) / static_cast<std::size_t>(parts);
      float lanes[16] = {};
      for (std::size_t i = b; i + 16 <= e; i += 16)
        for (int l = 0; l < 16; ++l) lanes[l] += data[i + static_cast<std::size_t>(l)];
      double total = 0;
      for (float v : lanes) total += v;
      sink = sink + total;
    });
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(n * sizeof(float)) / best / 1e9;
}

// `layers` one-layer caches of `depth` random positions.
std::vector<pensieve::model::KVCache> fill(const Format& f, int depth, int layers) {
  const int chunk = std::min(depth, 1024);
  pensieve::model::KVCache encoder(1, f.bits, f.group, f.float_dtype);
  auto keys = encoder.encode(mx::random::normal({1, kHeads, chunk, kHeadDim}, mx::float32, 0.0f, 1.0f, mx::random::key(1)));
  auto values = encoder.encode(mx::random::normal({1, kHeads, chunk, kHeadDim}, mx::float32, 0.0f, 1.0f, mx::random::key(2)));
  mx::eval(keys);
  mx::eval(values);
  std::vector<pensieve::model::KVCache> caches;
  for (int l = 0; l < layers; ++l) {
    caches.emplace_back(1, f.bits, f.group, f.float_dtype);
    caches.back().reserve_hint(depth);
    for (int done = 0; done < depth; done += chunk) {
      caches.back().append_encoded(0, keys, values);
      mx::eval(caches.back().state());
    }
  }
  return caches;
}

k::KvRows rows(const std::vector<mx::array>& parts) {
  k::KvRows r;
  r.data = parts[0].data<void>();
  r.scales = parts.size() > 1 ? parts[1].data<void>() : nullptr;
  r.biases = parts.size() > 1 ? parts[2].data<void>() : nullptr;
  r.head_stride = parts[0].shape(2);
  return r;
}

const char* isa_name(k::AttentionIsa isa) {
  switch (isa) {
    case k::AttentionIsa::portable: return "portable";
    case k::AttentionIsa::avx2: return "avx2";
    case k::AttentionIsa::avx512: return "avx512";
  }
  return "?";
}

// A prompt chunk of `chunk` queries ending at each depth, over one float16 cache (every query
// reads the same keys, so the cache's size does not decide where they come from).
nlohmann::json chunk_runs(const std::vector<int>& depths, int chunk, int repeats) {
  nlohmann::json runs = nlohmann::json::array();
  const Format f16{"float16", 0, 0, mx::float16};
  for (int depth : depths) {
    if (depth < chunk) continue;
    auto caches = fill(f16, depth, 1);
    auto state = caches[0].state();
    auto q = mx::random::normal({1, kHeads, chunk, kHeadDim}, mx::float32, 0.0f, 1.0f, mx::random::key(3));
    mx::eval(q);
    std::vector<float> result(static_cast<std::size_t>(chunk) * kHeads * kHeadDim);
    k::AttentionProblem p;
    p.q = q.data<float>();
    p.out = result.data();
    p.batch = 1;
    p.heads = kHeads;
    p.kv_heads = kHeads;
    p.queries = chunk;
    p.head_dim = kHeadDim;
    p.scale = 0.1f;
    p.kv_f16 = true;
    k::AttentionSequence s;
    s.keys = rows({state[0]});
    s.values = rows({state[1]});
    s.length = depth;
    s.offset = depth - chunk;
    p.sequences = {s};
    // Keys seen: query i of the chunk sees offset + i + 1 of them.
    const double visible = static_cast<double>(chunk) * (depth - chunk) + chunk * (chunk + 1) / 2.0;
    const double flops = 4.0 * kHeadDim * kHeads * visible;
    for (k::AttentionIsa isa : k::available_attention_isas()) {
      double best = 1e30;
      for (int r = 0; r < repeats; ++r) {
        const auto t0 = Clock::now();
        k::attention_cpu(p, isa);
        best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
      }
      runs.push_back({{"depth", depth}, {"chunk", chunk}, {"isa", isa_name(isa)}, {"ms_per_layer", best * 1e3},
                      {"GFLOPs", flops / best / 1e9}});
    }
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> depths{4096, 32768};
  int repeats = 5, chunk = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--repeats")) repeats = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--chunk")) chunk = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--depths")) {
      depths.clear();
      std::stringstream list(argv[i + 1]);
      for (std::string d; std::getline(list, d, ',');) depths.push_back(std::stoi(d));
    }
  }
  mx::set_default_device(mx::Device::cpu);
  nlohmann::json out;
  out["threads"] = k::ThreadPool::global().threads();
  out["memory_read_GBps"] = read_gbps(5);
  out["heads"] = kHeads;
  out["head_dim"] = kHeadDim;
  const std::vector<Format> formats{{"float32", 0, 0, mx::float32}, {"float16", 0, 0, mx::float16},
                                    {"8bit-g32", 8, 32}, {"4bit-g32", 4, 32}, {"4bit-g96", 4, 96}};
  std::vector<float> q(kHeads * kHeadDim, 0.01f), result(q.size());
  for (int depth : depths)
    for (const auto& f : formats) {
      const std::size_t layer_bytes =
          pensieve::model::KVCache::bytes_per_position(kHeads, kHeadDim, f.float_dtype, f.bits, f.group ? f.group : 32) *
          static_cast<std::size_t>(depth);
      const int layers = static_cast<int>(std::clamp<std::size_t>(kMinBytesPerPass / layer_bytes + 1, 1, 32));
      auto caches = fill(f, depth, layers);
      std::vector<k::AttentionProblem> problems;
      for (const auto& c : caches) {
        auto state = c.state();
        const std::size_t half = state.size() / 2;
        k::AttentionProblem p;
        p.q = q.data();
        p.out = result.data();
        p.batch = 1;
        p.heads = kHeads;
        p.kv_heads = kHeads;
        p.queries = 1;
        p.head_dim = kHeadDim;
        p.scale = 0.1f;
        p.bits = f.bits;
        p.group_size = f.group ? f.group : 32;
        p.kv_f16 = f.bits == 0 && f.float_dtype == mx::float16;
        k::AttentionSequence s;
        s.keys = rows({state.begin(), state.begin() + static_cast<long>(half)});
        s.values = rows({state.begin() + static_cast<long>(half), state.end()});
        s.length = depth;
        s.offset = depth - 1;
        p.sequences = {s};
        problems.push_back(p);
      }
      for (k::AttentionIsa isa : k::available_attention_isas()) {
        double best = 1e30;
        for (int r = 0; r < repeats; ++r) {
          const auto t0 = Clock::now();
          for (const auto& p : problems) k::attention_cpu(p, isa);
          best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count() / layers);
        }
        out["runs"].push_back({{"depth", depth},
                               {"format", f.name},
                               {"isa", isa_name(isa)},
                               {"layer_bytes", layer_bytes},
                               {"layers_per_pass", layers},
                               {"ms_per_layer", best * 1e3},
                               {"GBps", static_cast<double>(layer_bytes) / best / 1e9}});
      }
    }
  if (chunk > 0) out["chunk_runs"] = chunk_runs(depths, chunk, repeats);
  std::cout << out.dump(2) << std::endl;
}
