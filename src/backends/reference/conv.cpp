// ONNX Conv, N-d (1-d, 2-d, 3-d, ...) with groups, strides, dilations, explicit pads and an
// optional bias, plus the fused `activation` = "relu" of src/ir/ops.h. Shape inference has made
// kernel_shape, strides, dilations and pads explicit.
//
// Method: direct convolution accumulated in double (not im2col, so no large scratch matrix).
// For image n and output channel m, an accumulator plane acc (every output position) starts at
// bias[m]; then for each input channel c of m's group and each kernel tap, every output row r
// (one index over all spatial axes but the last) adds the weight times a strided input row:
//     acc[r, ow] += w[m, c, tap] * x[n, c, in_row(r, tap), ow * stride + shift(tap)]
// The innermost loop runs over ow, contiguous in acc and, at stride 1, in x, so the compiler
// vectorizes it. Padding never reaches that loop: a tap whose input row lies in the padding is
// skipped for that row, and the ow range is clipped once per tap to the columns inside the input.
#include <algorithm>
#include <vector>

#include "backends/reference/kernel_util.h"
#include "ir/op_attributes.h"

namespace chexrt::reference {

namespace {

// floor(a / b) and ceil(a / b) for b > 0 and any sign of a.
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

}  // namespace

Status run_conv(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  const HostTensor& w = call.in(1);
  const HostTensor* bias = call.optional_in(2);
  HostTensor& y = call.out(0);
  const size_t spatial = x.dims().size() - 2;
  CHEXRT_ASSIGN_OR_RETURN(const ir::ConvAttributes attrs, ir::conv_attributes(call.node));
  const std::vector<int64_t>& kernel = attrs.kernel_shape;
  const std::vector<int64_t>& strides = attrs.strides;
  const std::vector<int64_t>& dilations = attrs.dilations;
  const std::vector<int64_t>& pads = attrs.pads;
  const int64_t group = attrs.group;
  if (x.dims().size() < 3 || kernel.size() != spatial) {
    return call.error("kernel_shape " + dims_to_string(kernel) + " does not fit input " + dims_to_string(x.dims()));
  }
  if (y.dims().size() != x.dims().size() || y.dims()[0] != x.dims()[0]) {
    return call.error("output " + dims_to_string(y.dims()) + " does not fit input " + dims_to_string(x.dims()));
  }
  const bool relu = call.attrs().get_string("activation", "") == "relu";

  const int64_t batch = x.dims()[0], in_channels = x.dims()[1], out_channels = y.dims()[1];
  if (group < 1 || in_channels % group != 0 || out_channels % group != 0) {
    return call.error("group=" + std::to_string(group) + " does not divide the channels");
  }
  const int64_t channels_per_group = in_channels / group, outputs_per_group = out_channels / group;
  Dims expected_w = {out_channels, channels_per_group};
  expected_w.insert(expected_w.end(), kernel.begin(), kernel.end());
  if (w.dims() != expected_w) {
    return call.error("weight " + dims_to_string(w.dims()) + " should be " + dims_to_string(expected_w));
  }
  if (bias != nullptr && bias->dims() != Dims{out_channels}) {
    return call.error("bias " + dims_to_string(bias->dims()) + " should be [" + std::to_string(out_channels) + "]");
  }
  const Dims in_sp(x.dims().begin() + 2, x.dims().end());
  const Dims out_sp(y.dims().begin() + 2, y.dims().end());
  const int64_t in_plane = num_elements(in_sp), out_plane = num_elements(out_sp);
  const size_t last = spatial - 1;
  const int64_t in_width = in_sp[last], out_width = out_sp[last], k_width = kernel[last];
  const int64_t stride_w = strides[last];
  const int64_t taps = num_elements(kernel);

  // Rows: every output position of the leading spatial axes (all but the last). For each row and
  // each tap of the leading kernel axes, row_offset is where the input row starts in a channel
  // plane, or -1 when that row is in the padding.
  const Dims out_rows_dims(out_sp.begin(), out_sp.end() - 1);
  const Dims k_rows_dims(kernel.begin(), kernel.end() - 1);
  const int64_t rows = num_elements(out_rows_dims), row_taps = num_elements(k_rows_dims);
  const std::vector<int64_t> in_strides = row_major_strides(in_sp);
  std::vector<int64_t> row_offset(static_cast<size_t>(rows * row_taps));
  for (int64_t t = 0; t < row_taps; ++t) {
    for (int64_t r = 0; r < rows; ++r) {
      int64_t offset = 0, rt = t, rr = r;
      for (size_t d = last; d-- > 0;) {
        const int64_t k = rt % kernel[d], o = rr % out_sp[d];
        rt /= kernel[d];
        rr /= out_sp[d];
        const int64_t i = o * strides[d] - pads[d] + k * dilations[d];
        if (i < 0 || i >= in_sp[d]) {
          offset = -1;
          break;
        }
        offset += i * in_strides[d];
      }
      row_offset[t * rows + r] = offset;
    }
  }
  // Along the last axis, tap kw reads column ow * stride_w + shift[kw]; it stays inside the input
  // for ow in [lo[kw], hi[kw]).
  std::vector<int64_t> shift(k_width), lo(k_width), hi(k_width);
  for (int64_t kw = 0; kw < k_width; ++kw) {
    shift[kw] = kw * dilations[last] - pads[last];
    lo[kw] = std::max<int64_t>(0, ceil_div(-shift[kw], stride_w));
    hi[kw] = std::min<int64_t>(out_width, floor_div(in_width - 1 - shift[kw], stride_w) + 1);
  }

  const float* xd = x.data<float>();
  const float* wd = w.data<float>();
  float* yd = y.data<float>();
  std::vector<double> acc(static_cast<size_t>(out_plane));
  for (int64_t n = 0; n < batch; ++n) {
    for (int64_t m = 0; m < out_channels; ++m) {
      const int64_t g = m / outputs_per_group;
      std::fill(acc.begin(), acc.end(), bias != nullptr ? static_cast<double>(bias->data<float>()[m]) : 0.0);
      for (int64_t cg = 0; cg < channels_per_group; ++cg) {
        const float* plane = xd + (n * in_channels + g * channels_per_group + cg) * in_plane;
        const float* wk = wd + (m * channels_per_group + cg) * taps;
        for (int64_t t = 0; t < row_taps; ++t) {
          for (int64_t kw = 0; kw < k_width; ++kw) {
            const double wv = wk[t * k_width + kw];
            for (int64_t r = 0; r < rows; ++r) {
              const int64_t offset = row_offset[t * rows + r];
              if (offset < 0) continue;
              double* a = acc.data() + r * out_width;
              const float* in = plane + offset;
              const int64_t s = shift[kw];
              // Stride 1 gets its own loop so that the contiguous case vectorizes for sure.
              if (stride_w == 1) {
                for (int64_t ow = lo[kw]; ow < hi[kw]; ++ow) a[ow] += wv * in[ow + s];
              } else {
                for (int64_t ow = lo[kw]; ow < hi[kw]; ++ow) a[ow] += wv * in[ow * stride_w + s];
              }
            }
          }
        }
      }
      float* out = yd + (n * out_channels + m) * out_plane;
      for (int64_t i = 0; i < out_plane; ++i) {
        const double v = relu ? std::max(acc[i], 0.0) : acc[i];
        out[i] = static_cast<float>(v);
      }
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::reference
