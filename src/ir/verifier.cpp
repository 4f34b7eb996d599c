#include "ir/verifier.h"

namespace chexrt::ir {

Status verify(const Graph& graph) {
  std::vector<int> producer(graph.num_values(), -1);
  std::vector<bool> available(graph.num_values(), false);
  for (int in : graph.inputs()) available[in] = true;
  for (int v = 0; v < graph.num_values(); ++v) {
    if (graph.value(v).is_constant()) available[v] = true;
  }
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const Node& node = graph.node(n);
    for (int in : node.inputs) {
      if (in == kNoValue) continue;
      if (in < 0 || in >= graph.num_values()) return invalid_argument(describe(node) + ": input index out of range");
      if (!available[in]) {
        return invalid_argument(describe(node) + ": input '" + graph.value(in).name +
                                "' is not produced before it is used");
      }
    }
    for (int out : node.outputs) {
      if (out < 0 || out >= graph.num_values()) return invalid_argument(describe(node) + ": output index out of range");
      if (producer[out] >= 0 || available[out]) {
        return invalid_argument(describe(node) + ": output '" + graph.value(out).name + "' is produced twice");
      }
      if (graph.value(out).producer != n) {
        return invalid_argument(describe(node) + ": output '" + graph.value(out).name + "' has a stale producer");
      }
      producer[out] = n;
      available[out] = true;
    }
  }
  if (graph.outputs().empty()) return invalid_argument("graph has no outputs");
  for (int out : graph.outputs()) {
    if (!available[out]) return invalid_argument("graph output '" + graph.value(out).name + "' is never produced");
  }
  return Status::ok_status();
}

}  // namespace chexrt::ir
