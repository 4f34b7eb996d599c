#include "backends/cuda/gpu_info.h"

#include <cuda_runtime.h>

#include <string>

#include "backends/cuda/cuda_util.h"

namespace chexrt::cuda {

int gpu_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // no driver or no device: not an error of the next call
    return 0;
  }
  return count;
}

Result<std::vector<GpuMemory>> gpu_memory(const std::vector<int>& gpus) {
  std::vector<GpuMemory> result;
  for (int gpu : gpus) {
    const DeviceScope scope(gpu);
    size_t free_bytes = 0, total_bytes = 0;
    const Status s =
        scope.status().ok() ? check_cuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo") : scope.status();
    if (!s.ok()) {
      cudaGetLastError();
      return unavailable("GPU " + std::to_string(gpu) + ": reading its memory failed: " + s.message());
    }
    result.push_back({gpu, static_cast<uint64_t>(total_bytes - free_bytes), static_cast<uint64_t>(total_bytes)});
  }
  return result;
}

}  // namespace chexrt::cuda
