// The device decoder's CUDA source (model/cuda_decoder_kernels.h), compiled as the decoder
// compiles it on a GPU machine: NVRTC for the GPUs it serves. NVRTC needs no GPU, so a change that
// breaks a kernel, drops one the decoder looks up by name, or makes a one-sequence kernel spill
// registers to local memory (a slower decode step) fails here rather than first on a GPU machine.
// The set-up installs the NVRTC wheel of MLX's CUDA 13 build (nvidia-cuda-nvrtc,
// requirements-test.txt) into .venv; without it the test fails, it does not skip.
#if defined(__linux__) && defined(__x86_64__)

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <map>
#include <regex>
#include <string>
#include <type_traits>
#include <vector>

#include "cuda_decoder_kernel_set.h"

namespace fs = std::filesystem;

namespace {

// .venv/lib/python3.*/site-packages/nvidia/cu13/lib, where the wheel puts libnvrtc.so.13.
fs::path nvrtc_dir() {
  const fs::path lib = fs::path(PENSIEVE_SOURCE_DIR) / ".venv" / "lib";
  std::error_code ec;
  for (const auto& python : fs::directory_iterator(lib, ec)) {
    const fs::path dir = python.path() / "site-packages" / "nvidia" / "cu13" / "lib";
    if (fs::exists(dir / "libnvrtc.so.13")) return dir;
  }
  return {};
}

// The few NVRTC entry points the test uses (0 is success).
struct Nvrtc {
  int (*create)(void**, const char*, const char*, int, const char* const*, const char* const*) = nullptr;
  int (*destroy)(void**) = nullptr;
  int (*compile)(void*, int, const char* const*) = nullptr;
  int (*log_size)(void*, std::size_t*) = nullptr;
  int (*log)(void*, char*) = nullptr;

  // NVRTC finds its builtins library by name: loaded first from the same folder, it is found.
  // Local: the CUDA driver's lookups (kernels/cuda_driver.cpp) search the global scope.
  bool load(const fs::path& dir) {
    if (!dlopen((dir / "libnvrtc-builtins.so.13.0").c_str(), RTLD_NOW | RTLD_LOCAL)) return false;
    void* lib = dlopen((dir / "libnvrtc.so.13").c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) return false;
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      return fn != nullptr;
    };
    return get(create, "nvrtcCreateProgram") && get(destroy, "nvrtcDestroyProgram") &&
           get(compile, "nvrtcCompileProgram") && get(log_size, "nvrtcGetProgramLogSize") &&
           get(log, "nvrtcGetProgramLog");
  }

  // The compile's log, with ptxas's report of each kernel; `ok` whether it compiled.
  std::string build(const std::string& source, int arch, bool& ok) const {
    void* program = nullptr;
    ok = false;
    if (create(&program, source.c_str(), "pensieve.cu", 0, nullptr, nullptr) != 0) return "cannot create a program";
    const std::string arch_option = "--gpu-architecture=sm_" + std::to_string(arch);
    // The decoder's options (kernels/cuda_driver.cpp), and ptxas's resource report.
    const char* options[] = {arch_option.c_str(), "-std=c++17", "--ptxas-options=-v"};
    ok = compile(program, 3, options) == 0;
    std::size_t size = 0;
    std::string text;
    if (log_size(program, &size) == 0 && size > 1) {
      text.resize(size);
      log(program, text.data());
    }
    destroy(&program);
    return text;
  }
};

// Each kernel's spilled bytes (stores + loads) from ptxas's report in the log.
std::map<std::string, int> spills(const std::string& log) {
  static const std::regex properties(
      R"(Function properties for (\w+)\s*\n[^\n]*?(\d+) bytes spill stores, (\d+) bytes spill loads)");
  std::map<std::string, int> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), properties); it != std::sregex_iterator(); ++it)
    out[(*it)[1].str()] = std::stoi((*it)[2].str()) + std::stoi((*it)[3].str());
  return out;
}

// Each kernel's registers a thread from ptxas's report in the log.
std::map<std::string, int> registers(const std::string& log) {
  static const std::regex used(R"(Compiling entry function '(\w+)'[^\n]*\n(?:[^\n]*\n)*?[^\n]*Used (\d+) registers)");
  std::map<std::string, int> out;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), used); it != std::sregex_iterator(); ++it)
    out[(*it)[1].str()] = std::stoi((*it)[2].str());
  return out;
}

}  // namespace

TEST(CudaKernelSource, DecoderKernelsCompileForAmpereAndHopperWithoutSpills) {
  const fs::path dir = nvrtc_dir();
  ASSERT_FALSE(dir.empty()) << "no libnvrtc.so.13 under .venv: the set-up installs nvidia-cuda-nvrtc";
  Nvrtc nvrtc;
  ASSERT_TRUE(nvrtc.load(dir)) << dlerror();
  const pensieve::testing::DecoderKernelSet kernels;
  const std::string source = kernels.source();
  for (const int arch : {80, 90}) {
    bool ok = false;
    const std::string log = nvrtc.build(source, arch, ok);
    ASSERT_TRUE(ok) << "sm_" << arch << ":\n" << log;
    const auto spilled = spills(log);
    // The GEMVs of more than 8 warps are sized to one block a multiprocessor (64K registers on
    // both architectures; model::cuda_kernels::gemv_block_warps): a block that did not fit would
    // not launch.
    const auto used = registers(log);
    for (const auto& g : kernels.gemvs) {
      const auto it = used.find(g.name());
      ASSERT_NE(it, used.end()) << "sm_" << arch << ": no register count for " << g.name();
      EXPECT_LE(it->second * g.threads(), 65536) << "sm_" << arch << ": " << g.name();
    }
    for (const auto& name : kernels.names(arch)) {
      const auto it = spilled.find(name);
      ASSERT_NE(it, spilled.end()) << "sm_" << arch << ": no kernel " << name;
      // The batched products of 8 rows spill a few bytes on one or the other architecture
      // (noted in bench/gpu/README.md, thirteenth round); the one-sequence kernels must not.
      if (name.rfind("gemm_", 0) != 0) {
        EXPECT_EQ(it->second, 0) << "sm_" << arch << ": " << name << " spills";
      }
    }
  }
}


// Which GEMV kernel a layer takes (the decoder's constructor compiles the two variants of each
// layer and launches one of them by name: both must agree with this).
TEST(CudaKernelSource, GemvVariantLoopsOnlyWhereTwoWeightSetsFit) {
  namespace ck = pensieve::model::cuda_kernels;
  ck::Gemv qkv{3072, 1, false, true, false};
  qkv.dp4a = true;
  const ck::Gemv looping = ck::gemv_variant(qkv, true, 9216);
  EXPECT_TRUE(looping.looped);
  EXPECT_EQ(looping.warps, 16);
  EXPECT_TRUE(looping.norm && looping.dp4a && looping.K == 3072);  // the shape carried over
  const ck::Gemv single = ck::gemv_variant(qkv, false, 9216);
  EXPECT_FALSE(single.looped);
  EXPECT_EQ(single.warps, 24);
  EXPECT_NE(looping.name(), single.name());
  // Rows longer than kGemvMaxTwoSetK hold one set of weights either way: the looping kernel is
  // the single-set one in its own block size.
  const ck::Gemv down = ck::gemv_variant(ck::Gemv{8192, 1, true}, true, 3072);
  EXPECT_FALSE(down.looped);
  EXPECT_EQ(down.warps, 16);
  EXPECT_NE(down.name(), ck::gemv_variant(ck::Gemv{8192, 1, true}, false, 3072).name());
  // Rows that the larger blocks do not divide: blocks of 8 warps.
  EXPECT_EQ(ck::gemv_variant(qkv, true, 8200).warps, 8);
  EXPECT_EQ(ck::gemv_variant(qkv, false, 8200).warps, 8);
}

// The slice of K each gemm_slices block takes: whole 512-value parts, at most 8 blocks a cluster.
TEST(CudaKernelSource, BatchGemmSliceIsTheShortestThatFitsACluster) {
  namespace ck = pensieve::model::cuda_kernels;
  EXPECT_EQ(ck::batch_gemm_slice(3072), 512);    // qkv, o, gate_up, lm_head: 6 slices
  EXPECT_EQ(ck::batch_gemm_slice(8192), 1024);   // down: 8
  EXPECT_EQ(ck::batch_gemm_slice(4096), 512);    // 8
  EXPECT_EQ(ck::batch_gemm_slice(5120), 1024);   // not 512: 10 slices
  EXPECT_EQ(ck::batch_gemm_slice(9216), 1536);   // 6
  EXPECT_EQ(ck::batch_gemm_slice(11264), 5632);  // 11 · 1024: 2 slices
  EXPECT_EQ(ck::batch_gemm_slice(1024), 512);
  EXPECT_EQ(ck::batch_gemm_slice(1000), 0);
}

// The grids of Phi-3-mini-128k's batched products, worked out from the kernels' layouts: a tile
// is 16 weight rows (gated: 8 gate rows and their 8 up rows); gemm_rows takes two tiles a block,
// gemm_slices 8 tiles a block (the last block of lm_head half empty) in clusters of K / slice.
TEST(CudaKernelSource, BatchLaunchGridsOfPhi3) {
  namespace ck = pensieve::model::cuda_kernels;
  struct Case {
    int in, out, mode;
    unsigned rows_blocks, slices_blocks, slices;
    int values;
  };
  const Case cases[] = {
      {3072, 9216, 0, 288, 72, 6, 9216},      // qkv: 576 tiles
      {3072, 3072, 1, 96, 24, 6, 3072},       // o: 192 tiles
      {3072, 16384, 2, 512, 128, 6, 8192},    // gate_up: 1024 tiles of 8 outputs
      {8192, 3072, 1, 96, 24, 8, 3072},       // down
      {3072, 32064, 0, 1002, 251, 6, 32064},  // lm_head: 2004 tiles
  };
  for (const auto& c : cases) {
    const auto rows = ck::batch_launch(c.in, c.out, c.mode, false);
    ASSERT_TRUE(rows.has_value()) << c.out;
    EXPECT_EQ(rows->blocks, c.rows_blocks) << c.out;
    EXPECT_EQ(rows->slices, 1u);
    EXPECT_EQ(rows->gemm.T, 2);
    EXPECT_EQ(rows->gemm.KS, 0);
    EXPECT_EQ(rows->values, c.values);
    const auto sliced = ck::batch_launch(c.in, c.out, c.mode, true);
    ASSERT_TRUE(sliced.has_value()) << c.out;
    EXPECT_EQ(sliced->blocks, c.slices_blocks) << c.out;
    EXPECT_EQ(sliced->slices, c.slices) << c.out;
    EXPECT_EQ(sliced->gemm.KS * static_cast<int>(c.slices), c.in);
    EXPECT_EQ(sliced->values, c.values);
    EXPECT_EQ(sliced->gemm.mode, c.mode);
  }
  // An odd number of tiles: one a gemm_rows block.
  EXPECT_EQ(ck::batch_launch(3072, 16 * 7, 0, false)->gemm.T, 1);
  EXPECT_EQ(ck::batch_launch(3072, 16 * 7, 0, false)->blocks, 7u);
  // Shapes no batched kernel takes: K not a multiple of 1024, rows not whole tiles.
  EXPECT_FALSE(ck::batch_launch(3000, 9216, 0, true).has_value());
  EXPECT_FALSE(ck::batch_launch(3072, 9208, 0, true).has_value());
  EXPECT_FALSE(ck::batch_launch(3072, 9224, 2, false).has_value());
}

#endif
