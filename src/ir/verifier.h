// Structural checks of a graph: every reference valid, every value produced once, nodes in
// topological order, outputs reachable, shapes inferred. Run after import and after each pass.
#pragma once

#include "ir/graph.h"

namespace chexrt::ir {

Status verify(const Graph& graph);

}  // namespace chexrt::ir
