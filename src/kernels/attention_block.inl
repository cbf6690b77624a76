// The attention block kernels, compiled once per instruction set: attention_cpu.cpp includes it
// with the baseline flags, avx2/attention_avx2.cpp with AVX2+FMA+F16C, avx512/attention_avx512.cpp
// with AVX-512. This file's own kernel has keys in vector lanes; prompt chunks take the rows
// kernel of attention_rows.inl where the ISA has it. Plain loops written so the
// compiler vectorises them (no reductions across a loop's iterations, which it may not reorder).
// Include inside a namespace, after attention_detail.h (and <immintrin.h> where __F16C__ is
// defined: float16 rows are then converted by F16C); uses no library code.

namespace {

using detail::AttentionShape;
using detail::kKeyBlock;

constexpr float kMinScore = -3.0e38f;

// One query row of one head (the decode paths take a row a task): its query, where its output
// goes, and how many keys it sees.
struct Row {
  const float* q;
  float* out;
  int visible;  // keys this row sees
};

inline Row row_of(const AttentionShape& s, int b, int h, int i) {
  const AttentionSequence& seq = s.sequences[b];
  const int pos = seq.offset + i;
  const int64_t hd = s.head_dim;
  return {s.q + ((static_cast<int64_t>(b) * s.heads + h) * s.queries + i) * hd,
          s.out + ((static_cast<int64_t>(b) * s.queries + i) * s.heads + h) * hd,
          pos + 1 < seq.length ? pos + 1 : seq.length};
}

// float16 bits → float, exactly (subnormals, infinities and NaN payloads included). Branch-free:
// the three cases are computed and selected with masks, so loops over it vectorise.
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu;
  const uint32_t mantissa = h & 0x3ffu;
  const uint32_t normal = ((exponent + 112) << 23) | (mantissa << 13);
  const uint32_t special = 0x7f800000u | (mantissa << 13);  // infinity or NaN
  const uint32_t subnormal =
      __builtin_bit_cast(uint32_t, static_cast<float>(static_cast<int32_t>(mantissa)) * 0x1p-24f);
  const uint32_t is_subnormal = 0u - static_cast<uint32_t>(exponent == 0);
  const uint32_t is_special = 0u - static_cast<uint32_t>(exponent == 0x1f);
  return __builtin_bit_cast(float, sign | (subnormal & is_subnormal) | (special & is_special) |
                                       (normal & ~(is_subnormal | is_special)));
}

// n float16 values as floats: 8 at a time by F16C where the build has it, else half_to_float
// (which the compiler vectorises).
inline void halves_to_floats(const uint16_t* src, float* dst, int n) {
  int i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
#endif
  for (; i < n; ++i) dst[i] = half_to_float(src[i]);
}

inline float scale_at(const void* base, int64_t i, bool f16) {
  return f16 ? half_to_float(static_cast<const uint16_t*>(base)[i]) : static_cast<const float*>(base)[i];
}

// e^x for x ≤ 0 (scores minus their running maximum), to about 1 ulp: Cody–Waite range reduction
// and Cephes' polynomial, in a form the compiler vectorises (unlike a libm call).
inline float exp_nonpositive(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float n = __builtin_floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  float poly = 1.9875691500e-4f;
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  const float e = poly * r * r + r + 1.0f;
  const int32_t pow2 = (static_cast<int32_t>(n) + 127) << 23;
  return e * __builtin_bit_cast(float, pow2);
}

// Rows [j0, j0+n) of one head's keys or values, dequantized to floats. `transposed`: written as
// out[d * kKeyBlock + j] (keys, for the score product), else out[j * head_dim + d] (values).
// row_buffer: head_dim floats of scratch.
void load_rows(const AttentionShape& s, const KvRows& rows, int kv_head, int j0, int n, float* out,
               bool transposed, float* row_buffer) {
  const int hd = s.head_dim;
  const int64_t first = static_cast<int64_t>(kv_head) * rows.head_stride + j0;
  const auto put = [&](int j, int d, float v) {
    if (transposed)
      out[d * kKeyBlock + j] = v;
    else
      out[j * hd + d] = v;
  };
  if (s.bits == 0 && s.kv_f16) {  // rows converted into contiguous floats, then placed like quantized ones
    const uint16_t* src = static_cast<const uint16_t*>(rows.data) + first * hd;
    for (int j = 0; j < n; ++j) {
      float* dst = transposed ? row_buffer : out + static_cast<int64_t>(j) * hd;
      halves_to_floats(src + static_cast<int64_t>(j) * hd, dst, hd);
      if (transposed)
        for (int d = 0; d < hd; ++d) out[d * kKeyBlock + j] = row_buffer[d];
    }
    return;
  }
  if (s.bits == 0) {
    const float* src = static_cast<const float*>(rows.data) + first * hd;
    for (int j = 0; j < n; ++j)
      for (int d = 0; d < hd; ++d) put(j, d, src[j * hd + d]);
    return;
  }
  const int groups = hd / s.group_size;
  const int row_bytes = hd * s.bits / 8;
  const uint8_t* packed = static_cast<const uint8_t*>(rows.data) + first * row_bytes;
  for (int j = 0; j < n; ++j) {
    // A row is dequantized into contiguous floats first (loops the compiler vectorises), then
    // copied into its column when transposed.
    float* dst = transposed ? row_buffer : out + static_cast<int64_t>(j) * hd;
    const uint8_t* row = packed + static_cast<int64_t>(j) * row_bytes;
    for (int g = 0; g < groups; ++g) {
      const int64_t gi = (first + j) * groups + g;
      const float scale = scale_at(rows.scales, gi, s.scales_f16);
      const float bias = scale_at(rows.biases, gi, s.scales_f16);
      const int d0 = g * s.group_size;
      if (s.bits == 8) {
        for (int d = d0; d < d0 + s.group_size; ++d) dst[d] = scale * static_cast<float>(row[d]) + bias;
      } else {  // 4 bits: value d in the low nibble of byte d/2 when d is even, the high one if odd
        const uint8_t* bytes = row + d0 / 2;
        float* pair = dst + d0;
        for (int i = 0; i < s.group_size / 2; ++i) {
          pair[2 * i] = scale * static_cast<float>(bytes[i] & 0x0f) + bias;
          pair[2 * i + 1] = scale * static_cast<float>(bytes[i] >> 4) + bias;
        }
      }
    }
    if (transposed)
      for (int d = 0; d < hd; ++d) out[d * kKeyBlock + j] = row_buffer[d];
  }
}

// Keys in vector lanes: for decode (one row, or a few sharing a KV head) and where the rows kernel
// does not apply.
void attention_keys_in_lanes(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  const int hd = s.head_dim;
  const int group = s.heads / s.kv_heads;  // query heads per KV head
  const int nq = i1 - i0;
  const int rows = nq * group;  // row r: query i0 + r / group of head kv_head*group + r % group
  const AttentionSequence& seq = s.sequences[b];

  float* q = scratch;                       // [rows, hd], scaled
  float* acc = q + rows * hd;               // [rows, hd]
  float* scores = acc + rows * hd;          // [rows, kKeyBlock]
  float* row_max = scores + rows * kKeyBlock;
  float* row_sum = row_max + rows;
  float* keys = row_sum + rows;             // [hd, kKeyBlock], transposed
  float* values = keys + hd * kKeyBlock;    // [kKeyBlock, hd]
  float* row_buffer = values + hd * kKeyBlock;  // [hd]

  for (int r = 0; r < rows; ++r) {
    const int i = i0 + r / group, h = kv_head * group + r % group;
    const float* src = s.q + ((static_cast<int64_t>(b) * s.heads + h) * s.queries + i) * hd;
    for (int d = 0; d < hd; ++d) {
      q[r * hd + d] = src[d] * s.scale;
      acc[r * hd + d] = 0.0f;
    }
    row_max[r] = kMinScore;
    row_sum[r] = 0.0f;
  }

  // Keys any row of this task may see: up to the last query's position.
  const int visible_end = seq.offset + i1 < seq.length ? seq.offset + i1 : seq.length;
  for (int j0 = 0; j0 < visible_end; j0 += kKeyBlock) {
    const int n = visible_end - j0 < kKeyBlock ? visible_end - j0 : kKeyBlock;
    load_rows(s, seq.keys, kv_head, j0, n, keys, /*transposed=*/true, row_buffer);
    for (int j = n; j < kKeyBlock; ++j)
      for (int d = 0; d < hd; ++d) keys[d * kKeyBlock + j] = 0.0f;
    const float* vrows = values;
    if (s.bits == 0 && !s.kv_f16)  // float32 values are read where they are
      vrows = static_cast<const float*>(seq.values.data) +
              (static_cast<int64_t>(kv_head) * seq.values.head_stride + j0) * hd;
    else
      load_rows(s, seq.values, kv_head, j0, n, values, /*transposed=*/false, row_buffer);

    for (int r = 0; r < rows; ++r) {
      // Keys j < limit of this block are visible to row r (causal with offset).
      const int pos = seq.offset + i0 + r / group;
      int limit = (pos + 1 < seq.length ? pos + 1 : seq.length) - j0;
      if (limit <= 0) continue;
      if (limit > n) limit = n;
      float* sc = scores + r * kKeyBlock;
      const float* qr = q + r * hd;
      for (int j = 0; j < kKeyBlock; ++j) sc[j] = 0.0f;
      for (int d = 0; d < hd; ++d) {
        const float qd = qr[d];
        const float* kd = keys + d * kKeyBlock;
        for (int j = 0; j < kKeyBlock; ++j) sc[j] += qd * kd[j];
      }
      for (int j = 0; j < kKeyBlock; ++j) sc[j] = j < limit ? sc[j] : kMinScore;
      float lane_max[8];
      for (int l = 0; l < 8; ++l) lane_max[l] = sc[l];
      for (int j = 8; j < kKeyBlock; j += 8)
        for (int l = 0; l < 8; ++l) lane_max[l] = sc[j + l] > lane_max[l] ? sc[j + l] : lane_max[l];
      float block_max = row_max[r];
      for (int l = 0; l < 8; ++l) block_max = lane_max[l] > block_max ? lane_max[l] : block_max;
      const float correction = exp_nonpositive(row_max[r] - block_max);
      float lane_sum[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int j = 0; j < kKeyBlock; j += 8)
        for (int l = 0; l < 8; ++l) {
          const float e = j + l < limit ? exp_nonpositive(sc[j + l] - block_max) : 0.0f;
          sc[j + l] = e;
          lane_sum[l] += e;
        }
      float block_sum = 0.0f;
      for (int l = 0; l < 8; ++l) block_sum += lane_sum[l];
      row_sum[r] = row_sum[r] * correction + block_sum;
      row_max[r] = block_max;
      float* ar = acc + r * hd;
      for (int d = 0; d < hd; ++d) ar[d] *= correction;
      for (int j = 0; j < limit; ++j) {
        const float p = sc[j];
        const float* vj = vrows + j * hd;
        for (int d = 0; d < hd; ++d) ar[d] += p * vj[d];
      }
    }
  }

  for (int r = 0; r < rows; ++r) {
    const int i = i0 + r / group, h = kv_head * group + r % group;
    float* dst = s.out + ((static_cast<int64_t>(b) * s.queries + i) * s.heads + h) * hd;
    const float inv = row_sum[r] > 0.0f ? 1.0f / row_sum[r] : 0.0f;
    for (int d = 0; d < hd; ++d) dst[d] = acc[r * hd + d] * inv;
  }
}

// The rows kernel where the ISA file has 256-bit vectors or wider (the baseline build's vectors
// would be passed in halves, and it serves CPUs that are not the target of speed here).
#if defined(__AVX2__)
#include "kernels/attention_rows.inl"

void attention_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  if (rows_kernel_takes((i1 - i0) * (s.heads / s.kv_heads), s.head_dim))
    attention_rows(s, b, kv_head, i0, i1, scratch);
  else
    attention_keys_in_lanes(s, b, kv_head, i0, i1, scratch);
}
#else
void attention_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  attention_keys_in_lanes(s, b, kv_head, i0, i1, scratch);
}
#endif

}  // namespace
