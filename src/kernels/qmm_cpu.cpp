#include "kernels/qmm_cpu.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/env_switch.h"
#include "kernels/cpu_dispatch.h"
#include "kernels/qmm_detail.h"
#include "kernels/swiglu_cpu.h"
#include "kernels/thread_pool.h"

namespace pensieve::kernels {

namespace {

// Scratch space for quantized activations, reused across calls (calls come from one MLX stream
// thread at a time; thread_local keeps concurrent callers apart anyway).
struct Scratch {
  std::vector<int8_t> q;
  std::vector<float> scale, sum;
};

const detail::IsaKernels* kernels_for(QmmIsa isa, const QmmProblem& p) {
  if (isa == QmmIsa::avx512vnni) {
    const auto* k = detail::avx512vnni_kernels();
    if (k && cpu_has_avx512vnni() && p.group_size % k->block == 0) return k;
    isa = QmmIsa::avx2;
  }
  if (isa == QmmIsa::avx2) {
    const auto* k = detail::avx2_kernels();
    if (k && cpu_has_avx2() && p.group_size % k->block == 0) return k;
  }
  return nullptr;
}

constexpr int64_t kActivationRowsPerTask = 64;

// Output rows per task: enough tasks for load balance, few enough that each streams a
// contiguous stretch of the weight. Decode (up to 8 activation rows, one pass of the tiled16
// kernels) takes guided_bounds' tasks, or with PENSIEVE_CPU_GUIDED_TASKS=0 two equal tasks a
// thread: either way each thread reads a few MB in one sequential stream first,
// which the prefetchers keep ahead of better than many 64-row stretches taken in turn by both
// threads (one row: a step 13 % faster with two threads; 4 and 8 rows 4-6 %: bench/README.md).
constexpr int64_t kDecodeRows = 8;

bool is_decode_pass(const QmmProblem& p) { return p.M <= kDecodeRows && p.layout == WeightLayout::tiled16; }

int64_t rows_per_task(const QmmProblem& p, int threads) {
  const bool one_stream = is_decode_pass(p);
  const int64_t per_thread = one_stream ? 2 : 8;
  int64_t rows = (p.N + threads * per_thread - 1) / (threads * per_thread);
  if (!one_stream) rows = std::clamp<int64_t>(rows, 8, 64);
  if (p.layout == WeightLayout::tiled16) rows = (rows + kTileRows - 1) / kTileRows * kTileRows;
  return rows;
}

// Decode's tasks as row bounds (guided): each 1 / (2 · threads) of what is left (a quarter with two
// threads), down to 64 rows, so the threads' first tasks are long contiguous streams and the last
// ones short: a thread that is ahead takes the short ones instead of waiting for another's last
// long task (two equal tasks a thread left both spinning for ~11 % of the kernel's time on a
// 2-core VM; guided: +10 % decode, bench/README.md).
const std::vector<int64_t>& guided_bounds(int64_t N, int threads) {
  thread_local std::vector<int64_t> bounds;
  bounds.assign(1, 0);
  for (int64_t at = 0; at < N;) {
    int64_t rows = std::max<int64_t>(64, (N - at + 2 * threads - 1) / (2 * threads));
    rows = (rows + kTileRows - 1) / kTileRows * kTileRows;
    at = std::min(N, at + rows);
    bounds.push_back(at);
  }
  return bounds;
}

}  // namespace

QmmIsa best_qmm_isa() {
  static const QmmIsa isa = cpu_has_avx512vnni() && detail::avx512vnni_kernels() ? QmmIsa::avx512vnni
                            : cpu_has_avx2() && detail::avx2_kernels()         ? QmmIsa::avx2
                                                                               : QmmIsa::scalar;
  return isa;
}

const char* qmm_isa_name(QmmIsa isa) {
  switch (isa) {
    case QmmIsa::avx512vnni: return "avx512vnni";
    case QmmIsa::avx2: return "avx2";
    case QmmIsa::scalar: return "scalar";
  }
  return "?";
}

bool tiled_layout_supported() { return cpu_has_avx2() && detail::avx2_kernels() != nullptr; }

bool qmm_supported(int bits, int group_size, int64_t K) {
  return (bits == 4 || bits == 8) && (group_size == 32 || group_size == 64 || group_size == 128) &&
         K > 0 && K % group_size == 0;
}

void quantized_matmul_cpu(const QmmProblem& p) { quantized_matmul_cpu(p, best_qmm_isa()); }

void quantized_matmul_cpu(const QmmProblem& problem, QmmIsa isa) {
  if (problem.M == 0 || problem.N == 0) return;
  ThreadPool& pool = ThreadPool::global();
  QmmProblem p = problem;
  if (p.input_op == InputOp::swiglu) {
    // The activation in a scratch buffer first (every kernel variant reads plain rows), split by
    // rows and, for one row, by columns so that decode uses every thread too.
    thread_local std::vector<float> activation;
    activation.resize(static_cast<size_t>(p.M * p.K));
    const float* x = p.x;
    float* a = activation.data();
    const int64_t K = p.K;
    if (p.M == 1) {
      const int64_t pieces = std::min<int64_t>(pool.threads(), std::max<int64_t>(1, K / 1024));
      pool.run(pieces, [&](int64_t t) {
        const int64_t k0 = K * t / pieces, k1 = K * (t + 1) / pieces;
        swiglu_span(x + k0, x + K + k0, a + k0, k1 - k0);
      });
    } else {
      pool.run(p.M, [&](int64_t m) { swiglu_rows(x, a, K, m, m + 1); });
    }
    p.x = a;
    p.input_op = InputOp::none;
  }
  const int64_t chunk = rows_per_task(p, pool.threads());
  const int64_t tasks = (p.N + chunk - 1) / chunk;
  const detail::IsaKernels* k = kernels_for(isa, p);
  detail::ComputeFn compute = k ? k->compute : nullptr;
  int block = k && p.bits == 4 ? k->block : 0;
  if (p.layout == WeightLayout::tiled16) {
    k = isa == QmmIsa::avx512vnni && cpu_has_avx512vnni() ? detail::avx512vnni_kernels() : nullptr;
    if (k == nullptr && cpu_has_avx2()) k = detail::avx2_kernels();
    if (k == nullptr || k->compute_tiled == nullptr || p.N % kTileRows != 0)
      throw std::invalid_argument("quantized_matmul_cpu: tiled16 weights need AVX2");
    compute = k->compute_tiled;
    block = p.bits == 4 ? k->tiled_block : 0;
  }
  if (k == nullptr) {
    pool.run(tasks, [&](int64_t t) {
      detail::compute_scalar(p, t * chunk, std::min(p.N, (t + 1) * chunk), 0, p.M);
    });
    return;
  }

  thread_local Scratch scratch;
  const int64_t groups = p.K / p.group_size;
  scratch.q.resize(static_cast<size_t>(p.M * p.K));
  scratch.scale.resize(static_cast<size_t>(p.M * groups));
  scratch.sum.resize(static_cast<size_t>(p.M * groups));
  const detail::QuantizedActivations a{scratch.q.data(), scratch.scale.data(), scratch.sum.data()};

  // Quantizing the activations is O(M·K) against the matmul's O(M·N·K): split it only when big.
  const int64_t rows_per_quant_task = std::max<int64_t>(1, (1 << 16) / p.K);
  const int64_t quant_tasks = (p.M + rows_per_quant_task - 1) / rows_per_quant_task;
  pool.run(quant_tasks, [&](int64_t t) {
    k->quantize_rows(p, a, t * rows_per_quant_task, std::min(p.M, (t + 1) * rows_per_quant_task),
                     block);
  });
  // Many activation rows (prefill) are split too, so that a task's rows of quantized
  // activations stay in L2 while its weight rows pass under them; consecutive tasks share their
  // weight rows, which then come from the shared L3.
  const int64_t m_tasks = (p.M + kActivationRowsPerTask - 1) / kActivationRowsPerTask;
  static const bool guided = env_switch("PENSIEVE_CPU_GUIDED_TASKS");  // 0: two equal tasks a thread
  if (guided && is_decode_pass(p) && pool.threads() > 1) {
    const std::vector<int64_t>& b = guided_bounds(p.N, pool.threads());
    pool.run(static_cast<int64_t>(b.size()) - 1, [&](int64_t t) { compute(p, a, b[t], b[t + 1], 0, p.M); });
    return;
  }
  pool.run(tasks * m_tasks, [&](int64_t t) {
    const int64_t n = t / m_tasks, m = t % m_tasks;
    compute(p, a, n * chunk, std::min(p.N, (n + 1) * chunk), m * kActivationRowsPerTask,
            std::min(p.M, (m + 1) * kActivationRowsPerTask));
  });
}

}  // namespace pensieve::kernels
