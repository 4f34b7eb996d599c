#include "backends/cuda/gpu_info.h"

#include <cuda_runtime.h>

#include <string>

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
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = -1;
  std::vector<GpuMemory> result;
  Status status;
  for (int gpu : gpus) {
    size_t free_bytes = 0, total_bytes = 0;
    cudaError_t e = cudaSetDevice(gpu);
    if (e == cudaSuccess) e = cudaMemGetInfo(&free_bytes, &total_bytes);
    if (e != cudaSuccess) {
      status = unavailable("GPU " + std::to_string(gpu) + ": reading its memory failed: " + cudaGetErrorString(e));
      cudaGetLastError();
      break;
    }
    result.push_back({gpu, static_cast<uint64_t>(total_bytes - free_bytes), static_cast<uint64_t>(total_bytes)});
  }
  if (previous >= 0) cudaSetDevice(previous);
  if (!status.ok()) return status;
  return result;
}

}  // namespace chexrt::cuda
