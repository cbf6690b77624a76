#pragma once
// Environment switches for comparisons and tests (PENSIEVE_CPU_KERNELS, PENSIEVE_CUDA_DECODER,
// PENSIEVE_BATCHED_KV, …): "0" turns a thing off, any other value turns it on.
#include <cstdlib>
#include <string_view>

namespace pensieve {

inline bool env_switch(const char* name, bool unset = true) {
  const char* v = std::getenv(name);
  return v ? std::string_view(v) != "0" : unset;
}

}  // namespace pensieve
