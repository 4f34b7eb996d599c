// The FP32 counterpart of conv_gemm.cuh: the same implicit GEMM (NHWC, channel-strided views,
// optional scale/shift/ReLU prologue for 1x1 convolutions) on the FP32 units with FFMA only, so
// that an FP32 engine is exact to fp32 rounding (no TF32). Requirements: C, x_ld, y_ld and base
// addresses multiples of 4 elements (16 bytes); out_channels a multiple of the tile's BN;
// weights [out_channels][k_pad] in (r, s, c) order, k_pad a multiple of 16, zero past r*s*C.
#pragma once

#include <cuda_runtime.h>

#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"

namespace chexrt::cuda {

struct ConvGemmF32Args {
  const float* x = nullptr;
  long long x_ld = 0;
  int batch = 0, in_h = 0, in_w = 0, in_c = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int out_h = 0, out_w = 0, out_c = 0;
  const float* weight = nullptr;     ///< [out_c][k_pad].
  const float* weight_lo = nullptr;  ///< 3xTF32 kernel only: the tf32 residual of the weights.
  int k_pad = 0;
  const float* pro_scale = nullptr;  ///< [k_pad], zero-padded; with a prologue only.
  const float* pro_shift = nullptr;
  bool pro_relu = false;
  const float* bias = nullptr;  ///< [out_c] or null.
  bool relu = false;
  float* y = nullptr;
  long long y_ld = 0;
};

/// A CTA tile: BM pixels x BN channels, each thread tm pixels x tn channels.
struct ConvGemmF32Tile {
  int bm, bn, tm, tn;
  bool operator==(const ConvGemmF32Tile& o) const { return bm == o.bm && bn == o.bn && tm == o.tm && tn == o.tn; }
  std::string name() const {
    return std::to_string(bm) + "x" + std::to_string(bn) + "_t" + std::to_string(tm) + "x" + std::to_string(tn);
  }
};

/// Variants as for fp16, less the halo kernel; the prologue may or may not apply ReLU.
const std::vector<ConvGemmF32Tile>& conv_gemm_f32_tiles(ConvGemmVariant variant);

cudaError_t launch_conv_gemm_f32(const ConvGemmF32Args& args, ConvGemmVariant variant, const ConvGemmF32Tile& tile,
                                 cudaStream_t stream);

}  // namespace chexrt::cuda
