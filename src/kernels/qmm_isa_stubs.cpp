// Builds without the x86 kernel files (cmake/kernels.cmake adds them on x86 only) get these
// empty entries, so the dispatcher falls back to the portable kernel.
#include "kernels/qmm_detail.h"

#ifndef PENSIEVE_X86_KERNELS
namespace pensieve::kernels::detail {
const IsaKernels* avx2_kernels() { return nullptr; }
const IsaKernels* avx512vnni_kernels() { return nullptr; }
}  // namespace pensieve::kernels::detail
#endif
