// The TensorFlow importer's graph-level state. Every tensor of the GraphDef ("node" for output 0,
// "node:k" for output k) has a Symbol: a network tensor, or a value known at build time, or a
// marker (dead branch of a constant Switch, a zero Pad waiting for the convolution that absorbs
// it). Per-op importers (tf_ops.cpp, tf_shape_ops.cpp) translate one node each through emit().
//
// Layout: a symbol with `nchw` set is a 4-D NHWC TensorFlow tensor held in the network as NCHW
// (TensorFlow axis order [0, 3, 1, 2]). NHWC ops read and write such symbols directly, so an NHWC
// network gets no Transpose layer; as_tf() and as_nchw() convert where an op needs the other
// layout (a reshape of a 1x1 image is a Reshape, anything else a Transpose). Build-time values are
// always held in TensorFlow's layout.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "chexrt/tensorflow_parser.h"
#include "ir/graph.h"
#include "tf_proto/tf_graph.pb.h"

namespace chexrt::tf_import {

using tensorflow::NodeDef;

struct Symbol {
  Tensor tensor;        ///< Valid once the tensor is in the network.
  HostTensor constant;  ///< Non-empty when the value is known at build time (TensorFlow layout).
  DataType dtype = DataType::kFloat32;
  Dims dims;                 ///< The network tensor's dims (NCHW when nchw).
  bool nchw = false;         ///< An NHWC tensor held as NCHW.
  bool nonnegative = false;  ///< Produced by Relu/Relu6: a zero pad before a max pool is -inf's equal.
  bool dead = false;         ///< The untaken output of a constant Switch.
  /// A constant-zero Pad of `pad_source` not yet in the network: a convolution or max pool takes
  /// the pads into its own; anything else emits the Pad first. pad_hw: top, left, bottom, right.
  std::string pad_source;
  std::vector<int64_t> pad_hw;
};

/// The key of output `index` of node `name`.
std::string output_key(const std::string& name, int index);

class Importer {
 public:
  Importer(NetworkDefinition& net, const TensorflowImportOptions& options, const tensorflow::GraphDef& graph);

  /// Checks the ops, imports every node the outputs need, marks the outputs.
  Status import();
  /// The graph's placeholders, default outputs and layout, without importing.
  Result<TensorflowGraphInfo> describe() const;

  const TensorflowImportOptions& options() const { return options_; }
  /// True unless every layout-carrying op of the graph says NCHW.
  bool graph_nhwc() const { return graph_nhwc_; }

  /// The keys of a node's data inputs (control inputs "^x" left out), "x:0" written "x".
  std::vector<std::string> data_inputs(const NodeDef& node) const;
  /// Data input i, with a pending pad emitted: for ops that read the tensor as it is.
  Result<std::string> input(const NodeDef& node, size_t i);

  const Symbol& symbol(const std::string& key) const { return symbols_.at(key); }
  Symbol& mutable_symbol(const std::string& key) { return symbols_.at(key); }
  const HostTensor* constant(const std::string& key) const;
  /// A build-time value, or an error naming the node and what it is for.
  Result<HostTensor> require_constant(const NodeDef& node, size_t i, const char* what) const;
  /// The tensor's dims in TensorFlow's layout.
  Dims tf_dims(const std::string& key) const;

  /// The tensor in NCHW (a 4-D TensorFlow NHWC tensor) / in TensorFlow's layout.
  Result<std::string> as_nchw(const std::string& key);
  Result<std::string> as_tf(const std::string& key);
  /// Emits the Pad a symbol is waiting for; no-op for other symbols.
  Status resolve_pad(const std::string& key);

  void define_constant(const std::string& key, HostTensor value);
  /// A new build-time value under a fresh name made from `base`; returns the name.
  std::string add_constant(const std::string& base, HostTensor value);
  /// `key` names the same tensor as `source` (Identity), with `nchw` as given.
  void alias(const std::string& key, const std::string& source);
  void define_symbol(const std::string& key, Symbol s) { symbols_[key] = std::move(s); }
  Status add_input(const std::string& key, DataType dtype, Dims tf_dims);

  /// Adds one chexrt layer (op from src/ir/ops.inc, ONNX attributes) reading and writing keys.
  /// Layers whose inputs are all known are run at once on the reference kernels and their outputs
  /// become constants (turned back into TensorFlow's layout when `nchw_out`).
  Status emit(const std::string& op, const std::string& layer, const std::vector<std::string>& inputs,
              ir::Attributes attrs, const std::vector<std::string>& outputs, bool nchw_out);

  std::string fresh_name(const std::string& base);

  /// The one node that reads output 0 of `node`, when there is exactly one reader and the tensor
  /// is not a requested output; else nullptr. Used to absorb a BiasAdd into its Conv2D/MatMul.
  const NodeDef* sole_consumer(const NodeDef& node) const;
  /// Imports the node producing `key` now (with what it reads), if it is not yet: a producer
  /// that looks ahead at its reader (bias_reader) needs the reader's constants.
  Status ensure(const std::string& key);
  /// Marks a node as imported by its producer (its output is the producer's fused output).
  void absorb(const NodeDef& node) { absorbed_.insert(node.name()); }

 private:
  Result<std::vector<const NodeDef*>> needed_nodes(const std::vector<std::string>& outputs) const;
  Result<std::vector<std::string>> output_keys() const;
  /// Whether layout-carrying ops among `nodes` make the graph NHWC.
  static bool is_nhwc(const std::vector<const NodeDef*>& nodes);
  Status import_node(const NodeDef& node);
  Tensor materialize(const std::string& key);
  Result<bool> fold(ir::OpType op, const std::string& layer, const std::vector<std::string>& inputs,
                    const ir::Attributes& attrs, const std::vector<std::string>& outputs, bool nchw_out);

  NetworkDefinition& net_;
  const TensorflowImportOptions& options_;
  const tensorflow::GraphDef& graph_;
  std::unordered_map<std::string, const NodeDef*> nodes_;
  std::unordered_map<std::string, std::vector<const NodeDef*>> consumers_;  ///< by key
  std::set<std::string> requested_;                                         ///< output keys
  std::set<std::string> names_;
  std::unordered_map<std::string, Symbol> symbols_;
  std::map<std::string, std::string> converted_;  ///< "key|layout" -> converted key
  std::set<std::string> absorbed_;
  std::set<std::string> imported_;
  bool graph_nhwc_ = true;
};

/// Permutes a host tensor's axes: out axis k is in axis perm[k].
HostTensor permute(const HostTensor& t, const std::vector<int64_t>& perm);

/// Reads a node attribute, or `fallback` when absent.
int64_t attr_int(const NodeDef& node, const std::string& name, int64_t fallback);
float attr_float(const NodeDef& node, const std::string& name, float fallback);
bool attr_bool(const NodeDef& node, const std::string& name, bool fallback);
std::string attr_string(const NodeDef& node, const std::string& name, const std::string& fallback);
std::vector<int64_t> attr_ints(const NodeDef& node, const std::string& name);

}  // namespace chexrt::tf_import
