#include "kernels/cuda_driver.h"

#include <dlfcn.h>

#include <type_traits>

#include "common/error.h"

namespace pensieve::kernels::cuda {

namespace {

using Result = int;  // CUresult, nvrtcResult: 0 is success

// cuda.h's CUlaunchAttribute and CUlaunchConfig, for cuLaunchKernelEx (CUDA 12.0 and later).
struct LaunchAttribute {
  int id;  // CUlaunchAttributeID
  char pad[4];
  union {
    char bytes[64];
    int value;
    long long align;
  } value;
};
static_assert(sizeof(LaunchAttribute) == 72);
struct LaunchConfig {
  unsigned grid_x, grid_y, grid_z, block_x, block_y, block_z, shared_bytes;
  void* stream;
  LaunchAttribute* attrs;
  unsigned num_attrs;
};
constexpr int kProgrammaticStreamSerialization = 6;  // CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION

}  // namespace

struct CudaDriver::Api {
  // Driver API (the _v2 entry points are what cuda.h's macros name).
  Result (*cuInit)(unsigned);
  Result (*cuDeviceGet)(int*, int);
  Result (*cuDeviceGetAttribute)(int*, int, int);
  Result (*cuDevicePrimaryCtxRetain)(void**, int);
  Result (*cuCtxSetCurrent)(void*);
  Result (*cuGetErrorString)(Result, const char**);
  Result (*cuModuleLoadData)(void**, const void*);
  Result (*cuModuleUnload)(void*);
  Result (*cuModuleGetFunction)(void**, void*, const char*);
  Result (*cuMemAlloc)(DevicePtr*, std::size_t);
  Result (*cuMemFree)(DevicePtr);
  Result (*cuMemAllocHost)(void**, std::size_t);
  Result (*cuMemFreeHost)(void*);
  Result (*cuStreamCreate)(void**, unsigned);
  Result (*cuStreamDestroy)(void*);
  Result (*cuStreamSynchronize)(void*);
  Result (*cuEventCreate)(void**, unsigned);
  Result (*cuEventDestroy)(void*);
  Result (*cuEventRecord)(void*, void*);
  Result (*cuEventSynchronize)(void*);
  Result (*cuMemcpyDtoHAsync)(void*, DevicePtr, std::size_t, void*);
  Result (*cuMemcpyHtoDAsync)(DevicePtr, const void*, std::size_t, void*);
  Result (*cuLaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*,
                           void**, void**);
  Result (*cuLaunchKernelEx)(const LaunchConfig*, void*, void**, void**);  // optional (CUDA 12.0)
  Result (*cuOccupancyMaxActiveBlocksPerMultiprocessor)(int*, void*, int, std::size_t);
  // NVRTC.
  Result (*nvrtcCreateProgram)(void**, const char*, const char*, int, const char* const*, const char* const*);
  Result (*nvrtcDestroyProgram)(void**);
  Result (*nvrtcCompileProgram)(void*, int, const char* const*);
  Result (*nvrtcGetProgramLogSize)(void*, std::size_t*);
  Result (*nvrtcGetProgramLog)(void*, char*);
  Result (*nvrtcGetCUBINSize)(void*, std::size_t*);
  Result (*nvrtcGetCUBIN)(void*, char*);
  const char* (*nvrtcGetErrorString)(Result);

  // Every entry point, or false: then this process has no CUDA (MLX's CPU or Metal build).
  bool load() {
    bool all = true;
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(RTLD_DEFAULT, name));
      all = all && fn != nullptr;
    };
    get(cuInit, "cuInit");
    get(cuDeviceGet, "cuDeviceGet");
    get(cuDeviceGetAttribute, "cuDeviceGetAttribute");
    get(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    get(cuCtxSetCurrent, "cuCtxSetCurrent");
    get(cuGetErrorString, "cuGetErrorString");
    get(cuModuleLoadData, "cuModuleLoadData");
    get(cuModuleUnload, "cuModuleUnload");
    get(cuModuleGetFunction, "cuModuleGetFunction");
    get(cuMemAlloc, "cuMemAlloc_v2");
    get(cuMemFree, "cuMemFree_v2");
    get(cuMemAllocHost, "cuMemAllocHost_v2");
    get(cuMemFreeHost, "cuMemFreeHost");
    get(cuStreamCreate, "cuStreamCreate");
    get(cuStreamDestroy, "cuStreamDestroy_v2");
    get(cuStreamSynchronize, "cuStreamSynchronize");
    get(cuEventCreate, "cuEventCreate");
    get(cuEventDestroy, "cuEventDestroy_v2");
    get(cuEventRecord, "cuEventRecord");
    get(cuEventSynchronize, "cuEventSynchronize");
    get(cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2");
    get(cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2");
    get(cuLaunchKernel, "cuLaunchKernel");
    get(cuOccupancyMaxActiveBlocksPerMultiprocessor, "cuOccupancyMaxActiveBlocksPerMultiprocessor");
    get(nvrtcCreateProgram, "nvrtcCreateProgram");
    get(nvrtcDestroyProgram, "nvrtcDestroyProgram");
    get(nvrtcCompileProgram, "nvrtcCompileProgram");
    get(nvrtcGetProgramLogSize, "nvrtcGetProgramLogSize");
    get(nvrtcGetProgramLog, "nvrtcGetProgramLog");
    get(nvrtcGetCUBINSize, "nvrtcGetCUBINSize");
    get(nvrtcGetCUBIN, "nvrtcGetCUBIN");
    get(nvrtcGetErrorString, "nvrtcGetErrorString");
    const bool required = all;
    get(cuLaunchKernelEx, "cuLaunchKernelEx");
    return required;
  }

  void check(Result r, const char* what) const {
    if (r == 0) return;
    const char* text = nullptr;
    cuGetErrorString(r, &text);
    throw Error(std::string("CUDA: ") + what + " failed: " + (text ? text : std::to_string(r)));
  }
};

CudaDriver* CudaDriver::get() {
  static CudaDriver* driver = []() -> CudaDriver* {
    static CudaDriver::Api api;
    if (!api.load() || api.cuInit(0) != 0) return nullptr;
    int device = 0, major = 0, minor = 0, sms = 0;
    if (api.cuDeviceGet(&device, 0) != 0) return nullptr;
    // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
    if (api.cuDeviceGetAttribute(&major, 75, device) != 0 || api.cuDeviceGetAttribute(&minor, 76, device) != 0)
      return nullptr;
    if (api.cuDeviceGetAttribute(&sms, 16, device) != 0) return nullptr;  // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    void* context = nullptr;
    if (api.cuDevicePrimaryCtxRetain(&context, device) != 0) return nullptr;
    auto* d = new CudaDriver();  // process lifetime: kernels may run until exit
    d->api_ = &api;
    d->context_ = context;
    d->cc_ = major * 10 + minor;
    d->sms_ = sms;
    return d;
  }();
  return driver;
}

void CudaDriver::make_current() { api_->check(api_->cuCtxSetCurrent(context_), "cuCtxSetCurrent"); }

std::unique_ptr<Module> CudaDriver::compile(const std::string& source, const std::vector<std::string>& names) {
  make_current();
  void* program = nullptr;
  if (api_->nvrtcCreateProgram(&program, source.c_str(), "pensieve.cu", 0, nullptr, nullptr) != 0)
    throw Error("NVRTC: cannot create a program");
  const std::string arch = "--gpu-architecture=sm_" + std::to_string(cc_);
  // No fast math: RoPE takes sines of angles up to the context length.
  const char* options[] = {arch.c_str(), "-std=c++17"};
  const Result compiled = api_->nvrtcCompileProgram(program, 2, options);
  std::string binary;
  std::string log;
  std::size_t size = 0;
  if (api_->nvrtcGetProgramLogSize(program, &size) == 0 && size > 1) {
    log.resize(size);
    api_->nvrtcGetProgramLog(program, log.data());
  }
  if (compiled == 0 && api_->nvrtcGetCUBINSize(program, &size) == 0) {
    binary.resize(size);
    api_->nvrtcGetCUBIN(program, binary.data());
  }
  api_->nvrtcDestroyProgram(&program);
  if (compiled != 0 || binary.empty())
    throw Error(std::string("NVRTC: ") + api_->nvrtcGetErrorString(compiled) + "\n" + log);
  auto m = std::unique_ptr<Module>(new Module());
  m->api_ = api_;
  api_->check(api_->cuModuleLoadData(&m->module_, binary.data()), "cuModuleLoadData");
  for (const auto& name : names) {
    void* f = nullptr;
    api_->check(api_->cuModuleGetFunction(&f, m->module_, name.c_str()), ("cuModuleGetFunction " + name).c_str());
    m->functions_.emplace_back(name, f);
  }
  return m;
}

DevicePtr CudaDriver::alloc(std::size_t bytes) {
  DevicePtr p = 0;
  api_->check(api_->cuMemAlloc(&p, bytes == 0 ? 1 : bytes), "cuMemAlloc");
  return p;
}
void CudaDriver::free(DevicePtr p) {
  if (p) api_->cuMemFree(p);
}
void* CudaDriver::alloc_host(std::size_t bytes) {
  void* p = nullptr;
  api_->check(api_->cuMemAllocHost(&p, bytes == 0 ? 1 : bytes), "cuMemAllocHost");
  return p;
}
void CudaDriver::free_host(void* p) {
  if (p) api_->cuMemFreeHost(p);
}
Stream CudaDriver::make_stream() {
  void* s = nullptr;
  api_->check(api_->cuStreamCreate(&s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
  return s;
}
void CudaDriver::destroy_stream(Stream s) {
  if (s) api_->cuStreamDestroy(s);
}
Event CudaDriver::make_event() {
  void* e = nullptr;
  api_->check(api_->cuEventCreate(&e, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");
  return e;
}
void CudaDriver::destroy_event(Event e) {
  if (e) api_->cuEventDestroy(e);
}
void CudaDriver::record(Event e, Stream s) { api_->check(api_->cuEventRecord(e, s), "cuEventRecord"); }
void CudaDriver::wait(Event e) { api_->check(api_->cuEventSynchronize(e), "cuEventSynchronize"); }
void CudaDriver::synchronize(Stream s) { api_->check(api_->cuStreamSynchronize(s), "cuStreamSynchronize"); }
void CudaDriver::copy_to_host_async(void* dst, DevicePtr src, std::size_t bytes, Stream s) {
  api_->check(api_->cuMemcpyDtoHAsync(dst, src, bytes, s), "cuMemcpyDtoHAsync");
}
void CudaDriver::copy_to_device_async(DevicePtr dst, const void* src, std::size_t bytes, Stream s) {
  api_->check(api_->cuMemcpyHtoDAsync(dst, src, bytes, s), "cuMemcpyHtoDAsync");
}
void CudaDriver::launch(Function f, unsigned grid_x, unsigned grid_y, unsigned block_x, void** params, Stream s,
                        bool overlap_previous, unsigned grid_z) {
  if (overlap_previous && overlaps_launches()) {
    LaunchAttribute attr{};
    attr.id = kProgrammaticStreamSerialization;
    attr.value.value = 1;
    const LaunchConfig config{grid_x, grid_y, grid_z, block_x, 1, 1, 0, s, &attr, 1};
    api_->check(api_->cuLaunchKernelEx(&config, f, params, nullptr), "cuLaunchKernelEx");
    return;
  }
  api_->check(api_->cuLaunchKernel(f, grid_x, grid_y, grid_z, block_x, 1, 1, 0, s, params, nullptr), "cuLaunchKernel");
}

int CudaDriver::resident_blocks(Function f, int threads) const {
  int blocks = 0;
  api_->check(api_->cuOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, f, threads, 0),
              "cuOccupancyMaxActiveBlocksPerMultiprocessor");
  return blocks;
}

bool CudaDriver::overlaps_launches() const { return cc_ >= 90 && api_->cuLaunchKernelEx != nullptr; }

Module::~Module() {
  if (module_) api_->cuModuleUnload(module_);
}

Function Module::function(const std::string& name) const {
  for (const auto& [n, f] : functions_)
    if (n == name) return f;
  throw Error("CUDA module has no kernel " + name);
}

}  // namespace pensieve::kernels::cuda
