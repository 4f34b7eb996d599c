// One importer function per Caffe layer type, the parameter checks, and the table that ties
// them together. Layers become chexrt's IR ops (ONNX semantics), NCHW as in Caffe.
#include "import/caffe/caffe_layers.h"

#include <algorithm>
#include <climits>

#include "ir/shape_inference.h"

namespace chexrt::caffe_import {

namespace {

constexpr int kMany = INT_MAX;

Result<int64_t> canonical_axis(int64_t axis, int64_t rank, const std::string& what) {
  if (axis < -rank || axis >= rank) {
    return invalid_argument(what + " " + std::to_string(axis) + " is out of range for a blob of " +
                            std::to_string(rank) + " axes");
  }
  return axis < 0 ? axis + rank : axis;
}

HostTensor filled(const Dims& dims, float value) {
  HostTensor t(DataType::kFloat32, dims);
  std::fill(t.data<float>(), t.data<float>() + t.numel(), value);
  return t;
}

HostTensor scalar(float value) { return HostTensor::from_floats({value}, {}); }

// Caffe's spatial parameters: the repeated field (one value for every axis, or one per axis),
// or the 2-D _h/_w pair, or the default.
Result<std::vector<int64_t>> spatial_values(const google::protobuf::RepeatedField<uint32_t>& values, bool has_hw,
                                            uint32_t h, uint32_t w, size_t spatial, int64_t fallback,
                                            const std::string& what) {
  if (has_hw) {
    if (!values.empty()) return invalid_argument(what + " and " + what + "_h/" + what + "_w are both given");
    if (spatial != 2) return invalid_argument(what + "_h/" + what + "_w need 2 spatial axes");
    return std::vector<int64_t>{h, w};
  }
  if (values.empty()) return std::vector<int64_t>(spatial, fallback);
  if (values.size() == 1) return std::vector<int64_t>(spatial, values[0]);
  if (static_cast<size_t>(values.size()) != spatial) {
    return invalid_argument(what + " has " + std::to_string(values.size()) + " values for " + std::to_string(spatial) +
                            " spatial axes");
  }
  return std::vector<int64_t>(values.begin(), values.end());
}

// ---------------------------------------------------------------------------------------------
// Input

Status check_input(const caffe::LayerParameter& l) {
  const int shapes = l.input_param().shape_size();
  if (shapes > 1 && shapes != l.top_size()) {
    return invalid_argument("input_param has " + std::to_string(shapes) + " shapes for " +
                            std::to_string(l.top_size()) + " tops (give 1 or one per top)");
  }
  return Status::ok_status();
}

Status import_input(Importer& im) {
  const auto& p = im.layer().input_param();
  for (int i = 0; i < im.layer().top_size(); ++i) {
    Dims dims;
    if (p.shape_size() > 0) {
      const auto& s = p.shape(p.shape_size() == 1 ? 0 : i);
      dims.assign(s.dim().begin(), s.dim().end());
    }
    CHEXRT_RETURN_IF_ERROR(im.add_input(i, dims));
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Convolution: weights [num_output, C / group, k...], bias [num_output].

Status check_convolution(const caffe::LayerParameter& l) {
  const auto& p = l.convolution_param();
  if (!l.has_convolution_param() || p.num_output() == 0)
    return invalid_argument("convolution_param.num_output is required");
  if (p.kernel_size_size() == 0 && !(p.has_kernel_h() && p.has_kernel_w())) {
    return invalid_argument("convolution_param needs kernel_size or kernel_h and kernel_w");
  }
  if (p.group() < 1) return invalid_argument("convolution_param.group must be at least 1");
  if (p.num_output() % p.group() != 0) {
    return invalid_argument("num_output " + std::to_string(p.num_output()) + " is not a multiple of group " +
                            std::to_string(p.group()));
  }
  return Status::ok_status();
}

Status import_convolution(Importer& im) {
  const auto& p = im.layer().convolution_param();
  const Dims x = im.bottom_dims(0);
  if (x.size() < 3) return invalid_argument("input " + dims_to_string(x) + " has no spatial axes");
  const size_t spatial = x.size() - 2;
  CHEXRT_ASSIGN_OR_RETURN(const int64_t axis,
                          canonical_axis(p.axis(), static_cast<int64_t>(x.size()), "convolution_param.axis"));
  if (axis != 1) {
    return unsupported("convolution_param.axis " + std::to_string(p.axis()) +
                       " (only the channel axis 1 is supported)");
  }
  CHEXRT_ASSIGN_OR_RETURN(auto kernel, spatial_values(p.kernel_size(), p.has_kernel_h() || p.has_kernel_w(),
                                                      p.kernel_h(), p.kernel_w(), spatial, 1, "kernel"));
  CHEXRT_ASSIGN_OR_RETURN(
      auto pads, spatial_values(p.pad(), p.has_pad_h() || p.has_pad_w(), p.pad_h(), p.pad_w(), spatial, 0, "pad"));
  CHEXRT_ASSIGN_OR_RETURN(auto strides, spatial_values(p.stride(), p.has_stride_h() || p.has_stride_w(), p.stride_h(),
                                                       p.stride_w(), spatial, 1, "stride"));
  CHEXRT_ASSIGN_OR_RETURN(auto dilations, spatial_values(p.dilation(), false, 0, 0, spatial, 1, "dilation"));
  const int64_t group = p.group();
  if (x[1] % group != 0) {
    return invalid_argument("input channels " + std::to_string(x[1]) + " are not a multiple of group " +
                            std::to_string(group));
  }
  Dims wdims = {static_cast<int64_t>(p.num_output()), x[1] / group};
  wdims.insert(wdims.end(), kernel.begin(), kernel.end());
  std::vector<BlobSpec> specs = {{"weights", wdims, SeedKind::kWeights, num_elements(wdims) / wdims[0]}};
  if (p.bias_term()) specs.push_back({"bias", {wdims[0]}, SeedKind::kBias});
  CHEXRT_ASSIGN_OR_RETURN(std::vector<HostTensor> blobs, im.blobs(specs));
  std::vector<Tensor> inputs = {im.bottom(0), im.constant("weight", std::move(blobs[0]))};
  if (p.bias_term()) inputs.push_back(im.constant("bias", std::move(blobs[1])));
  ir::Attributes attrs;
  attrs.set("kernel_shape", kernel);
  attrs.set("strides", strides);
  attrs.set("dilations", dilations);
  pads.insert(pads.end(), pads.begin(), pads.end());  // Caffe pads both sides alike
  attrs.set("pads", pads);
  attrs.set("group", group);
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Conv", "", inputs, attrs));
  return im.set_top(0, y);
}

// ---------------------------------------------------------------------------------------------
// BatchNorm (+ the Scale that usually follows it) and Scale.

// A Scale layer that multiplies channel-wise by its own blob: axis 1, one axis.
bool is_channel_scale(const caffe::LayerParameter& l, int64_t rank) {
  if (l.type() != "Scale" || l.bottom_size() != 1) return false;
  const auto& p = l.scale_param();
  const int64_t axis = p.axis() < 0 ? p.axis() + rank : p.axis();
  return axis == 1 && p.num_axes() == 1;
}

// Caffe's BatchNorm: y = (x - mean) / sqrt(var + eps) per channel (axis 1), where the stored
// blobs are mean * s, var * s and s (the moving average's normalization factor):
//   mean = blob0 / s, var = blob1 / s  (s = 0: both 0),
// computed in float as Caffe does. Without use_global_stats (Caffe's TRAIN default, or set
// false) the batch's own statistics are used: BatchNormalization's training_mode.
// A Scale that alone reads the result becomes the batch norm's scale and bias: one IR node, as
// ONNX exporters write it.
Status import_batch_norm(Importer& im) {
  const auto& p = im.layer().batch_norm_param();
  const Dims x = im.bottom_dims(0);
  if (x.size() < 2) return invalid_argument("input " + dims_to_string(x) + " has no channel axis");
  const int64_t c = x[1];
  const bool global_stats = !p.has_use_global_stats() || p.use_global_stats();
  HostTensor mean = filled({c}, 0.f), var = filled({c}, 1.f);
  if (global_stats) {
    CHEXRT_ASSIGN_OR_RETURN(std::vector<HostTensor> blobs, im.blobs({{"mean", {c}, SeedKind::kMean},
                                                                     {"variance", {c}, SeedKind::kVariance},
                                                                     {"scale factor", {1}, SeedKind::kScaleFactor}}));
    const float s = blobs[2].data<float>()[0];
    const float factor = s == 0.f ? 0.f : 1.f / s;
    for (int64_t i = 0; i < c; ++i) {
      mean.data<float>()[i] = blobs[0].data<float>()[i] * factor;
      var.data<float>()[i] = blobs[1].data<float>()[i] * factor;
    }
  }
  HostTensor gamma = filled({c}, 1.f), beta = filled({c}, 0.f);
  int owner = im.index();  // the layer whose top the result is
  const std::vector<int>& readers = im.top_consumers(0);
  if (readers.size() == 1 && is_channel_scale(im.layer_at(readers[0]), static_cast<int64_t>(x.size()))) {
    owner = readers[0];
    const bool bias = im.layer_at(owner).scale_param().bias_term();
    std::vector<BlobSpec> specs = {{"scale", {c}, SeedKind::kGain}};
    if (bias) specs.push_back({"bias", {c}, SeedKind::kBias});
    CHEXRT_ASSIGN_OR_RETURN(std::vector<HostTensor> blobs, im.blobs(specs, owner));
    gamma = std::move(blobs[0]);
    if (bias) beta = std::move(blobs[1]);
    im.absorb(owner);
  }
  ir::Attributes attrs;
  attrs.set("epsilon", p.eps());
  if (!global_stats) attrs.set("training_mode", int64_t{1});
  const std::vector<Tensor> inputs = {im.bottom(0), im.constant("scale", std::move(gamma)),
                                      im.constant("bias", std::move(beta)), im.constant("mean", std::move(mean)),
                                      im.constant("var", std::move(var))};
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("BatchNormalization", "", inputs, attrs));
  return im.set_top(0, y, owner);
}

Status check_scale(const caffe::LayerParameter& l) {
  if (l.scale_param().num_axes() < -1) return invalid_argument("scale_param.num_axes must be -1 or more");
  return Status::ok_status();
}

// y = x * scale + bias, the scale (a learned blob, or the second bottom) covering the axes
// [axis, axis + num_axes) of x and broadcast over the others.
Status import_scale(Importer& im) {
  const auto& p = im.layer().scale_param();
  const Dims x = im.bottom_dims(0);
  const int64_t rank = static_cast<int64_t>(x.size());
  CHEXRT_ASSIGN_OR_RETURN(const int64_t axis, canonical_axis(p.axis(), rank, "scale_param.axis"));
  const bool learned = im.num_bottoms() == 1;
  int64_t num_axes = learned ? p.num_axes() : static_cast<int64_t>(im.bottom_dims(1).size());
  if (num_axes == -1) num_axes = rank - axis;
  if (axis + num_axes > rank) {
    return invalid_argument("axis " + std::to_string(axis) + " and num_axes " + std::to_string(num_axes) +
                            " do not fit input " + dims_to_string(x));
  }
  const Dims covered(x.begin() + axis, x.begin() + axis + num_axes);
  Dims broadcast = covered;
  broadcast.resize(static_cast<size_t>(rank - axis), 1);  // trailing 1s: ONNX broadcasting aligns the last axes
  std::vector<BlobSpec> specs;
  if (learned) specs.push_back({"scale", covered, SeedKind::kGain});
  if (p.bias_term()) specs.push_back({"bias", covered, SeedKind::kBias});
  CHEXRT_ASSIGN_OR_RETURN(std::vector<HostTensor> blobs, im.blobs(specs));
  Tensor multiplier;
  if (learned) {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor s, blobs[0].reshaped(broadcast));
    multiplier = im.constant("scale", std::move(s));
  } else {
    if (im.bottom_dims(1) != covered) {
      return invalid_argument("scale bottom " + dims_to_string(im.bottom_dims(1)) + " does not match input axes " +
                              dims_to_string(covered));
    }
    const HostTensor shape = HostTensor::from_int64s(broadcast, {static_cast<int64_t>(broadcast.size())});
    CHEXRT_ASSIGN_OR_RETURN(multiplier, im.add("Reshape", "scale_shape", {im.bottom(1), im.constant("shape", shape)}));
  }
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Mul", p.bias_term() ? "scale" : "", {im.bottom(0), multiplier}));
  if (p.bias_term()) {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor b, blobs.back().reshaped(broadcast));
    CHEXRT_ASSIGN_OR_RETURN(y, im.add("Add", "", {y, im.constant("bias", std::move(b))}));
  }
  return im.set_top(0, y);
}

// ---------------------------------------------------------------------------------------------
// Activations, Dropout, Split.

// ReLU with negative_slope a: y = max(x, 0) + a * min(x, 0) = relu(x) + (-a) * relu(-x), exact
// in float (negation and a product with a zero are exact).
Status import_relu(Importer& im) {
  const float slope = im.layer().relu_param().negative_slope();
  if (slope == 0.f) {
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Relu", "", {im.bottom(0)}));
    return im.set_top(0, y);
  }
  CHEXRT_ASSIGN_OR_RETURN(Tensor pos, im.add("Relu", "positive", {im.bottom(0)}));
  CHEXRT_ASSIGN_OR_RETURN(Tensor neg_x,
                          im.add("Mul", "negate", {im.bottom(0), im.constant("minus_one", scalar(-1.f))}));
  CHEXRT_ASSIGN_OR_RETURN(Tensor neg, im.add("Relu", "negative", {neg_x}));
  CHEXRT_ASSIGN_OR_RETURN(Tensor scaled, im.add("Mul", "slope", {neg, im.constant("slope", scalar(-slope))}));
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Add", "", {pos, scaled}));
  return im.set_top(0, y);
}

Status import_sigmoid(Importer& im) {
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Sigmoid", "", {im.bottom(0)}));
  return im.set_top(0, y);
}

// At test time Caffe's Dropout passes its input through (training scaled by 1 / (1 - ratio));
// OpenCV's scale_train: false scales by (1 - ratio) at test time instead.
Status import_dropout(Importer& im) {
  const auto& p = im.layer().dropout_param();
  if (p.scale_train()) {
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Identity", "", {im.bottom(0)}));
    return im.set_top(0, y);
  }
  CHEXRT_ASSIGN_OR_RETURN(Tensor y,
                          im.add("Mul", "", {im.bottom(0), im.constant("keep", scalar(1.f - p.dropout_ratio()))}));
  return im.set_top(0, y);
}

Status import_split(Importer& im) {
  for (int i = 0; i < im.layer().top_size(); ++i) {
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Identity", std::to_string(i), {im.bottom(0)}));
    CHEXRT_RETURN_IF_ERROR(im.set_top(i, y));
  }
  return Status::ok_status();
}

Status import_softmax(Importer& im) {
  const int64_t rank = static_cast<int64_t>(im.bottom_dims(0).size());
  CHEXRT_ASSIGN_OR_RETURN(const int64_t axis,
                          canonical_axis(im.layer().softmax_param().axis(), rank, "softmax_param.axis"));
  ir::Attributes attrs;
  attrs.set("axis", axis);
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Softmax", "", {im.bottom(0)}, attrs));
  return im.set_top(0, y);
}

// ---------------------------------------------------------------------------------------------
// Pooling

Status check_pooling(const caffe::LayerParameter& l) {
  const auto& p = l.pooling_param();
  if (p.pool() == caffe::PoolingParameter::STOCHASTIC) return unsupported("STOCHASTIC pooling is not supported");
  if (p.global_pooling()) {
    if (p.has_kernel_size() || p.has_kernel_h() || p.has_kernel_w()) {
      return invalid_argument("global_pooling takes no kernel size");
    }
    if (p.pad() != 0 || p.pad_h() != 0 || p.pad_w() != 0) return invalid_argument("global_pooling takes no padding");
    if (p.stride() != 1 || (p.has_stride_h() && p.stride_h() != 1) || (p.has_stride_w() && p.stride_w() != 1)) {
      return invalid_argument("global_pooling takes stride 1 only");
    }
    return Status::ok_status();
  }
  const bool hw = p.has_kernel_h() || p.has_kernel_w();
  if (hw == p.has_kernel_size() || (hw && !(p.has_kernel_h() && p.has_kernel_w()))) {
    return invalid_argument("pooling_param needs kernel_size, or kernel_h and kernel_w (not both forms)");
  }
  if (p.has_pad() && (p.has_pad_h() || p.has_pad_w())) return invalid_argument("pad and pad_h/pad_w are both given");
  if (p.has_stride() && (p.has_stride_h() || p.has_stride_w())) {
    return invalid_argument("stride and stride_h/stride_w are both given");
  }
  if (p.has_ceil_mode() && p.has_round_mode()) return invalid_argument("ceil_mode and round_mode are both given");
  return Status::ok_status();
}

// Caffe's pooled size (PoolingLayer::Reshape): (in + 2 pad - kernel) / stride + 1 rounded up
// (OpenCV's ceil_mode: false, BVLC's round_mode: FLOOR round down), and with padding, a last
// window that would start in the bottom/right padding is dropped.
int64_t caffe_pooled_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, bool ceil) {
  const int64_t span = in + 2 * pad - kernel;
  int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
  if (pad > 0 && (out - 1) * stride >= in + pad) --out;
  return out;
}

// MAX takes the largest value inside the input (padding never wins); AVE divides by the window
// clipped to the padded input [-pad, in + pad) (padding counts, the part past it from ceil
// rounding does not): IR AveragePool with count_include_pad=1. The IR's ceil_mode drops a last
// window that starts past the input + left padding even without padding, where Caffe keeps an
// empty one; such layers are refused. ceil_mode is set only where it changes a size, so that
// layers whose sizes divide evenly (DenseNet's transitions) are plain pools to the passes, and
// count_include_pad only where there is padding to count.
Status import_pooling(Importer& im) {
  const auto& p = im.layer().pooling_param();
  const Dims x = im.bottom_dims(0);
  if (x.size() != 4) return invalid_argument("input " + dims_to_string(x) + " is not 4-D (N, C, H, W)");
  const bool average = p.pool() == caffe::PoolingParameter::AVE;
  if (p.global_pooling()) {
    if (average) {
      CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("GlobalAveragePool", "", {im.bottom(0)}));
      return im.set_top(0, y);
    }
    ir::Attributes attrs;
    attrs.set("kernel_shape", std::vector<int64_t>{x[2], x[3]});
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("MaxPool", "", {im.bottom(0)}, attrs));
    return im.set_top(0, y);
  }
  const bool hw_kernel = p.has_kernel_h();
  const std::vector<int64_t> kernel = {hw_kernel ? p.kernel_h() : p.kernel_size(),
                                       hw_kernel ? p.kernel_w() : p.kernel_size()};
  const bool hw_pad = p.has_pad_h() || p.has_pad_w();
  const std::vector<int64_t> pad = {hw_pad ? p.pad_h() : p.pad(), hw_pad ? p.pad_w() : p.pad()};
  const bool hw_stride = p.has_stride_h() || p.has_stride_w();
  const std::vector<int64_t> stride = {hw_stride ? p.stride_h() : p.stride(), hw_stride ? p.stride_w() : p.stride()};
  const bool ceil = p.has_round_mode() ? p.round_mode() == caffe::PoolingParameter::CEIL : p.ceil_mode();
  bool ir_ceil = false;
  for (int i = 0; i < 2; ++i) {
    const char* axis = i == 0 ? "height" : "width";
    if (kernel[i] < 1 || stride[i] < 1) return invalid_argument(std::string("kernel and stride must be positive"));
    if (pad[i] >= kernel[i]) {
      return invalid_argument(std::string("pad ") + std::to_string(pad[i]) + " must be smaller than the kernel " +
                              std::to_string(kernel[i]) + " (" + axis + ")");
    }
    if (x[i + 2] + 2 * pad[i] < kernel[i]) {
      return invalid_argument("kernel " + std::to_string(kernel[i]) + " is larger than the padded input " + axis);
    }
    const int64_t want = caffe_pooled_size(x[i + 2], kernel[i], stride[i], pad[i], ceil);
    if (ir::window_output_size(x[i + 2], kernel[i], stride[i], 1, pad[i], pad[i], false) == want) continue;
    if (ir::window_output_size(x[i + 2], kernel[i], stride[i], 1, pad[i], pad[i], true) != want) {
      return unsupported(std::string("Caffe's ceil rounding gives a last ") + axis +
                         " window that starts past the input (kernel " + std::to_string(kernel[i]) + ", stride " +
                         std::to_string(stride[i]) + ", no padding); chexrt does not make such empty windows");
    }
    ir_ceil = true;
  }
  ir::Attributes attrs;
  attrs.set("kernel_shape", kernel);
  attrs.set("strides", stride);
  attrs.set("pads", std::vector<int64_t>{pad[0], pad[1], pad[0], pad[1]});
  attrs.set("ceil_mode", static_cast<int64_t>(ir_ceil));
  if (average && (pad[0] > 0 || pad[1] > 0)) attrs.set("count_include_pad", int64_t{1});
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add(average ? "AveragePool" : "MaxPool", "", {im.bottom(0)}, attrs));
  return im.set_top(0, y);
}

// ---------------------------------------------------------------------------------------------
// Concat, Eltwise, InnerProduct, Flatten

Status import_concat(Importer& im) {
  const auto& p = im.layer().concat_param();
  const int64_t rank = static_cast<int64_t>(im.bottom_dims(0).size());
  const int64_t axis_in = p.has_axis() ? p.axis() : p.has_concat_dim() ? static_cast<int64_t>(p.concat_dim()) : 1;
  CHEXRT_ASSIGN_OR_RETURN(const int64_t axis, canonical_axis(axis_in, rank, "concat_param.axis"));
  if (im.num_bottoms() == 1) {
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Identity", "", {im.bottom(0)}));
    return im.set_top(0, y);
  }
  std::vector<Tensor> inputs;
  for (int i = 0; i < im.num_bottoms(); ++i) inputs.push_back(im.bottom(i));
  ir::Attributes attrs;
  attrs.set("axis", axis);
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Concat", "", inputs, attrs));
  return im.set_top(0, y);
}

Status check_eltwise(const caffe::LayerParameter& l) {
  const auto& p = l.eltwise_param();
  if (p.coeff_size() > 0 && p.operation() != caffe::EltwiseParameter::SUM) {
    return invalid_argument("coeff is only for operation SUM");
  }
  if (p.coeff_size() > 0 && p.coeff_size() != l.bottom_size()) {
    return invalid_argument("eltwise_param has " + std::to_string(p.coeff_size()) + " coeff for " +
                            std::to_string(l.bottom_size()) + " bottoms");
  }
  return Status::ok_status();
}

// SUM: sum_i coeff_i * x_i; PROD: prod_i x_i; MAX: the largest x_i, as ReduceMax over the
// inputs stacked on a new leading axis. Caffe's bottoms all have the same shape.
Status import_eltwise(Importer& im) {
  const auto& p = im.layer().eltwise_param();
  const Dims dims = im.bottom_dims(0);
  for (int i = 1; i < im.num_bottoms(); ++i) {
    if (im.bottom_dims(i) != dims) {
      return invalid_argument("bottom " + std::to_string(i) + " is " + dims_to_string(im.bottom_dims(i)) +
                              ", bottom 0 is " + dims_to_string(dims) + " (Eltwise needs equal shapes)");
    }
  }
  const int n = im.num_bottoms();
  Tensor acc;
  if (p.operation() == caffe::EltwiseParameter::MAX) {
    std::vector<Tensor> stacked;
    ir::Attributes unsqueeze;
    unsqueeze.set("axes", std::vector<int64_t>{0});
    for (int i = 0; i < n; ++i) {
      CHEXRT_ASSIGN_OR_RETURN(Tensor s, im.add("Unsqueeze", "stack" + std::to_string(i), {im.bottom(i)}, unsqueeze));
      stacked.push_back(s);
    }
    ir::Attributes concat;
    concat.set("axis", int64_t{0});
    CHEXRT_ASSIGN_OR_RETURN(Tensor all, im.add("Concat", "stack", stacked, concat));
    ir::Attributes reduce;
    reduce.set("axes", std::vector<int64_t>{0});
    reduce.set("keepdims", int64_t{0});
    CHEXRT_ASSIGN_OR_RETURN(acc, im.add("ReduceMax", "", {all}, reduce));
    return im.set_top(0, acc);
  }
  const bool sum = p.operation() == caffe::EltwiseParameter::SUM;
  for (int i = 0; i < n; ++i) {
    Tensor term = im.bottom(i);
    const float coeff = p.coeff_size() > 0 ? p.coeff(i) : 1.f;
    if (sum && coeff != 1.f) {
      CHEXRT_ASSIGN_OR_RETURN(term, im.add("Mul", "coeff" + std::to_string(i),
                                           {term, im.constant("coeff" + std::to_string(i), scalar(coeff))}));
    }
    if (i == 0) {
      acc = term;
      continue;
    }
    const std::string part = i + 1 == n ? "" : std::to_string(i);
    CHEXRT_ASSIGN_OR_RETURN(acc, im.add(sum ? "Add" : "Mul", part, {acc, term}));
  }
  return im.set_top(0, acc);
}

Status check_inner_product(const caffe::LayerParameter& l) {
  const auto& p = l.inner_product_param();
  if (!l.has_inner_product_param() || p.num_output() == 0)
    return invalid_argument("inner_product_param.num_output is required");
  return Status::ok_status();
}

// y = x' * W^T + b, x' = x with the axes from `axis` on flattened into one of K values, W
// [num_output, K] (transpose: stored [K, num_output]). axis 1: Flatten + Gemm, as ONNX exporters
// write a classifier; other axes: Reshape + MatMul + Add.
Status import_inner_product(Importer& im) {
  const auto& p = im.layer().inner_product_param();
  const Dims x = im.bottom_dims(0);
  const int64_t rank = static_cast<int64_t>(x.size());
  CHEXRT_ASSIGN_OR_RETURN(const int64_t axis, canonical_axis(p.axis(), rank, "inner_product_param.axis"));
  if (axis == 0) return unsupported("inner_product_param.axis 0 (the batch axis included) is not supported");
  const int64_t n = p.num_output();
  const int64_t k = num_elements(Dims(x.begin() + axis, x.end()));
  const Dims wdims = p.transpose() ? Dims{k, n} : Dims{n, k};
  std::vector<BlobSpec> specs = {{"weights", wdims, SeedKind::kWeights, k}};
  if (p.bias_term()) specs.push_back({"bias", {n}, SeedKind::kBias});
  CHEXRT_ASSIGN_OR_RETURN(std::vector<HostTensor> blobs, im.blobs(specs));
  if (axis == 1) {
    Tensor flat = im.bottom(0);
    if (rank != 2) {
      ir::Attributes fa;
      fa.set("axis", int64_t{1});
      CHEXRT_ASSIGN_OR_RETURN(flat, im.add("Flatten", "flatten", {flat}, fa));
    }
    std::vector<Tensor> inputs = {flat, im.constant("weight", std::move(blobs[0]))};
    if (p.bias_term()) inputs.push_back(im.constant("bias", std::move(blobs[1])));
    ir::Attributes attrs;
    attrs.set("transB", static_cast<int64_t>(!p.transpose()));
    CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Gemm", "", inputs, attrs));
    return im.set_top(0, y);
  }
  Dims shape(x.begin(), x.begin() + axis);
  shape.push_back(k);
  const HostTensor shape_tensor = HostTensor::from_int64s(shape, {static_cast<int64_t>(shape.size())});
  CHEXRT_ASSIGN_OR_RETURN(Tensor flat,
                          im.add("Reshape", "flatten", {im.bottom(0), im.constant("shape", shape_tensor)}));
  HostTensor w_kn(DataType::kFloat32, {k, n});  // MatMul's right operand is [K, N]
  const float* w = blobs[0].data<float>();
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) w_kn.data<float>()[i * n + j] = p.transpose() ? w[i * n + j] : w[j * k + i];
  }
  CHEXRT_ASSIGN_OR_RETURN(
      Tensor y, im.add("MatMul", p.bias_term() ? "matmul" : "", {flat, im.constant("weight", std::move(w_kn))}));
  if (p.bias_term()) {
    CHEXRT_ASSIGN_OR_RETURN(y, im.add("Add", "", {y, im.constant("bias", std::move(blobs[1]))}));
  }
  return im.set_top(0, y);
}

// Flatten keeps the axes before `axis` and after `end_axis` and merges the ones between.
Status import_flatten(Importer& im) {
  const auto& p = im.layer().flatten_param();
  const Dims x = im.bottom_dims(0);
  const int64_t rank = static_cast<int64_t>(x.size());
  CHEXRT_ASSIGN_OR_RETURN(const int64_t first, canonical_axis(p.axis(), rank, "flatten_param.axis"));
  CHEXRT_ASSIGN_OR_RETURN(const int64_t last, canonical_axis(p.end_axis(), rank, "flatten_param.end_axis"));
  if (last < first) return invalid_argument("flatten_param.end_axis is before axis");
  Dims shape(x.begin(), x.begin() + first);
  shape.push_back(num_elements(Dims(x.begin() + first, x.begin() + last + 1)));
  shape.insert(shape.end(), x.begin() + last + 1, x.end());
  const HostTensor shape_tensor = HostTensor::from_int64s(shape, {static_cast<int64_t>(shape.size())});
  CHEXRT_ASSIGN_OR_RETURN(Tensor y, im.add("Reshape", "", {im.bottom(0), im.constant("shape", shape_tensor)}));
  return im.set_top(0, y);
}

// Columns: type, bottoms (min, max), tops (min, max), check, import.
const std::vector<LayerSpec>& layer_table() {
  static const std::vector<LayerSpec> kLayers = {
      {"BatchNorm", 1, 1, 1, 1, nullptr, import_batch_norm},
      {"Concat", 1, kMany, 1, 1, nullptr, import_concat},
      {"Convolution", 1, 1, 1, 1, check_convolution, import_convolution},
      {"Dropout", 1, 1, 1, 1, nullptr, import_dropout},
      {"Eltwise", 2, kMany, 1, 1, check_eltwise, import_eltwise},
      {"Flatten", 1, 1, 1, 1, nullptr, import_flatten},
      {"InnerProduct", 1, 1, 1, 1, check_inner_product, import_inner_product},
      {"Input", 0, 0, 1, kMany, check_input, import_input},
      {"Pooling", 1, 1, 1, 1, check_pooling, import_pooling},
      {"ReLU", 1, 1, 1, 1, nullptr, import_relu},
      {"Scale", 1, 2, 1, 1, check_scale, import_scale},
      {"Sigmoid", 1, 1, 1, 1, nullptr, import_sigmoid},
      {"Softmax", 1, 1, 1, 1, nullptr, import_softmax},
      {"Split", 1, 1, 1, kMany, nullptr, import_split},
  };
  return kLayers;
}

}  // namespace

const LayerSpec* find_layer_spec(const std::string& type) {
  for (const auto& spec : layer_table()) {
    if (type == spec.type) return &spec;
  }
  return nullptr;
}

std::vector<std::string> layer_types() {
  std::vector<std::string> names;
  for (const auto& spec : layer_table()) names.emplace_back(spec.type);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace chexrt::caffe_import
