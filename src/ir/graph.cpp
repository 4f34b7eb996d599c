#include "ir/graph.h"

#include <algorithm>
#include <sstream>

namespace chexrt::ir {

int64_t Attributes::get_int(const std::string& name, int64_t fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<int64_t>(&it->second)) return *v;
  if (auto* v = std::get_if<float>(&it->second)) return static_cast<int64_t>(*v);
  return fallback;
}

float Attributes::get_float(const std::string& name, float fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<float>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return static_cast<float>(*v);
  return fallback;
}

std::string Attributes::get_string(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<std::string>(&it->second)) return *v;
  return fallback;
}

std::vector<int64_t> Attributes::get_ints(const std::string& name, const std::vector<int64_t>& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<std::vector<int64_t>>(&it->second)) return *v;
  if (auto* v = std::get_if<int64_t>(&it->second)) return {*v};
  return fallback;
}

std::vector<float> Attributes::get_floats(const std::string& name, const std::vector<float>& fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  if (auto* v = std::get_if<std::vector<float>>(&it->second)) return *v;
  if (auto* v = std::get_if<float>(&it->second)) return {*v};
  return fallback;
}

std::string Attributes::to_string() const {
  std::ostringstream s;
  bool first = true;
  for (const auto& [name, value] : values_) {
    s << (first ? "" : " ") << name << "=";
    first = false;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
            s << dims_to_string(v);
          } else if constexpr (std::is_same_v<T, std::vector<float>>) {
            s << "[";
            for (size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
            s << "]";
          } else if constexpr (std::is_same_v<T, std::string>) {
            s << '"' << v << '"';
          } else {
            s << v;
          }
        },
        value);
  }
  return s.str();
}

std::string describe(const Node& node) { return "node '" + node.name + "' (" + op_name(node.op) + ")"; }

Result<int> Graph::add_input(const std::string& name, DataType dtype, const Dims& dims) {
  if (name.empty()) return invalid_argument("graph input needs a name");
  if (find_value(name) >= 0) return invalid_argument("tensor name '" + name + "' is already used");
  for (int64_t d : dims) {
    if (d < 0) return invalid_argument("input '" + name + "' has unresolved dimension " + dims_to_string(dims));
  }
  Value v;
  v.name = name;
  v.dtype = dtype;
  v.dims = dims;
  values_.push_back(std::move(v));
  const int index = num_values() - 1;
  value_by_name_[name] = index;
  inputs_.push_back(index);
  return index;
}

Result<int> Graph::add_constant(const std::string& name, HostTensor tensor) {
  if (tensor.empty()) return invalid_argument("constant '" + name + "' has no data");
  const std::string n = name.empty() ? unique_value_name("const") : name;
  if (find_value(n) >= 0) return invalid_argument("tensor name '" + n + "' is already used");
  Value v;
  v.name = n;
  v.dtype = tensor.dtype();
  v.dims = tensor.dims();
  v.constant = std::move(tensor);
  values_.push_back(std::move(v));
  const int index = num_values() - 1;
  value_by_name_[n] = index;
  return index;
}

Result<int> Graph::add_node(OpType op, const std::string& name, const std::vector<int>& inputs,
                            const std::vector<std::string>& output_names, Attributes attrs) {
  Node node;
  node.op = op;
  node.name = name.empty() ? std::string(op_name(op)) + "_" + std::to_string(num_nodes()) : name;
  for (int in : inputs) {
    if (in != kNoValue && (in < 0 || in >= num_values())) {
      return invalid_argument(describe(node) + ": input index " + std::to_string(in) + " does not exist");
    }
  }
  node.inputs = inputs;
  node.attrs = std::move(attrs);
  const int node_index = num_nodes();
  for (const auto& out_name : output_names) {
    const std::string n = out_name.empty() ? unique_value_name(node.name + "_out") : out_name;
    if (find_value(n) >= 0) {
      return invalid_argument(describe(node) + ": output tensor name '" + n + "' is already used");
    }
    Value v;
    v.name = n;
    v.producer = node_index;
    values_.push_back(std::move(v));
    value_by_name_[n] = num_values() - 1;
    node.outputs.push_back(num_values() - 1);
  }
  nodes_.push_back(std::move(node));
  return node_index;
}

Status Graph::mark_output(int value) {
  if (value < 0 || value >= num_values()) return invalid_argument("output value does not exist");
  if (!is_graph_output(value)) outputs_.push_back(value);
  return Status::ok_status();
}

Status Graph::rename_value(int value, const std::string& name) {
  const int other = find_value(name);
  if (other == value) return Status::ok_status();
  if (other >= 0) return invalid_argument("tensor name '" + name + "' is already used");
  value_by_name_.erase(values_[value].name);
  values_[value].name = name;
  value_by_name_[name] = value;
  return Status::ok_status();
}

int Graph::find_value(const std::string& name) const {
  auto it = value_by_name_.find(name);
  return it == value_by_name_.end() ? -1 : it->second;
}

std::string Graph::unique_value_name(const std::string& base) const {
  if (find_value(base) < 0) return base;
  for (int i = 1;; ++i) {
    std::string n = base + "_" + std::to_string(i);
    if (find_value(n) < 0) return n;
  }
}

std::vector<std::vector<int>> Graph::consumers() const {
  std::vector<std::vector<int>> result(values_.size());
  for (int n = 0; n < num_nodes(); ++n) {
    for (int in : nodes_[n].inputs) {
      if (in != kNoValue && (result[in].empty() || result[in].back() != n)) result[in].push_back(n);
    }
  }
  return result;
}

bool Graph::is_graph_output(int value) const {
  return std::find(outputs_.begin(), outputs_.end(), value) != outputs_.end();
}

void Graph::replace_uses(int from, int to) {
  for (auto& node : nodes_) {
    for (int& in : node.inputs) {
      if (in == from) in = to;
    }
  }
  for (int& out : outputs_) {
    if (out == from) out = to;
  }
}

void Graph::rewrite_node(int node, OpType op, std::vector<int> inputs, Attributes attrs) {
  nodes_[node].op = op;
  nodes_[node].inputs = std::move(inputs);
  nodes_[node].attrs = std::move(attrs);
}

void Graph::remove_nodes(const std::vector<bool>& dead) {
  // Keep live nodes, then keep the values still referenced, and renumber both.
  std::vector<Node> kept_nodes;
  for (int n = 0; n < num_nodes(); ++n) {
    if (!dead[n]) kept_nodes.push_back(std::move(nodes_[n]));
  }
  std::vector<bool> used(values_.size(), false);
  for (int in : inputs_) used[in] = true;
  for (int out : outputs_) used[out] = true;
  for (const auto& node : kept_nodes) {
    for (int in : node.inputs) {
      if (in != kNoValue) used[in] = true;
    }
    for (int out : node.outputs) used[out] = true;
  }
  std::vector<int> remap(values_.size(), -1);
  std::vector<Value> kept_values;
  for (int v = 0; v < num_values(); ++v) {
    if (!used[v]) continue;
    remap[v] = static_cast<int>(kept_values.size());
    kept_values.push_back(std::move(values_[v]));
  }
  for (auto& node : kept_nodes) {
    for (int& in : node.inputs) {
      if (in != kNoValue) in = remap[in];
    }
    for (int& out : node.outputs) out = remap[out];
  }
  for (int& in : inputs_) in = remap[in];
  for (int& out : outputs_) out = remap[out];
  values_ = std::move(kept_values);
  nodes_ = std::move(kept_nodes);
  value_by_name_.clear();
  for (int v = 0; v < num_values(); ++v) {
    value_by_name_[values_[v].name] = v;
    values_[v].producer = -1;
  }
  for (int n = 0; n < num_nodes(); ++n) {
    for (int out : nodes_[n].outputs) values_[out].producer = n;
  }
}

int64_t Graph::num_parameters() const {
  int64_t total = 0;
  std::vector<bool> counted(values_.size(), false);
  for (const auto& node : nodes_) {
    for (int in : node.inputs) {
      if (in == kNoValue || counted[in] || !values_[in].is_constant()) continue;
      counted[in] = true;
      if (values_[in].dtype == DataType::kFloat32 || values_[in].dtype == DataType::kFloat16) {
        total += values_[in].constant.numel();
      }
    }
  }
  return total;
}

std::string Graph::producer_description(int value) const {
  const Value& v = values_[value];
  if (v.producer >= 0) return describe(nodes_[v.producer]);
  return v.is_constant() ? "constant '" + v.name + "'" : "input '" + v.name + "'";
}

}  // namespace chexrt::ir
