// What plain reads reach on this GPU, as one decode step's matrices are read: each matrix by a
// kernel of its own, in the step's order (per layer qkv 15.9 MB, o 5.3, gate_up 28.3, down 14.2;
// lm_head 53 MB last), against the same bytes read by one large kernel. It bounds what any
// kernel-per-matrix decoder can reach (bench/gpu/README.md, ninth round); and by one persistent
// kernel that reads them in the same order with every block meeting the others at a grid-wide
// barrier between two matrices, as a decoder fused into one kernel a step would (twelfth round).
// Own code, built by hand:
//   nvcc -O3 -arch=sm_90 -o read_chain bench/gpu/read_chain.cu && ./read_chain
// Prints one JSON object a line.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#define CHECK(x)                                                              \
  do {                                                                        \
    cudaError_t e_ = (x);                                                     \
    if (e_ != cudaSuccess) {                                                  \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_));           \
      std::exit(1);                                                           \
    }                                                                         \
  } while (0)

// The words i, i + stride, … below n (streaming loads, four in flight), folded into one by xor.
__device__ __forceinline__ unsigned fold_words(const uint4* __restrict__ p, size_t i, size_t n, size_t stride) {
  unsigned acc = 0;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 b = __ldcs(p + i), c = __ldcs(p + i + stride), d = __ldcs(p + i + 2 * stride),
                e = __ldcs(p + i + 3 * stride);
    acc ^= b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w ^ e.x ^ e.y ^ e.z ^ e.w;
  }
  for (; i < n; i += stride) {
    const uint4 b = __ldcs(p + i);
    acc ^= b.x ^ b.y ^ b.z ^ b.w;
  }
  return acc;
}

// Reads n 16-byte words (streaming loads, four in flight a thread) and folds them into one word a
// block, written only if it matches a value no data here has (so the loads are not dropped).
// OVERLAP: launched with programmatic dependent launch, it issues its first loads, lets the next
// kernel start and waits for the previous one, as Pensieve's decoder kernels do.
template <bool OVERLAP>
__global__ void read_words(const uint4* __restrict__ p, size_t n, unsigned* sink) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  const uint4 a = i < n ? __ldcs(p + i) : make_uint4(0, 0, 0, 0);
  if (OVERLAP) {
    asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
  }
  const unsigned acc = a.x ^ a.y ^ a.z ^ a.w ^ fold_words(p, i + stride, n, stride);
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

struct Buffer {
  uint4* p;
  size_t words;
};

// Every block of the grid arrives, then all go on: the last to arrive resets the count and moves
// the generation on (release); the others spin on it (acquire). All blocks must be resident
// (cooperative launch).
__device__ __forceinline__ void grid_barrier(unsigned* count, unsigned* generation) {
  __syncthreads();
  if (threadIdx.x == 0) {
    unsigned gen, arrived;
    asm volatile("ld.relaxed.gpu.u32 %0, [%1];" : "=r"(gen) : "l"(generation) : "memory");
    asm volatile("atom.acq_rel.gpu.add.u32 %0, [%1], 1;" : "=r"(arrived) : "l"(count) : "memory");
    if (arrived == gridDim.x - 1) {
      asm volatile("st.relaxed.gpu.u32 [%0], 0;" ::"l"(count) : "memory");
      asm volatile("red.release.gpu.add.u32 [%0], 1;" ::"l"(generation) : "memory");
    } else {
      unsigned now;
      do {
        asm volatile("ld.acquire.gpu.u32 %0, [%1];" : "=r"(now) : "l"(generation) : "memory");
      } while (now == gen);
    }
  }
  __syncthreads();
}

// The step's matrices in order, one grid for all of them, a grid barrier after each (where the
// decoder's next product would wait for this one's output). AHEAD: a thread's first AHEAD words
// of the next matrix are requested before the barrier (as a fused decoder would ask for its next
// weights while it waits; a GEMV block holds 3 a thread), so the memory pipeline need not drain
// at every barrier.
template <int AHEAD>
__global__ void read_persistent(const Buffer* bufs, int n_bufs, unsigned* barrier, unsigned* sink) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  const size_t first = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  unsigned acc = 0;
  uint4 ahead[AHEAD > 0 ? AHEAD : 1];
  auto request = [&](const Buffer& b) {
#pragma unroll
    for (int k = 0; k < AHEAD; ++k) {
      const size_t i = first + k * stride;
      ahead[k] = i < b.words ? __ldcs(b.p + i) : make_uint4(0, 0, 0, 0);
    }
  };
  request(bufs[0]);
  for (int m = 0; m < n_bufs; ++m) {
    const uint4* p = bufs[m].p;
    const size_t n = bufs[m].words;
#pragma unroll
    for (int k = 0; k < AHEAD; ++k) acc ^= ahead[k].x ^ ahead[k].y ^ ahead[k].z ^ ahead[k].w;
    acc ^= fold_words(p, first + AHEAD * stride, n, stride);
    if (m + 1 < n_bufs) request(bufs[m + 1]);
    grid_barrier(barrier, barrier + 1);
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

// GB/s of `bytes` read by each of `rounds` calls of enqueue_round (one call first, untimed, to
// warm), timed by events on stream s.
template <class F>
double timed_gbps(size_t bytes, int rounds, cudaStream_t s, F&& enqueue_round) {
  enqueue_round();
  cudaEvent_t t0, t1;
  CHECK(cudaEventCreate(&t0));
  CHECK(cudaEventCreate(&t1));
  CHECK(cudaEventRecord(t0, s));
  for (int r = 0; r < rounds; ++r) enqueue_round();
  CHECK(cudaEventRecord(t1, s));
  CHECK(cudaEventSynchronize(t1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, t0, t1));
  CHECK(cudaEventDestroy(t0));
  CHECK(cudaEventDestroy(t1));
  return (double)bytes * rounds / (ms * 1e-3) / 1e9;
}

// GB/s of reading every buffer in order, `rounds` times, by one cooperative launch a round.
template <int AHEAD>
double persistent(const std::vector<Buffer>& bufs, int per_sm, int sms, int rounds, cudaStream_t s,
                  unsigned* sink) {
  int fit = 0;
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fit, read_persistent<AHEAD>, 256, 0));
  if (fit < per_sm) return 0.0;  // not all resident: a grid barrier would never open
  size_t bytes = 0;
  for (const auto& b : bufs) bytes += b.words * 16;
  Buffer* dev_bufs;
  unsigned* barrier;
  CHECK(cudaMalloc(&dev_bufs, sizeof(Buffer) * bufs.size()));
  CHECK(cudaMemcpy(dev_bufs, bufs.data(), sizeof(Buffer) * bufs.size(), cudaMemcpyHostToDevice));
  CHECK(cudaMalloc(&barrier, 2 * sizeof(unsigned)));
  CHECK(cudaMemset(barrier, 0, 2 * sizeof(unsigned)));
  int n = (int)bufs.size();
  void* args[] = {&dev_bufs, &n, &barrier, &sink};
  auto go = [&] {
    CHECK(cudaLaunchCooperativeKernel((const void*)read_persistent<AHEAD>, dim3(sms * per_sm), dim3(256), args, 0, s));
  };
  const double gbps = timed_gbps(bytes, rounds, s, go);
  CHECK(cudaFree(dev_bufs));
  CHECK(cudaFree(barrier));
  return gbps;
}

template <bool OVERLAP>
void launch(const Buffer& b, int blocks, cudaStream_t s, unsigned* sink) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks);
  cfg.blockDim = dim3(256);
  cfg.stream = s;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = OVERLAP ? 1 : 0;
  CHECK(cudaLaunchKernelEx(&cfg, read_words<OVERLAP>, (const uint4*)b.p, b.words, sink));
}

// GB/s of reading every buffer in order, `rounds` times, each by a kernel of its own.
template <bool OVERLAP>
double chain(const std::vector<Buffer>& bufs, int blocks, int rounds, cudaStream_t s, unsigned* sink) {
  size_t bytes = 0;
  for (const auto& b : bufs) bytes += b.words * 16;
  return timed_gbps(bytes, rounds, s, [&] {
    for (const auto& b : bufs) launch<OVERLAP>(b, blocks, s, sink);
  });
}

int main() {
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  cudaDeviceProp prop;
  CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  unsigned* sink;
  CHECK(cudaMalloc(&sink, sizeof(unsigned) * 65536));
  auto alloc = [](double mb) {
    Buffer b;
    b.words = (size_t)(mb * 1e6) / 16;
    CHECK(cudaMalloc(&b.p, b.words * 16));
    CHECK(cudaMemset(b.p, 1, b.words * 16));
    return b;
  };
  // One step's matrices (4-bit weights with their scales and biases), each its own allocation.
  const double layer_mb[4] = {15.9, 5.3, 28.3, 14.2};
  std::vector<Buffer> step;
  for (int l = 0; l < 32; ++l)
    for (double mb : layer_mb) step.push_back(alloc(mb));
  step.push_back(alloc(53.0));
  size_t step_words = 0;
  for (const auto& b : step) step_words += b.words;
  const Buffer whole = alloc((double)step_words * 16 / 1e6);  // the same bytes in one buffer
  std::printf("{\"gpu\": \"%s\", \"multiprocessors\": %d, \"step_GB\": %.3f}\n", prop.name, sms,
              step_words * 16 / 1e9);
  for (int per_sm : {2, 4, 8}) {
    const int blocks = sms * per_sm;
    const double one = chain<false>({whole}, blocks, 10, s, sink);
    const double plain = chain<false>(step, blocks, 10, s, sink);
    const double overlap = chain<true>(step, blocks, 10, s, sink);
    std::printf(
        "{\"blocks_per_sm\": %d, \"one_kernel_GBps\": %.0f, \"kernel_per_matrix_GBps\": %.0f, "
        "\"kernel_per_matrix_overlapped_GBps\": %.0f}\n",
        per_sm, one, plain, overlap);
  }
  // One kernel a step, a grid barrier a matrix; then with attention's keys and values as a fifth
  // read a layer (6.4 MB at ~515 positions), between qkv and o, both ways.
  std::vector<Buffer> with_kv;
  for (int l = 0; l < 32; ++l) {
    with_kv.push_back(step[4 * l]);
    with_kv.push_back(alloc(6.4));
    for (int j = 1; j < 4; ++j) with_kv.push_back(step[4 * l + j]);
  }
  with_kv.push_back(step.back());
  for (int per_sm : {2, 3, 4, 8}) {
    std::printf(
        "{\"blocks_per_sm\": %d, \"persistent_barrier_a_matrix_GBps\": %.0f, "
        "\"persistent_1_word_ahead_GBps\": %.0f, \"persistent_4_words_ahead_GBps\": %.0f, "
        "\"with_kv_persistent_4_ahead_GBps\": %.0f, \"with_kv_kernel_per_matrix_overlapped_GBps\": %.0f}\n",
        per_sm, persistent<0>(step, per_sm, sms, 10, s, sink), persistent<1>(step, per_sm, sms, 10, s, sink),
        persistent<4>(step, per_sm, sms, 10, s, sink), persistent<4>(with_kv, per_sm, sms, 10, s, sink),
        chain<true>(with_kv, sms * per_sm, 10, s, sink));
  }
  for (double mb : {5.3, 14.2, 28.3, 53.0}) {  // one matrix size, kernels back to back
    std::vector<Buffer> same;
    for (const auto& b : step)
      if ((double)b.words * 16 / 1e6 > mb - 0.05 && (double)b.words * 16 / 1e6 < mb + 0.05) same.push_back(b);
    std::printf("{\"matrix_MB\": %.1f, \"kernels\": %zu, \"overlapped_GBps_8_per_sm\": %.0f, \"overlapped_GBps_2_per_sm\": %.0f}\n",
                mb, same.size(), chain<true>(same, sms * 8, 10, s, sink), chain<true>(same, sms * 2, 10, s, sink));
  }
  return 0;
}
