#pragma once
// Conversion of MLX-layout quantized weights to the CPU kernels' tiled16 layout (qmm_cpu.h), and
// the way back for the few places that need MLX's layout (embedding lookups, MLX's own op).
#include <mlx/mlx.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// [N, C] (any dtype) → the same values with each 16 rows transposed ([N/16, C, 16] in memory,
// shown as [N, C]). Evaluated at once: this runs at load, not per step. N % 16 == 0.
mx::array to_tiled16(const mx::array& rows);

// Inverse of to_tiled16 (lazy).
mx::array from_tiled16(const mx::array& tiled);

// Rows `ids` (any shape) of a tiled16 array, in MLX's row layout: [ids..., C] (lazy). Reads the
// 16-row tile of each id.
mx::array take_tiled16_rows(const mx::array& tiled, const mx::array& ids);

}  // namespace pensieve::kernels
