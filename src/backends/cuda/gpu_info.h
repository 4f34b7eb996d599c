// What the rest of chexrt asks about the GPUs themselves, without including CUDA: how many are
// visible and how much memory each has in use (the server's GPU memory gauges). Defined in
// gpu_info.cpp, and in cuda_backend_stub.cpp where chexrt is built without CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::cuda {

/// Visible CUDA devices (cudaGetDeviceCount, which CUDA_VISIBLE_DEVICES limits); 0 without a GPU
/// or in a build without CUDA.
int gpu_count();

struct GpuMemory {
  int gpu = 0;  ///< device ordinal
  uint64_t used_bytes = 0;
  uint64_t total_bytes = 0;
};

/// Memory of each of `gpus` now, from cudaMemGetInfo: total, and used = total - free, which is
/// the whole device's (every process's allocations and contexts, as nvidia-smi counts them).
/// The calling thread's current device is left as it was. Unavailable naming the GPU when a query
/// fails; Unsupported in a build without CUDA.
Result<std::vector<GpuMemory>> gpu_memory(const std::vector<int>& gpus);

}  // namespace chexrt::cuda
