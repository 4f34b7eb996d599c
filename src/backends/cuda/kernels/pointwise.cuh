// Per-pixel kernels on NHWC views (element (n, h, w, c) at ((n*H + h)*W + w)*ld + c): layout
// conversion at the engine's edges, and one channel map that serves as ChannelAffine (DenseNet's
// batch norm + ReLU), bias + activation after a library convolution, and slice copies (a Concat
// that could not be done in place). Activations are fp16 or fp32 (`fp16`).
#pragma once

#include <cuda_runtime.h>

namespace chexrt::cuda {

enum class Act { kNone = 0, kRelu = 1, kSigmoid = 2 };

/// y[p, c] = act(x[p, c] * scale[c] + shift[c]) for p < pixels, c < channels; scale == null
/// means 1, shift == null means 0 (so with neither it is a copy). scale/shift are fp32.
cudaError_t launch_channel_map(const void* x, long long x_ld, void* y, long long y_ld, long long pixels, int channels,
                               const float* scale, const float* shift, Act act, bool fp16, cudaStream_t stream);

/// Host-order input, float32 NCHW [n, c, h, w] -> NHWC view with `c_pad` channels written
/// (channels c..c_pad-1 are zero, so padded weights multiply zeros).
cudaError_t launch_nchw_f32_to_nhwc(const float* x, int n, int c, int h, int w, void* y, long long y_ld, int c_pad,
                                    bool fp16, cudaStream_t stream);

/// Host-order float32 NCHW [n, c, h, w] -> space-to-depth NHWC [n, ceil(h/2), ceil(w/2), c_pad]:
/// channel (dy * 2 + dx) * c + ch of pixel (Y, X) is x[ch][2Y + dy][2X + dx] (0 past the edge),
/// channels 4c..c_pad-1 are zero.
cudaError_t launch_nchw_f32_to_nhwc_s2d(const float* x, int n, int c, int h, int w, void* y, long long y_ld, int c_pad,
                                        bool fp16, cudaStream_t stream);

/// y[i] = x[i] for i < count, IEEE half -> float32: host inputs given in half precision are
/// uploaded as they are (half the bytes) and widened here.
cudaError_t launch_half_to_float(const void* x, float* y, long long count, cudaStream_t stream);

/// NHWC view -> float32 NCHW [n, c, h, w] for the host.
cudaError_t launch_nhwc_to_nchw_f32(const void* x, long long x_ld, int n, int c, int h, int w, float* y, bool fp16,
                                    cudaStream_t stream);

}  // namespace chexrt::cuda
