// ONNX -> NetworkDefinition: parse, check every node (op_checker), then translate node by node
// (onnx_ops), folding what is known at build time.
#include "import/onnx/onnx_importer.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "import/fold_layer.h"
#include "import/model_file.h"
#include "import/onnx/onnx_ops.h"
#include "import/onnx/onnx_tensor.h"
#include "import/onnx/op_checker.h"
#include "ir/shape_inference.h"

namespace chexrt {
namespace onnx_import {

namespace {

// Errors of the network start with the layer ("node 'conv0' (Conv): ..."); the importer names
// the ONNX node instead, which is the same for one-layer translations and clearer otherwise.
Status without_layer_prefix(const Status& s, const std::string& layer, const std::string& op) {
  const std::string prefix = "node '" + layer + "' (" + op + "): ";
  if (s.message().rfind(prefix, 0) == 0) return Status(s.code(), s.message().substr(prefix.size()));
  return s;
}

}  // namespace

Importer::Importer(NetworkDefinition& net, const OnnxImportOptions& options, int64_t opset, std::string base_dir,
                   std::set<std::string> model_names)
    : net_(net),
      options_(options),
      opset_(opset),
      base_dir_(std::move(base_dir)),
      model_names_(std::move(model_names)) {}

const HostTensor* Importer::constant(const std::string& name) const {
  auto it = symbols_.find(name);
  return it == symbols_.end() || it->second.constant.empty() ? nullptr : &it->second.constant;
}

const Dims& Importer::dims(const std::string& name) const { return symbol(name).dims; }

void Importer::define_constant(const std::string& name, HostTensor value) {
  Symbol s;
  s.dtype = value.dtype();
  s.dims = value.dims();
  s.constant = std::move(value);
  symbols_[name] = std::move(s);
}

std::string Importer::fresh_name(const std::string& base) {
  std::string name = base;
  for (int i = 1; model_names_.count(name) || symbols_.count(name) || net_.find_tensor(name).valid(); ++i) {
    name = base + "_" + std::to_string(i);
  }
  model_names_.insert(name);
  return name;
}

Tensor Importer::materialize(const std::string& name) {
  Symbol& s = symbols_.at(name);
  if (!s.tensor.valid()) s.tensor = net_.add_constant(name, s.constant);
  return s.tensor;
}

Status Importer::emit(const std::string& op, const std::string& layer, const std::vector<std::string>& inputs,
                      ir::Attributes attrs, const std::vector<std::string>& outputs) {
  const auto type = ir::op_from_name(op);
  if (!type) return unsupported("op " + op + " is not in chexrt's op list");
  bool any_input = false;
  bool all_known = true;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (!symbols_.count(in)) return invalid_argument("input '" + in + "' is not available");
    any_input = true;
    all_known = all_known && constant(in) != nullptr;
  }
  if (options_.fold_constants && (*type == ir::OpType::kShape || (any_input && all_known))) {
    auto folded = fold(*type, layer, inputs, attrs, outputs);
    if (!folded.ok()) return without_layer_prefix(folded.status(), layer, op);
    if (*folded) return Status::ok_status();
  }
  std::vector<Tensor> tensors;
  for (const auto& in : inputs) tensors.push_back(in.empty() ? Tensor{} : materialize(in));
  const std::vector<Tensor> outs =
      net_.add_layer(op, layer, tensors, import::to_layer_attributes(attrs), static_cast<int>(outputs.size()), outputs);
  if (!net_.status().ok()) return without_layer_prefix(net_.status(), layer, op);
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].empty()) continue;
    Symbol& s = symbols_[outputs[i]];
    s.tensor = outs[i];
    s.dtype = net_.tensor_dtype(outs[i]);
    s.dims = net_.tensor_dims(outs[i]);
  }
  return Status::ok_status();
}

// The layer's outputs as constants, when the reference kernels can compute them.
Result<bool> Importer::fold(ir::OpType op, const std::string& layer, const std::vector<std::string>& inputs,
                            const ir::Attributes& attrs, const std::vector<std::string>& outputs) {
  std::vector<import::FoldInput> fold_inputs;
  for (const auto& name : inputs) {
    import::FoldInput in{name};
    if (!name.empty()) {
      const Symbol& s = symbol(name);
      in.constant = s.constant.empty() ? nullptr : &s.constant;
      in.dtype = s.dtype;
      in.dims = s.dims;
    }
    fold_inputs.push_back(std::move(in));
  }
  CHEXRT_ASSIGN_OR_RETURN(auto results, import::fold_layer(op, layer, fold_inputs, attrs, outputs));
  if (!results) return false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].empty()) define_constant(outputs[i], std::move((*results)[i]));
  }
  return true;
}

Status Importer::add_graph_input(const onnx::ValueInfoProto& input) {
  const std::string& name = input.name();
  const auto bound = options_.constant_inputs.find(name);
  // Models older than IR 4 list initializers among the inputs too: they stay constants.
  if (bound == options_.constant_inputs.end() && constant(name) != nullptr) return Status::ok_status();
  const std::string context = "graph input '" + name + "'";
  if (!input.type().has_tensor_type()) return unsupported(context + ": only tensor inputs are supported");
  const auto& type = input.type().tensor_type();
  auto dtype = from_onnx_dtype(type.elem_type());
  if (!dtype.ok()) return dtype.status().with_context(context);
  if (bound != options_.constant_inputs.end()) {
    const HostTensor& value = bound->second;
    if (value.dtype() != *dtype) {
      return invalid_argument(context + ": the bound constant is " + dtype_name(value.dtype()) +
                              ", the model declares " + dtype_name(*dtype));
    }
    bool fits = !type.has_shape() || type.shape().dim_size() == value.rank();
    for (int k = 0; fits && type.has_shape() && k < type.shape().dim_size(); ++k) {
      const auto& d = type.shape().dim(k);
      fits = !d.has_dim_value() || d.dim_value() < 0 || d.dim_value() == value.dims()[k];
    }
    if (!fits) {
      return invalid_argument(context + ": the bound constant's shape " + dims_to_string(value.dims()) +
                              " does not fit the model's");
    }
    define_constant(name, value);
    return Status::ok_status();
  }
  if (!type.has_shape()) return invalid_argument(context + " has no shape");
  Dims dims;
  for (int k = 0; k < type.shape().dim_size(); ++k) {
    const auto& d = type.shape().dim(k);
    if (d.has_dim_value() && d.dim_value() >= 0) {
      dims.push_back(d.dim_value());
    } else if (k == 0) {
      if (options_.batch_size < 1) {
        return invalid_argument("batch_size " + std::to_string(options_.batch_size) + " is not positive");
      }
      dims.push_back(options_.batch_size);
    } else {
      const std::string what = d.has_dim_param() ? "'" + d.dim_param() + "'" : "unknown";
      return invalid_argument(context + ": dimension " + std::to_string(k) + " is " + what +
                              "; only dimension 0 (the batch) may be dynamic");
    }
  }
  Symbol& s = symbols_[name];
  s.tensor = net_.add_input(name, *dtype, dims);
  s.dtype = *dtype;
  s.dims = dims;
  return net_.status();
}

Status Importer::import_graph(const onnx::GraphProto& graph) {
  for (const auto& init : graph.initializer()) {
    CHEXRT_ASSIGN_OR_RETURN(HostTensor value, tensor_from_proto(init, base_dir_));
    define_constant(init.name(), std::move(value));
  }
  for (const auto& input : graph.input()) CHEXRT_RETURN_IF_ERROR(add_graph_input(input));
  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    const OpSpec* spec = find_op_spec(node.op_type());
    Status s = spec->import(*this, node, node_label(node, i));
    if (!s.ok()) return s.with_context(describe_node(node, i));
  }
  for (const auto& output : graph.output()) net_.mark_output(materialize(output.name()));
  return net_.status();
}

}  // namespace onnx_import

namespace {

const char kInMemory[] = "(in-memory model)";

std::string parent_dir(const std::string& path) { return std::filesystem::path(path).parent_path().string(); }

Result<NetworkDefinition> parse_model(const std::string& bytes, const std::string& base_dir, const std::string& source,
                                      const OnnxImportOptions& options) {
  if (bytes.empty()) return parse_error(source + ": the model is empty");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) {
    return parse_error(source + ": not a valid ONNX model (the protobuf does not parse; is the file truncated?)");
  }
  auto checked = onnx_import::check_model(model, options);
  if (!checked.ok()) return checked.status().with_context(source);
  NetworkDefinition net;
  onnx_import::Importer importer(net, options, checked->opset, base_dir, std::move(checked->names));
  Status s = importer.import_graph(model.graph());
  if (!s.ok()) return s.with_context(source);
  return net;
}

}  // namespace

Result<NetworkDefinition> parse_onnx_file(const std::string& path, const OnnxImportOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(const std::string bytes, import::read_model_file(path));
  return parse_model(bytes, parent_dir(path), path, options);
}

Result<NetworkDefinition> parse_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                           const OnnxImportOptions& options) {
  return parse_model(bytes, base_dir, kInMemory, options);
}

Result<HostTensor> read_tensor_proto_file(const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(const std::string bytes, import::read_model_file(path));
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) return parse_error(path + ": not a serialized onnx.TensorProto");
  auto t = onnx_import::tensor_from_proto(proto, parent_dir(path));
  if (!t.ok()) return t.status().with_context(path);
  return t;
}

std::vector<std::string> supported_onnx_ops() { return onnx_import::op_types(); }

}  // namespace chexrt
