// Constant folding: a node whose inputs are all constants computes the same thing at every
// inference, so it is computed once here, on the reference kernels, and its outputs become
// constants. Folding walks the nodes in order, so chains of such nodes (the Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape pattern of exporters) fold in one pass.
#include <algorithm>

#include "backends/reference/reference_kernels.h"
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "fold_constants";

bool all_inputs_constant(const ir::Graph& graph, const ir::Node& node) {
  bool any = false;
  for (int in : node.inputs) {
    if (in == ir::kNoValue) continue;
    if (!graph.value(in).is_constant()) return false;
    any = true;
  }
  return any;
}

// Shape only reads its input's dims, which are static, so it folds even when the input is not
// a constant. Shape inference has made start and end explicit and in range.
HostTensor shape_value(const ir::Graph& graph, const ir::Node& node) {
  const Dims& dims = graph.value(node.inputs[0]).dims;
  const int64_t start = node.attrs.get_int("start", 0);
  const int64_t end = node.attrs.get_int("end", static_cast<int64_t>(dims.size()));
  std::vector<int64_t> slice(dims.begin() + start, dims.begin() + std::max(start, end));
  return HostTensor::from_int64s(slice, {static_cast<int64_t>(slice.size())});
}

}  // namespace

Result<int> fold_constants(ir::Graph& graph, std::vector<std::string>* log) {
  std::vector<bool> dead(graph.num_nodes(), false);
  int folded = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    if (node.op == ir::OpType::kShape) {
      graph.value(node.outputs[0]).constant = shape_value(graph, node);
    } else {
      std::string why;
      if (!all_inputs_constant(graph, node) || !reference::supports(graph, node, &why)) continue;
      std::vector<const HostTensor*> inputs;
      for (int in : node.inputs) inputs.push_back(in == ir::kNoValue ? nullptr : &graph.value(in).constant);
      std::vector<HostTensor> results;
      for (int out : node.outputs) results.emplace_back(graph.value(out).dtype, graph.value(out).dims);
      std::vector<HostTensor*> outputs;
      for (HostTensor& r : results) outputs.push_back(&r);
      CHEXRT_RETURN_IF_ERROR(reference::run_node(node, inputs, outputs).with_context(kPass));
      for (size_t i = 0; i < node.outputs.size(); ++i) graph.value(node.outputs[i]).constant = std::move(results[i]);
    }
    // The outputs are constants now; remove_nodes() clears their producer with the node.
    dead[n] = true;
    ++folded;
    detail::log_change(log, kPass, node.name + " (" + ir::op_name(node.op) + ")");
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, dead, kPass));
  return folded;
}

}  // namespace chexrt::passes
