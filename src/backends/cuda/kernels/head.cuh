// The classifier head in one kernel, one CTA per image (1024 threads, the image's pixels pooled
// in parallel):
//
//   pooled[c] = mean_{h,w} pro(x[n, h, w, c]),   pro(v) = act(v * scale[c] + shift[c]) or v
//   y[n, k]   = act( sum_c weight[k, c] * pooled[c] + bias[k] )
//
// DenseNet's last batch norm + ReLU, global average pool, Linear and sigmoid never leave the
// chip. With weight == null it is a global average pool (y[n, c] = pooled[c]); with hw == 1 a
// fully connected layer on an [N, C] input.
#pragma once

#include <cuda_runtime.h>

#include "backends/cuda/kernels/pointwise.cuh"

namespace chexrt::cuda {

struct HeadArgs {
  const void* x = nullptr;  ///< NHWC view, fp16 or fp32 (x_fp16).
  long long x_ld = 0;
  bool x_fp16 = false;
  int batch = 0, hw = 0, channels = 0;
  const float* pro_scale = nullptr;  ///< Optional prologue, fp32 [channels].
  const float* pro_shift = nullptr;
  Act pro_act = Act::kNone;
  const float* weight = nullptr;  ///< fp32 [classes][channels], or null for the pool alone.
  const float* bias = nullptr;    ///< fp32 [classes] or null.
  int classes = 0;
  Act act = Act::kNone;
  void* y = nullptr;  ///< [batch][classes] (or [batch][channels]), fp16 or fp32 (y_fp16).
  bool y_fp16 = false;
};

cudaError_t launch_classifier_head(const HeadArgs& args, cudaStream_t stream);

}  // namespace chexrt::cuda
