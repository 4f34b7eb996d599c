// Runs a whole graph node by node on the reference kernels, freeing each intermediate tensor
// after its last use. The reference engine and the importer's constant folding use it.
#pragma once

#include <vector>

#include "chexrt/tensor.h"
#include "ir/graph.h"

namespace chexrt::runtime {

/// Runs `graph` on `inputs` (in graph.inputs() order; dims must match the graph's) and returns
/// the graph outputs in graph.outputs() order.
Result<std::vector<HostTensor>> run_reference(const ir::Graph& graph, const std::vector<HostTensor>& inputs);

}  // namespace chexrt::runtime
