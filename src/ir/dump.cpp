#include "ir/dump.h"

#include <sstream>

#include "ir/shape_inference.h"

namespace chexrt::ir {

std::string dump(const Graph& graph) {
  std::ostringstream s;
  auto ref = [&](int v) -> std::string {
    if (v == kNoValue) return "_";
    return (graph.value(v).is_constant() ? "@" : "%") + graph.value(v).name;
  };
  for (int in : graph.inputs()) {
    s << "input %" << graph.value(in).name << " " << dims_to_string(graph.value(in).dims) << " "
      << dtype_name(graph.value(in).dtype) << "\n";
  }
  for (const Node& node : graph.nodes()) {
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const Value& v = graph.value(node.outputs[i]);
      s << (i ? ", " : "") << "%" << v.name << " " << dims_to_string(v.dims) << " " << dtype_name(v.dtype);
    }
    s << " = " << op_name(node.op) << "(";
    for (size_t i = 0; i < node.inputs.size(); ++i) s << (i ? ", " : "") << ref(node.inputs[i]);
    s << ")";
    const std::string attrs = node.attrs.to_string();
    if (!attrs.empty()) s << " " << attrs;
    s << "  # " << node.name << "\n";
  }
  for (int out : graph.outputs()) {
    s << "output %" << graph.value(out).name << " " << dims_to_string(graph.value(out).dims) << "\n";
  }
  return s.str();
}

GraphSummary summarize(const Graph& graph) {
  GraphSummary summary;
  summary.num_nodes = graph.num_nodes();
  summary.num_parameters = graph.num_parameters();
  for (int n = 0; n < graph.num_nodes(); ++n) {
    summary.op_counts[op_name(graph.node(n).op)]++;
    summary.flops += node_flops(graph, n);
  }
  return summary;
}

}  // namespace chexrt::ir
