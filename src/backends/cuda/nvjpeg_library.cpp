#include "backends/cuda/nvjpeg_library.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <mutex>
#include <vector>

#define CHEXRT_NVJPEG_STRINGIFY_(x) #x
#define CHEXRT_NVJPEG_STRINGIFY(x) CHEXRT_NVJPEG_STRINGIFY_(x)

namespace chexrt::cuda {
namespace {

#define CHEXRT_NVJPEG_SONAME "libnvjpeg.so." CHEXRT_NVJPEG_STRINGIFY(NVJPEG_VER_MAJOR)

// Where to look, in order: the library of the header's major version (the functions' types come
// from the header) on the loader's path, then beside the CUDA runtime chexrt runs on (a toolkit's
// lib64 holds both, and need not be on the loader's path), then the unversioned development link.
std::vector<std::string> library_files() {
  std::vector<std::string> files = {CHEXRT_NVJPEG_SONAME};
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cudaGetDeviceCount), &info) != 0 && info.dli_fname != nullptr) {
    const std::string runtime = info.dli_fname;
    const size_t slash = runtime.rfind('/');
    if (slash != std::string::npos) files.push_back(runtime.substr(0, slash + 1) + CHEXRT_NVJPEG_SONAME);
  }
  files.push_back("libnvjpeg.so");
  return files;
}

Result<NvjpegLibrary> load() {
  NvjpegLibrary library;
  void* handle = nullptr;
  std::string tried;
  for (const std::string& file : library_files()) {
    // Never closed: the library's handles live as long as the engines that made them.
    handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) {
      library.file = file;
      break;
    }
    const char* error = dlerror();
    tried += (tried.empty() ? "" : "; ") + (error ? std::string(error) : file);
  }
  if (handle == nullptr) return unavailable("nvJPEG is not available: " + tried);
#define CHEXRT_NVJPEG_LOOKUP(name)                                                                   \
  library.name = reinterpret_cast<decltype(library.name)>(dlsym(handle, #name));                     \
  if (library.name == nullptr) {                                                                     \
    return unavailable("nvJPEG is not available: " + library.file + " has no function '" #name "'"); \
  }
  CHEXRT_NVJPEG_FUNCTIONS(CHEXRT_NVJPEG_LOOKUP)
#undef CHEXRT_NVJPEG_LOOKUP
  return library;
}

}  // namespace

Result<const NvjpegLibrary*> nvjpeg_library() {
  static std::once_flag once;
  static Result<NvjpegLibrary> loaded = unavailable("nvJPEG is not loaded");
  std::call_once(once, [] { loaded = load(); });
  if (!loaded.ok()) return loaded.status();
  return &loaded.value();
}

const char* nvjpeg_status_name(nvjpegStatus_t status) {
  switch (status) {
    case NVJPEG_STATUS_SUCCESS:
      return "NVJPEG_STATUS_SUCCESS";
    case NVJPEG_STATUS_NOT_INITIALIZED:
      return "NVJPEG_STATUS_NOT_INITIALIZED";
    case NVJPEG_STATUS_INVALID_PARAMETER:
      return "NVJPEG_STATUS_INVALID_PARAMETER";
    case NVJPEG_STATUS_BAD_JPEG:
      return "NVJPEG_STATUS_BAD_JPEG";
    case NVJPEG_STATUS_JPEG_NOT_SUPPORTED:
      return "NVJPEG_STATUS_JPEG_NOT_SUPPORTED";
    case NVJPEG_STATUS_ALLOCATOR_FAILURE:
      return "NVJPEG_STATUS_ALLOCATOR_FAILURE";
    case NVJPEG_STATUS_EXECUTION_FAILED:
      return "NVJPEG_STATUS_EXECUTION_FAILED";
    case NVJPEG_STATUS_ARCH_MISMATCH:
      return "NVJPEG_STATUS_ARCH_MISMATCH";
    case NVJPEG_STATUS_INTERNAL_ERROR:
      return "NVJPEG_STATUS_INTERNAL_ERROR";
    case NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED:
      return "NVJPEG_STATUS_IMPLEMENTATION_NOT_SUPPORTED";
    case NVJPEG_STATUS_INCOMPLETE_BITSTREAM:
      return "NVJPEG_STATUS_INCOMPLETE_BITSTREAM";
  }
  return "an unknown nvJPEG status";
}

Status check_nvjpeg(nvjpegStatus_t status, const std::string& what) {
  if (status == NVJPEG_STATUS_SUCCESS) return Status::ok_status();
  return runtime_error("nvJPEG: " + what + ": " + nvjpeg_status_name(status));
}

}  // namespace chexrt::cuda
