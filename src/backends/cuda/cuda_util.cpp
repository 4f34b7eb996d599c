#include "backends/cuda/cuda_util.h"

#include "chexrt/tensor.h"

namespace chexrt::cuda {

Status check_cuda(cudaError_t e, const std::string& what) {
  if (e == cudaSuccess) return Status::ok_status();
  return runtime_error(what + ": CUDA error " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

Status check_gpu_ordinal(int gpu) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    count = 0;
  }
  if (gpu >= 0 && gpu < count) return Status::ok_status();
  return invalid_argument(
      "GPU " + std::to_string(gpu) + " does not exist: " +
      (count == 0 ? std::string("no GPU is visible")
                  : std::to_string(count) + " GPU(s) are visible (0 to " + std::to_string(count - 1) + ")"));
}

DeviceScope::DeviceScope(int gpu) {
  int current = -1;
  if (cudaGetDevice(&current) == cudaSuccess && current == gpu) return;
  status_ = check_cuda(cudaSetDevice(gpu), "selecting GPU " + std::to_string(gpu));
  if (status_.ok()) previous_ = current;
}

DeviceScope::~DeviceScope() {
  if (previous_ >= 0) cudaSetDevice(previous_);
}

Status check_cudnn(cudnnStatus_t s, const std::string& what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok_status();
  return runtime_error(what + ": cuDNN error " + cudnnGetErrorString(s));
}

Status check_cublas(cublasStatus_t s, const std::string& what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::ok_status();
  return runtime_error(what + ": cuBLASLt error " + std::to_string(static_cast<int>(s)));
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    reset();
    ptr_ = o.ptr_;
    bytes_ = o.bytes_;
    o.ptr_ = nullptr;
    o.bytes_ = 0;
  }
  return *this;
}

Status DeviceBuffer::allocate(size_t bytes, const std::string& what) {
  reset();
  if (bytes == 0) return Status::ok_status();
  CHEXRT_CUDA_TRY(cudaMalloc(&ptr_, bytes), what + ": allocating " + std::to_string(bytes) + " bytes");
  bytes_ = bytes;
  return Status::ok_status();
}

Status DeviceBuffer::upload(const void* host, size_t bytes, const std::string& what) {
  CHEXRT_RETURN_IF_ERROR(allocate(bytes, what));
  if (bytes) CHEXRT_CUDA_TRY(cudaMemcpy(ptr_, host, bytes, cudaMemcpyHostToDevice), what + ": upload");
  return Status::ok_status();
}

void DeviceBuffer::reset() {
  if (ptr_) cudaFree(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

Status PinnedBuffer::allocate(size_t bytes, const std::string& what) {
  reset();
  if (bytes == 0) return Status::ok_status();
  CHEXRT_CUDA_TRY(cudaMallocHost(&ptr_, bytes), what + ": allocating " + std::to_string(bytes) + " pinned bytes");
  bytes_ = bytes;
  return Status::ok_status();
}

void PinnedBuffer::reset() {
  if (ptr_) cudaFreeHost(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

std::vector<uint16_t> to_half(const std::vector<float>& values) {
  std::vector<uint16_t> h(values.size());
  for (size_t i = 0; i < values.size(); ++i) h[i] = float_to_half(values[i]);
  return h;
}

}  // namespace chexrt::cuda
