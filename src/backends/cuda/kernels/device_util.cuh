// Device-side helpers shared by the kernels: asynchronous copies, tensor-core fragments and
// 16-byte vectors of fp16/fp32. Only .cu files include this.
#pragma once

#include <cuda_fp16.h>
#include <cstdint>

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

/// Eight consecutive channels, as one 16-byte load or store.
template <class T>
struct Vec8;
template <>
struct Vec8<__half> {
  uint4 raw;
  __device__ __forceinline__ float get(int i) const {
    return __half2float(reinterpret_cast<const __half*>(&raw)[i]);
  }
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

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
template <class T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }

}  // namespace chexrt::cuda::device
