// Activation fusion: a Relu that is the only reader of a Conv or ChannelAffine output is applied
// by that node as it writes its output (attribute activation="relu"), which saves one full
// read and write of the tensor. In DenseNet every batch norm (folded or not) is followed by a
// Relu, so this removes all of them.
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "fuse_activation";

bool can_take_activation(const ir::Node& node) {
  return (node.op == ir::OpType::kConv || node.op == ir::OpType::kChannelAffine) && node.outputs.size() == 1 &&
         node.attrs.get_string("activation", "").empty();
}

}  // namespace

Result<int> fuse_activation(ir::Graph& graph, std::vector<std::string>* log) {
  std::vector<bool> dead(graph.num_nodes(), false);
  const std::vector<std::vector<int>> consumers = graph.consumers();
  int changes = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (!can_take_activation(graph.node(n))) continue;
    const int relu = detail::sole_consumer(graph, consumers, graph.node(n).outputs[0]);
    if (relu < 0 || graph.node(relu).op != ir::OpType::kRelu) continue;
    graph.node(n).attrs.set("activation", std::string("relu"));
    detail::absorb_successor(graph, n, relu);
    dead[relu] = true;
    ++changes;
    detail::log_change(log, kPass, graph.node(n).name + "+" + graph.node(relu).name);
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, dead, kPass));
  return changes;
}

}  // namespace chexrt::passes
