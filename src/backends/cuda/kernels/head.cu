#include "backends/cuda/kernels/head.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kThreads = 1024;

__device__ __forceinline__ float activate(float v, Act act) {
  if (act == Act::kRelu) return fmaxf(v, 0.f);
  if (act == Act::kSigmoid) return 1.f / (1.f + expf(-v));
  return v;
}

__device__ __forceinline__ void store(void* y, bool fp16, long long i, float v) {
  if (fp16) {
    static_cast<__half*>(y)[i] = __float2half_rn(v);
  } else {
    static_cast<float*>(y)[i] = v;
  }
}

// Thread t sums 8 consecutive channels (group t % groups) over every slices-th pixel, starting at
// pixel t / groups, with 16-byte loads: all of an image's pixels are in flight at once, which is
// what batch 1 needs (one CTA per image). The slices' partial sums meet in shared memory.
template <class T>
__device__ __forceinline__ void pool_vec8(const HeadArgs& a, const T* x, float* partial, float* pooled) {
  const int groups = a.channels / 8;
  const int slices = min(kThreads / groups, a.hw);
  const int g = threadIdx.x % groups;
  const int s = threadIdx.x / groups;
  if (s < slices) {
    float scale[8], shift[8], sum[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      scale[j] = a.pro_scale ? a.pro_scale[g * 8 + j] : 1.f;
      shift[j] = a.pro_shift ? a.pro_shift[g * 8 + j] : 0.f;
      sum[j] = 0.f;
    }
#pragma unroll 4
    for (int p = s; p < a.hw; p += slices) {
      Vec8<T> v;
      v.load(x + static_cast<long long>(p) * a.x_ld + g * 8);
#pragma unroll
      for (int j = 0; j < 8; ++j) sum[j] += activate(v.get(j) * scale[j] + shift[j], a.pro_act);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) partial[s * a.channels + g * 8 + j] = sum[j];
  }
  __syncthreads();
  const float inv_hw = 1.f / static_cast<float>(a.hw);
  for (int c = threadIdx.x; c < a.channels; c += blockDim.x) {
    float total = 0.f;
    for (int k = 0; k < slices; ++k) total += partial[k * a.channels + c];
    pooled[c] = total * inv_hw;
  }
}

// Any channel count or alignment: one channel per thread.
template <class T>
__device__ __forceinline__ void pool_scalar(const HeadArgs& a, const T* x, float* pooled) {
  const float inv_hw = 1.f / static_cast<float>(a.hw);
  for (int c = threadIdx.x; c < a.channels; c += blockDim.x) {
    const float scale = a.pro_scale ? a.pro_scale[c] : 1.f;
    const float shift = a.pro_shift ? a.pro_shift[c] : 0.f;
    float sum = 0.f;
    for (int p = 0; p < a.hw; ++p) sum += activate(to_float(x[p * a.x_ld + c]) * scale + shift, a.pro_act);
    pooled[c] = sum * inv_hw;
  }
}

template <class T>
__global__ void __launch_bounds__(kThreads) head_kernel(const HeadArgs a, bool vec8) {
  extern __shared__ float smem[];
  float* pooled = smem;                // [channels]
  float* partial = smem + a.channels;  // [slices][channels] (vectorized pooling only)
  pdl_wait();
  pdl_launch_dependents();
  const int n = blockIdx.x;
  const T* x = static_cast<const T*>(a.x) + static_cast<long long>(n) * a.hw * a.x_ld;
  if (vec8) {
    pool_vec8(a, x, partial, pooled);
  } else {
    pool_scalar(a, x, pooled);
  }
  __syncthreads();
  if (!a.weight) {
    for (int c = threadIdx.x; c < a.channels; c += blockDim.x) {
      store(a.y, a.y_fp16, static_cast<long long>(n) * a.channels + c, pooled[c]);
    }
    return;
  }
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  for (int k = warp; k < a.classes; k += kThreads / 32) {
    const float* w = a.weight + static_cast<long long>(k) * a.channels;
    float sum = 0.f;
    for (int c = lane; c < a.channels; c += 32) sum += w[c] * pooled[c];
#pragma unroll
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, off);
    if (lane == 0) {
      store(a.y, a.y_fp16, static_cast<long long>(n) * a.classes + k,
            activate(sum + (a.bias ? a.bias[k] : 0.f), a.act));
    }
  }
}

}  // namespace

cudaError_t launch_classifier_head(const HeadArgs& args, cudaStream_t stream) {
  if (args.batch == 0) return cudaSuccess;
  const bool vec8 = args.channels % 8 == 0 && args.channels / 8 <= kThreads && args.x_ld % 8 == 0 &&
                    reinterpret_cast<uintptr_t>(args.x) % 16 == 0;
  const size_t slices = vec8 ? std::min(kThreads / (args.channels / 8), args.hw) : 0;
  const size_t smem = static_cast<size_t>(args.channels) * (1 + slices) * sizeof(float);
  if (smem > 48 * 1024) return cudaErrorInvalidValue;
  if (args.x_fp16) return launch_pdl(head_kernel<__half>, dim3(args.batch), kThreads, smem, stream, args, vec8);
  return launch_pdl(head_kernel<float>, dim3(args.batch), kThreads, smem, stream, args, vec8);
}

}  // namespace chexrt::cuda
