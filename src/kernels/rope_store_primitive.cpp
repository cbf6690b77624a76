#include "kernels/rope_store_primitive.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include <mlx/backend/cpu/encoder.h>

#include "common/error.h"
#include "kernels/rope_rows.h"
#include "kernels/strided_input.h"

namespace pensieve::kernels {

namespace {

using half = mx::float16_t;

// A buffer's output: the input's own memory where MLX may donate it (as its slice update does),
// else a fresh one that the task fills with a copy first. Returns whether a copy is wanted.
bool take_buffer(const mx::array& in, mx::array& out) {
  if (in.is_donatable() && in.flags().row_contiguous) {
    out.copy_shared_buffer(in);
    return false;
  }
  out.set_data(mx::allocator::malloc(out.nbytes()));
  return true;
}

// out (row-contiguous) = in, any strides, float16 [1, KV, cap, hd].
void copy_buffer(const mx::array& in, mx::array& out) {
  std::vector<std::byte> storage;
  const void* dense = dense_data(in, storage);
  std::memcpy(out.data<half>(), dense, out.nbytes());
}

// The part's positions offset … offset+L−1 from the rows of x ([L][(H + 2·KV)·hd]): queries
// rotated into out ([H][L][hd] float32); keys rotated, or values, into the buffer out
// ([KV][cap][hd] float16), rounded as a cast to float16 rounds.
void write_positions(CpuRopeStore::Part part, const CpuRopeStore::Params& p, const float* x, int L,
                     void* out, std::size_t cap) {
  using Part = CpuRopeStore::Part;
  const int H = p.heads, KV = p.kv_heads, hd = p.head_dim;
  const std::size_t width = static_cast<std::size_t>(H + 2 * KV) * hd;
  std::vector<float> rotated(static_cast<std::size_t>(hd));
  for (int l = 0; l < L; ++l) {
    const float* row = x + l * width;
    const float* cs = part == Part::values ? nullptr : p.cos_sin->data() + static_cast<std::size_t>(l) * (p.dims / 2) * 2;
    if (part == Part::queries) {
      for (int h = 0; h < H; ++h)
        rotate_row(row + static_cast<std::size_t>(h) * hd, 1, cs, p.dims, hd, p.attention_factor,
                   static_cast<float*>(out) + (static_cast<std::size_t>(h) * L + l) * hd);
      continue;
    }
    const std::size_t column = static_cast<std::size_t>(p.offset + l);
    for (int h = 0; h < KV; ++h) {
      const float* src = row + static_cast<std::size_t>((part == Part::keys ? H : H + KV) + h) * hd;
      if (part == Part::keys) {
        rotate_row(src, 1, cs, p.dims, hd, p.attention_factor, rotated.data());
        src = rotated.data();
      }
      half* dst = static_cast<half*>(out) + (static_cast<std::size_t>(h) * cap + column) * hd;
      for (int i = 0; i < hd; ++i) dst[i] = static_cast<half>(src[i]);
    }
  }
}

}  // namespace

void CpuRopeStore::eval_cpu(const std::vector<mx::array>& inputs, mx::array& out) {
  const mx::array& qkv = inputs[0];
  const int L = qkv.shape(1);
  if (qkv.dtype() != mx::float32 || qkv.ndim() != 3 || qkv.shape(0) != 1 ||
      qkv.shape(2) != (p_.heads + 2 * p_.kv_heads) * p_.head_dim)
    throw Error("PensieveCpuRopeStore: qkv must be float32 [1, L, (heads + 2·kv_heads)·head_dim]");
  if (part_ != Part::values && (!p_.cos_sin || p_.cos_sin->size() != static_cast<std::size_t>(L) * (p_.dims / 2) * 2))
    throw Error("PensieveCpuRopeStore: the rotation table does not fit these positions");
  bool copy = false;
  if (part_ == Part::queries) {
    out.set_data(mx::allocator::malloc(out.nbytes()));
  } else {
    const mx::array& buffer = inputs[1];
    if (buffer.dtype() != mx::float16 || buffer.ndim() != 4 || buffer.shape(1) != p_.kv_heads ||
        buffer.shape(3) != p_.head_dim || buffer.shape(2) < p_.offset + L)
      throw Error("PensieveCpuRopeStore: a KV buffer must be float16 [1, kv_heads, capacity, head_dim] with room");
    copy = take_buffer(buffer, out);
  }
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) encoder.set_input_array(in);
  encoder.set_output_array(out);
  encoder.dispatch([qkv = mx::array::unsafe_weak_copy(qkv),
                    buffer = mx::array::unsafe_weak_copy(inputs.size() > 1 ? inputs[1] : inputs[0]),
                    out = mx::array::unsafe_weak_copy(out), copy, part = part_, p = p_]() mutable {
    if (copy) copy_buffer(buffer, out);
    std::vector<std::byte> storage;
    write_positions(part, p, dense_floats(qkv, storage), qkv.shape(1), out.data<void>(),
                    part == Part::queries ? 0 : static_cast<std::size_t>(out.shape(2)));
  });
}

void CpuRopeStore::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw Error("PensieveCpuRopeStore runs on the CPU only");
}

bool CpuRopeStore::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const CpuRopeStore&>(other);
  return part_ == o.part_ && p_.heads == o.p_.heads && p_.kv_heads == o.p_.kv_heads && p_.head_dim == o.p_.head_dim &&
         p_.dims == o.p_.dims && p_.divisors == o.p_.divisors && p_.position_scale == o.p_.position_scale &&
         p_.attention_factor == o.p_.attention_factor && p_.offset == o.p_.offset;
}

std::vector<mx::Shape> CpuRopeStore::output_shapes(const std::vector<mx::array>& inputs) {
  if (part_ == Part::queries) return {{1, p_.heads, inputs[0].shape(1), p_.head_dim}};
  return {inputs[1].shape()};
}

}  // namespace pensieve::kernels
