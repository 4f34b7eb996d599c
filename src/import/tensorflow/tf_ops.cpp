// Layer ops: convolutions, batch norms, pools, elementwise arithmetic, reductions, MatMul, and
// the op table. Weights are reordered into chexrt's layouts here (HWIO -> OIHW).
#include "import/tensorflow/tf_ops.h"

#include <algorithm>
#include <map>
#include <set>

namespace chexrt::tf_import {

namespace {

// Network axis of TensorFlow NHWC axis k (the tensor held as NCHW).
constexpr int64_t kNhwcAxisInNchw[4] = {0, 2, 3, 1};

HostTensor scalar_like(DataType dtype, double value) {
  HostTensor t(dtype, {});
  switch (dtype) {
    case DataType::kFloat64:
      t.data<double>()[0] = value;
      break;
    case DataType::kInt32:
      t.data<int32_t>()[0] = static_cast<int32_t>(value);
      break;
    case DataType::kInt64:
      t.data<int64_t>()[0] = static_cast<int64_t>(value);
      break;
    default:
      t.data<float>()[0] = static_cast<float>(value);
      break;
  }
  return t;
}

// The same values under other dims of the same element count (callers make sure it is).
HostTensor with_dims(const HostTensor& t, const Dims& dims) {
  Result<HostTensor> r = t.reshaped(dims);
  return r.ok() ? *r : t;
}

std::string format_of(const NodeDef& node) { return attr_string(node, "data_format", "NHWC"); }

Status check_format(const NodeDef& node) {
  const std::string f = format_of(node);
  if (f != "NHWC" && f != "NCHW") return unsupported("data_format " + f + " is not supported (NHWC or NCHW)");
  return Status::ok_status();
}

// The data input in the layout an op of this data_format reads in the network (NCHW either way).
Result<std::string> layout_input(Importer& im, const NodeDef& node, const std::string& key) {
  return format_of(node) == "NHWC" ? im.as_nchw(key) : im.as_tf(key);
}

// Explicit [top, left, bottom, right] pads of a window: SAME puts the odd pixel at the end.
Result<std::vector<int64_t>> window_pads(const NodeDef& node, const Dims& x_nchw, const std::vector<int64_t>& kernel,
                                         const std::vector<int64_t>& strides, const std::vector<int64_t>& dilations) {
  const std::string padding = attr_string(node, "padding", "VALID");
  std::vector<int64_t> pads(4, 0);
  if (padding == "VALID") return pads;
  if (padding == "SAME") {
    for (int i = 0; i < 2; ++i) {
      const int64_t in = x_nchw[2 + i];
      const int64_t out = (in + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>((out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - in, 0);
      pads[i] = total / 2;
      pads[2 + i] = total - total / 2;
    }
    return pads;
  }
  if (padding == "EXPLICIT") {
    const std::vector<int64_t> p = attr_ints(node, "explicit_paddings");
    if (p.size() != 8) return invalid_argument("explicit_paddings needs 8 values");
    const bool nhwc = format_of(node) == "NHWC";
    const int h = nhwc ? 1 : 2, w = nhwc ? 2 : 3;
    return std::vector<int64_t>{p[2 * h], p[2 * w], p[2 * h + 1], p[2 * w + 1]};
  }
  return unsupported("padding " + padding + " is not supported");
}

// A 4-value attribute (strides, ksize, dilations) in the node's data_format, as [H, W].
Result<std::vector<int64_t>> spatial(const NodeDef& node, const std::string& name, int64_t fallback) {
  std::vector<int64_t> v = attr_ints(node, name);
  if (v.empty()) return std::vector<int64_t>{fallback, fallback};
  if (v.size() != 4) return invalid_argument(name + " needs 4 values");
  const bool nhwc = format_of(node) == "NHWC";
  if (v[0] != 1 || v[nhwc ? 3 : 1] != 1) return unsupported(name + " over the batch or channels is not supported");
  return nhwc ? std::vector<int64_t>{v[1], v[2]} : std::vector<int64_t>{v[2], v[3]};
}

// The data input of a window op, taking in a pending zero Pad when `absorb_pad` allows.
struct WindowInput {
  std::string key;
  std::vector<int64_t> pads = {0, 0, 0, 0};
};

Result<WindowInput> window_input(Importer& im, const NodeDef& node, bool max_pool) {
  const std::string key = im.data_inputs(node).at(0);
  const Symbol& s = im.symbol(key);
  WindowInput in;
  const bool nhwc = format_of(node) == "NHWC";
  if (!s.pad_source.empty() && s.nchw == nhwc) {
    const Symbol& source = im.symbol(s.pad_source);
    // Zero padding equals a max pool's -inf padding only on non-negative inputs.
    if (!max_pool || source.nonnegative) {
      in.key = s.pad_source;
      in.pads = s.pad_hw;
    }
  }
  if (in.key.empty()) in.key = key;
  CHEXRT_ASSIGN_OR_RETURN(in.key, layout_input(im, node, in.key));
  return in;
}

// A BiasAdd (or Add of a constant vector along the channels) that alone reads `node`'s output:
// its bias joins the convolution or Gemm, as in ONNX's Conv and Gemm.
const NodeDef* bias_reader(Importer& im, const NodeDef& node, int64_t channels, HostTensor* bias) {
  const NodeDef* next = im.sole_consumer(node);
  if (next == nullptr) return nullptr;
  const std::vector<std::string> keys = im.data_inputs(*next);
  if (keys.size() != 2 || keys[0] != node.name()) return nullptr;
  if (next->op() == "BiasAdd") {
    if (format_of(*next) != format_of(node) && node.op() != "MatMul") return nullptr;
  } else if (!((next->op() == "Add" || next->op() == "AddV2") && format_of(node) == "NHWC")) {
    return nullptr;
  }
  if (!im.ensure(keys[1]).ok()) return nullptr;
  const HostTensor* b = im.constant(keys[1]);
  if (b == nullptr || b->dims() != Dims{channels} || b->dtype() != DataType::kFloat32) return nullptr;
  *bias = *b;
  return next;
}

Status emit_conv(Importer& im, const NodeDef& node, HostTensor weight, int64_t group) {
  CHEXRT_RETURN_IF_ERROR(check_format(node));
  CHEXRT_ASSIGN_OR_RETURN(WindowInput in, window_input(im, node, false));
  CHEXRT_ASSIGN_OR_RETURN(auto strides, spatial(node, "strides", 1));
  CHEXRT_ASSIGN_OR_RETURN(auto dilations, spatial(node, "dilations", 1));
  const std::vector<int64_t> kernel = {weight.dims()[2], weight.dims()[3]};
  CHEXRT_ASSIGN_OR_RETURN(auto pads, window_pads(node, im.symbol(in.key).dims, kernel, strides, dilations));
  for (int i = 0; i < 4; ++i) pads[i] += in.pads[i];
  ir::Attributes attrs;
  attrs.set("kernel_shape", kernel);
  attrs.set("strides", strides);
  attrs.set("dilations", dilations);
  attrs.set("pads", pads);
  attrs.set("group", group);
  std::vector<std::string> inputs = {in.key, im.add_constant(node.name() + "/kernel", weight)};
  std::string out = node.name();
  HostTensor bias;
  if (const NodeDef* reader = bias_reader(im, node, weight.dims()[0], &bias)) {
    inputs.push_back(im.add_constant(reader->name() + "/bias", bias));
    im.absorb(*reader);
    out = reader->name();
  }
  CHEXRT_RETURN_IF_ERROR(im.emit("Conv", node.name(), inputs, attrs, {out}, format_of(node) == "NHWC"));
  if (out != node.name()) im.alias(node.name(), out);
  return Status::ok_status();
}

Result<HostTensor> float_weights(Importer& im, const NodeDef& node, size_t i, const char* what) {
  CHEXRT_ASSIGN_OR_RETURN(HostTensor w, im.require_constant(node, i, what));
  if (w.dtype() != DataType::kFloat32) return unsupported(std::string(what) + " must be float or half");
  return w;
}

Status import_conv2d(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(HostTensor w, float_weights(im, node, 1, "filter"));
  if (w.rank() != 4) return invalid_argument("filter must be 4-D [h, w, in, out]");
  // HWIO -> OIHW. Grouped convolutions are Conv2D with in = channels / groups.
  const int64_t channels = im.symbol(im.data_inputs(node)[0]).dims.size() == 4
                               ? im.tf_dims(im.data_inputs(node)[0])[format_of(node) == "NHWC" ? 3 : 1]
                               : w.dims()[2];
  if (channels % w.dims()[2] != 0) return invalid_argument("input channels do not fit the filter");
  return emit_conv(im, node, permute(w, {3, 2, 0, 1}), channels / w.dims()[2]);
}

Status import_depthwise(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(HostTensor w, float_weights(im, node, 1, "filter"));
  if (w.rank() != 4) return invalid_argument("filter must be 4-D [h, w, channels, multiplier]");
  // [h, w, c, m] -> [c * m, 1, h, w]: output channel c * m + k, as TensorFlow orders them.
  const Dims& d = w.dims();
  HostTensor oihw = permute(w, {2, 3, 0, 1});  // [c, m, h, w], row-major = [c * m, 1, h, w]
  return emit_conv(im, node, with_dims(oihw, {d[2] * d[3], 1, d[0], d[1]}), d[2]);
}

Status import_fused_batch_norm(Importer& im, const NodeDef& node) {
  CHEXRT_RETURN_IF_ERROR(check_format(node));
  CHEXRT_ASSIGN_OR_RETURN(std::string x0, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(std::string x, layout_input(im, node, x0));
  const bool nhwc = format_of(node) == "NHWC";
  const float eps = attr_float(node, "epsilon", 1e-4f);
  CHEXRT_ASSIGN_OR_RETURN(HostTensor scale, float_weights(im, node, 1, "scale"));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor offset, float_weights(im, node, 2, "offset"));
  const int64_t c = im.symbol(x).dims[1];
  if (scale.numel() != c || offset.numel() != c)
    return invalid_argument("scale/offset do not have one value per channel");
  const std::string name = node.name();
  if (!attr_bool(node, "is_training", true)) {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor mean, float_weights(im, node, 3, "mean"));
    CHEXRT_ASSIGN_OR_RETURN(HostTensor var, float_weights(im, node, 4, "variance"));
    ir::Attributes attrs;
    attrs.set("epsilon", eps);
    // Outputs 1 and 2 (batch_mean, batch_variance) are the statistics used: the given ones.
    im.define_constant(output_key(name, 1), mean);
    im.define_constant(output_key(name, 2), var);
    return im.emit("BatchNormalization", name,
                   {x, im.add_constant(name + "/gamma", scale), im.add_constant(name + "/beta", offset),
                    im.add_constant(name + "/moving_mean", mean), im.add_constant(name + "/moving_variance", var)},
                   attrs, {name}, nhwc);
  }
  // is_training=true: normalize with the batch's own statistics, as TensorFlow does,
  //   mean = sum(x) / n,  var = sum((x - mean)^2) / n  over batch and space (n values per channel),
  //   y = (x - mean) * scale / sqrt(var + eps) + offset.
  const Dims& d = im.symbol(x).dims;
  if (d.size() != 4) return invalid_argument("input must be 4-D");
  const double n = static_cast<double>(d[0] * d[2] * d[3]);
  const auto per_channel = [&](const HostTensor& t) { return with_dims(t, {c, 1, 1}); };
  ir::Attributes sum;
  sum.set("axes", std::vector<int64_t>{0, 2, 3});
  sum.set("keepdims", int64_t{1});
  const std::string count = im.add_constant(name + "/count", scalar_like(DataType::kFloat32, n));
  const std::string eps_key = im.add_constant(name + "/epsilon", scalar_like(DataType::kFloat32, eps));
  const std::string p = name + "/batch_stats/";
  CHEXRT_RETURN_IF_ERROR(im.emit("ReduceSum", p + "sum", {x}, sum, {p + "sum"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Div", p + "mean", {p + "sum", count}, {}, {p + "mean"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Sub", p + "centered", {x, p + "mean"}, {}, {p + "centered"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Mul", p + "squared", {p + "centered", p + "centered"}, {}, {p + "squared"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("ReduceSum", p + "sum_squared", {p + "squared"}, sum, {p + "sum_squared"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Div", p + "variance", {p + "sum_squared", count}, {}, {p + "variance"}, false));
  CHEXRT_RETURN_IF_ERROR(
      im.emit("Add", p + "variance_eps", {p + "variance", eps_key}, {}, {p + "variance_eps"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Sqrt", p + "stddev", {p + "variance_eps"}, {}, {p + "stddev"}, false));
  CHEXRT_RETURN_IF_ERROR(
      im.emit("Div", p + "normalized", {p + "centered", p + "stddev"}, {}, {p + "normalized"}, false));
  CHEXRT_RETURN_IF_ERROR(im.emit("Mul", p + "scaled",
                                 {p + "normalized", im.add_constant(name + "/gamma", per_channel(scale))}, {},
                                 {p + "scaled"}, false));
  // Outputs 1 and 2: the batch mean, and the batch variance with Bessel's correction (n / (n - 1)),
  // which TensorFlow returns for the running averages.
  const Dims channel_dims = {c};
  const std::string shape = im.add_constant(name + "/channels", HostTensor::from_int64s(channel_dims, {1}));
  CHEXRT_RETURN_IF_ERROR(im.emit("Reshape", p + "batch_mean", {p + "mean", shape}, {}, {output_key(name, 1)}, false));
  const std::string bessel =
      im.add_constant(name + "/bessel", scalar_like(DataType::kFloat32, n / std::max(n - 1.0, 1.0)));
  CHEXRT_RETURN_IF_ERROR(im.emit("Mul", p + "unbiased", {p + "variance", bessel}, {}, {p + "unbiased"}, false));
  CHEXRT_RETURN_IF_ERROR(
      im.emit("Reshape", p + "batch_variance", {p + "unbiased", shape}, {}, {output_key(name, 2)}, false));
  return im.emit("Add", name, {p + "scaled", im.add_constant(name + "/beta", per_channel(offset))}, {}, {name}, nhwc);
}

// Elementwise binary ops with NumPy broadcasting. Where one operand is held NCHW, a constant
// operand is broadcast in TensorFlow's layout first and then reordered the same way.
Status binary(Importer& im, const NodeDef& node, const char* op) {
  CHEXRT_ASSIGN_OR_RETURN(std::string a, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(std::string b, im.input(node, 1));
  std::string keys[2] = {a, b};
  bool nchw = im.symbol(a).nchw || im.symbol(b).nchw;
  for (int i = 0; i < 2 && nchw; ++i) {
    const Symbol& s = im.symbol(keys[i]);
    if (s.nchw) continue;
    if (const HostTensor* c = im.constant(keys[i]); c != nullptr && c->rank() <= 4) {
      Dims four(4 - c->rank(), 1);
      four.insert(four.end(), c->dims().begin(), c->dims().end());
      keys[i] = im.add_constant(keys[i] + "/nchw", permute(with_dims(*c, four), {0, 3, 1, 2}));
    } else if (s.dims.size() == 4) {
      CHEXRT_ASSIGN_OR_RETURN(keys[i], im.as_nchw(keys[i]));
    } else {
      nchw = false;
    }
  }
  if (!nchw) {
    CHEXRT_ASSIGN_OR_RETURN(keys[0], im.as_tf(a));
    CHEXRT_ASSIGN_OR_RETURN(keys[1], im.as_tf(b));
  }
  return im.emit(op, node.name(), {keys[0], keys[1]}, {}, {node.name()}, nchw);
}

Status import_add(Importer& im, const NodeDef& node) { return binary(im, node, "Add"); }
Status import_sub(Importer& im, const NodeDef& node) { return binary(im, node, "Sub"); }
Status import_mul(Importer& im, const NodeDef& node) { return binary(im, node, "Mul"); }
Status import_div(Importer& im, const NodeDef& node) { return binary(im, node, "Div"); }
Status import_maximum(Importer& im, const NodeDef& node) { return binary(im, node, "Max"); }
Status import_minimum(Importer& im, const NodeDef& node) { return binary(im, node, "Min"); }

Status import_bias_add(Importer& im, const NodeDef& node) {
  CHEXRT_RETURN_IF_ERROR(check_format(node));
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor bias, im.require_constant(node, 1, "bias"));
  const Symbol& s = im.symbol(x);
  const size_t rank = s.dims.size();
  // The bias runs along the channels: the last axis (NHWC) or axis 1 (NCHW, and NHWC held NCHW).
  Dims shape = {bias.numel()};
  if (s.nchw || format_of(node) == "NCHW") shape.resize(rank - 1, 1);
  const std::string b = im.add_constant(node.name() + "/bias", with_dims(bias, shape));
  return im.emit("Add", node.name(), {x, b}, {}, {node.name()}, s.nchw);
}

Status unary(Importer& im, const NodeDef& node, const char* op) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  return im.emit(op, node.name(), {x}, {}, {node.name()}, im.symbol(x).nchw);
}

Status import_relu(Importer& im, const NodeDef& node) {
  CHEXRT_RETURN_IF_ERROR(unary(im, node, "Relu"));
  im.mutable_symbol(node.name()).nonnegative = true;
  return Status::ok_status();
}

Status import_sigmoid(Importer& im, const NodeDef& node) { return unary(im, node, "Sigmoid"); }
Status import_exp(Importer& im, const NodeDef& node) { return unary(im, node, "Exp"); }
Status import_sqrt(Importer& im, const NodeDef& node) { return unary(im, node, "Sqrt"); }

// Relu6(x) = min(relu(x), 6).
Status import_relu6(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  const bool nchw = im.symbol(x).nchw;
  const std::string relu = im.fresh_name(node.name() + "/relu");
  CHEXRT_RETURN_IF_ERROR(im.emit("Relu", relu, {x}, {}, {relu}, false));
  const std::string six = im.add_constant(node.name() + "/six", scalar_like(im.symbol(x).dtype, 6.0));
  CHEXRT_RETURN_IF_ERROR(im.emit("Min", node.name(), {relu, six}, {}, {node.name()}, nchw));
  im.mutable_symbol(node.name()).nonnegative = true;
  return Status::ok_status();
}

// Rsqrt(x) = 1 / sqrt(x); Square(x) = x * x (both fold away on constants, as in unfused batch norms).
Status import_rsqrt(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  const bool nchw = im.symbol(x).nchw;
  const std::string root = im.fresh_name(node.name() + "/sqrt");
  CHEXRT_RETURN_IF_ERROR(im.emit("Sqrt", root, {x}, {}, {root}, false));
  const std::string one = im.add_constant(node.name() + "/one", scalar_like(im.symbol(x).dtype, 1.0));
  return im.emit("Div", node.name(), {one, root}, {}, {node.name()}, nchw);
}

Status import_square(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  return im.emit("Mul", node.name(), {x, x}, {}, {node.name()}, im.symbol(x).nchw);
}

Status import_softmax(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  const Symbol& s = im.symbol(x);
  ir::Attributes attrs;
  attrs.set("axis", s.nchw ? int64_t{1} : static_cast<int64_t>(s.dims.size()) - 1);
  return im.emit("Softmax", node.name(), {x}, attrs, {node.name()}, s.nchw);
}

Status import_concat(Importer& im, const NodeDef& node) {
  const std::vector<std::string> keys = im.data_inputs(node);
  if (keys.size() < 2) return invalid_argument("needs values and an axis");
  CHEXRT_ASSIGN_OR_RETURN(HostTensor axis_t, im.require_constant(node, keys.size() - 1, "axis"));
  int64_t axis = axis_t.to_int64s().at(0);
  bool nchw = false;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    CHEXRT_RETURN_IF_ERROR(im.resolve_pad(keys[i]));
    nchw = nchw || im.symbol(keys[i]).nchw;
  }
  const int64_t rank = static_cast<int64_t>(im.tf_dims(keys[0]).size());
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= rank) return invalid_argument("axis is out of range");
  std::vector<std::string> inputs;
  for (size_t i = 0; i + 1 < keys.size(); ++i) {
    CHEXRT_ASSIGN_OR_RETURN(std::string k, nchw ? im.as_nchw(keys[i]) : im.as_tf(keys[i]));
    inputs.push_back(k);
  }
  ir::Attributes attrs;
  attrs.set("axis", nchw ? kNhwcAxisInNchw[axis] : axis);
  return im.emit("Concat", node.name(), inputs, attrs, {node.name()}, nchw);
}

Status pool(Importer& im, const NodeDef& node, bool max) {
  CHEXRT_RETURN_IF_ERROR(check_format(node));
  CHEXRT_ASSIGN_OR_RETURN(WindowInput in, window_input(im, node, max));
  CHEXRT_ASSIGN_OR_RETURN(auto kernel, spatial(node, "ksize", 1));
  CHEXRT_ASSIGN_OR_RETURN(auto strides, spatial(node, "strides", 1));
  CHEXRT_ASSIGN_OR_RETURN(auto pads, window_pads(node, im.symbol(in.key).dims, kernel, strides, {1, 1}));
  for (int i = 0; i < 4; ++i) pads[i] += in.pads[i];
  ir::Attributes attrs;
  attrs.set("kernel_shape", kernel);
  attrs.set("strides", strides);
  attrs.set("pads", pads);
  // TensorFlow's SAME average pool divides by the pixels inside the image.
  if (!max) attrs.set("count_include_pad", int64_t{0});
  const bool nhwc = format_of(node) == "NHWC";
  CHEXRT_RETURN_IF_ERROR(im.emit(max ? "MaxPool" : "AveragePool", node.name(), {in.key}, attrs, {node.name()}, nhwc));
  if (max) im.mutable_symbol(node.name()).nonnegative = im.symbol(in.key).nonnegative;
  return Status::ok_status();
}

Status import_max_pool(Importer& im, const NodeDef& node) { return pool(im, node, true); }
Status import_avg_pool(Importer& im, const NodeDef& node) { return pool(im, node, false); }

// Pad, PadV2 (constant value), MirrorPad (REFLECT / SYMMETRIC). A zero pad of an image's height
// and width waits (Symbol::pad_source) for a convolution or max pool to take it in.
Status import_pad(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor paddings_t, im.require_constant(node, 1, "paddings"));
  const std::vector<int64_t> paddings = paddings_t.to_int64s();
  const Symbol& s = im.symbol(x);
  const size_t rank = s.dims.size();
  if (paddings.size() != 2 * rank) return invalid_argument("paddings must be [rank, 2]");
  float value = 0.0f;
  if (node.op() == "PadV2") {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor v, im.require_constant(node, 2, "constant_values"));
    value = static_cast<float>(v.to_doubles().at(0));
  }
  std::string mode = "constant";
  if (node.op() == "MirrorPad") {
    const std::string m = attr_string(node, "mode", "");
    if (m != "REFLECT" && m != "SYMMETRIC") return invalid_argument("mode '" + m + "' is not REFLECT or SYMMETRIC");
    mode = m == "REFLECT" ? "reflect" : "symmetric";
  }
  std::vector<int64_t> pads(2 * rank);
  for (size_t k = 0; k < rank; ++k) {
    const size_t tf_axis =
        s.nchw ? static_cast<size_t>(std::find(kNhwcAxisInNchw, kNhwcAxisInNchw + 4, k) - kNhwcAxisInNchw) : k;
    pads[k] = paddings[2 * tf_axis];
    pads[k + rank] = paddings[2 * tf_axis + 1];
  }
  const bool image_layout = s.nchw || (!im.graph_nhwc() && rank == 4);
  if (mode == "constant" && value == 0.0f && image_layout && im.constant(x) == nullptr && pads[0] == 0 &&
      pads[1] == 0 && pads[4] == 0 && pads[5] == 0 && *std::min_element(pads.begin(), pads.end()) >= 0) {
    Symbol pending = s;
    pending.tensor = Tensor{};
    pending.pad_source = x;
    pending.pad_hw = {pads[2], pads[3], pads[6], pads[7]};
    pending.dims = {s.dims[0], s.dims[1], s.dims[2] + pads[2] + pads[6], s.dims[3] + pads[3] + pads[7]};
    im.define_symbol(node.name(), pending);
    return Status::ok_status();
  }
  ir::Attributes attrs;
  attrs.set("pads", pads);
  attrs.set("mode", mode);
  attrs.set("value", value);
  return im.emit("Pad", node.name(), {x}, attrs, {node.name()}, s.nchw);
}

// Mean, Sum, Max over constant axes. The spatial mean of an NCHW-held image is a global
// average pool (Keras's GlobalAveragePooling2D), as ONNX exporters write it.
Status reduce(Importer& im, const NodeDef& node, const char* op) {
  CHEXRT_ASSIGN_OR_RETURN(std::string x, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(HostTensor axes_t, im.require_constant(node, 1, "reduction_indices"));
  const bool keep = attr_bool(node, "keep_dims", false);
  const int64_t rank = static_cast<int64_t>(im.tf_dims(x).size());
  std::set<int64_t> axes;
  for (int64_t a : axes_t.to_int64s()) {
    if (a < -rank || a >= rank) return invalid_argument("axis " + std::to_string(a) + " is out of range");
    axes.insert(a < 0 ? a + rank : a);
  }
  const bool mean = std::string(op) == "Mean";
  bool nchw = im.symbol(x).nchw;
  if (nchw && mean && axes == std::set<int64_t>{1, 2}) {
    const std::string pooled = keep ? node.name() : im.fresh_name(node.name() + "/pool");
    CHEXRT_RETURN_IF_ERROR(im.emit("GlobalAveragePool", node.name(), {x}, {}, {pooled}, keep));
    if (keep) return Status::ok_status();
    ir::Attributes flat;
    flat.set("axis", int64_t{1});
    return im.emit("Flatten", node.name() + "/flatten", {pooled}, flat, {node.name()}, false);
  }
  std::vector<int64_t> ir_axes;
  if (nchw) {
    // Without keep_dims the kept axes must stay in TensorFlow's order: they do unless channels
    // and height or width are both kept.
    const bool order_kept = keep || axes.count(3) || (axes.count(1) && axes.count(2));
    if (!order_kept) {
      CHEXRT_ASSIGN_OR_RETURN(x, im.as_tf(x));
      nchw = false;
    }
  }
  for (int64_t a : axes) ir_axes.push_back(nchw ? kNhwcAxisInNchw[a] : a);
  std::sort(ir_axes.begin(), ir_axes.end());
  ir::Attributes attrs;
  attrs.set("axes", ir_axes);
  attrs.set("keepdims", int64_t{keep});
  const std::string reduced = mean ? im.fresh_name(node.name() + "/sum") : node.name();
  CHEXRT_RETURN_IF_ERROR(im.emit(mean ? "ReduceSum" : op, node.name(), {x}, attrs, {reduced}, !mean && nchw && keep));
  if (!mean) return Status::ok_status();
  int64_t count = 1;
  const Dims tf = im.tf_dims(x);
  for (int64_t a : axes) count *= tf[a];
  const std::string n =
      im.add_constant(node.name() + "/count", scalar_like(im.symbol(x).dtype, static_cast<double>(count)));
  return im.emit("Div", node.name() + "/mean", {reduced, n}, {}, {node.name()}, nchw && keep);
}

Status import_mean(Importer& im, const NodeDef& node) { return reduce(im, node, "Mean"); }
Status import_sum(Importer& im, const NodeDef& node) { return reduce(im, node, "ReduceSum"); }
Status import_max(Importer& im, const NodeDef& node) { return reduce(im, node, "ReduceMax"); }

// MatMul with constant weights is a Gemm, taking in the BiasAdd that follows (ONNX's form of a
// dense layer); other products are MatMul.
Status import_matmul(Importer& im, const NodeDef& node) {
  CHEXRT_ASSIGN_OR_RETURN(std::string a0, im.input(node, 0));
  CHEXRT_ASSIGN_OR_RETURN(std::string b0, im.input(node, 1));
  CHEXRT_ASSIGN_OR_RETURN(std::string a, im.as_tf(a0));
  CHEXRT_ASSIGN_OR_RETURN(std::string b, im.as_tf(b0));
  const bool ta = attr_bool(node, "transpose_a", false);
  const bool tb = attr_bool(node, "transpose_b", false);
  const HostTensor* w = im.constant(b);
  if (w != nullptr && w->rank() == 2 && im.symbol(a).dims.size() == 2) {
    ir::Attributes attrs;
    attrs.set("transA", int64_t{ta});
    attrs.set("transB", int64_t{tb});
    std::vector<std::string> inputs = {a, b};
    std::string out = node.name();
    HostTensor bias;
    if (const NodeDef* reader = bias_reader(im, node, w->dims()[tb ? 0 : 1], &bias)) {
      inputs.push_back(im.add_constant(reader->name() + "/bias", bias));
      im.absorb(*reader);
      out = reader->name();
    }
    CHEXRT_RETURN_IF_ERROR(im.emit("Gemm", node.name(), inputs, attrs, {out}, false));
    if (out != node.name()) im.alias(node.name(), out);
    return Status::ok_status();
  }
  std::string keys[2] = {a, b};
  const bool trans[2] = {ta, tb};
  for (int i = 0; i < 2; ++i) {
    if (!trans[i]) continue;
    if (im.symbol(keys[i]).dims.size() != 2) return unsupported("transpose_a/b of a non-matrix");
    ir::Attributes perm;
    perm.set("perm", std::vector<int64_t>{1, 0});
    const std::string t = im.fresh_name(keys[i] + "/transposed");
    CHEXRT_RETURN_IF_ERROR(im.emit("Transpose", t, {keys[i]}, perm, {t}, false));
    keys[i] = t;
  }
  return im.emit("MatMul", node.name(), {keys[0], keys[1]}, {}, {node.name()}, false);
}

const std::map<std::string, ImportFn>& table() {
  static const std::map<std::string, ImportFn> kTable = {
      {"Const", import_const},
      {"Placeholder", import_placeholder},
      {"PlaceholderWithDefault", import_identity},
      {"Identity", import_identity},
      {"StopGradient", import_identity},
      {"Snapshot", import_identity},
      {"NoOp", import_noop},
      {"Switch", import_switch},
      {"Merge", import_merge},
      {"Shape", import_shape},
      {"StridedSlice", import_strided_slice},
      {"Pack", import_pack},
      {"Reshape", import_reshape},
      {"Squeeze", import_squeeze},
      {"ExpandDims", import_expand_dims},
      {"Transpose", import_transpose},
      {"Conv2D", import_conv2d},
      {"DepthwiseConv2dNative", import_depthwise},
      {"FusedBatchNorm", import_fused_batch_norm},
      {"FusedBatchNormV2", import_fused_batch_norm},
      {"FusedBatchNormV3", import_fused_batch_norm},
      {"BiasAdd", import_bias_add},
      {"Relu", import_relu},
      {"Relu6", import_relu6},
      {"Sigmoid", import_sigmoid},
      {"Exp", import_exp},
      {"Sqrt", import_sqrt},
      {"Rsqrt", import_rsqrt},
      {"Square", import_square},
      {"Softmax", import_softmax},
      {"Add", import_add},
      {"AddV2", import_add},
      {"Sub", import_sub},
      {"Mul", import_mul},
      {"RealDiv", import_div},
      {"Maximum", import_maximum},
      {"Minimum", import_minimum},
      {"ConcatV2", import_concat},
      {"AvgPool", import_avg_pool},
      {"MaxPool", import_max_pool},
      {"Pad", import_pad},
      {"PadV2", import_pad},
      {"MirrorPad", import_pad},
      {"Mean", import_mean},
      {"Sum", import_sum},
      {"Max", import_max},
      {"MatMul", import_matmul},
  };
  return kTable;
}

}  // namespace

ImportFn find_importer(const std::string& op) {
  auto it = table().find(op);
  return it == table().end() ? nullptr : it->second;
}

std::vector<std::string> op_types() {
  std::vector<std::string> ops;
  for (const auto& [op, fn] : table()) ops.push_back(op);
  return ops;
}

}  // namespace chexrt::tf_import
