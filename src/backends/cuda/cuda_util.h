// CUDA, cuDNN and cuBLASLt error codes as chexrt Status, and owners of device and pinned memory.
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
