#include "passes/pass_util.h"

#include "ir/shape_inference.h"
#include "ir/verifier.h"

namespace chexrt::passes::detail {

int sole_consumer(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers, int value) {
  if (graph.is_graph_output(value) || consumers[value].size() != 1) return -1;
  return consumers[value][0];
}

const float* constant_floats(const ir::Graph& graph, int value) {
  if (value == ir::kNoValue) return nullptr;
  const ir::Value& v = graph.value(value);
  if (!v.is_constant() || v.dtype != DataType::kFloat32) return nullptr;
  return v.constant.data<float>();
}

void absorb_successor(ir::Graph& graph, int first, int second) {
  graph.node(first).outputs = graph.node(second).outputs;
  for (int out : graph.node(first).outputs) graph.value(out).producer = first;
  graph.node(second).outputs.clear();
}

Status set_constant_input(ir::Graph& graph, int node, size_t slot, HostTensor tensor, const std::string& base_name) {
  const std::vector<int>& inputs = graph.node(node).inputs;
  const int current = slot < inputs.size() ? inputs[slot] : ir::kNoValue;
  int readers = 0;
  if (current != ir::kNoValue) {
    for (const ir::Node& n : graph.nodes()) {
      for (int in : n.inputs) readers += in == current ? 1 : 0;
    }
  }
  if (current != ir::kNoValue && readers == 1 && !graph.is_graph_output(current)) {
    ir::Value& v = graph.value(current);
    v.dtype = tensor.dtype();
    v.dims = tensor.dims();
    v.constant = std::move(tensor);
    return Status::ok_status();
  }
  CHEXRT_ASSIGN_OR_RETURN(int fresh, graph.add_constant(graph.unique_value_name(base_name), std::move(tensor)));
  ir::Node& n = graph.node(node);
  if (n.inputs.size() <= slot) n.inputs.resize(slot + 1, ir::kNoValue);
  n.inputs[slot] = fresh;
  return Status::ok_status();
}

Result<int> add_float_constant(ir::Graph& graph, const std::string& base_name, const std::vector<double>& values,
                               const Dims& dims) {
  HostTensor t(DataType::kFloat32, dims);
  for (size_t i = 0; i < values.size(); ++i) t.data<float>()[i] = static_cast<float>(values[i]);
  return graph.add_constant(graph.unique_value_name(base_name), std::move(t));
}

Status finish_pass(ir::Graph& graph, const std::vector<bool>& dead, const char* pass) {
  graph.remove_nodes(dead);
  Status s = ir::infer_shapes(graph);
  if (s.ok()) s = ir::verify(graph);
  return s.with_context(std::string("after pass ") + pass);
}

void log_change(std::vector<std::string>* log, const char* pass, const std::string& what) {
  if (log != nullptr) log->push_back(std::string(pass) + ": " + what);
}

}  // namespace chexrt::passes::detail
