#pragma once
// The CUDA driver API and NVRTC, found at run time in the process. MLX's CUDA build links both
// (libcuda.so.1, libnvrtc.so.13), so with it they are already loaded; with MLX's CPU or Metal
// builds they are absent and CudaDriver::get() returns nullptr. Pensieve therefore builds the
// same everywhere, without CUDA headers, and uses the GPU directly only where MLX does.
//
// Only what a device-side decode loop needs: modules compiled from source (no headers: the
// sources spell float16 arithmetic in inline PTX), device and pinned host memory, one stream,
// kernel launches, asynchronous copies and events. Every failure throws pensieve::Error.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pensieve::kernels::cuda {

using DevicePtr = unsigned long long;  // CUdeviceptr
using Function = void*;                // CUfunction
using Stream = void*;                  // CUstream
using Event = void*;                   // CUevent

class Module;

class CudaDriver {
 public:
  // nullptr where the process has no CUDA driver and NVRTC loaded, or no device answers.
  static CudaDriver* get();

  // Compiles `source` for the current device (NVRTC, to a cubin) and loads it; `names` are
  // extern "C" kernels to look up.
  std::unique_ptr<Module> compile(const std::string& source, const std::vector<std::string>& names);

  DevicePtr alloc(std::size_t bytes);
  void free(DevicePtr p);
  void* alloc_host(std::size_t bytes);  // pinned
  void free_host(void* p);
  Stream make_stream();
  void destroy_stream(Stream s);
  Event make_event();
  void destroy_event(Event e);
  void record(Event e, Stream s);
  void wait(Event e);
  void synchronize(Stream s);
  void copy_to_host_async(void* dst, DevicePtr src, std::size_t bytes, Stream s);
  void copy_to_device_async(DevicePtr dst, const void* src, std::size_t bytes, Stream s);
  // params: pointers to each argument, in order (cuLaunchKernel's kernelParams). With
  // overlap_previous (where overlaps_launches()), the kernel may start before the previous one in
  // the stream ends (programmatic dependent launch): it must wait for it in its code (PTX
  // griddepcontrol.wait, kernels/cuda_gemv_source.h's wait_previous) before reading what that
  // one wrote and before writing anything.
  void launch(Function f, unsigned grid_x, unsigned grid_y, unsigned block_x, void** params, Stream s,
              bool overlap_previous = false, unsigned grid_z = 1);
  // Programmatic dependent launch: compute capability 9.0 or later and a driver with
  // cuLaunchKernelEx.
  bool overlaps_launches() const;
  // Makes the device's primary context (the one MLX's runtime uses) current on this thread.
  void make_current();
  int compute_capability() const { return cc_; }
  int multiprocessors() const { return sms_; }
  // Blocks of `threads` threads of f that fit on one multiprocessor at once.
  int resident_blocks(Function f, int threads) const;

  struct Api;

 private:
  CudaDriver() = default;
  friend class Module;
  const Api* api_ = nullptr;
  void* context_ = nullptr;
  int cc_ = 0;
  int sms_ = 0;
};

class Module {
 public:
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  Function function(const std::string& name) const;

 private:
  friend class CudaDriver;
  Module() = default;
  const CudaDriver::Api* api_ = nullptr;
  void* module_ = nullptr;
  std::vector<std::pair<std::string, Function>> functions_;
};

}  // namespace pensieve::kernels::cuda
