#include "kernels/cpu_dispatch.h"

#include <mlx/mlx.h>

#include "common/env_switch.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace pensieve::kernels {

bool cpu_kernels_enabled() {
  static const bool enabled = env_switch("PENSIEVE_CPU_KERNELS");
  return enabled;
}

bool cpu_kernels_here() { return cpu_kernels_enabled() && mlx::core::default_device() == mlx::core::Device::cpu; }

#if defined(__x86_64__) || defined(__i386__)
namespace {
// F16C (float16 conversion) through cpuid: not every compiler's __builtin_cpu_supports knows it.
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
}
}  // namespace

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
  return has;
}

bool cpu_has_avx512() {
  static const bool has = cpu_has_avx2() && __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
}

bool cpu_has_avx512vnni() {
  static const bool has = cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
  return has;
}
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }
bool cpu_has_avx512vnni() { return false; }
#endif

}  // namespace pensieve::kernels
