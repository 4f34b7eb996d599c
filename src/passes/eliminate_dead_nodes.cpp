// Dead-node elimination: Identity nodes are bypassed (exporters leave them for Dropout in
// inference mode and for renamed outputs), then every node that no graph output depends on is
// removed, and with it the constants only it read.
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "eliminate_dead_nodes";

// Bypasses one Identity node; false when it has to stay.
bool bypass_identity(ir::Graph& graph, const ir::Node& node) {
  const int in = node.inputs[0];
  const int out = node.outputs[0];
  if (!graph.is_graph_output(out)) {
    graph.replace_uses(out, in);
    return true;
  }
  // The output is bound by its name, so it survives: the input's producer writes it directly
  // and the input's other readers read it instead. A graph input, a constant or a value that
  // is itself a graph output cannot be renamed that way, and the Identity stays as the copy.
  const int producer = graph.value(in).producer;
  if (producer < 0 || graph.is_graph_output(in)) return false;
  for (int& o : graph.node(producer).outputs) {
    if (o == in) o = out;
  }
  graph.value(out).producer = producer;
  graph.replace_uses(in, out);
  return true;
}

}  // namespace

Result<int> eliminate_dead_nodes(ir::Graph& graph, std::vector<std::string>* log) {
  std::vector<bool> dead(graph.num_nodes(), false);
  int changes = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    if (node.op != ir::OpType::kIdentity || node.inputs.size() != 1 || node.outputs.size() != 1) continue;
    if (!bypass_identity(graph, node)) continue;
    dead[n] = true;
    ++changes;
    detail::log_change(log, kPass, "bypassed " + ir::describe(node));
  }

  // A node is live when a graph output depends on one of its outputs: walk the nodes backwards
  // from the graph outputs.
  std::vector<bool> live(graph.num_values(), false);
  for (int out : graph.outputs()) live[out] = true;
  for (int n = graph.num_nodes() - 1; n >= 0; --n) {
    if (dead[n]) continue;
    const ir::Node& node = graph.node(n);
    bool needed = false;
    for (int out : node.outputs) needed = needed || live[out];
    if (!needed) {
      dead[n] = true;
      ++changes;
      detail::log_change(log, kPass, "removed " + ir::describe(node));
      continue;
    }
    for (int in : node.inputs) {
      if (in != ir::kNoValue) live[in] = true;
    }
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, dead, kPass));
  return changes;
}

}  // namespace chexrt::passes
