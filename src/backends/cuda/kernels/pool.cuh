// Pooling on NHWC views, fp16 or fp32, with an optional per-channel prologue applied to every
// input element before it is pooled: v = act(x * scale[c] + shift[c]). With the prologue an
// average pool is DenseNet's transition "batch norm + ReLU + 2x2 average pool" in one pass
// (the pool runs before the 1x1 conv, see src/passes/pool_before_conv.cpp).
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/kernels/pointwise.cuh"

namespace chexrt::cuda {

struct PoolArgs {
  const void* x = nullptr;
  long long x_ld = 0;
  int batch = 0, in_h = 0, in_w = 0, channels = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int pad_h = 0, pad_w = 0, pad_h_end = 0, pad_w_end = 0;  ///< Begin and end padding.
  int out_h = 0, out_w = 0;
  bool max = true;                   ///< Max pool, else average.
  bool count_include_pad = false;    ///< Average pool divisor: whole window, else its valid part.
  const float* pro_scale = nullptr;  ///< Optional prologue (fp32 [channels]).
  const float* pro_shift = nullptr;
  Act pro_act = Act::kNone;
  void* y = nullptr;
  long long y_ld = 0;
};

/// Padded positions take no part in a max and count only with count_include_pad in a mean
/// (ONNX MaxPool / AveragePool semantics).
cudaError_t launch_pool2d(const PoolArgs& args, bool fp16, cudaStream_t stream);

}  // namespace chexrt::cuda
