#pragma once
// MLX graph nodes that take a layer's new positions from its qkv projection on the CPU (rope.h's
// rope_and_store): the queries rotated, the keys rotated and written into the KV cache's float16
// buffer, the values written into theirs. Done as separate nodes — the projection split, reshaped
// and transposed into heads, two rotations, two casts and two slice updates — that is 13 nodes a
// layer, and at one token a step each node costs more than its arithmetic (bench/README.md):
// these are three. Three and not one: MLX gives a node the memory of an input only where nothing
// else holds it, and each output of a many-output node holds every input.
#include <memory>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace pensieve::kernels {

namespace mx = mlx::core;

// Inputs: qkv [1, L, (heads + 2·kv_heads)·head_dim] float32, any strides (queries, then keys,
// then values); for the keys and values parts also that part's buffer [1, kv_heads, capacity,
// head_dim] float16. Output: queries, the rotated queries [1, heads, L, head_dim] float32;
// keys or values, the buffer with positions offset … offset+L−1 written (keys rotated; both
// rounded to float16) — in the input buffer's memory when MLX may donate it, else in a copy.
class CpuRopeStore : public mx::UnaryPrimitive {
 public:
  enum class Part { queries, keys, values };
  struct Params {
    int heads = 0, kv_heads = 0, head_dim = 0;
    int dims = 0;  // rotated features of a head (the first dims)
    std::vector<float> divisors;
    float position_scale = 1.0f, attention_factor = 1.0f;
    int offset = 0;
    // rope_cos_sin (rope_rows.h) of these positions, for the queries and keys parts.
    std::shared_ptr<const std::vector<float>> cos_sin;
  };
  CpuRopeStore(mx::Stream stream, Part part, Params p) : mx::UnaryPrimitive(stream), part_(part), p_(std::move(p)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& out) override;
  const char* name() const override { return "PensieveCpuRopeStore"; }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(const std::vector<mx::array>& inputs) override;

 private:
  Part part_;
  Params p_;
};

}  // namespace pensieve::kernels
