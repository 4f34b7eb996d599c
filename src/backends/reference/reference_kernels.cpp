// run_node() dispatches on the op; supports() and run_node() share one table of what each op
// accepts, so the question asked before building and the check made while running agree.
#include "backends/reference/reference_kernels.h"

#include "backends/reference/kernel_util.h"
#include "ir/op_attributes.h"

namespace chexrt::reference {

Status KernelCall::error(const std::string& message) const {
  return invalid_argument(ir::describe(node) + ": " + message);
}

Status KernelCall::unsupported_dtype(DataType t) const {
  return unsupported(ir::describe(node) + ": element type " + dtype_name(t) +
                     " is not supported by the reference backend");
}

std::vector<int64_t> row_major_strides(const Dims& dims) {
  std::vector<int64_t> strides(dims.size(), 1);
  for (size_t i = dims.size(); i-- > 1;) strides[i - 1] = strides[i] * dims[i];
  return strides;
}

std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out) {
  const std::vector<int64_t> own = row_major_strides(dims);
  std::vector<int64_t> strides(out.size(), 0);
  const size_t lead = out.size() - dims.size();
  for (size_t i = 0; i < dims.size(); ++i) strides[lead + i] = dims[i] == 1 ? 0 : own[i];
  return strides;
}

namespace {

using ir::OpType;

enum class TypeSet { kAny, kFloat32, kFloat, kArithmetic };

bool in_set(DataType t, TypeSet set) {
  switch (set) {
    case TypeSet::kAny:
      return true;
    case TypeSet::kFloat32:
      return t == DataType::kFloat32;
    case TypeSet::kFloat:
      return t == DataType::kFloat32 || t == DataType::kFloat64;
    case TypeSet::kArithmetic:
      return t != DataType::kFloat16 && t != DataType::kBool;
  }
  return false;
}

const char* set_name(TypeSet set) {
  switch (set) {
    case TypeSet::kAny:
      return "any type";
    case TypeSet::kFloat32:
      return "f32";
    case TypeSet::kFloat:
      return "f32 or f64";
    case TypeSet::kArithmetic:
      return "f32, f64, i64, i32, i8 or u8";
  }
  return "?";
}

// Element types the kernel of `op` takes for its data input (input 0).
TypeSet data_types(OpType op) {
  switch (op) {
    case OpType::kIdentity:
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
    case OpType::kTranspose:
    case OpType::kConcat:
    case OpType::kGather:
    case OpType::kShape:
    case OpType::kCast:
    case OpType::kConstantOfShape:
    case OpType::kPad:
      return TypeSet::kAny;
    case OpType::kRelu:
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kMax:
    case OpType::kMin:
    case OpType::kMaxPool:
    case OpType::kReduceMax:
    case OpType::kReduceSum:
      return TypeSet::kArithmetic;
    case OpType::kSigmoid:
    case OpType::kExp:
    case OpType::kSqrt:
    case OpType::kAveragePool:
    case OpType::kSoftmax:
      return TypeSet::kFloat;
    case OpType::kConv:
    case OpType::kBatchNormalization:
    case OpType::kGlobalAveragePool:
    case OpType::kGemm:
    case OpType::kMatMul:
    case OpType::kChannelAffine:
    case OpType::kClassifierHead:
    case OpType::kCount:
      break;
  }
  return TypeSet::kFloat32;
}

// Ops whose every input has the data input's element type (weights, bias, operands).
bool inputs_share_type(OpType op) {
  switch (op) {
    case OpType::kConv:
    case OpType::kBatchNormalization:
    case OpType::kConcat:
    case OpType::kGemm:
    case OpType::kMatMul:
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kMax:
    case OpType::kMin:
    case OpType::kChannelAffine:
    case OpType::kClassifierHead:
      return true;
    default:
      return false;
  }
}

// Why the reference backend cannot run this node, or "" when it can. `input_types` follows
// node.inputs; nullptr marks an absent optional input.
std::string unsupported_reason(const ir::Node& node, const std::vector<const DataType*>& input_types) {
  if (node.op == OpType::kCount) return "is not an op";
  if (input_types.empty() || input_types[0] == nullptr) return "has no data input";
  const TypeSet set = data_types(node.op);
  const DataType data = *input_types[0];
  if (!in_set(data, set)) {
    return std::string("input type ") + dtype_name(data) + " is not supported (needs " + set_name(set) + ")";
  }
  for (size_t i = 1; inputs_share_type(node.op) && i < input_types.size(); ++i) {
    if (input_types[i] != nullptr && *input_types[i] != data) {
      return "input " + std::to_string(i) + " is " + dtype_name(*input_types[i]) + " while input 0 is " +
             dtype_name(data);
    }
  }
  const ir::Attributes& a = node.attrs;
  switch (node.op) {
    case OpType::kConv:
    case OpType::kChannelAffine: {
      const std::string act = a.get_string("activation", "");
      if (act != "" && act != "relu") return "activation '" + act + "' is not \"\" or \"relu\"";
      break;
    }
    case OpType::kClassifierHead: {
      const std::string act = a.get_string("activation", "");
      if (act != "" && act != "sigmoid") return "activation '" + act + "' is not \"\" or \"sigmoid\"";
      break;
    }
    case OpType::kBatchNormalization:
      if (node.outputs.size() > 3) return "the opset-9 outputs saved_mean/saved_var are not supported";
      if (node.outputs.size() > 1 && a.get_int("training_mode", 0) == 0) {
        return "running_mean/running_var outputs need training_mode=1";
      }
      break;
    case OpType::kMaxPool:
    case OpType::kAveragePool: {
      const Result<ir::PoolAttributes> window = ir::pool_attributes(node);
      if (!window.ok()) return window.status().message();
      break;
    }
    case OpType::kGather:
      if (input_types.size() < 2 || input_types[1] == nullptr ||
          (*input_types[1] != DataType::kInt64 && *input_types[1] != DataType::kInt32)) {
        return "indices must be i64 or i32";
      }
      break;
    default:
      break;
  }
  return "";
}

}  // namespace

bool supports(const ir::Graph& graph, const ir::Node& node, std::string* why) {
  std::vector<const DataType*> types;
  for (int v : node.inputs) types.push_back(v == ir::kNoValue ? nullptr : &graph.value(v).dtype);
  const std::string reason = unsupported_reason(node, types);
  if (!reason.empty() && why != nullptr) *why = ir::describe(node) + ": " + reason;
  return reason.empty();
}

Status run_node(const ir::Node& node, const std::vector<const HostTensor*>& inputs,
                const std::vector<HostTensor*>& outputs) {
  const KernelCall call{node, inputs, outputs};
  if (inputs.size() != node.inputs.size() || outputs.size() != node.outputs.size()) {
    return call.error("got " + std::to_string(inputs.size()) + " inputs and " + std::to_string(outputs.size()) +
                      " outputs, expected " + std::to_string(node.inputs.size()) + " and " +
                      std::to_string(node.outputs.size()));
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i] == nullptr || outputs[i]->empty())
      return call.error("output " + std::to_string(i) + " is not allocated");
  }
  std::vector<const DataType*> types;
  std::vector<DataType> storage(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] != nullptr) storage[i] = inputs[i]->dtype();
    types.push_back(inputs[i] != nullptr ? &storage[i] : nullptr);
  }
  const std::string reason = unsupported_reason(node, types);
  if (!reason.empty()) return unsupported(ir::describe(node) + ": " + reason);

  switch (node.op) {
    case OpType::kConv:
      return run_conv(call);
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      return run_pool(call);
    case OpType::kGlobalAveragePool:
      return run_global_average_pool(call);
    case OpType::kBatchNormalization:
      return run_batch_norm(call);
    case OpType::kChannelAffine:
      return run_channel_affine(call);
    case OpType::kGemm:
      return run_gemm(call);
    case OpType::kMatMul:
      return run_matmul(call);
    case OpType::kClassifierHead:
      return run_classifier_head(call);
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kExp:
    case OpType::kSqrt:
      return run_unary(call);
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kMax:
    case OpType::kMin:
      return run_binary(call);
    case OpType::kPad:
      return run_pad(call);
    case OpType::kSoftmax:
      return run_softmax(call);
    case OpType::kReduceMax:
    case OpType::kReduceSum:
      return run_reduce(call);
    case OpType::kCast:
      return run_cast(call);
    case OpType::kIdentity:
    case OpType::kFlatten:
    case OpType::kReshape:
    case OpType::kSqueeze:
    case OpType::kUnsqueeze:
      return run_copy(call);
    case OpType::kTranspose:
      return run_transpose(call);
    case OpType::kConcat:
      return run_concat(call);
    case OpType::kGather:
      return run_gather(call);
    case OpType::kShape:
      return run_shape(call);
    case OpType::kConstantOfShape:
      return run_constant_of_shape(call);
    case OpType::kCount:
      break;
  }
  return call.error("has no reference kernel");
}

}  // namespace chexrt::reference
