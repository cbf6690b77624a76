#include "kernels/rope.h"

#include <cmath>

#include "common/env_switch.h"
#include "common/error.h"
#include "kernels/cpu_dispatch.h"
#include "kernels/rope_primitive.h"
#include "kernels/rope_rows.h"
#include "kernels/rope_store_primitive.h"

namespace pensieve::kernels {

RotarySpec RotarySpec::from_base(int dims, float base, float position_scale) {
  RotarySpec s;
  s.dims = dims;
  s.base = base;
  s.position_scale = position_scale;
  for (int i = 0; i < dims / 2; ++i)
    s.divisors.push_back(static_cast<float>(std::pow(static_cast<double>(base), 2.0 * i / dims)));
  return s;
}

RotarySpec RotarySpec::from_divisors(int dims, std::vector<float> divisors, float attention_factor) {
  if (static_cast<int>(divisors.size()) != dims / 2) throw Error("rotary embedding: need dims/2 divisors");
  RotarySpec s;
  s.dims = dims;
  s.divisors_array = mx::array(divisors.data(), {static_cast<int>(divisors.size())}, mx::float32);
  s.divisors = std::move(divisors);
  s.attention_factor = attention_factor;
  return s;
}

namespace {

// Whether Pensieve's CPU nodes rotate heads of head_dim features by `spec` here.
bool cpu_rotates(const RotarySpec& spec, int head_dim) {
  return cpu_kernels_here() && spec.dims % 2 == 0 && spec.dims <= head_dim;
}

// mx::fast::rope, with the attention factor applied to the rotated features first. Offset: an
// int, or an int32 array of one position per row.
template <class Offset>
mx::array with_mlx_ops(const mx::array& x, const RotarySpec& spec, const Offset& offset) {
  mx::array scaled = x;
  if (spec.attention_factor != 1.0f) {
    auto factor = mx::array(spec.attention_factor, x.dtype());
    if (spec.dims == x.shape(-1)) {
      scaled = mx::multiply(x, factor);
    } else {  // partial rotary: only the rotated part carries the factor
      auto parts = mx::split(x, mx::Shape{spec.dims}, -1);
      scaled = mx::concatenate({mx::multiply(parts[0], factor), parts[1]}, -1);
    }
  }
  if (spec.base) return mx::fast::rope(scaled, spec.dims, false, *spec.base, spec.position_scale, offset);
  return mx::fast::rope(scaled, spec.dims, false, std::nullopt, spec.position_scale, offset, *spec.divisors_array);
}

}  // namespace

mx::array rotary_embedding(const mx::array& x, const RotarySpec& spec, int offset) {
  const bool cpu_kernel = x.dtype() == mx::float32 && x.ndim() == 4 && cpu_rotates(spec, x.shape(3));
  if (!cpu_kernel) return with_mlx_ops(x, spec, offset);
  return mx::array(x.shape(), mx::float32,
                   std::make_shared<CpuRope>(mx::default_stream(mx::Device::cpu), spec.dims, spec.divisors,
                                             spec.position_scale, spec.attention_factor, offset),
                   {x});
}

mx::array rotary_embedding(const mx::array& x, const RotarySpec& spec, const mx::array& offsets) {
  if (x.ndim() != 4 || offsets.ndim() != 1 || offsets.shape(0) != x.shape(0))
    throw Error("rotary embedding: one offset per row of [B, heads, L, head_dim]");
  return with_mlx_ops(x, spec, offsets);
}

bool rope_and_store_available(const RotarySpec& spec, int head_dim) {
  static const bool on = env_switch("PENSIEVE_CPU_ROPE_STORE");  // 0: the separate nodes, for comparisons
  return on && cpu_rotates(spec, head_dim);
}

std::vector<mx::array> rope_and_store(const mx::array& qkv, const mx::array& keys, const mx::array& values,
                                      int heads, int kv_heads, const RotarySpec& spec, int offset) {
  const int head_dim = keys.shape(3);
  if (spec.dims % 2 != 0 || spec.dims > head_dim) throw Error("rope_and_store: rotated features past head_dim");
  // One table of cos/sin for both rotating nodes (the values node needs none).
  CpuRopeStore::Params p{heads, kv_heads, head_dim, spec.dims, spec.divisors, spec.position_scale,
                         spec.attention_factor, offset,
                         std::make_shared<const std::vector<float>>(
                             rope_cos_sin(spec.dims, spec.divisors, spec.position_scale, offset, qkv.shape(1)))};
  const auto cpu = mx::default_stream(mx::Device::cpu);
  using Part = CpuRopeStore::Part;
  return {mx::array({1, heads, qkv.shape(1), head_dim}, mx::float32, std::make_shared<CpuRopeStore>(cpu, Part::queries, p),
                    {qkv}),
          mx::array(keys.shape(), mx::float16, std::make_shared<CpuRopeStore>(cpu, Part::keys, p), {qkv, keys}),
          mx::array(values.shape(), mx::float16, std::make_shared<CpuRopeStore>(cpu, Part::values, p), {qkv, values})};
}

}  // namespace pensieve::kernels
