// One DenseNet dense layer in one kernel, fp16 NHWC, fp32 accumulation:
//
//   a[p, c]  = max(x[p, c] * scale[c] + shift[c], 0)             (pre-activation BN + ReLU)
//   h[p, j]  = max(bias1[j] + sum_c a[p, c] * w1[j, c], 0)          (1x1 conv, 128 channels)
//   y[p, o]  = act(bias3[o] + sum_{r,s,j} h[p + (r-1, s-1), j] * w3[o, (r, s, j)])   (3x3, pad 1)
//
// with h = 0 outside the image (the 3x3's zero padding). A CTA takes one image's band of
// `band` rows at full width: it computes h for the band plus a one-pixel border,
// (band + 2) x (W + 2) pixels, into shared memory with tensor cores, then the 3x3 from there,
// so the 128-channel intermediate never goes to memory (the pair of kernels writes and reads it:
// 256 bytes per pixel). The price: h is computed again for the border, (band+2)(W+2) / (band W)
// times the 1x1's work (1.55x at 56x56 with 4-row bands, 1.31x at 14x14, 1.65x at 7x7).
//
// x is the block buffer's channel prefix (pixel stride x_ld), y the layer's 32-channel slice of
// the same buffer (pixel stride y_ld): in place, as the pair does. Requirements: in_c, x_ld,
// y_ld and both base addresses multiples of 8 elements; w1 packed [128][k_pad1], k_pad1 a
// multiple of 32 with zeros past in_c, scale / shift zero-padded to k_pad1; w3 packed
// [32][9 * 128] in (r, s, j) order; dense_layer_band(height, width) > 0.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace chexrt::cuda {

constexpr int kDenseMid = 128;  ///< Channels of the 1x1's output (DenseNet-121's 4 x growth).
constexpr int kDenseOut = 32;   ///< Channels of the 3x3's output (the growth rate).

struct DenseLayerArgs {
  const __half* x = nullptr;
  long long x_ld = 0;
  int batch = 0, height = 0, width = 0, in_c = 0;
  const __half* pro_scale = nullptr;  ///< [k_pad1]
  const __half* pro_shift = nullptr;  ///< [k_pad1]
  const __half* w1 = nullptr;         ///< [128][k_pad1]
  int k_pad1 = 0;
  const float* bias1 = nullptr;  ///< [128]
  const __half* w3 = nullptr;    ///< [32][1152]
  const float* bias3 = nullptr;  ///< [32] or null
  bool relu3 = false;
  __half* y = nullptr;
  long long y_ld = 0;
};

/// Rows per band for this image size (the largest divisor of height whose band holds at most
/// 256 output pixels and whose bordered band at most 384), or 0 when no band fits.
int dense_layer_band(int height, int width);

/// Dynamic shared memory of a launch for this image size.
size_t dense_layer_smem_bytes(int height, int width);

/// Enqueues the fused layer (a plain launch: it does not overlap the previous kernel).
cudaError_t launch_dense_layer_f16(const DenseLayerArgs& args, cudaStream_t stream);

}  // namespace chexrt::cuda
