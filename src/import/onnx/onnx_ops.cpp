// One importer function per ONNX op (most ops keep ONNX's semantics in chexrt's IR and are
// imported as they are), the op-specific checks, and the table that ties them together.
#include "import/onnx/onnx_ops.h"

#include <algorithm>
#include <climits>

#include "import/onnx/onnx_tensor.h"

namespace chexrt::onnx_import {

using AP = onnx::AttributeProto;

std::string node_label(const onnx::NodeProto& node, int index) {
  return node.name().empty() ? node.op_type() + "_" + std::to_string(index) : node.name();
}

std::string describe_node(const onnx::NodeProto& node, int index) {
  return "node '" + node_label(node, index) + "' (" + node.op_type() + ")";
}

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t attribute_int(const onnx::NodeProto& node, const std::string& name, int64_t fallback) {
  const auto* a = find_attribute(node, name);
  return a ? a->i() : fallback;
}

std::string attribute_type_name(AP::AttributeType type) {
  return AP::AttributeType_IsValid(type) ? AP::AttributeType_Name(type) : "type " + std::to_string(type);
}

namespace {

// The node's scalar and list attributes, as they are (chexrt's IR uses ONNX's names and
// meanings); tensor attributes are read by the op's own importer.
ir::Attributes plain_attributes(const onnx::NodeProto& node, const std::set<std::string>& skip = {}) {
  ir::Attributes attrs;
  for (const auto& a : node.attribute()) {
    if (skip.count(a.name())) continue;
    switch (a.type()) {
      case AP::INT:
        attrs.set(a.name(), static_cast<int64_t>(a.i()));
        break;
      case AP::FLOAT:
        attrs.set(a.name(), a.f());
        break;
      case AP::STRING:
        attrs.set(a.name(), a.s());
        break;
      case AP::INTS:
        attrs.set(a.name(), std::vector<int64_t>(a.ints().begin(), a.ints().end()));
        break;
      case AP::FLOATS:
        attrs.set(a.name(), std::vector<float>(a.floats().begin(), a.floats().end()));
        break;
      default:
        break;
    }
  }
  return attrs;
}

std::vector<std::string> inputs_of(const onnx::NodeProto& node) { return {node.input().begin(), node.input().end()}; }

// Outputs without the trailing optional ones the node leaves out (empty names).
std::vector<std::string> outputs_of(const onnx::NodeProto& node) {
  std::vector<std::string> outs(node.output().begin(), node.output().end());
  while (!outs.empty() && outs.back().empty()) outs.pop_back();
  return outs;
}

bool output_used(const CheckContext& c, int i) {
  return i < c.node.output_size() && !c.node.output(i).empty() && c.used.count(c.node.output(i)) != 0;
}

Status import_as_is(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  return im.emit(node.op_type(), layer, inputs_of(node), plain_attributes(node), outputs_of(node));
}

Status check_binary_flag(const onnx::NodeProto& node, const char* name) {
  const int64_t v = attribute_int(node, name, 0);
  if (v != 0 && v != 1) {
    return invalid_argument("attribute " + std::string(name) + "=" + std::to_string(v) + " must be 0 or 1");
  }
  return Status::ok_status();
}

Status check_window(const CheckContext& c) {
  if (const auto* a = find_attribute(c.node, "auto_pad")) {
    static const std::set<std::string> kModes = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    if (!kModes.count(a->s())) {
      return invalid_argument("attribute auto_pad='" + a->s() +
                              "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    }
  }
  for (const char* name : {"kernel_shape", "strides", "dilations"}) {
    if (const auto* a = find_attribute(c.node, name)) {
      for (int64_t v : a->ints()) {
        if (v < 1) {
          return invalid_argument("attribute " + std::string(name) + " has a non-positive value " + std::to_string(v));
        }
      }
    }
  }
  if (const auto* a = find_attribute(c.node, "pads")) {
    for (int64_t v : a->ints()) {
      if (v < 0) return invalid_argument("attribute pads has a negative value " + std::to_string(v));
    }
  }
  return Status::ok_status();
}

Status check_conv(const CheckContext& c) {
  if (attribute_int(c.node, "group", 1) < 1) return invalid_argument("attribute group must be at least 1");
  return check_window(c);
}

Status check_pool(const CheckContext& c) {
  CHEXRT_RETURN_IF_ERROR(check_binary_flag(c.node, "ceil_mode"));
  CHEXRT_RETURN_IF_ERROR(check_binary_flag(c.node, "count_include_pad"));
  CHEXRT_RETURN_IF_ERROR(check_binary_flag(c.node, "storage_order"));
  return check_window(c);
}

// BatchNormalization-9 dropped `spatial` (per-channel statistics are the only kind left);
// opset 14 added training_mode, whose extra outputs are the updated running statistics.
// Before 14 the extra outputs only existed in training, which chexrt does not do.
Status check_batch_norm(const CheckContext& c) {
  if (attribute_int(c.node, "spatial", 1) != 1) {
    return unsupported("spatial=0 (statistics per element rather than per channel) is not supported");
  }
  CHEXRT_RETURN_IF_ERROR(check_binary_flag(c.node, "training_mode"));
  const bool training = c.opset >= 14 && attribute_int(c.node, "training_mode", 0) == 1;
  const int max_outputs = training ? 3 : 1;
  for (int i = max_outputs; i < c.node.output_size(); ++i) {
    if (output_used(c, i)) {
      return unsupported("output " + std::to_string(i) + " ('" + c.node.output(i) + "') only exists in training mode" +
                         (training ? "" : ", which this node is not in"));
    }
  }
  return Status::ok_status();
}

Status import_batch_norm(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  const bool training = im.opset() >= 14 && attribute_int(node, "training_mode", 0) == 1;
  ir::Attributes attrs = plain_attributes(node, {"spatial", "training_mode"});
  std::vector<std::string> outputs = {node.output(0)};
  if (training) {
    attrs.set("training_mode", int64_t{1});
    outputs = outputs_of(node);
    outputs.resize(std::min<size_t>(outputs.size(), 3));
  }
  return im.emit("BatchNormalization", layer, inputs_of(node), std::move(attrs), outputs);
}

Status check_cast(const CheckContext& c) {
  const auto* to = find_attribute(c.node, "to");
  auto dtype = from_onnx_dtype(static_cast<int32_t>(to->i()));
  if (!dtype.ok()) return unsupported("attribute to: " + dtype.status().message());
  return Status::ok_status();
}

// Cast's `to` is an ONNX TensorProto type; chexrt's IR holds its own DataType numbers.
Status import_cast(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  CHEXRT_ASSIGN_OR_RETURN(DataType to, from_onnx_dtype(static_cast<int32_t>(find_attribute(node, "to")->i())));
  ir::Attributes attrs;
  attrs.set("to", static_cast<int64_t>(to));
  return im.emit("Cast", layer, {node.input(0)}, std::move(attrs), {node.output(0)});
}

Status check_constant(const CheckContext& c) {
  if (c.node.attribute_size() != 1) {
    return invalid_argument("needs exactly one of value, value_float, value_floats, value_int, value_ints; has " +
                            std::to_string(c.node.attribute_size()) + " attributes");
  }
  return Status::ok_status();
}

Status import_constant(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  const auto& a = node.attribute(0);
  const auto n = [](const auto& list) { return Dims{static_cast<int64_t>(list.size())}; };
  HostTensor value;
  if (a.name() == "value") {
    CHEXRT_ASSIGN_OR_RETURN(value, tensor_from_proto(a.t(), im.base_dir()));
  } else if (a.name() == "value_float") {
    value = HostTensor::from_floats({a.f()}, {});
  } else if (a.name() == "value_floats") {
    value = HostTensor::from_floats({a.floats().begin(), a.floats().end()}, n(a.floats()));
  } else if (a.name() == "value_int") {
    value = HostTensor::from_int64s({a.i()}, {});
  } else {
    value = HostTensor::from_int64s({a.ints().begin(), a.ints().end()}, n(a.ints()));
  }
  im.define_constant(node.output(0), std::move(value));
  return Status::ok_status();
}

Status check_constant_of_shape(const CheckContext& c) {
  if (const auto* a = find_attribute(c.node, "value")) {
    auto dtype = from_onnx_dtype(a->t().data_type());
    if (!dtype.ok()) return unsupported("attribute value: " + dtype.status().message());
    if (num_elements(Dims(a->t().dims().begin(), a->t().dims().end())) != 1) {
      return invalid_argument("attribute value must hold exactly one element");
    }
  }
  return Status::ok_status();
}

// ConstantOfShape's `value` tensor becomes chexrt's `dtype` (a DataType number) and `value`.
Status import_constant_of_shape(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  HostTensor value = HostTensor::from_floats({0.f}, {1});
  if (const auto* a = find_attribute(node, "value")) {
    CHEXRT_ASSIGN_OR_RETURN(value, tensor_from_proto(a->t(), im.base_dir()));
  }
  ir::Attributes attrs;
  attrs.set("dtype", static_cast<int64_t>(value.dtype()));
  const DataType t = value.dtype();
  if (t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64) {
    attrs.set("value", static_cast<float>(value.to_doubles()[0]));
  } else {
    attrs.set("value", value.to_int64s()[0]);
  }
  return im.emit("ConstantOfShape", layer, {node.input(0)}, std::move(attrs), {node.output(0)});
}

Status check_dropout(const CheckContext& c) {
  if (output_used(c, 1)) return unsupported("the mask output ('" + c.node.output(1) + "') is not supported");
  return Status::ok_status();
}

// At inference Dropout passes its input through; training_mode (opset 12 input) must be false.
Status import_dropout(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  if (node.input_size() > 2 && !node.input(2).empty()) {
    const HostTensor* mode = im.constant(node.input(2));
    if (mode == nullptr || mode->numel() != 1) {
      return unsupported("input training_mode ('" + node.input(2) + "') must be a constant scalar");
    }
    if (mode->to_int64s()[0] != 0) return unsupported("training_mode=true is not supported (inference only)");
  }
  return im.emit("Identity", layer, {node.input(0)}, {}, {node.output(0)});
}

// PyTorch exports avg_pool2d with a Pad in front, all of whose pads are zero (DenseNet's
// transitions): that is an identity. chexrt has no Pad op for real padding. The pads are the
// `pads` attribute before opset 11 and the second input from 11 on.
Status import_pad(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  std::vector<int64_t> pads;
  if (im.opset() < 11) {
    const auto* a = find_attribute(node, "pads");
    if (a == nullptr) return invalid_argument("attribute pads is required before opset 11");
    pads.assign(a->ints().begin(), a->ints().end());
  } else {
    const HostTensor* p = node.input_size() > 1 && !node.input(1).empty() ? im.constant(node.input(1)) : nullptr;
    if (p == nullptr) {
      return unsupported("input pads must be known when the engine is built (a constant or initializer)");
    }
    pads = p->to_int64s();
  }
  if (std::any_of(pads.begin(), pads.end(), [](int64_t v) { return v != 0; })) {
    return unsupported("padding " + dims_to_string(pads) + " is not supported; only all-zero pads (a no-op) are");
  }
  return im.emit("Identity", layer, {node.input(0)}, {}, {node.output(0)});
}

// Unsqueeze needs its axes: an attribute before opset 13, the second input from 13 on.
Status check_unsqueeze(const CheckContext& c) {
  const bool has_input = c.node.input_size() > 1 && !c.node.input(1).empty();
  if (c.opset >= 13 && !has_input) return invalid_argument("input axes is required from opset 13");
  if (c.opset < 13 && find_attribute(c.node, "axes") == nullptr) {
    return invalid_argument("attribute axes is required before opset 13");
  }
  return Status::ok_status();
}

// Softmax-13 normalizes along one axis. Before it, Softmax flattened the input to 2-D at
// `axis` (default 1) and normalized each row:
//   y = reshape(softmax(flatten(x, axis), axis=1), shape(x)),
// which is a plain softmax over the last axis when axis = rank - 1 (the common case).
Status import_softmax(Importer& im, const onnx::NodeProto& node, const std::string& layer) {
  const std::string& x = node.input(0);
  const std::string& y = node.output(0);
  const int64_t rank = static_cast<int64_t>(im.dims(x).size());
  int64_t axis = attribute_int(node, "axis", im.opset() >= 13 ? -1 : 1);
  if (axis < -rank || axis >= rank) {
    return invalid_argument("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  ir::Attributes attrs;
  if (im.opset() >= 13 || axis == rank - 1) {
    attrs.set("axis", axis);
    return im.emit("Softmax", layer, {x}, std::move(attrs), {y});
  }
  const std::string flat = im.fresh_name(y + "/flat");
  const std::string rows = im.fresh_name(y + "/softmax_rows");
  const std::string shape = im.fresh_name(y + "/shape");
  ir::Attributes flatten_attrs;
  flatten_attrs.set("axis", axis);
  CHEXRT_RETURN_IF_ERROR(im.emit("Flatten", layer + "/flatten", {x}, std::move(flatten_attrs), {flat}));
  attrs.set("axis", int64_t{1});
  CHEXRT_RETURN_IF_ERROR(im.emit("Softmax", layer, {flat}, std::move(attrs), {rows}));
  im.define_constant(shape, HostTensor::from_int64s(im.dims(x), {rank}));
  return im.emit("Reshape", layer + "/reshape", {rows, shape}, {}, {y});
}

constexpr int kMany = INT_MAX;

std::vector<AttrSpec> window_attrs(bool pool) {
  return {{"auto_pad", AP::STRING},
          {"dilations", AP::INTS},
          {"kernel_shape", AP::INTS, /*required=*/pool},
          {"pads", AP::INTS},
          {"strides", AP::INTS}};
}

std::vector<AttrSpec> with(std::vector<AttrSpec> attrs, const std::vector<AttrSpec>& more) {
  attrs.insert(attrs.end(), more.begin(), more.end());
  return attrs;
}

const std::vector<AttrSpec> kBatchNormAttrs = {
    {"epsilon", AP::FLOAT}, {"momentum", AP::FLOAT}, {"spatial", AP::INT}, {"training_mode", AP::INT}};
const std::vector<AttrSpec> kConstantAttrs = {{"value", AP::TENSOR},
                                              {"value_float", AP::FLOAT},
                                              {"value_floats", AP::FLOATS},
                                              {"value_int", AP::INT},
                                              {"value_ints", AP::INTS}};
const std::vector<AttrSpec> kGemmAttrs = {
    {"alpha", AP::FLOAT}, {"beta", AP::FLOAT}, {"transA", AP::INT}, {"transB", AP::INT}};
const std::vector<AttrSpec> kPadAttrs = {{"mode", AP::STRING}, {"pads", AP::INTS}, {"value", AP::FLOAT}};
const std::vector<AttrSpec> kReduceAttrs = {
    {"axes", AP::INTS}, {"keepdims", AP::INT}, {"noop_with_empty_axes", AP::INT}};

// since_opset: the version where the semantics implemented here start; e.g. element-wise ops
// before 7 broadcast only on request (`broadcast`, `axis`), Relu before 6 had consumed_inputs.
// Columns: op, since_opset, min and max inputs, max outputs, attributes, check, import.
const std::vector<OpSpec>& op_table() {
  static const std::vector<OpSpec> kOps = {
      {"Add", 7, 2, 2, 1, {}, nullptr, import_as_is},
      {"AveragePool", 1, 1, 1, 1, with(window_attrs(true), {{"ceil_mode", AP::INT}, {"count_include_pad", AP::INT}}),
       check_pool, import_as_is},
      {"BatchNormalization", 7, 5, 5, 5, kBatchNormAttrs, check_batch_norm, import_batch_norm},
      {"Cast", 6, 1, 1, 1, {{"to", AP::INT, true}, {"saturate", AP::INT}}, check_cast, import_cast},
      {"Concat", 4, 1, kMany, 1, {{"axis", AP::INT, true}}, nullptr, import_as_is},
      {"Constant", 1, 0, 0, 1, kConstantAttrs, check_constant, import_constant},
      {"ConstantOfShape", 9, 1, 1, 1, {{"value", AP::TENSOR}}, check_constant_of_shape, import_constant_of_shape},
      {"Conv", 1, 2, 3, 1, with(window_attrs(false), {{"group", AP::INT}}), check_conv, import_as_is},
      {"Div", 7, 2, 2, 1, {}, nullptr, import_as_is},
      {"Dropout", 7, 1, 3, 2, {{"ratio", AP::FLOAT}, {"seed", AP::INT}}, check_dropout, import_dropout},
      {"Exp", 6, 1, 1, 1, {}, nullptr, import_as_is},
      {"Flatten", 1, 1, 1, 1, {{"axis", AP::INT}}, nullptr, import_as_is},
      {"Gather", 1, 2, 2, 1, {{"axis", AP::INT}}, nullptr, import_as_is},
      {"Gemm", 7, 2, 3, 1, kGemmAttrs, nullptr, import_as_is},
      {"GlobalAveragePool", 1, 1, 1, 1, {}, nullptr, import_as_is},
      {"Identity", 1, 1, 1, 1, {}, nullptr, import_as_is},
      {"MatMul", 1, 2, 2, 1, {}, nullptr, import_as_is},
      {"MaxPool", 1, 1, 1, 2, with(window_attrs(true), {{"ceil_mode", AP::INT}, {"storage_order", AP::INT}}),
       check_pool, import_as_is},
      {"Mul", 7, 2, 2, 1, {}, nullptr, import_as_is},
      {"Pad", 2, 1, 4, 1, kPadAttrs, nullptr, import_pad},
      {"ReduceMax", 1, 1, 2, 1, kReduceAttrs, nullptr, import_as_is},
      {"ReduceSum", 1, 1, 2, 1, kReduceAttrs, nullptr, import_as_is},
      {"Relu", 6, 1, 1, 1, {}, nullptr, import_as_is},
      {"Reshape", 5, 2, 2, 1, {{"allowzero", AP::INT}}, nullptr, import_as_is},
      {"Shape", 1, 1, 1, 1, {{"start", AP::INT}, {"end", AP::INT}}, nullptr, import_as_is},
      {"Sigmoid", 6, 1, 1, 1, {}, nullptr, import_as_is},
      {"Softmax", 1, 1, 1, 1, {{"axis", AP::INT}}, nullptr, import_softmax},
      {"Squeeze", 1, 1, 2, 1, {{"axes", AP::INTS}}, nullptr, import_as_is},
      {"Sub", 7, 2, 2, 1, {}, nullptr, import_as_is},
      {"Transpose", 1, 1, 1, 1, {{"perm", AP::INTS}}, nullptr, import_as_is},
      {"Unsqueeze", 1, 1, 2, 1, {{"axes", AP::INTS}}, check_unsqueeze, import_as_is},
  };
  return kOps;
}

}  // namespace

const OpSpec* find_op_spec(const std::string& op_type) {
  for (const auto& spec : op_table()) {
    if (op_type == spec.op_type) return &spec;
  }
  return nullptr;
}

std::vector<std::string> op_types() {
  std::vector<std::string> names;
  for (const auto& spec : op_table()) names.emplace_back(spec.op_type);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace chexrt::onnx_import
