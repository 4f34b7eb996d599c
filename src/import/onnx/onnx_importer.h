// The importer's model-level state: the tensors known so far, by ONNX name, and the one way
// layers enter the network (emit), which folds layers whose inputs are all known at build time.
// Per-op importers (onnx_ops.cpp) translate one node each through this interface.
#pragma once

#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "chexrt/onnx_parser.h"
#include "ir/graph.h"
#include "onnx_proto/onnx.pb.h"

namespace chexrt::onnx_import {

class Importer {
 public:
  /// `model_names`: every tensor name the model uses (so that made-up names never clash).
  Importer(NetworkDefinition& net, const OnnxImportOptions& options, int64_t opset, std::string base_dir,
           std::set<std::string> model_names);

  /// Imports a graph that check_model accepted: inputs, initializers, nodes, outputs.
  Status import_graph(const onnx::GraphProto& graph);

  int64_t opset() const { return opset_; }
  const std::string& base_dir() const { return base_dir_; }

  /// The build-time value of a tensor, or nullptr when it is only known when running.
  const HostTensor* constant(const std::string& name) const;
  const Dims& dims(const std::string& name) const;

  /// Gives the ONNX tensor `name` a value known at build time; it enters the network only if a
  /// layer that is not folded reads it.
  void define_constant(const std::string& name, HostTensor value);

  /// Adds one chexrt layer: `op` is a name from src/ir/ops.inc with ONNX attributes; inputs and
  /// outputs are ONNX tensor names ("" for an absent optional input). When every input is known
  /// at build time (or the op is Shape, which only needs dims) and folding is on, the layer is
  /// run on the reference kernels instead and its outputs become constants.
  Status emit(const std::string& op, const std::string& layer, const std::vector<std::string>& inputs,
              ir::Attributes attrs, const std::vector<std::string>& outputs);

  /// A tensor name that neither the model nor the network uses, built from `base`.
  std::string fresh_name(const std::string& base);

 private:
  struct Symbol {
    Tensor tensor;        ///< Valid once the tensor is in the network.
    HostTensor constant;  ///< Non-empty when the value is known at build time.
    DataType dtype = DataType::kFloat32;
    Dims dims;
  };

  Status add_graph_input(const onnx::ValueInfoProto& input);
  const Symbol& symbol(const std::string& name) const { return symbols_.at(name); }
  /// The network tensor for an ONNX name, adding a known constant to the network on first use.
  Tensor materialize(const std::string& name);
  /// Runs a layer whose inputs are known; false when the reference kernels cannot run it.
  Result<bool> fold(ir::OpType op, const std::string& layer, const std::vector<std::string>& inputs,
                    const ir::Attributes& attrs, const std::vector<std::string>& outputs);

  NetworkDefinition& net_;
  const OnnxImportOptions& options_;
  int64_t opset_;
  std::string base_dir_;
  std::set<std::string> model_names_;
  std::unordered_map<std::string, Symbol> symbols_;
};

}  // namespace chexrt::onnx_import
