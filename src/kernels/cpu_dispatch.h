#pragma once
// Whether Pensieve's CPU kernels may run at all: one switch for every kernel entry point.
namespace pensieve::kernels {

// False when PENSIEVE_CPU_KERNELS=0: MLX's own ops everywhere, the reference path for exact
// parity checks and for measuring what the kernels gain. Read once.
bool cpu_kernels_enabled();

}  // namespace pensieve::kernels
