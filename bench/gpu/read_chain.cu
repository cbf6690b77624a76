// What plain reads reach on this GPU, as one decode step's matrices are read: each matrix by a
// kernel of its own, in the step's order (per layer qkv 15.9 MB, o 5.3, gate_up 28.3, down 14.2;
// lm_head 53 MB last), against the same bytes read by one large kernel. It bounds what any
// kernel-per-matrix decoder can reach (bench/gpu/README.md, ninth round). Own code, built by hand:
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

// Reads n 16-byte words (streaming loads, four in flight a thread) and folds them into one word a
// block, written only if it matches a value no data here has (so the loads are not dropped).
// OVERLAP: launched with programmatic dependent launch, it issues its first loads, lets the next
// kernel start and waits for the previous one, as Pensieve's decoder kernels do.
template <bool OVERLAP>
__global__ void read_words(const uint4* __restrict__ p, size_t n, unsigned* sink) {
  const size_t stride = (size_t)gridDim.x * blockDim.x;
  size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  unsigned acc = 0;
  uint4 a = i < n ? __ldcs(p + i) : make_uint4(0, 0, 0, 0);
  if (OVERLAP) {
    asm volatile("griddepcontrol.launch_dependents;");
    asm volatile("griddepcontrol.wait;" ::: "memory");
  }
  acc ^= a.x ^ a.y ^ a.z ^ a.w;
  i += stride;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 b = __ldcs(p + i), c = __ldcs(p + i + stride), d = __ldcs(p + i + 2 * stride),
                e = __ldcs(p + i + 3 * stride);
    acc ^= b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w ^ e.x ^ e.y ^ e.z ^ e.w;
  }
  for (; i < n; i += stride) {
    const uint4 b = __ldcs(p + i);
    acc ^= b.x ^ b.y ^ b.z ^ b.w;
  }
  if (acc == 0x9e3779b9u) sink[blockIdx.x] = acc;
}

struct Buffer {
  uint4* p;
  size_t words;
};

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
  for (const auto& b : bufs) launch<OVERLAP>(b, blocks, s, sink);  // warm
  cudaEvent_t t0, t1;
  CHECK(cudaEventCreate(&t0));
  CHECK(cudaEventCreate(&t1));
  CHECK(cudaEventRecord(t0, s));
  for (int r = 0; r < rounds; ++r)
    for (const auto& b : bufs) launch<OVERLAP>(b, blocks, s, sink);
  CHECK(cudaEventRecord(t1, s));
  CHECK(cudaEventSynchronize(t1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, t0, t1));
  CHECK(cudaEventDestroy(t0));
  CHECK(cudaEventDestroy(t1));
  return (double)bytes * rounds / (ms * 1e-3) / 1e9;
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
  for (double mb : {5.3, 14.2, 28.3, 53.0}) {  // one matrix size, kernels back to back
    std::vector<Buffer> same;
    for (const auto& b : step)
      if ((double)b.words * 16 / 1e6 > mb - 0.05 && (double)b.words * 16 / 1e6 < mb + 0.05) same.push_back(b);
    std::printf("{\"matrix_MB\": %.1f, \"kernels\": %zu, \"overlapped_GBps_8_per_sm\": %.0f, \"overlapped_GBps_2_per_sm\": %.0f}\n",
                mb, same.size(), chain<true>(same, sms * 8, 10, s, sink), chain<true>(same, sms * 2, 10, s, sink));
  }
  return 0;
}
