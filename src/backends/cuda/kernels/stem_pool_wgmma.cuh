// DenseNet's stem in one kernel on Hopper's wgmma (sm_90a): the 7x7 stride-2 convolution, run as
// the 4x4 stride-1 convolution over its space-to-depth input (to_space_to_depth in steps.cpp),
// with its bias and ReLU, then the 3x3 stride-2 max pool (padding 1).
//
// Why: the convolution's output is the network's largest activation (64 channels at 112x112: at
// batch 256, 411 MB that the separate pool reads back), and the stand-alone wgmma stem kernel
// reloads its 32 KB of weights for every 256 output pixels. Here a CTA loads the weights once,
// walks down a band of one image two convolution rows at a time, keeps the last three rows in
// shared memory and writes only the pooled rows.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace chexrt::cuda {

/// Channels of the space-to-depth input the kernel reads (the image's 3 channels x 2x2 = 12,
/// stored as 16) and output channels of the stem.
constexpr int kStemCin = 16;
constexpr int kStemCout = 64;
/// Weights per output channel: 4x4 taps x kStemCin.
constexpr int kStemK = 16 * kStemCin;

struct StemPoolArgs {
  /// Space-to-depth input [batch][in_h][in_w][x_ld], kStemCin channels read. The convolution:
  /// 4x4 taps, stride 1, padding 2 before and 1 after, so its output is in_h x in_w as well.
  const __half* x = nullptr;
  long long x_ld = 0;
  int batch = 0, in_h = 0, in_w = 0;
  const __half* weight = nullptr;  ///< [kStemCout][kStemK], (r, s, c) order.
  const float* bias = nullptr;     ///< [kStemCout] or null.
  bool relu = false;
  /// Pooled output [batch][in_h / 2][in_w / 2][y_ld], kStemCout channels written.
  __half* y = nullptr;
  long long y_ld = 0;
  /// Pooled rows per CTA (a CTA per band of each image): fewer, more CTAs for small batches,
  /// for one convolution row pair computed twice per band (the row above the band).
  int band = 0;
};

/// Whether the kernel computes this problem: even sizes with in_w <= 124 (two bordered rows
/// fill its 256-row tile), 16-byte aligned channel strides, band >= 1.
bool stem_pool_fits(const StemPoolArgs& args);

/// Enqueues the kernel (compute capability 9.0 only).
cudaError_t launch_stem_pool_wgmma(const StemPoolArgs& args, cudaStream_t stream);

}  // namespace chexrt::cuda
