#pragma once
// Loading a weight from the bytes of its file into the layout the CPU kernels read, in one pass:
// the bytes go from the page cache through a small per-thread buffer straight into the repacked
// array, so a model load holds each weight once (no second, MLX-layout copy).
#include <mlx/mlx.h>

#include "model/safetensors.h"

namespace pensieve::model {

// The 2-D tensor `entry` ([rows, cols], rows a multiple of 16) as a new evaluated array in the
// tiled16 layout (kernels/repack.h). Throws pensieve::Error if its file can no longer be read.
mlx::core::array load_tiled16(const WeightEntry& entry);

}  // namespace pensieve::model
