#include "kernels/attention_cpu.h"

#include <algorithm>
#include <vector>

#include "common/error.h"
#include "kernels/cpu_dispatch.h"
#include "kernels/thread_pool.h"

#if defined(__F16C__)  // a baseline with F16C: attention_block.inl converts float16 rows with it
#include <immintrin.h>
#endif

namespace pensieve::kernels {

namespace detail::attention_portable {
#include "kernels/attention_block.inl"
}  // namespace detail::attention_portable

namespace detail {
AttentionTaskFn portable_attention_task() { return &attention_portable::attention_task; }
#ifndef PENSIEVE_X86_KERNELS
AttentionTaskFn avx2_attention_task() { return nullptr; }
AttentionTaskFn avx512_attention_task() { return nullptr; }
#endif
}  // namespace detail

namespace {

// Query rows per task: enough to reuse each loaded key block several times, few enough that a
// task's scratch stays in the L1/L2 caches.
constexpr int kTargetRows = 32;

detail::AttentionTaskFn task_for(AttentionIsa isa) {
  switch (isa) {
    case AttentionIsa::avx512: return detail::avx512_attention_task();
    case AttentionIsa::avx2: return detail::avx2_attention_task();
    case AttentionIsa::portable: break;
  }
  return detail::portable_attention_task();
}

}  // namespace

std::vector<AttentionIsa> available_attention_isas() {
  std::vector<AttentionIsa> out{AttentionIsa::portable};
  if (detail::avx2_attention_task() && cpu_has_avx2()) out.push_back(AttentionIsa::avx2);
  if (detail::avx512_attention_task() && cpu_has_avx512()) out.push_back(AttentionIsa::avx512);
  return out;
}

AttentionIsa best_attention_isa() {
  static const AttentionIsa isa = available_attention_isas().back();
  return isa;
}

bool attention_supported(int heads, int kv_heads, int head_dim, int bits, int group_size) {
  if (heads <= 0 || kv_heads <= 0 || heads % kv_heads != 0 || head_dim <= 0 || head_dim % 8 != 0)
    return false;
  if (bits == 0) return true;
  return (bits == 4 || bits == 8) && group_size > 0 && group_size % 2 == 0 && head_dim % group_size == 0;
}

void attention_cpu(const AttentionProblem& p, AttentionIsa isa) {
  if (!attention_supported(p.heads, p.kv_heads, p.head_dim, p.bits, p.group_size))
    throw Error("attention_cpu: unsupported heads, head_dim, bits or group size");
  if (static_cast<int>(p.sequences.size()) != p.batch) throw Error("attention_cpu: one sequence per batch row");
  if (p.batch == 0 || p.queries == 0) return;
  detail::AttentionTaskFn task = task_for(isa);
  if (!task) task = detail::portable_attention_task();

  const detail::AttentionShape shape{p.q,          p.out,      p.sequences.data(), p.batch,
                                     p.heads,      p.kv_heads, p.queries,          p.head_dim,
                                     p.scale,      p.bits,     p.group_size,       p.scales_f16,
                                     p.kv_f16};
  const int group = p.heads / p.kv_heads;
  const int block = std::clamp(kTargetRows / group, 1, p.queries);
  const int blocks = (p.queries + block - 1) / block;
  const int64_t tasks = static_cast<int64_t>(p.batch) * p.kv_heads * blocks;
  const int64_t scratch_floats = detail::attention_scratch_floats(static_cast<int64_t>(block) * group, p.head_dim);
  ThreadPool::global().run(tasks, [&](int64_t t) {
    thread_local std::vector<float> scratch;
    if (static_cast<int64_t>(scratch.size()) < scratch_floats) scratch.resize(static_cast<std::size_t>(scratch_floats));
    const int qb = static_cast<int>(t % blocks);
    const int kv_head = static_cast<int>((t / blocks) % p.kv_heads);
    const int b = static_cast<int>(t / blocks / p.kv_heads);
    const int i0 = qb * block;
    task(shape, b, kv_head, i0, std::min(i0 + block, p.queries), scratch.data());
  });
}

}  // namespace pensieve::kernels
