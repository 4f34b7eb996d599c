#include "backends/cuda/kernels/pointwise.cuh"

#include <cuda_fp16.h>

#include <cstdint>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

// Eight per-channel parameters from c0 (32-byte aligned), or `fallback` when there are none.
__device__ __forceinline__ void load8(const float* __restrict__ v, int c0, float fallback, float (&out)[8]) {
  if (!v) {
#pragma unroll
    for (int j = 0; j < 8; ++j) out[j] = fallback;
    return;
  }
  const float4 lo = reinterpret_cast<const float4*>(v + c0)[0];
  const float4 hi = reinterpret_cast<const float4*>(v + c0)[1];
  out[0] = lo.x, out[1] = lo.y, out[2] = lo.z, out[3] = lo.w;
  out[4] = hi.x, out[5] = hi.y, out[6] = hi.z, out[7] = hi.w;
}

__device__ __forceinline__ float activate(float v, Act act) {
  if (act == Act::kRelu) return fmaxf(v, 0.f);
  if (act == Act::kSigmoid) return 1.f / (1.f + __expf(-v));
  return v;
}

// One thread per 8 channels of one pixel: 16-byte (fp16) or 2x16-byte (fp32) accesses. Index
// arithmetic is 32-bit (launchers check the range); only addresses are 64-bit.
template <class T>
__global__ void channel_map_vec8(const T* __restrict__ x, long long x_ld, T* __restrict__ y, long long y_ld, int pixels,
                                 int channels, const float* __restrict__ scale, const float* __restrict__ shift,
                                 Act act) {
  pdl_wait();
  pdl_launch_dependents();
  const int groups = channels >> 3;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= pixels * groups) return;
  const int p = i / groups;
  const int c0 = (i - p * groups) << 3;
  Vec8<T> v;
  v.load(x + p * x_ld + c0);
  float s[8], t[8];
  load8(scale, c0, 1.f, s);
  load8(shift, c0, 0.f, t);
#pragma unroll
  for (int j = 0; j < 8; ++j) v.set(j, activate(v.get(j) * s[j] + t[j], act));
  v.store(y + p * y_ld + c0);
}

template <class T>
__global__ void channel_map_scalar(const T* __restrict__ x, long long x_ld, T* __restrict__ y, long long y_ld,
                                   int pixels, int channels, const float* __restrict__ scale,
                                   const float* __restrict__ shift, Act act) {
  pdl_wait();
  pdl_launch_dependents();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= pixels * channels) return;
  const int p = i / channels;
  const int c = i - p * channels;
  float f = to_float(x[p * x_ld + c]);
  if (scale) f *= scale[c];
  if (shift) f += shift[c];
  y[p * y_ld + c] = from_float<T>(activate(f, act));
}

// One thread per pixel: c reads, one plane apart (coalesced across the warp), and the pixel's
// c_pad channels written as 16-byte vectors when c_pad is a multiple of 8.
template <class T>
__global__ void nchw_f32_to_nhwc(const float* __restrict__ x, int n, int c, int h, int w, T* __restrict__ y,
                                 long long y_ld, int c_pad) {
  pdl_wait();
  pdl_launch_dependents();
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int hw = h * w;
  if (i >= n * hw) return;
  const int img = i / hw;
  const int pix = i - img * hw;
  const float* src = x + static_cast<long long>(img) * c * hw + pix;
  T* dst = y + i * y_ld;
  if (c_pad % 8 == 0) {
    for (int c0 = 0; c0 < c_pad; c0 += 8) {
      Vec8<T> v;
#pragma unroll
      for (int j = 0; j < 8; ++j) v.set(j, c0 + j < c ? src[static_cast<long long>(c0 + j) * hw] : 0.f);
      v.store(dst + c0);
    }
  } else {
    for (int ch = 0; ch < c_pad; ++ch) dst[ch] = from_float<T>(ch < c ? src[static_cast<long long>(ch) * hw] : 0.f);
  }
}

// One thread per output (blocked) pixel, writing its c_pad channels as 16-byte vectors.
template <class T>
__global__ void nchw_f32_to_nhwc_s2d(const float* __restrict__ x, int n, int c, int h, int w, T* __restrict__ y,
                                     long long y_ld, int c_pad) {
  pdl_wait();
  pdl_launch_dependents();
  const int h2 = (h + 1) / 2, w2 = (w + 1) / 2;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n * h2 * w2) return;
  const int img = i / (h2 * w2);
  const int rem = i - img * h2 * w2;
  const int yy = rem / w2;
  const int xx = rem - yy * w2;
  const float* src = x + static_cast<long long>(img) * c * h * w;
  T* dst = y + i * y_ld;
  const auto value = [&](int k) {  // channel k = (dy * 2 + dx) * c + ch
    const int block = k / c;
    const int ch = k - block * c;
    const int row = 2 * yy + (block >> 1);
    const int col = 2 * xx + (block & 1);
    const bool inside = k < 4 * c && row < h && col < w;
    return inside ? src[(static_cast<long long>(ch) * h + row) * w + col] : 0.f;
  };
  int c0 = 0;
  for (; c0 + 8 <= c_pad; c0 += 8) {
    Vec8<T> v;
#pragma unroll
    for (int j = 0; j < 8; ++j) v.set(j, value(c0 + j));
    v.store(dst + c0);
  }
  for (; c0 < c_pad; ++c0) dst[c0] = from_float<T>(value(c0));
}

template <class T>
__global__ void nhwc_to_nchw_f32(const T* __restrict__ x, long long x_ld, int n, int c, int h, int w,
                                 float* __restrict__ y) {
  pdl_wait();
  pdl_launch_dependents();
  // One thread per output element, in NCHW order: the writes coalesce, the reads hit cache.
  const long long i = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
  const long long hw = static_cast<long long>(h) * w;
  if (i >= n * c * hw) return;
  const long long img = i / (c * hw);
  const long long rem = i - img * c * hw;
  const long long ch = rem / hw;
  const long long pix = rem - ch * hw;
  y[i] = to_float(x[(img * hw + pix) * x_ld + ch]);
}

unsigned blocks_for(long long work, int threads) { return static_cast<unsigned>((work + threads - 1) / threads); }

bool aligned16(const void* p) { return (reinterpret_cast<unsigned long long>(p) & 15) == 0; }

constexpr long long kMaxIndex = 0x7fffffffLL;

template <class T>
cudaError_t channel_map(const void* x, long long x_ld, void* y, long long y_ld, long long pixels, int channels,
                        const float* scale, const float* shift, Act act, cudaStream_t stream) {
  if (pixels <= 0 || channels <= 0) return cudaSuccess;
  if (pixels * channels > kMaxIndex) return cudaErrorInvalidValue;
  constexpr int kThreads = 256;
  constexpr int kVecElems = 16 / sizeof(T);  // elements per 16 bytes: loads stay aligned
  const bool vec = channels % 8 == 0 && x_ld % kVecElems == 0 && y_ld % kVecElems == 0 && aligned16(x) &&
                   aligned16(y) && aligned16(scale) && aligned16(shift);
  cudaError_t status = cudaSuccess;
  if (vec) {
    const long long work = pixels * (channels / 8);
    status =
        launch_pdl(channel_map_vec8<T>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream, static_cast<const T*>(x),
                   x_ld, static_cast<T*>(y), y_ld, static_cast<int>(pixels), channels, scale, shift, act);
  } else {
    status = launch_pdl(channel_map_scalar<T>, dim3(blocks_for(pixels * channels, kThreads)), kThreads, 0, stream,
                        static_cast<const T*>(x), x_ld, static_cast<T*>(y), y_ld, static_cast<int>(pixels), channels,
                        scale, shift, act);
  }
  return status;
}

// Eight halves (16 bytes) per thread where the whole vector is in range, one at a time at the tail.
__global__ void half_to_float(const __half* __restrict__ x, float* __restrict__ y, long long count) {
  const long long i = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) * 8;
  if (i + 8 <= count) {
    const uint4 packed = *reinterpret_cast<const uint4*>(x + i);
    const __half2* h = reinterpret_cast<const __half2*>(&packed);
    float4 lo, hi;
    const float2 a = __half22float2(h[0]), b = __half22float2(h[1]), c = __half22float2(h[2]), d = __half22float2(h[3]);
    lo = make_float4(a.x, a.y, b.x, b.y);
    hi = make_float4(c.x, c.y, d.x, d.y);
    reinterpret_cast<float4*>(y + i)[0] = lo;
    reinterpret_cast<float4*>(y + i)[1] = hi;
  } else {
    for (long long k = i; k < count; ++k) y[k] = __half2float(x[k]);
  }
}

}  // namespace

cudaError_t launch_channel_map(const void* x, long long x_ld, void* y, long long y_ld, long long pixels, int channels,
                               const float* scale, const float* shift, Act act, bool fp16, cudaStream_t stream) {
  return fp16 ? channel_map<__half>(x, x_ld, y, y_ld, pixels, channels, scale, shift, act, stream)
              : channel_map<float>(x, x_ld, y, y_ld, pixels, channels, scale, shift, act, stream);
}

cudaError_t launch_nchw_f32_to_nhwc(const float* x, int n, int c, int h, int w, void* y, long long y_ld, int c_pad,
                                    bool fp16, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const long long work = static_cast<long long>(n) * h * w;
  if (work == 0) return cudaSuccess;
  if (work * c_pad > kMaxIndex) return cudaErrorInvalidValue;
  cudaError_t status = cudaSuccess;
  if (fp16) {
    status = launch_pdl(nchw_f32_to_nhwc<__half>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream, x, n, c, h, w,
                        static_cast<__half*>(y), y_ld, c_pad);
  } else {
    status = launch_pdl(nchw_f32_to_nhwc<float>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream, x, n, c, h, w,
                        static_cast<float*>(y), y_ld, c_pad);
  }
  return status;
}

cudaError_t launch_nchw_f32_to_nhwc_s2d(const float* x, int n, int c, int h, int w, void* y, long long y_ld, int c_pad,
                                        bool fp16, cudaStream_t stream) {
  constexpr int kThreads = 256;
  const long long work = static_cast<long long>(n) * ((h + 1) / 2) * ((w + 1) / 2);
  if (work == 0) return cudaSuccess;
  if (work * c_pad > kMaxIndex) return cudaErrorInvalidValue;
  cudaError_t status = cudaSuccess;
  if (fp16) {
    status = launch_pdl(nchw_f32_to_nhwc_s2d<__half>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream, x, n, c, h,
                        w, static_cast<__half*>(y), y_ld, c_pad);
  } else {
    status = launch_pdl(nchw_f32_to_nhwc_s2d<float>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream, x, n, c, h,
                        w, static_cast<float*>(y), y_ld, c_pad);
  }
  return status;
}

cudaError_t launch_nhwc_to_nchw_f32(const void* x, long long x_ld, int n, int c, int h, int w, float* y, bool fp16,
                                    cudaStream_t stream) {
  constexpr int kThreads = 256;
  const long long work = static_cast<long long>(n) * c * h * w;
  if (work == 0) return cudaSuccess;
  cudaError_t status = cudaSuccess;
  if (fp16) {
    status = launch_pdl(nhwc_to_nchw_f32<__half>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream,
                        static_cast<const __half*>(x), x_ld, n, c, h, w, y);
  } else {
    status = launch_pdl(nhwc_to_nchw_f32<float>, dim3(blocks_for(work, kThreads)), kThreads, 0, stream,
                        static_cast<const float*>(x), x_ld, n, c, h, w, y);
  }
  return status;
}

cudaError_t launch_half_to_float(const void* x, float* y, long long count, cudaStream_t stream) {
  constexpr int kThreads = 256;
  if (count == 0) return cudaSuccess;
  // 16-byte vectors need 16-byte aligned rows; the engine's buffers come from cudaMalloc.
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(y) % 16 != 0)
    return cudaErrorInvalidValue;
  const long long vectors = (count + 7) / 8;
  return device::launch(half_to_float, dim3(static_cast<unsigned>((vectors + kThreads - 1) / kThreads)), dim3(kThreads),
                        0, stream, static_cast<const __half*>(x), y, count);
}

}  // namespace chexrt::cuda
