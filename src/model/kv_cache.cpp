#include "model/kv_cache.h"

#include <algorithm>

#include "common/error.h"
#include "kernels/attention_quantize.h"

namespace pensieve::model {
namespace mx = mlx::core;

namespace {

mx::Shape with_length(const mx::array& a, int length) { return {a.shape(0), a.shape(1), length, a.shape(3)}; }

// The first `length` positions of a stored buffer.
mx::array head(const mx::array& a, int length) {
  return mx::slice(a, {0, 0, 0, 0}, with_length(a, length));
}

}  // namespace

KVCache::KVCache(int num_layers, int kv_bits, int group_size, std::optional<mx::Dtype> float_dtype, int step)
    : layers_(num_layers), bits_(kv_bits), group_size_(group_size), float_dtype_(float_dtype), step_(step) {
  validate(kv_bits, group_size, 0);
  if (float_dtype && !mx::issubdtype(*float_dtype, mx::floating))
    throw Error("KV cache storage must be a float dtype");
}

mx::Dtype KVCache::default_float_dtype(mx::Dtype activations, mx::Device device) {
  return device == mx::Device::cpu && activations == mx::float32 ? mx::float16 : activations;
}

void KVCache::validate(int kv_bits, int group_size, int head_dim) {
  if (kv_bits != 0 && kv_bits != 4 && kv_bits != 8) throw Error("KV cache bits must be 4 or 8 (or unset for float)");
  if (kv_bits == 0) return;
  // Whole 32-bit words per group keep every group byte-aligned for the CPU kernel.
  if (group_size <= 0 || (group_size * kv_bits) % 32 != 0)
    throw Error("KV cache group size " + std::to_string(group_size) + " must be a positive multiple of " +
                std::to_string(32 / kv_bits) + " at " + std::to_string(kv_bits) + " bits");
  if (head_dim > 0 && head_dim % group_size != 0)
    throw Error("KV cache group size " + std::to_string(group_size) + " must divide the model's head_dim " +
                std::to_string(head_dim));
}

int KVCache::capacity() const {
  return layers_.empty() || layers_[0].keys.empty() ? 0 : layers_[0].keys[0].shape(2);
}

std::vector<mx::array> KVCache::encode(const mx::array& x) const {
  if (bits_ == 0) return {float_dtype_ && x.dtype() != *float_dtype_ ? mx::astype(x, *float_dtype_) : x};
  validate(bits_, group_size_, x.shape(3));
  if (!kernels::mlx_quantize_supports_group(group_size_))
    return kernels::affine_quantize_with_ops(x, group_size_, bits_, mx::float16);
  auto parts = mx::quantize(x, group_size_, bits_);
  return {parts[0], mx::astype(parts[1], mx::float16), mx::astype(parts[2], mx::float16)};
}

void KVCache::grow(Layer& l, int needed) {
  const int have = l.keys[0].shape(2);
  if (needed <= have) return;
  // The hinted size at once; past it, half as much again each time (amortised copying, and a
  // smaller transient than doubling: old and new buffers coexist while the valid part is copied).
  int wanted = std::max({needed, hint_, have + have / 2});
  if (limit_ > 0) wanted = std::min(wanted, std::max(needed, limit_));
  const int target = (wanted + step_ - 1) / step_ * step_;
  for (auto* parts : {&l.keys, &l.values})
    for (auto& a : *parts) {
      auto room = mx::zeros(with_length(a, target - offset_), a.dtype());
      // Keep only the valid prefix so the buffer stays a multiple of step.
      a = offset_ == 0 ? room : mx::concatenate({head(a, offset_), room}, 2);
    }
}

kernels::StoredKV KVCache::append_encoded(int layer, const std::vector<mx::array>& keys,
                                          const std::vector<mx::array>& values) {
  auto& l = layers_.at(layer);
  const int n = keys[0].shape(2);
  const int end = offset_ + n;
  if (l.keys.empty()) {
    // Start from empty buffers shaped like the chunk; grow() sizes them.
    for (const auto& a : keys) l.keys.push_back(mx::zeros(with_length(a, 0), a.dtype()));
    for (const auto& a : values) l.values.push_back(mx::zeros(with_length(a, 0), a.dtype()));
  }
  grow(l, end);
  auto write = [&](std::vector<mx::array>& stored_parts, const std::vector<mx::array>& parts) {
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const auto& src = parts[i];
      stored_parts[i] = mx::slice_update(stored_parts[i], src, mx::Shape{0, 0, offset_, 0},
                                         mx::Shape{src.shape(0), src.shape(1), end, src.shape(3)});
    }
  };
  write(l.keys, keys);
  write(l.values, values);
  return end_update(layer, end);
}

kernels::StoredKV KVCache::end_update(int layer, int end) {
  if (layer + 1 == static_cast<int>(layers_.size())) offset_ = end;
  return stored(layers_.at(static_cast<std::size_t>(layer)), end);
}

std::optional<std::pair<mx::array, mx::array>> KVCache::buffers_to_write(int layer, int n) {
  auto& l = layers_.at(static_cast<std::size_t>(layer));
  if (bits_ != 0 || l.keys.empty() || l.keys[0].dtype() != mx::float16) return std::nullopt;
  grow(l, offset_ + n);
  return std::make_pair(l.keys[0], l.values[0]);
}

kernels::StoredKV KVCache::written(int layer, const mx::array& keys, const mx::array& values, int n) {
  auto& l = layers_.at(static_cast<std::size_t>(layer));
  l.keys[0] = keys;
  l.values[0] = values;
  return end_update(layer, offset_ + n);
}

kernels::StoredKV KVCache::update(int layer, const mx::array& k, const mx::array& v) {
  return append_encoded(layer, encode(k), encode(v));
}

kernels::StoredKV KVCache::stored(const Layer& l, int length) const {
  kernels::StoredKV s{l.keys[0], l.values[0], {}, {}, {}, {}, length, bits_, bits_ ? group_size_ : 0};
  if (bits_) {
    s.key_scales = l.keys[1];
    s.key_biases = l.keys[2];
    s.value_scales = l.values[1];
    s.value_biases = l.values[2];
  }
  return s;
}

void KVCache::shrink_to_fit() {
  const int keep = std::max(step_, (offset_ + step_ - 1) / step_ * step_);
  if (capacity() <= keep) return;
  for (auto& l : layers_)
    for (auto* parts : {&l.keys, &l.values})
      for (auto& a : *parts) a = mx::contiguous(head(a, keep));
  mx::eval(state());
}

std::pair<mx::array, mx::array> KVCache::float_buffers(int layer) const {
  const auto& l = layers_.at(static_cast<std::size_t>(layer));
  if (bits_ != 0 || l.keys.empty()) throw Error("KV cache: no float buffers for this layer");
  return {l.keys[0], l.values[0]};
}

void KVCache::reserve_positions(int positions) {
  for (auto& l : layers_)
    if (!l.keys.empty()) grow(l, positions);
  mx::eval(state());
}

void KVCache::own_buffers() {
  if (bits_ != 0) throw Error("KV cache: no float buffers to own");
  std::vector<mx::array> copies;
  for (auto& l : layers_)
    for (auto* parts : {&l.keys, &l.values})
      for (auto& a : *parts)
        if (!a.is_donatable()) {
          // mx::copy would share the buffer (arrays are immutable to MLX); x · 1 is exact.
          a = mx::multiply(a, mx::array(1.0f, a.dtype()));
          copies.push_back(a);
        }
  if (!copies.empty()) mx::eval(copies);
}

void KVCache::advance(int n) {
  if (n < 0 || offset_ + n > capacity()) throw Error("KV cache advance past its storage");
  offset_ += n;
}

void KVCache::trim(int n) {
  if (n < 0 || n > offset_) throw Error("KV cache trim out of range");
  offset_ -= n;
}

std::vector<mx::array> KVCache::state() const {
  std::vector<mx::array> out;
  for (const auto& l : layers_) {
    out.insert(out.end(), l.keys.begin(), l.keys.end());
    out.insert(out.end(), l.values.begin(), l.values.end());
  }
  return out;
}

std::size_t KVCache::nbytes() const {
  std::size_t total = 0;
  for (const auto& a : state()) total += a.nbytes();
  return total;
}

std::size_t KVCache::bytes_per_position(int kv_heads, int head_dim, mx::Dtype float_dtype, int kv_bits,
                                        int group_size) {
  const std::size_t values = static_cast<std::size_t>(kv_heads) * static_cast<std::size_t>(head_dim);
  if (kv_bits == 0) return 2 * values * mx::size_of(float_dtype);
  const std::size_t packed = values * static_cast<std::size_t>(kv_bits) / 8;
  const std::size_t scales = values / static_cast<std::size_t>(group_size) * 2 * mx::size_of(mx::float16);  // scale + bias
  return 2 * (packed + scales);
}

}  // namespace pensieve::model
