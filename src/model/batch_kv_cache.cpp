#include "model/batch_kv_cache.h"

#include <algorithm>
#include <bit>

#include "common/error.h"

namespace pensieve::model {
namespace mx = mlx::core;

namespace {

int round_up(int n, int step) { return (n + step - 1) / step * step; }

int pow2_at_least(int n) { return static_cast<int>(std::bit_ceil(static_cast<unsigned>(std::max(n, 1)))); }

// [a, b) of axis `axis` of a 4-d array.
mx::array range(const mx::array& x, int axis, int a, int b) {
  mx::Shape start{0, 0, 0, 0}, stop = x.shape();
  start[axis] = a;
  stop[axis] = b;
  return mx::slice(x, start, stop);
}

}  // namespace

BatchKVCache::BatchKVCache(int num_layers, int step) : layers_(num_layers), step_(step) {}

bool BatchKVCache::contains(Key key) const {
  return std::any_of(rows_.begin(), rows_.end(), [&](const Row& r) { return r.key == key; });
}

int BatchKVCache::row_of(Key key) const {
  for (std::size_t r = 0; r < rows_.size(); ++r)
    if (rows_[r].key == key) return static_cast<int>(r);
  throw Error("internal: sequence not in the decode batch");
}

int BatchKVCache::length(Key key) const { return end_ - rows_[static_cast<std::size_t>(row_of(key))].pad; }

int BatchKVCache::live_rows() const {
  return static_cast<int>(std::count_if(rows_.begin(), rows_.end(), [](const Row& r) { return r.key != nullptr; }));
}

int BatchKVCache::free_row() {
  for (std::size_t r = 0; r < rows_.size(); ++r)
    if (!rows_[r].key) return static_cast<int>(r);
  const int row = rows();
  grow_rows(pow2_at_least(row + 1));
  return row;
}

void BatchKVCache::grow_rows(int wanted) {
  const int have = rows();
  if (wanted <= have) return;
  for (auto& l : layers_)
    for (auto* a : {&l.keys, &l.values}) {
      if (!*a) continue;
      auto room = mx::zeros({wanted - have, (*a)->shape(1), columns_, (*a)->shape(3)}, (*a)->dtype());
      *a = mx::concatenate({**a, room}, 0);
    }
  rows_.resize(static_cast<std::size_t>(wanted), Row{nullptr, end_});
}

void BatchKVCache::grow_columns(int wanted) {
  if (wanted <= columns_) return;
  const int target = round_up(std::max(wanted, columns_ + columns_ / 2), step_);
  for (auto& l : layers_)
    for (auto* a : {&l.keys, &l.values}) {
      if (!*a) continue;
      auto room = mx::zeros({(*a)->shape(0), (*a)->shape(1), target - end_, (*a)->shape(3)}, (*a)->dtype());
      *a = mx::concatenate({range(**a, 2, 0, end_), room}, 2);
    }
  columns_ = target;
}

// Every row moves `columns` to the right (a joining sequence is longer than the others).
void BatchKVCache::shift_right(int columns) {
  const int target = round_up(end_ + columns + 1, step_);
  for (auto& l : layers_)
    for (auto* a : {&l.keys, &l.values}) {
      if (!*a) continue;
      const auto& x = **a;
      auto before = mx::zeros({x.shape(0), x.shape(1), columns, x.shape(3)}, x.dtype());
      auto after = mx::zeros({x.shape(0), x.shape(1), target - end_ - columns, x.shape(3)}, x.dtype());
      *a = mx::concatenate({before, range(x, 2, 0, end_), after}, 2);
    }
  for (auto& r : rows_) r.pad += columns;
  end_ += columns;
  columns_ = target;
}

void BatchKVCache::add(Key key, KVCache& cache) {
  if (!key || contains(key)) throw Error("internal: bad decode batch key");
  if (cache.bits() != 0) throw Error("internal: the decode batch holds unquantized KV only");
  const int n = cache.offset();
  if (n <= 0) throw Error("internal: an empty sequence cannot join the decode batch");
  const auto parts = cache.state();  // keys, values of each layer
  if (parts.size() != 2 * layers_.size()) throw Error("internal: KV cache layers do not match the batch");
  if (rows_.empty()) {
    columns_ = round_up(n + 1, step_);
    end_ = n;
  } else if (n > end_) {
    shift_right(n - end_);
  }
  const int row = free_row();
  rows_[static_cast<std::size_t>(row)] = Row{key, end_ - n};
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto& l = layers_[i];
    for (int part = 0; part < 2; ++part) {
      auto src = range(parts[2 * i + static_cast<std::size_t>(part)], 2, 0, n);
      auto& slot = part == 0 ? l.keys : l.values;
      if (!slot) slot = mx::zeros({rows(), src.shape(1), columns_, src.shape(3)}, src.dtype());
      src = mx::astype(src, slot->dtype());
      *slot = mx::slice_update(*slot, src, mx::Shape{row, 0, end_ - n, 0}, mx::Shape{row + 1, src.shape(1), end_, src.shape(3)});
    }
  }
  cache = KVCache(static_cast<int>(layers_.size()), 0, cache.group_size(), cache.float_dtype());
  mx::eval(state());  // the sequence's own buffers are released now, not at the next step
}

void BatchKVCache::remove(Key key, KVCache* cache, int length) {
  const int row = row_of(key);
  auto& r = rows_[static_cast<std::size_t>(row)];
  if (cache) {
    if (cache->offset() != 0) throw Error("internal: the decode batch writes back into an empty cache only");
    const int n = length < 0 ? end_ - r.pad : length;
    if (n <= 0 || n > end_ - r.pad) throw Error("internal: decode batch write-back length out of range");
    cache->reserve_hint(n);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      auto rows_of = [&](const mx::array& a) { return range(range(a, 0, row, row + 1), 2, r.pad, r.pad + n); };
      cache->append_encoded(static_cast<int>(i), {rows_of(*layers_[i].keys)}, {rows_of(*layers_[i].values)});
    }
    mx::eval(cache->state());
  }
  r = Row{nullptr, end_};
  const int live = live_rows();
  if (live == 0) {
    clear();
    return;
  }
  if (live <= rows() / 2 || shared_padding() >= step_) compact();
}

int BatchKVCache::shared_padding() const {
  int pad = end_;
  for (const auto& r : rows_)
    if (r.key) pad = std::min(pad, r.pad);
  return pad;
}

void BatchKVCache::compact() {
  std::vector<int32_t> keep;
  for (std::size_t r = 0; r < rows_.size(); ++r)
    if (rows_[r].key) keep.push_back(static_cast<int32_t>(r));
  const int shared_pad = shared_padding();
  const int live = static_cast<int>(keep.size());
  const int target_rows = pow2_at_least(live);
  const int new_end = end_ - shared_pad;
  const int new_columns = round_up(new_end + 1, step_);
  auto index = mx::array(keep.data(), {live}, mx::int32);
  for (auto& l : layers_)
    for (auto* a : {&l.keys, &l.values}) {
      const auto& x = **a;
      auto kept = range(mx::take(x, index, 0), 2, shared_pad, end_);
      auto extra_rows = mx::zeros({target_rows - live, x.shape(1), new_end, x.shape(3)}, x.dtype());
      kept = mx::concatenate({kept, extra_rows}, 0);
      auto room = mx::zeros({target_rows, x.shape(1), new_columns - new_end, x.shape(3)}, x.dtype());
      *a = mx::concatenate({kept, room}, 2);
    }
  std::vector<Row> rows;
  for (int32_t r : keep) rows.push_back(Row{rows_[static_cast<std::size_t>(r)].key, rows_[static_cast<std::size_t>(r)].pad - shared_pad});
  rows.resize(static_cast<std::size_t>(target_rows), Row{nullptr, new_end});
  rows_ = std::move(rows);
  end_ = new_end;
  columns_ = new_columns;
  mx::eval(state());  // the old buffers go now
}

void BatchKVCache::clear() {
  for (auto& l : layers_) l = Layer{};
  rows_.clear();
  end_ = columns_ = 0;
  positions_.clear();
  positions_array_.reset();
  mask_.reset();
  spans_.reset();
  in_step_ = false;
}

void BatchKVCache::begin_step() {
  if (rows_.empty()) throw Error("internal: decode step on an empty batch");
  grow_columns(end_ + 1);
  positions_.clear();
  bool padded = false;
  std::vector<int32_t> pads, spans;
  for (auto& r : rows_) {
    if (!r.key) r.pad = end_;  // a free row sees only the column its dummy token writes
    positions_.push_back(r.key ? end_ - r.pad : 0);
    pads.push_back(r.pad);
    spans.insert(spans.end(), {r.pad, end_ + 1, columns_});
    padded = padded || r.pad > 0;
  }
  positions_array_ = mx::array(positions_.begin(), {rows()}, mx::int32);
  spans_ = mx::array(spans.begin(), {rows(), 3}, mx::int32);
  mask_.reset();
  if (padded) {
    auto first = mx::reshape(mx::array(pads.begin(), {rows()}, mx::int32), {rows(), 1, 1, 1});
    mask_ = mx::greater_equal(mx::arange(0, end_ + 1, mx::int32), first);
  }
  in_step_ = true;
}

std::pair<mx::array, mx::array> BatchKVCache::update(int layer, const mx::array& k, const mx::array& v) {
  if (!in_step_) throw Error("internal: decode batch update outside a step");
  auto& l = layers_.at(static_cast<std::size_t>(layer));
  if (k.shape(0) != rows() || k.shape(2) != 1) throw Error("internal: decode batch update must be one position a row");
  auto write = [&](mx::array& stored, const mx::array& x) {
    stored = mx::slice_update(stored, mx::astype(x, stored.dtype()), mx::Shape{0, 0, end_, 0},
                              mx::Shape{rows(), x.shape(1), end_ + 1, x.shape(3)});
    return range(stored, 2, 0, end_ + 1);
  };
  auto keys = write(*l.keys, k);
  auto values = write(*l.values, v);
  if (layer + 1 == static_cast<int>(layers_.size())) end_step_written();
  return {keys, values};
}

void BatchKVCache::end_step_written() {
  if (!in_step_) throw Error("internal: decode batch step ended outside a step");
  ++end_;
  in_step_ = false;
}

std::pair<mx::array, mx::array> BatchKVCache::buffers(int layer) const {
  const auto& l = layers_.at(static_cast<std::size_t>(layer));
  return {*l.keys, *l.values};
}

std::vector<mx::array> BatchKVCache::state() const {
  std::vector<mx::array> out;
  for (const auto& l : layers_)
    for (const auto* a : {&l.keys, &l.values})
      if (*a) out.push_back(**a);
  return out;
}

std::size_t BatchKVCache::nbytes() const {
  std::size_t total = 0;
  for (const auto& a : state()) total += a.nbytes();
  return total;
}

}  // namespace pensieve::model
