// Concat flattening: a Concat that reads another Concat's output along the same axis reads that
// Concat's inputs instead (concatenation is associative), and the inner Concat goes when nothing
// else reads it. Keras writes a dense block as a chain, x_k = concat(x_{k-1}, y_k); this makes
// it torchvision's form, x_k = concat(x_0, y_1, ..., y_k), whose Concats the builder's concat
// plan turns into views of one buffer per block (src/builder/concat_plan.h), so the chain costs
// no copies either. Graphs without nested Concats (the ONNX export of DenseNet) do not change.
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "flatten_concat";

}  // namespace

Result<int> flatten_concat(ir::Graph& graph, std::vector<std::string>* log) {
  int changes = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    ir::Node& node = graph.node(n);
    if (node.op != ir::OpType::kConcat) continue;
    const int64_t axis = node.attrs.get_int("axis", 0);
    std::vector<int> inputs;
    bool changed = false;
    for (int in : node.inputs) {
      const int producer = graph.value(in).producer;
      const ir::Node* inner = producer >= 0 ? &graph.node(producer) : nullptr;
      if (inner != nullptr && inner->op == ir::OpType::kConcat && inner->attrs.get_int("axis", 0) == axis) {
        // Nodes come in topological order, so `inner` was flattened already.
        inputs.insert(inputs.end(), inner->inputs.begin(), inner->inputs.end());
        changed = true;
      } else {
        inputs.push_back(in);
      }
    }
    if (!changed) continue;
    node.inputs = std::move(inputs);
    ++changes;
    detail::log_change(log, kPass, ir::describe(node) + " reads " + std::to_string(node.inputs.size()) + " inputs");
  }
  if (changes > 0) CHEXRT_RETURN_IF_ERROR(eliminate_dead_nodes(graph, nullptr).status());
  return changes;
}

}  // namespace chexrt::passes
