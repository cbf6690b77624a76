#pragma once
// The rotary embedding's arithmetic for one head's row, shared by the CPU nodes that rotate
// (rope_primitive.h, rope_store_primitive.h): both must give the same bits for the same row.
#include <cstdint>
#include <vector>

namespace pensieve::kernels {

// cos and sin of each pair's angle at positions offset … offset+rows−1, [rows][dims/2][2]. Angles
// in double: at positions near 128k a float angle would be off by ~0.01 rad.
std::vector<float> rope_cos_sin(int dims, const std::vector<float>& divisors, float position_scale, int offset,
                                int rows);

// out[0 … hd) = the row (elements `stride` apart) with its first `dims` features rotated, feature
// i paired with i + dims/2, each times `factor` first (cs: one position's dims/2 cos/sin pairs);
// features past dims as they are.
inline void rotate_row(const float* row, std::int64_t stride, const float* cs, int dims, int hd, float factor,
                       float* out) {
  const int half = dims / 2;
  for (int i = 0; i < half; ++i) {
    const float x1 = row[i * stride] * factor;
    const float x2 = row[(i + half) * stride] * factor;
    const float c = cs[2 * i], sn = cs[2 * i + 1];
    out[i] = x1 * c - x2 * sn;
    out[i + half] = x1 * sn + x2 * c;
  }
  for (int i = dims; i < hd; ++i) out[i] = row[i * stride];
}

}  // namespace pensieve::kernels
