// Device-side helpers shared by the kernels: asynchronous copies, tensor-core fragments and
// 16-byte vectors of fp16/fp32. Only .cu files include this.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <cstdint>
#include <mutex>

namespace chexrt::cuda::device {

/// 16-byte global -> shared copy that bypasses L1 (cp.async.cg). With src_bytes == 0 nothing is
/// read and the 16 bytes are zero-filled: that is how padding and tails stay exact.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
/// The same through L1 (cp.async.ca), for data that neighbouring threads of the CTA read again.
__device__ __forceinline__ void cp_async_16_ca(void* smem, const void* gmem, int src_bytes) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

/// Programmatic dependent launch (sm_90): a kernel launched with
/// cudaLaunchAttributeProgrammaticStreamSerialization may start while the previous kernel of the
/// stream still runs; pdl_wait() blocks until that kernel has finished and its writes are
/// visible (a no-op for a normal launch). Before it a kernel may only read constants (weights)
/// and must write nothing. pdl_launch_dependents() lets the next such kernel start launching.
__device__ __forceinline__ void pdl_wait() { asm volatile("griddepcontrol.wait;\n" ::: "memory"); }
__device__ __forceinline__ void pdl_launch_dependents() { asm volatile("griddepcontrol.launch_dependents;\n" ::); }

/// Host side: launches `kernel` and returns this launch's own error (`<<<>>>` followed by
/// cudaGetLastError() would also return an earlier call's error left on the thread).
template <class Kernel, class... Args>
cudaError_t launch(Kernel kernel, dim3 grid, dim3 threads, size_t smem, cudaStream_t stream, Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = threads;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

/// Host side: launches `kernel` with programmatic stream serialization (see pdl_wait).
template <class Kernel, class... Args>
cudaError_t launch_pdl(Kernel kernel, dim3 grid, int threads, size_t smem, cudaStream_t stream, Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute;
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

/// Host side: a value computed once per device, for the current device when asked. Engines may
/// run on several GPUs of one process (`chexrt serve --gpus`): a kernel attribute set with
/// cudaFuncSetAttribute holds for the current device's copy of the kernel only (the driver API's
/// cuKernelSetAttribute takes the device), and devices may differ (multiprocessor count).
template <class T>
class PerDevice {
 public:
  static constexpr int kMaxDevices = 64;
  /// compute() on the current device's first request, its result after; `fallback` when there
  /// is no current device.
  template <class Compute>
  T get(Compute&& compute, T fallback) {
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= kMaxDevices) return fallback;
    std::call_once(flags_[device], [&] { values_[device] = compute(); });
    return values_[device];
  }

 private:
  std::once_flag flags_[kMaxDevices];
  T values_[kMaxDevices]{};
};

/// Host side: `set_up()` (cudaFuncSetAttribute calls for one kernel) once per device, its
/// status kept: call it before each launch of the kernel.
template <class SetUp>
cudaError_t once_per_device(PerDevice<cudaError_t>& done, SetUp&& set_up) {
  return done.get(set_up, cudaErrorInvalidDevice);
}

/// Host side: the current device's multiprocessor count, queried once per device (0 if the query
/// fails), for persistent kernels that size their grid to the GPU.
inline int multiprocessor_count() {
  static PerDevice<int> counts;
  return counts.get(
      [] {
        int device = 0, n = 0;
        if (cudaGetDevice(&device) != cudaSuccess ||
            cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
          return 0;
        }
        return n;
      },
      0);
}

/// Host side: lets `kernel` use `smem` bytes of dynamic shared memory (beyond 48 KB must be
/// opted into) and thread-block clusters beyond 8 CTAs (Hopper's non-portable sizes).
template <class Kernel>
cudaError_t allow_smem_and_large_clusters(Kernel kernel, size_t smem) {
  const cudaError_t e =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (e != cudaSuccess) return e;
  return cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
}

/// Host side: launches `kernel` on thread-block clusters of `cluster` CTAs, with programmatic
/// stream serialization as launch_pdl. The kernel must allow the cluster size (beyond 8 CTAs:
/// cudaFuncAttributeNonPortableClusterSizeAllowed); a size the device cannot schedule fails here.
template <class Kernel, class... Args>
cudaError_t launch_cluster_pdl(Kernel kernel, dim3 grid, dim3 cluster, int threads, size_t smem, cudaStream_t stream,
                               Args... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attributes[2];
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = cluster.x;
  attributes[0].val.clusterDim.y = cluster.y;
  attributes[0].val.clusterDim.z = cluster.z;
  attributes[1].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attributes[1].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attributes;
  config.numAttrs = 2;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

/// Four 8x8 fp16 matrices from shared memory; lane i gives the address of row i % 8 of matrix
/// i / 8, and register j receives matrix j laid out as an mma fragment.
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(s));
}

/// D = A * B + D, m16n8k16, fp16 operands, fp32 accumulators (PTX ISA, "mma.m16n8k16").
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t as_u32(__half2 h) { return *reinterpret_cast<uint32_t*>(&h); }
__device__ __forceinline__ __half2 as_half2(uint32_t u) { return *reinterpret_cast<__half2*>(&u); }

/// Zeroes a warp's mma accumulators ([M 16-row blocks][N 8-column blocks][4]).
template <int M, int N>
__device__ __forceinline__ void zero_accumulators(float (&acc)[M][N][4]) {
#pragma unroll
  for (int i = 0; i < M; ++i)
#pragma unroll
    for (int j = 0; j < N; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[i][j][e] = 0.f;
}

/// The B fragments of a warp's kNI 8-column mma tiles for one k16 slice. `bs` points at the
/// slice's first k in the row of the warp's first output channel; rows (output channels, k
/// contiguous) are `ldb` halves apart. Each ldmatrix.x4 gives two tiles.
template <int kNI>
__device__ __forceinline__ void load_b_fragments(uint32_t (&bf)[kNI][2], const __half* bs, int ldb, int lane) {
  static_assert(kNI % 2 == 0, "B fragments come in pairs of 8-column tiles");
#pragma unroll
  for (int nj = 0; nj < kNI / 2; ++nj) {
    uint32_t r[4];
    ldmatrix_x4(r, bs + (nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * ldb + ((lane >> 3) & 1) * 8);
    bf[2 * nj][0] = r[0];
    bf[2 * nj][1] = r[1];
    bf[2 * nj + 1][0] = r[2];
    bf[2 * nj + 1][1] = r[3];
  }
}

/// DenseNet's pre-activation batch norm + ReLU on an A fragment of one k16 slice, in fp16:
/// a = max(a * scale + shift, 0). Registers 0 and 1 hold k = 2t, 2t + 1 of the slice (scale s_lo,
/// shift t_lo), registers 2 and 3 hold k + 8 (s_hi, t_hi).
__device__ __forceinline__ void affine_relu_fragment(uint32_t (&af)[4], __half2 s_lo, __half2 s_hi, __half2 t_lo,
                                                     __half2 t_hi) {
  const __half2 zero = __float2half2_rn(0.f);
  af[0] = as_u32(__hmax2(__hfma2(as_half2(af[0]), s_lo, t_lo), zero));
  af[1] = as_u32(__hmax2(__hfma2(as_half2(af[1]), s_lo, t_lo), zero));
  af[2] = as_u32(__hmax2(__hfma2(as_half2(af[2]), s_hi, t_hi), zero));
  af[3] = as_u32(__hmax2(__hfma2(as_half2(af[3]), s_hi, t_hi), zero));
}

/// Eight consecutive channels, as one 16-byte load or store.
template <class T>
struct Vec8;
template <>
struct Vec8<__half> {
  uint4 raw;
  __device__ __forceinline__ float get(int i) const { return __half2float(reinterpret_cast<const __half*>(&raw)[i]); }
  __device__ __forceinline__ void set(int i, float v) { reinterpret_cast<__half*>(&raw)[i] = __float2half_rn(v); }
  __device__ __forceinline__ void load(const __half* p) { raw = *reinterpret_cast<const uint4*>(p); }
  __device__ __forceinline__ void store(__half* p) const { *reinterpret_cast<uint4*>(p) = raw; }
};
template <>
struct Vec8<float> {
  float4 lo, hi;
  __device__ __forceinline__ float get(int i) const {
    return i < 4 ? reinterpret_cast<const float*>(&lo)[i] : reinterpret_cast<const float*>(&hi)[i - 4];
  }
  __device__ __forceinline__ void set(int i, float v) {
    (i < 4 ? reinterpret_cast<float*>(&lo)[i] : reinterpret_cast<float*>(&hi)[i - 4]) = v;
  }
  __device__ __forceinline__ void load(const float* p) {
    lo = reinterpret_cast<const float4*>(p)[0];
    hi = reinterpret_cast<const float4*>(p)[1];
  }
  __device__ __forceinline__ void store(float* p) const {
    reinterpret_cast<float4*>(p)[0] = lo;
    reinterpret_cast<float4*>(p)[1] = hi;
  }
};

/// Split-K within a thread-block cluster: eight output channels of one pixel, the sum of `bias`
/// (8 values, or null) and the fp32 partial sums at `part` in the shared memory of CTAs
/// rank_base .. rank_base + ranks - 1 (distributed shared memory), ReLU if asked, stored as fp16
/// at y. Read in the fixed order first, first + 1, ... (cyclically): deterministic, and CTAs
/// that start at different ranks do not all read one CTA's shared memory at once.
template <class Cluster>
__device__ __forceinline__ void store_cluster_sum8(Cluster& cluster, const float* part, int rank_base, int ranks,
                                                   int first, const float* bias, bool relu, __half* y) {
  float v[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = bias ? bias[j] : 0.f;
#pragma unroll 4
  for (int i = 0; i < ranks; ++i) {
    const int z = first + i < ranks ? first + i : first + i - ranks;
    const float* src = cluster.map_shared_rank(part, rank_base + z);
    const float4 lo = reinterpret_cast<const float4*>(src)[0];
    const float4 hi = reinterpret_cast<const float4*>(src)[1];
    v[0] += lo.x, v[1] += lo.y, v[2] += lo.z, v[3] += lo.w;
    v[4] += hi.x, v[5] += hi.y, v[6] += hi.z, v[7] += hi.w;
  }
  Vec8<__half> out;
#pragma unroll
  for (int j = 0; j < 8; ++j) out.set(j, relu ? fmaxf(v[j], 0.f) : v[j]);
  out.store(y);
}

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

/// The A rows (output pixels) one thread of an implicit-GEMM convolution copies: row i is
/// pixel m0 + tid / 4 + i * kThreads / 4. For each, the start of its image in the NHWC input
/// (pointwise: of the pixel itself), the top-left input coordinate of its window, and whether the
/// pixel exists. The rows are the same at every K stage, so kernels resolve them once.
template <int kChunks, int kThreads, bool kPointwise, class Elem, class Args>
__device__ __forceinline__ void resolve_a_rows(const Args& a, const Elem* x, int tid, int m0,
                                               const Elem* (&base)[kChunks], int (&h0)[kChunks], int (&w0)[kChunks],
                                               bool (&valid)[kChunks]) {
  const int out_hw = a.out_h * a.out_w;
  const int pixels = a.batch * out_hw;
#pragma unroll
  for (int i = 0; i < kChunks; ++i) {
    const int p = m0 + (tid >> 2) + i * (kThreads / 4);
    valid[i] = p < pixels;
    const int pp = valid[i] ? p : 0;
    if (kPointwise) {
      base[i] = x + static_cast<long long>(pp) * a.x_ld;
      h0[i] = w0[i] = 0;
    } else {
      const int n = pp / out_hw;
      const int rem = pp - n * out_hw;
      const int oh = rem / a.out_w;
      const int ow = rem - oh * a.out_w;
      h0[i] = oh * a.stride_h - a.pad_h;
      w0[i] = ow * a.stride_w - a.pad_w;
      base[i] = x + static_cast<long long>(n) * a.in_h * a.in_w * a.x_ld;
    }
  }
}

/// Copies this thread's A chunks of one K stage into shared memory (row r of the stage at
/// sa_stage + r * lds), 16 bytes each, for rows resolved by resolve_a_rows(). `chunk` is the
/// 16-byte chunk index along K: pointwise convolutions read those channels of each pixel; the
/// others the chunk's tap of the window, zero-filled where the tap lies in the padding or past K.
/// Window taps go through L1 (.ca): neighbouring output pixels read the same input pixels at
/// other taps (9 times each for a 3x3 kernel).
template <int kChunks, int kThreads, bool kPointwise, class Elem, class Args>
__device__ __forceinline__ void load_a_stage(const Args& a, const Elem* x, Elem* sa_stage, int lds, int tid, int chunk,
                                             int c_chunks, int taps, const Elem* const (&base)[kChunks],
                                             const int (&h0)[kChunks], const int (&w0)[kChunks],
                                             const bool (&valid)[kChunks]) {
  constexpr int kVec = 16 / sizeof(Elem);  // elements per 16-byte chunk
  const int a_col = tid & 3;
  if (kPointwise) {
    const int c0 = chunk * kVec;
    const bool in_k = c0 < a.in_c;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      const int row = (tid >> 2) + i * (kThreads / 4);
      const bool ok = valid[i] && in_k;
      cp_async_16(sa_stage + row * lds + a_col * kVec, ok ? base[i] + c0 : x, ok ? 16 : 0);
    }
  } else {
    const int tap = chunk / c_chunks;
    const int c0 = (chunk - tap * c_chunks) * kVec;
    const int r = tap / a.kernel_w;
    const int s = tap - r * a.kernel_w;
    const bool in_k = tap < taps;
#pragma unroll
    for (int i = 0; i < kChunks; ++i) {
      const int row = (tid >> 2) + i * (kThreads / 4);
      const int h = h0[i] + r * a.dil_h;
      const int w = w0[i] + s * a.dil_w;
      const bool ok = valid[i] && in_k && static_cast<unsigned>(h) < static_cast<unsigned>(a.in_h) &&
                      static_cast<unsigned>(w) < static_cast<unsigned>(a.in_w);
      const Elem* src = ok ? base[i] + (static_cast<long long>(h) * a.in_w + w) * a.x_ld + c0 : x;
      cp_async_16_ca(sa_stage + row * lds + a_col * kVec, src, ok ? 16 : 0);
    }
  }
}

}  // namespace chexrt::cuda::device
