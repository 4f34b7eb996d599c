// A readable text form of a graph (`chexrt inspect`, CHEXRT_DUMP_GRAPH) and its summary.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"

namespace chexrt::ir {

/// One line per node: "%out [1, 64, 112, 112] f32 = Conv(%in, @w, @b) kernel_shape=[7, 7] ...".
std::string dump(const Graph& graph);

struct GraphSummary {
  int num_nodes = 0;
  int64_t num_parameters = 0;
  int64_t flops = 0;                     ///< Per inference at the graph's batch size.
  std::map<std::string, int> op_counts;  ///< Op name -> count.
};

GraphSummary summarize(const Graph& graph);

}  // namespace chexrt::ir
