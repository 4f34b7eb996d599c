// The reference backend: naive, obviously-correct kernels for every op of src/ir/ops.inc, on
// dense row-major host tensors in the graph's logical layout (NCHW). Every other backend is
// tested against these; they favour clarity over speed.
#pragma once

#include <string>
#include <vector>

#include "chexrt/tensor.h"
#include "ir/graph.h"

namespace chexrt::reference {

/// Whether the reference backend runs this node (op, dtypes, attributes); `why` says why not.
bool supports(const ir::Graph& graph, const ir::Node& node, std::string* why);

/// Runs one node. `inputs` follow node.inputs (nullptr for an absent optional input);
/// `outputs` follow node.outputs and are allocated by the caller with the inferred dtype and
/// dims. Errors name the node.
Status run_node(const ir::Node& node, const std::vector<const HostTensor*>& inputs,
                const std::vector<HostTensor*>& outputs);

}  // namespace chexrt::reference
