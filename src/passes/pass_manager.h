// Graph optimization passes, shared by every backend. Each pass takes a graph and gives a graph
// (in place), logs what it changed ("fold_batchnorm: conv0+norm0"), and keeps the graph valid.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace chexrt::passes {

struct PassOptions {
  bool verbose = false;  ///< Also print the log to stderr as passes run.
};

/// Runs the standard pipeline (constant folding, dead-node elimination, batch-norm folding,
/// activation fusion, head fusion, ...) and returns the log lines.
Result<std::vector<std::string>> optimize(ir::Graph& graph, const PassOptions& options = {});

}  // namespace chexrt::passes
