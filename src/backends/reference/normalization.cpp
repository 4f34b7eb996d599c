// ONNX BatchNormalization (inference form and training_mode=1) and the fused ChannelAffine of
// src/ir/ops.h. Both work per channel (axis 1) of an [N, C, ...] tensor, in double.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/reference/kernel_util.h"

namespace chexrt::reference {

namespace {

struct ChannelLayout {
  int64_t batch = 0, channels = 0, spatial = 0;  // x is [batch, channels, spatial...]
};

Result<ChannelLayout> channel_layout(const KernelCall& call) {
  const Dims& d = call.in(0).dims();
  if (d.size() < 2) return call.error("input " + dims_to_string(d) + " has no channel axis");
  for (size_t i = 1; i < call.inputs.size(); ++i) {
    if (call.in(i).dims() != Dims{d[1]}) {
      return call.error("per-channel input " + std::to_string(i) + " is " + dims_to_string(call.in(i).dims()) +
                        ", expected [" + std::to_string(d[1]) + "]");
    }
  }
  return ChannelLayout{d[0], d[1], num_elements(Dims(d.begin() + 2, d.end()))};
}

}  // namespace

// Inference:  y = scale * (x - mean) / sqrt(var + epsilon) + bias, with the given mean and var.
// Training (training_mode=1): mean and var are the batch's own, over every axis but 1, with the
// biased (population) variance; the optional outputs are the updated running statistics
//   running_mean = mean_in * momentum + batch_mean * (1 - momentum), same for var
// (ONNX opset 14/15 BatchNormalization and its reference implementation).
Status run_batch_norm(const KernelCall& call) {
  CHEXRT_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(call));
  const double epsilon = call.attrs().get_float("epsilon", 1e-5f);
  const double momentum = call.attrs().get_float("momentum", 0.9f);
  const bool training = call.attrs().get_int("training_mode", 0) != 0;
  const float* x = call.in(0).data<float>();
  const float* scale = call.in(1).data<float>();
  const float* bias = call.in(2).data<float>();
  const float* mean_in = call.in(3).data<float>();
  const float* var_in = call.in(4).data<float>();
  float* y = call.out(0).data<float>();
  for (size_t i = 1; i < call.num_outputs(); ++i) {
    if (call.out(i).numel() != l.channels) return call.error("running statistics outputs must be [C]");
  }
  const double count = static_cast<double>(l.batch * l.spatial);
  for (int64_t c = 0; c < l.channels; ++c) {
    double mean = mean_in[c], var = var_in[c];
    if (training) {
      double sum = 0.0;
      for (int64_t n = 0; n < l.batch; ++n) {
        const float* p = x + (n * l.channels + c) * l.spatial;
        for (int64_t i = 0; i < l.spatial; ++i) sum += p[i];
      }
      mean = sum / count;
      double squares = 0.0;  // second pass: sum of squared deviations, no cancellation
      for (int64_t n = 0; n < l.batch; ++n) {
        const float* p = x + (n * l.channels + c) * l.spatial;
        for (int64_t i = 0; i < l.spatial; ++i) squares += (p[i] - mean) * (p[i] - mean);
      }
      var = squares / count;
      if (call.num_outputs() > 1) {
        call.out(1).data<float>()[c] = static_cast<float>(mean_in[c] * momentum + mean * (1.0 - momentum));
      }
      if (call.num_outputs() > 2) {
        call.out(2).data<float>()[c] = static_cast<float>(var_in[c] * momentum + var * (1.0 - momentum));
      }
    }
    const double factor = scale[c] / std::sqrt(var + epsilon);
    for (int64_t n = 0; n < l.batch; ++n) {
      const int64_t base = (n * l.channels + c) * l.spatial;
      for (int64_t i = 0; i < l.spatial; ++i) {
        y[base + i] = static_cast<float>((x[base + i] - mean) * factor + bias[c]);
      }
    }
  }
  return Status::ok_status();
}

// y = act(x * scale[c] + shift[c]), act = identity or relu.
Status run_channel_affine(const KernelCall& call) {
  CHEXRT_ASSIGN_OR_RETURN(ChannelLayout l, channel_layout(call));
  const bool relu = call.attrs().get_string("activation", "") == "relu";
  const float* x = call.in(0).data<float>();
  const float* scale = call.in(1).data<float>();
  const float* shift = call.in(2).data<float>();
  float* y = call.out(0).data<float>();
  for (int64_t n = 0; n < l.batch; ++n) {
    for (int64_t c = 0; c < l.channels; ++c) {
      const int64_t base = (n * l.channels + c) * l.spatial;
      for (int64_t i = 0; i < l.spatial; ++i) {
        const double v = static_cast<double>(x[base + i]) * scale[c] + shift[c];
        y[base + i] = static_cast<float>(relu ? std::max(v, 0.0) : v);
      }
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::reference
