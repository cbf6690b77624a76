#pragma once
// The tensors of a model directory, handed out by module name with their shape and dtype checked
// against what the config says the module must be. Anything missing, misshapen, of the wrong
// dtype, or left over at the end is an error naming the tensor.
#include <filesystem>
#include <set>
#include <string>
#include <unordered_map>

#include <mlx/mlx.h>

#include "kernels/linear.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace pensieve::model {

class WeightTable {
 public:
  WeightTable(const std::filesystem::path& dir, const ModelConfig& config);

  // A norm weight "<module>.weight" of shape [size].
  mlx::core::array norm(const std::string& module, int size);
  // A linear or embedding weight of logical shape [out, in]: float "<module>.weight", or
  // quantized weight/scales/biases as the config's quantization for the module says.
  kernels::LinearWeight linear(const std::string& module, int out, int in);
  // The float dtype the checkpoint stores (of its norms), e.g. bfloat16.
  mlx::core::Dtype float_dtype() const { return float_dtype_; }
  // The quantized `w` that linear(module, ...) returned, its weight, scales and biases now read
  // from the file straight into the CPU kernels' tiled16 layout (kernels::repacks_to_tiled16).
  kernels::LinearWeight tiled16(const std::string& module, const kernels::LinearWeight& w) const;
  // Throws if the files hold tensors no module asked for.
  void check_all_used() const;

 private:
  mlx::core::array take(const std::string& name, const mlx::core::Shape& shape, bool want_float);

  const ModelConfig& config_;
  std::unordered_map<std::string, WeightEntry> tensors_;  // arrays unevaluated until used
  std::set<std::string> used_;
  mlx::core::Dtype float_dtype_ = mlx::core::float32;
};

}  // namespace pensieve::model
