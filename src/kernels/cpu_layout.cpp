#include "kernels/cpu_layout.h"

#include "kernels/qmm_cpu.h"

namespace pensieve::kernels {

mx::array to_tiled16(const mx::array& rows) {
  const int N = rows.shape(0), C = rows.shape(1);
  auto t = mx::reshape(mx::transpose(mx::reshape(rows, {N / kTileRows, kTileRows, C}), {0, 2, 1}),
                       {N, C});
  t = mx::contiguous(t);
  mx::eval(t);
  return t;
}

mx::array from_tiled16(const mx::array& tiled) {
  const int N = tiled.shape(0), C = tiled.shape(1);
  return mx::reshape(
      mx::transpose(mx::reshape(tiled, {N / kTileRows, C, kTileRows}), {0, 2, 1}), {N, C});
}

mx::array take_tiled16_rows(const mx::array& tiled, const mx::array& ids) {
  const int N = tiled.shape(0), C = tiled.shape(1);
  auto flat = mx::astype(mx::flatten(ids), mx::int32);
  const int n = flat.shape(0);
  auto tiles = mx::take(mx::reshape(tiled, {N / kTileRows, C, kTileRows}),
                        mx::floor_divide(flat, mx::array(kTileRows)), 0);  // [n, C, 16]
  auto lane = mx::reshape(mx::remainder(flat, mx::array(kTileRows)), {n, 1, 1});
  auto rows = mx::take_along_axis(tiles, mx::broadcast_to(lane, {n, C, 1}), 2);  // [n, C, 1]
  auto shape = ids.shape();
  shape.push_back(C);
  return mx::reshape(rows, shape);
}

}  // namespace pensieve::kernels
