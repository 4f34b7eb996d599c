#include "backends/cuda/kernels/pool.cuh"

#include <cuda_fp16.h>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

// One thread per (output pixel, group of kVec channels); 32-bit index arithmetic (the launcher
// checks the range), 64-bit addresses. KH x KW > 0 fixes the window at compile time (DenseNet's
// 3x3 max pool and 2x2 average pools): the loops unroll and every load of the window is in
// flight at once, where a run-time window issues them one after another (measured at about
// half the copy bandwidth on an H200).
template <class T, int kVec, int KH = 0, int KW = 0>
__global__ void pool2d_kernel(const PoolArgs a) {
  pdl_wait();
  pdl_launch_dependents();
  const int kernel_h = KH > 0 ? KH : a.kernel_h;
  const int kernel_w = KW > 0 ? KW : a.kernel_w;
  const int groups = a.channels / kVec;
  const int out_hw = a.out_h * a.out_w;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= a.batch * out_hw * groups) return;
  const int p = i / groups;
  const int c0 = (i - p * groups) * kVec;
  const int n = p / out_hw;
  const int rem = p - n * out_hw;
  const int oh = rem / a.out_w;
  const int ow = rem - oh * a.out_w;
  const int h0 = oh * a.stride_h - a.pad_h;
  const int w0 = ow * a.stride_w - a.pad_w;
  const T* x = static_cast<const T*>(a.x);

  // The prologue's per-channel parameters, loaded once for the whole window.
  float scale[kVec], shift[kVec];
#pragma unroll
  for (int j = 0; j < kVec; ++j) {
    scale[j] = a.pro_scale ? a.pro_scale[c0 + j] : 1.f;
    shift[j] = a.pro_shift ? a.pro_shift[c0 + j] : 0.f;
  }
  const bool relu = a.pro_act == Act::kRelu;
  float acc[kVec];
#pragma unroll
  for (int j = 0; j < kVec; ++j) acc[j] = a.max ? -INFINITY : 0.f;
  int count = 0;
#pragma unroll
  for (int r = 0; r < kernel_h; ++r) {
    const int h = h0 + r;
    if (h < 0 || h >= a.in_h) continue;
#pragma unroll
    for (int s = 0; s < kernel_w; ++s) {
      const int w = w0 + s;
      if (w < 0 || w >= a.in_w) continue;
      const T* src = x + ((static_cast<long long>(n) * a.in_h + h) * a.in_w + w) * a.x_ld + c0;
      float v[kVec];
      if (kVec == 8) {
        Vec8<T> vec;
        vec.load(src);
#pragma unroll
        for (int j = 0; j < kVec; ++j) v[j] = vec.get(j);
      } else {
#pragma unroll
        for (int j = 0; j < kVec; ++j) v[j] = to_float(src[j]);
      }
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        float f = v[j] * scale[j] + shift[j];
        if (relu) f = fmaxf(f, 0.f);
        acc[j] = a.max ? fmaxf(acc[j], f) : acc[j] + f;
      }
      ++count;
    }
  }
  if (!a.max) {
    // Window clipped to the padded input (ceil_mode windows may run past the padding too).
    const int h_end = min(h0 + kernel_h, a.in_h + a.pad_h_end);
    const int w_end = min(w0 + kernel_w, a.in_w + a.pad_w_end);
    const int padded = (h_end - h0) * (w_end - w0);
    const float inv = 1.f / static_cast<float>(a.count_include_pad ? padded : max(count, 1));
#pragma unroll
    for (int j = 0; j < kVec; ++j) acc[j] *= inv;
  }
  T* dst = static_cast<T*>(a.y) + static_cast<long long>(p) * a.y_ld + c0;
  if (kVec == 8) {
    Vec8<T> vec;
#pragma unroll
    for (int j = 0; j < kVec; ++j) vec.set(j, acc[j]);
    vec.store(dst);
  } else {
#pragma unroll
    for (int j = 0; j < kVec; ++j) dst[j] = from_float<T>(acc[j]);
  }
}

template <class T>
cudaError_t pool2d(const PoolArgs& a, cudaStream_t stream) {
  constexpr int kThreads = 256;
  constexpr int kVecElems = 16 / sizeof(T);
  const auto addr = [](const void* p) { return reinterpret_cast<unsigned long long>(p); };
  const bool vec = a.channels % 8 == 0 && a.x_ld % kVecElems == 0 && a.y_ld % kVecElems == 0 && addr(a.x) % 16 == 0 &&
                   addr(a.y) % 16 == 0;
  const long long out_pixels = static_cast<long long>(a.batch) * a.out_h * a.out_w;
  if (out_pixels == 0) return cudaSuccess;
  if (out_pixels * a.channels > 0x7fffffffLL) return cudaErrorInvalidValue;
  cudaError_t status = cudaSuccess;
  if (vec) {
    const long long work = out_pixels * (a.channels / 8);
    const unsigned blocks = static_cast<unsigned>((work + kThreads - 1) / kThreads);
    if (a.kernel_h == 3 && a.kernel_w == 3) {
      status = launch_pdl(pool2d_kernel<T, 8, 3, 3>, dim3(blocks), kThreads, 0, stream, a);
    } else if (a.kernel_h == 2 && a.kernel_w == 2) {
      status = launch_pdl(pool2d_kernel<T, 8, 2, 2>, dim3(blocks), kThreads, 0, stream, a);
    } else {
      status = launch_pdl(pool2d_kernel<T, 8>, dim3(blocks), kThreads, 0, stream, a);
    }
  } else {
    const long long work = out_pixels * a.channels;
    status = launch_pdl(pool2d_kernel<T, 1>, dim3(static_cast<unsigned>((work + kThreads - 1) / kThreads)), kThreads, 0,
                        stream, a);
  }
  return status;
}

}  // namespace

cudaError_t launch_pool2d(const PoolArgs& args, bool fp16, cudaStream_t stream) {
  return fp16 ? pool2d<__half>(args, stream) : pool2d<float>(args, stream);
}

}  // namespace chexrt::cuda
