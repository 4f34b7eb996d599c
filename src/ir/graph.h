// chexrt's intermediate representation: a DAG of nodes over named values (tensors).
//
// Values are identified by index. A value is either a graph input, a constant (weights, folded
// shapes) or the output of exactly one node. Nodes are kept in topological order: a node can
// only be added once its inputs exist, and passes that rewrite the graph keep that order.
// All shapes are static and logical layouts are ONNX's (NCHW); backends pick physical layouts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "chexrt/status.h"
#include "chexrt/tensor.h"
#include "ir/ops.h"

namespace chexrt::ir {

using AttrValue = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;

/// Named attributes of a node, with ONNX's names and meanings.
class Attributes {
 public:
  void set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void erase(const std::string& name) { values_.erase(name); }

  int64_t get_int(const std::string& name, int64_t fallback) const;
  float get_float(const std::string& name, float fallback) const;
  std::string get_string(const std::string& name, const std::string& fallback) const;
  std::vector<int64_t> get_ints(const std::string& name, const std::vector<int64_t>& fallback = {}) const;
  std::vector<float> get_floats(const std::string& name, const std::vector<float>& fallback = {}) const;

  const std::map<std::string, AttrValue>& all() const { return values_; }
  /// "kernel_shape=[3, 3] pads=[1, 1, 1, 1]" for dumps and error messages.
  std::string to_string() const;

 private:
  std::map<std::string, AttrValue> values_;
};

constexpr int kNoValue = -1;  ///< An absent optional input.

struct Value {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;
  HostTensor constant;  ///< Non-empty for weights and folded constants.
  int producer = -1;    ///< Index of the producing node; -1 for inputs and constants.

  bool is_constant() const { return !constant.empty(); }
};

struct Node {
  OpType op = OpType::kIdentity;
  std::string name;
  std::vector<int> inputs;   ///< Value indices; kNoValue for an absent optional input.
  std::vector<int> outputs;  ///< Value indices.
  Attributes attrs;
};

class Graph {
 public:
  /// Adds a graph input. Fails if the name is taken.
  Result<int> add_input(const std::string& name, DataType dtype, const Dims& dims);
  /// Adds a constant value (weights). An empty name gets a unique one.
  Result<int> add_constant(const std::string& name, HostTensor tensor);
  /// Adds a node whose outputs are new values named `output_names` (shapes filled by shape
  /// inference, which the caller runs). Inputs must exist. Returns the node index.
  Result<int> add_node(OpType op, const std::string& name, const std::vector<int>& inputs,
                       const std::vector<std::string>& output_names, Attributes attrs = {});
  Status mark_output(int value);

  int num_values() const { return static_cast<int>(values_.size()); }
  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  Value& value(int i) { return values_[i]; }
  const Value& value(int i) const { return values_[i]; }
  Node& node(int i) { return nodes_[i]; }
  const Node& node(int i) const { return nodes_[i]; }
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<int>& inputs() const { return inputs_; }
  const std::vector<int>& outputs() const { return outputs_; }

  /// Gives a value a new name; fails if the name is taken by another value.
  Status rename_value(int value, const std::string& name);
  /// Index of the value with that name, or -1.
  int find_value(const std::string& name) const;
  /// A name not used by any value, built from `base`.
  std::string unique_value_name(const std::string& base) const;

  /// For each value, the nodes that read it (in node order).
  std::vector<std::vector<int>> consumers() const;
  bool is_graph_output(int value) const;

  /// Replaces every use of value `from` (node inputs and graph outputs) by value `to`.
  void replace_uses(int from, int to);
  /// Removes the nodes for which `dead[i]` is true, and then every value that nothing
  /// produces or reads any more (except graph inputs). Indices are renumbered.
  void remove_nodes(const std::vector<bool>& dead);
  /// Replaces a node's op and attributes in place (its outputs keep their values).
  void rewrite_node(int node, OpType op, std::vector<int> inputs, Attributes attrs);

  /// Number of weights (elements of constants read by nodes) and FLOPs per inference
  /// (a multiply-add counts 2), given the current shapes.
  int64_t num_parameters() const;

  std::string producer_description(int value) const;

 private:
  std::vector<Value> values_;
  std::vector<Node> nodes_;
  std::vector<int> inputs_;
  std::vector<int> outputs_;
  std::map<std::string, int> value_by_name_;
};

/// "node 'conv0' (Conv)" for error messages.
std::string describe(const Node& node);

}  // namespace chexrt::ir
