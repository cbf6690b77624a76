#include "kernels/cpu_dispatch.h"

#include <cstdlib>
#include <string_view>

namespace pensieve::kernels {

bool cpu_kernels_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("PENSIEVE_CPU_KERNELS");
    return !(v && std::string_view(v) == "0");
  }();
  return enabled;
}

}  // namespace pensieve::kernels
