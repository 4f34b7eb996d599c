#include "backends/cuda/kernels/head.cuh"

#include <cuda_fp16.h>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kThreads = 256;

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

template <class T>
__global__ void __launch_bounds__(kThreads) head_kernel(const HeadArgs a) {
  extern __shared__ float pooled[];
  const int n = blockIdx.x;
  const T* x = static_cast<const T*>(a.x) + static_cast<long long>(n) * a.hw * a.x_ld;
  const float inv_hw = 1.f / static_cast<float>(a.hw);
  // Consecutive threads read consecutive channels of a pixel: coalesced.
  for (int c = threadIdx.x; c < a.channels; c += blockDim.x) {
    const float scale = a.pro_scale ? a.pro_scale[c] : 1.f;
    const float shift = a.pro_shift ? a.pro_shift[c] : 0.f;
    float sum = 0.f;
    for (int p = 0; p < a.hw; ++p) sum += activate(to_float(x[p * a.x_ld + c]) * scale + shift, a.pro_act);
    pooled[c] = sum * inv_hw;
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
  const size_t smem = static_cast<size_t>(args.channels) * sizeof(float);
  if (smem > 48 * 1024) return cudaErrorInvalidValue;
  if (args.x_fp16) {
    head_kernel<__half><<<args.batch, kThreads, smem, stream>>>(args);
  } else {
    head_kernel<float><<<args.batch, kThreads, smem, stream>>>(args);
  }
  return cudaGetLastError();
}

}  // namespace chexrt::cuda
