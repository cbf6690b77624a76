#include "model/kv_cache.h"

#include <algorithm>

#include "common/error.h"

namespace pensieve::model {
namespace mx = mlx::core;

KVCache::KVCache(int num_layers, int step) : layers_(num_layers), step_(step) {}

int KVCache::capacity() const {
  return layers_.empty() || !layers_[0].keys ? 0 : layers_[0].keys->shape(2);
}

std::pair<mx::array, mx::array> KVCache::update(int layer, const mx::array& k, const mx::array& v) {
  auto& l = layers_.at(layer);
  const int n = k.shape(2);
  const int end = offset_ + n;
  if (!l.keys || end > l.keys->shape(2)) {
    const int grow = ((n + step_ - 1) / step_) * step_;
    auto new_shape = [&](const mx::array& a) {
      return mx::Shape{a.shape(0), a.shape(1), grow, a.shape(3)};
    };
    auto zk = mx::zeros(new_shape(k), k.dtype());
    auto zv = mx::zeros(new_shape(v), v.dtype());
    if (l.keys) {
      // Keep only the valid prefix before growing so the buffer stays a multiple of step.
      auto valid = [&](const mx::array& a) {
        return mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), offset_, a.shape(3)});
      };
      l.keys = mx::concatenate({valid(*l.keys), zk}, 2);
      l.values = mx::concatenate({valid(*l.values), zv}, 2);
    } else {
      l.keys = zk;
      l.values = zv;
    }
  }
  const mx::Shape start{0, 0, offset_, 0};
  l.keys = mx::slice_update(*l.keys, k, start, {k.shape(0), k.shape(1), end, k.shape(3)});
  l.values = mx::slice_update(*l.values, v, start, {v.shape(0), v.shape(1), end, v.shape(3)});
  if (layer + 1 == static_cast<int>(layers_.size())) offset_ = end;
  auto prefix = [&](const mx::array& a) {
    return end == a.shape(2) ? a : mx::slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), end, a.shape(3)});
  };
  return {prefix(*l.keys), prefix(*l.values)};
}

void KVCache::trim(int n) {
  if (n < 0 || n > offset_) throw Error("KV cache trim out of range");
  offset_ -= n;
}

std::vector<mx::array> KVCache::state() const {
  std::vector<mx::array> out;
  for (const auto& l : layers_)
    if (l.keys) {
      out.push_back(*l.keys);
      out.push_back(*l.values);
    }
  return out;
}

std::size_t KVCache::nbytes() const {
  std::size_t total = 0;
  for (const auto& l : layers_)
    if (l.keys) total += l.keys->nbytes() + l.values->nbytes();
  return total;
}

}  // namespace pensieve::model
