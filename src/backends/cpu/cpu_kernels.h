// Hand-written kernels of the CPU backend, for the work oneDNN 2.6 does not do well or at all:
// its fast (JIT) primitives accept only dense tensors, while DenseNet's concatenation-free plan
// (src/builder/concat_plan.h) reads and writes channel slices of a wider buffer. Everything here
// works on NHWC views whose pixel stride may exceed their channel count, and is memory-bound:
// per-channel affine + ReLU (pre-activation batch norm), pooling with that affine fused in front,
// the classifier head, layout conversion at the engine's boundary, and slice copies.
//
// Activations are stored as float32 or bfloat16; arithmetic is always float32.
#pragma once

#include <cstdint>

namespace chexrt::cpu {

enum class Storage { kF32, kBf16 };

/// An NHWC activation tensor, possibly a channel slice of a wider buffer: element (n, y, x, c)
/// lives at element offset ((n * h + y) * w + x) * pixel_stride + c from `data`.
struct NhwcView {
  void* data = nullptr;
  Storage storage = Storage::kF32;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t pixel_stride = 0;  ///< Elements from one pixel to the next (>= c).
};

/// Optional per-channel y = act(x * scale[c] + shift[c]) applied to a kernel's input elements.
/// With scale == nullptr the values pass unchanged (then relu alone may still apply).
struct PreOp {
  const float* scale = nullptr;
  const float* shift = nullptr;
  bool relu = false;
};

/// y = pre(x), element by element (a copy when `pre` is empty); x and y have the same storage.
void transform(const NhwcView& x, const PreOp& pre, const NhwcView& y);

struct PoolWindow {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool average = false;
  /// Average only: divide by the taps inside the padded input, not just the real input (ONNX
  /// count_include_pad). Taps past the padded input (ceil_mode's last windows) never count.
  bool count_include_pad = false;
};

/// Max or average pooling of pre(x) (padding taps are zeros of pre(x) for average and ignored
/// for max, as in ONNX where padding belongs to the pool's own input).
void pool2d(const NhwcView& x, const PreOp& pre, const PoolWindow& window, const NhwcView& y);

/// y[n, k] = act(sum_c weight[k, c] * mean_hw(pre(x))[n, c] + bias[k]), act = sigmoid or
/// identity. `pooled` is caller scratch of x.n * x.c floats. y is dense [x.n, k] float32.
void classifier_head(const NhwcView& x, const PreOp& pre, const float* weight, const float* bias, int64_t k,
                     bool sigmoid, float* pooled, float* y);

// oneDNN's nChw16c float32 layout, the only one of its Winograd convolution: element
// (n, c, y, x) at (((n * C / 16 + c / 16) * h + y) * w + x) * 16 + c % 16, C a multiple of 16.

/// y = pre(x), with x an NHWC float32 view and y a dense nChw16c tensor of x's dims.
void transform_to_blocked16(const NhwcView& x, const PreOp& pre, float* y);
/// The copy back: x a dense nChw16c tensor of y's dims, y an NHWC float32 view.
void blocked16_to_nhwc(const float* x, const NhwcView& y);

/// Dense NCHW float32 <-> NHWC views, at the engine's inputs and outputs.
void nchw_to_nhwc(const float* src, const NhwcView& dst);
void nhwc_to_nchw(const NhwcView& src, float* dst);

/// bfloat16 conversions: round to nearest even; NaN stays NaN.
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t h);

}  // namespace chexrt::cpu
