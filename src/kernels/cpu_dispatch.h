#pragma once
// What the CPU kernels may use: one switch for every kernel entry point, and the instruction
// sets this CPU has (each asked once: in a VM every cpuid instruction traps to the hypervisor,
// and the answers are consulted on every kernel call).
namespace pensieve::kernels {

// False when PENSIEVE_CPU_KERNELS=0: MLX's own ops everywhere, the reference path for exact
// parity checks and for measuring what the kernels gain. Read once.
bool cpu_kernels_enabled();
// cpu_kernels_enabled() and the CPU the default device: where the kernels' graph nodes run.
bool cpu_kernels_here();

// AVX2 with FMA and F16C: what every AVX2 kernel (matmul, attention, SwiGLU) is compiled for.
bool cpu_has_avx2();
// AVX-512 F, BW and VL on top of cpu_has_avx2(): the AVX-512 attention kernel.
bool cpu_has_avx512();
// cpu_has_avx512() with VNNI: the AVX-512 matmul kernel.
bool cpu_has_avx512vnni();

}  // namespace pensieve::kernels
