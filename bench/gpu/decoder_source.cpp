// Prints the device decoder's CUDA source (model/cuda_decoder_kernels.h) with the kernel variants
// it compiles for Phi-3-mini-128k (tests/cpp/cuda_decoder_kernel_set.h, as the C++ test compiles
// them), so that kernel_sass.py can compile it on a machine without a GPU and report each kernel's
// registers, spills and instructions (bench/gpu/README.md, thirteenth round). A by-hand tool, not
// built by CMake. From the repository's root:
//   g++ -std=c++20 -Isrc -Itests/cpp bench/gpu/decoder_source.cpp src/model/cuda_decoder_kernels.cpp -o /tmp/ds
//   /tmp/ds > /tmp/decoder.cu        # or: /tmp/ds NAME=VALUE ... (#defines ahead of the source)
#include <cstdio>
#include <string>

#include "cuda_decoder_kernel_set.h"

int main(int argc, char** argv) {
  std::string defines;
  for (int i = 1; i < argc; ++i) {  // NAME=VALUE or NAME: a #define ahead of the source
    const std::string d = argv[i];
    const auto eq = d.find('=');
    defines += "#define " + (eq == std::string::npos ? d : d.substr(0, eq) + " " + d.substr(eq + 1)) + "\n";
  }
  std::fputs((defines + pensieve::testing::DecoderKernelSet().source()).c_str(), stdout);
}
