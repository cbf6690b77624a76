// Prompt chunks with query rows in vector lanes, included by attention_block.inl (inside its
// namespace, after load_rows). A chunk's rows see mostly the same keys, so each key block is
// dequantized into floats once a task and every product is a small matrix product with the rows
// along the vector: scores s[j][rows] = Σ_d k[j][d]·qᵀ[d][rows] (a key's value broadcast, the
// queries transposed once a task), the online softmax per lane (row), and acc[d][rows] +=
// Σ_j v[j][d]·p[j][rows]. Register tiles of keys × row vectors keep loads to a few per
// multiply-add; the keys-in-lanes block kernel instead went through memory for every one, and
// held a 512-token chunk at 2048-8192 positions to 17-26 GFLOP/s on two AVX2 cores.
// Written with GCC vector extensions, so each ISA file's flags give it its own registers: 16
// lanes under AVX-512, 8 otherwise.

#if defined(__AVX512F__)
constexpr int kRowLanes = 16;
constexpr int kScoreKeys = 8;  // keys a score tile (× row vectors: 16 accumulators of 32 registers)
constexpr int kValueDims = 8;  // dimensions a value tile
#else
constexpr int kRowLanes = 8;
constexpr int kScoreKeys = 2;  // 16 registers: 2 keys × 4 row vectors, the rows' queries, a broadcast
constexpr int kValueDims = 2;
#endif
constexpr int kMaxRowVectors = 32 / kRowLanes;  // rows a task: kTargetRows (attention_cpu.cpp)

typedef float RowVec __attribute__((vector_size(kRowLanes * sizeof(float))));
typedef int32_t RowMask __attribute__((vector_size(kRowLanes * sizeof(int32_t))));

inline RowVec splat(float v) { return RowVec{} + v; }
inline RowVec select(RowMask m, RowVec a, RowVec b) {
  return __builtin_bit_cast(RowVec, (__builtin_bit_cast(RowMask, a) & m) | (__builtin_bit_cast(RowMask, b) & ~m));
}

// exp_nonpositive (above) on every lane: floor by truncation (x·log2 e + ½ ≤ ½ here) and a step
// down where that rounded up.
inline RowVec exp_nonpositive_lanes(RowVec x) {
  x = select(x < splat(-87.0f), splat(-87.0f), x);
  const RowVec y = x * 1.44269504088896341f + 0.5f;
  RowVec n = __builtin_convertvector(__builtin_convertvector(y, RowMask), RowVec);
  n = select(y < n, n - 1.0f, n);
  RowVec r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  RowVec poly = splat(1.9875691500e-4f);
  poly = poly * r + 1.3981999507e-3f;
  poly = poly * r + 8.3334519073e-3f;
  poly = poly * r + 4.1665795894e-2f;
  poly = poly * r + 1.6666665459e-1f;
  poly = poly * r + 5.0000001201e-1f;
  const RowVec e = poly * r * r + r + 1.0f;
  const RowMask pow2 = (__builtin_convertvector(n, RowMask) + 127) << 23;
  return e * __builtin_bit_cast(RowVec, pow2);
}

// Scores of keys [0, n) (n a multiple of kScoreKeys; kb zero past the real ones) into p[j][rv].
template <int RV>
void row_scores(const float* kb, const RowVec* qt, int hd, int n, RowVec* p) {
  for (int j = 0; j < n; j += kScoreKeys) {
    RowVec t[kScoreKeys][RV] = {};
    for (int d = 0; d < hd; ++d) {
      RowVec q[RV];
      for (int v = 0; v < RV; ++v) q[v] = qt[d * RV + v];
      for (int k = 0; k < kScoreKeys; ++k) {
        const RowVec key = splat(kb[(j + k) * hd + d]);
        for (int v = 0; v < RV; ++v) t[k][v] += key * q[v];
      }
    }
    for (int k = 0; k < kScoreKeys; ++k)
      for (int v = 0; v < RV; ++v) p[(j + k) * RV + v] = t[k][v];
  }
}

// acc[d][rv] = acc[d][rv]·correction[rv] + Σ_j vb[j][d]·p[j][rv] (hd a multiple of kValueDims).
template <int RV>
void row_values(const float* vb, const RowVec* p, int hd, int n, const RowVec* correction, RowVec* acc) {
  for (int d = 0; d < hd; d += kValueDims) {
    RowVec t[kValueDims][RV];
    for (int e = 0; e < kValueDims; ++e)
      for (int v = 0; v < RV; ++v) t[e][v] = acc[(d + e) * RV + v] * correction[v];
    for (int j = 0; j < n; ++j) {
      RowVec w[RV];
      for (int v = 0; v < RV; ++v) w[v] = p[j * RV + v];
      for (int e = 0; e < kValueDims; ++e) {
        const RowVec value = splat(vb[j * hd + d + e]);
        for (int v = 0; v < RV; ++v) t[e][v] += value * w[v];
      }
    }
    for (int e = 0; e < kValueDims; ++e)
      for (int v = 0; v < RV; ++v) acc[(d + e) * RV + v] = t[e][v];
  }
}

template <int RV>
void attention_rows_task(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  const int hd = s.head_dim;
  const int group = s.heads / s.kv_heads;
  const int rows = (i1 - i0) * group;  // row r: query i0 + r / group of head kv_head*group + r % group
  const AttentionSequence& seq = s.sequences[b];
  // 64-byte aligned pieces of the scratch (attention_scratch_floats counts them at 16 lanes).
  auto take = [&scratch](int64_t floats) {
    float* at = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(scratch) + 63) & ~uintptr_t{63});
    scratch = at + floats;
    return at;
  };
  RowVec* qt = reinterpret_cast<RowVec*>(take(static_cast<int64_t>(hd) * RV * kRowLanes));   // [hd][RV]
  RowVec* acc = reinterpret_cast<RowVec*>(take(static_cast<int64_t>(hd) * RV * kRowLanes));  // [hd][RV]
  RowVec* p = reinterpret_cast<RowVec*>(take(static_cast<int64_t>(kKeyBlock) * RV * kRowLanes));  // [key][RV]
  float* kb = take(static_cast<int64_t>(kKeyBlock) * hd);  // [key][hd]
  float* vb = take(static_cast<int64_t>(kKeyBlock) * hd);
  float* row_buffer = take(hd);

  // Queries transposed and scaled; a lane's position (−1: no row there, it sees no key).
  RowVec pos[RV], row_max[RV], row_sum[RV];
  for (int v = 0; v < RV; ++v) {
    for (int l = 0; l < kRowLanes; ++l) {
      const int r = v * kRowLanes + l;
      pos[v][l] = r < rows ? static_cast<float>(seq.offset + i0 + r / group) : -1.0f;
      const float* src = r < rows ? s.q + ((static_cast<int64_t>(b) * s.heads + kv_head * group + r % group) * s.queries +
                                           i0 + r / group) * hd
                                  : nullptr;
      for (int d = 0; d < hd; ++d) qt[d * RV + v][l] = src ? src[d] * s.scale : 0.0f;
    }
    row_max[v] = splat(kMinScore);
    row_sum[v] = RowVec{};
  }
  for (int i = 0; i < hd * RV; ++i) acc[i] = RowVec{};

  const int visible_end = seq.offset + i1 < seq.length ? seq.offset + i1 : seq.length;
  for (int j0 = 0; j0 < visible_end; j0 += kKeyBlock) {
    const int n = visible_end - j0 < kKeyBlock ? visible_end - j0 : kKeyBlock;
    const int padded = (n + kScoreKeys - 1) / kScoreKeys * kScoreKeys;
    load_rows(s, seq.keys, kv_head, j0, n, kb, /*transposed=*/false, row_buffer);
    for (int i = n * hd; i < padded * hd; ++i) kb[i] = 0.0f;
    load_rows(s, seq.values, kv_head, j0, n, vb, /*transposed=*/false, row_buffer);
    row_scores<RV>(kb, qt, hd, padded, p);

    RowVec correction[RV];
    for (int v = 0; v < RV; ++v) {
      RowVec block_max = row_max[v];
      for (int j = 0; j < n; ++j) {
        const RowVec sc = select(pos[v] >= splat(static_cast<float>(j0 + j)), p[j * RV + v], splat(kMinScore));
        p[j * RV + v] = sc;
        block_max = select(sc > block_max, sc, block_max);
      }
      correction[v] = exp_nonpositive_lanes(row_max[v] - block_max);
      RowVec total{};
      for (int j = 0; j < n; ++j) {
        const RowVec e = select(pos[v] >= splat(static_cast<float>(j0 + j)),
                                exp_nonpositive_lanes(p[j * RV + v] - block_max), RowVec{});
        p[j * RV + v] = e;
        total += e;
      }
      row_sum[v] = row_sum[v] * correction[v] + total;
      row_max[v] = block_max;
    }
    row_values<RV>(vb, p, hd, n, correction, acc);
  }

  for (int r = 0; r < rows; ++r) {
    const int v = r / kRowLanes, l = r % kRowLanes;
    const int i = i0 + r / group, h = kv_head * group + r % group;
    float* dst = s.out + ((static_cast<int64_t>(b) * s.queries + i) * s.heads + h) * hd;
    const float sum = row_sum[v][l];
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (int d = 0; d < hd; ++d) dst[d] = acc[d * RV + v][l] * inv;
  }
}

// Whether the rows kernel takes a task of `rows` rows: enough to fill its vectors, few enough for
// its tiles, and a head width its value tiles divide.
inline bool rows_kernel_takes(int rows, int hd) {
  return rows >= kRowLanes && rows <= kMaxRowVectors * kRowLanes && hd % kValueDims == 0;
}

inline void attention_rows(const AttentionShape& s, int b, int kv_head, int i0, int i1, float* scratch) {
  const int rows = (i1 - i0) * (s.heads / s.kv_heads);
  switch ((rows + kRowLanes - 1) / kRowLanes) {
    case 1: attention_rows_task<1>(s, b, kv_head, i0, i1, scratch); break;
    case 2: attention_rows_task<2>(s, b, kv_head, i0, i1, scratch); break;
#if !defined(__AVX512F__)
    case 3: attention_rows_task<3>(s, b, kv_head, i0, i1, scratch); break;
    case 4: attention_rows_task<4>(s, b, kv_head, i0, i1, scratch); break;
#endif
    default: break;
  }
}
