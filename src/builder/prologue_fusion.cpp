#include "builder/prologue_fusion.h"

#include <algorithm>

namespace chexrt::builder {

PrologueFusion plan_prologue_fusion(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers,
                                    const PrologueRule& rule) {
  PrologueFusion f;
  f.fused_into.assign(graph.num_nodes(), -1);
  f.prologue_of.assign(graph.num_nodes(), -1);
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    if (node.outputs.size() != 1 || !rule.is_prologue(node)) continue;
    const int out = node.outputs[0];
    if (consumers[out].size() != 1 || graph.is_graph_output(out)) continue;
    if (rule.may_skip_output && !rule.may_skip_output(out)) continue;
    const int reader = consumers[out][0];
    const ir::Node& r = graph.node(reader);
    if (r.inputs.empty() || r.inputs[0] != out || std::count(r.inputs.begin(), r.inputs.end(), out) != 1 ||
        !rule.takes_prologue(r) || f.prologue_of[reader] >= 0) {
      continue;
    }
    f.fused_into[n] = reader;
    f.prologue_of[reader] = n;
  }
  return f;
}

}  // namespace chexrt::builder
