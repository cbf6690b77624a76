// Which one-row decode kernel takes a task, shared by the AVX2 and AVX-512 attention files.
// Include inside their namespace after their templates decode_row_float<T, C> (C = head_dim /
// kFloatLanes) and decode_row_quantized<BITS, W> (W = head_dim·BITS/32 words), with kFloatLanes
// (floats a vector) and kMaxScaleGroups (a row's quantization groups one vector of scales holds)
// defined.

template <int BITS>
bool decode_quantized(const AttentionShape& s, int b, int h, int i) {
  switch (s.head_dim * BITS / 32) {
    case 4: decode_row_quantized<BITS, 4>(s, b, h, i); return true;
    case 8: decode_row_quantized<BITS, 8>(s, b, h, i); return true;
    case 12: decode_row_quantized<BITS, 12>(s, b, h, i); return true;
    case 16: decode_row_quantized<BITS, 16>(s, b, h, i); return true;
    case 24: decode_row_quantized<BITS, 24>(s, b, h, i); return true;
    case 32: decode_row_quantized<BITS, 32>(s, b, h, i); return true;
    default: return false;
  }
}

template <class T>
bool decode_float(const AttentionShape& s, int b, int h, int i) {
  switch (s.head_dim) {
    case 32: decode_row_float<T, 32 / kFloatLanes>(s, b, h, i); return true;
    case 64: decode_row_float<T, 64 / kFloatLanes>(s, b, h, i); return true;
    case 96: decode_row_float<T, 96 / kFloatLanes>(s, b, h, i); return true;
    case 128: decode_row_float<T, 128 / kFloatLanes>(s, b, h, i); return true;
    default: return false;
  }
}

// Whether the one-row path took this task (one query row, no grouped-query sharing).
bool decode_task(const AttentionShape& s, int b, int kv_head, int i0, int i1) {
  if (i1 - i0 != 1 || s.heads != s.kv_heads) return false;
  if (s.bits == 0) return s.kv_f16 ? decode_float<uint16_t>(s, b, kv_head, i0) : decode_float<float>(s, b, kv_head, i0);
  // Groups as whole words (checked by KVCache), one vector of scales a row.
  if (s.head_dim % s.group_size != 0 || s.head_dim / s.group_size > kMaxScaleGroups) return false;
  if (s.bits == 8) return decode_quantized<8>(s, b, kv_head, i0);
  if (s.bits == 4) return decode_quantized<4>(s, b, kv_head, i0);
  return false;
}
