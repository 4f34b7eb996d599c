// CUDA, cuDNN and cuBLASLt error codes as chexrt Status, owners of device and pinned memory, and
// the choice of GPU.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::cuda {

Status check_cuda(cudaError_t e, const std::string& what);
Status check_cudnn(cudnnStatus_t s, const std::string& what);
Status check_cublas(cublasStatus_t s, const std::string& what);

/// InvalidArgument naming `gpu` and how many GPUs are visible when no device has that ordinal.
Status check_gpu_ordinal(int gpu);

/// Makes `gpu` the calling thread's current device for the scope and restores the previous one
/// after it, so that an engine runs on its own GPU whichever thread calls it (a server's batcher
/// workers, a command's main thread) and leaves the caller's choice alone.
class DeviceScope {
 public:
  explicit DeviceScope(int gpu);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;
  /// cudaSetDevice's failure, if it failed.
  const Status& status() const { return status_; }

 private:
  int previous_ = -1;  // the device to restore; -1: none
  Status status_;
};

/// Owns one cudaMalloc allocation.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  Status allocate(size_t bytes, const std::string& what);
  /// Allocates and copies `bytes` from the host (synchronously: weights are uploaded once).
  Status upload(const void* host, size_t bytes, const std::string& what);
  void reset();
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

/// Owns one cudaMallocHost (page-locked) allocation: copies from it run asynchronously.
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  ~PinnedBuffer() { reset(); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : ptr_(o.ptr_), bytes_(o.bytes_) { o.ptr_ = nullptr, o.bytes_ = 0; }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  Status allocate(size_t bytes, const std::string& what);
  void reset();
  void* get() const { return ptr_; }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

/// Host-side conversions for weight uploads.
std::vector<uint16_t> to_half(const std::vector<float>& values);

}  // namespace chexrt::cuda

/// Returns a kRuntimeError Status naming `what` when a CUDA runtime call fails.
#define CHEXRT_CUDA_TRY(expr, what) CHEXRT_RETURN_IF_ERROR(::chexrt::cuda::check_cuda((expr), (what)))
#define CHEXRT_CUDNN_TRY(expr, what) CHEXRT_RETURN_IF_ERROR(::chexrt::cuda::check_cudnn((expr), (what)))
#define CHEXRT_CUBLAS_TRY(expr, what) CHEXRT_RETURN_IF_ERROR(::chexrt::cuda::check_cublas((expr), (what)))
