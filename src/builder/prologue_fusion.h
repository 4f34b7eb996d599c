// Which element-wise nodes (a batch norm or ChannelAffine with its ReLU, a lone ReLU) run inside
// the kernel that reads their output, as a prologue applied to each value as it is loaded. The
// node then writes nothing: its output is never materialized. Both fast backends decide this
// with the same rule and differ only in which nodes they fuse, passed in as predicates.
#pragma once

#include <functional>
#include <vector>

#include "ir/graph.h"

namespace chexrt::builder {

struct PrologueFusion {
  std::vector<int> fused_into;   ///< Per node: the reader it runs inside of, or -1.
  std::vector<int> prologue_of;  ///< Per node: the node it runs as its prologue, or -1.
};

struct PrologueRule {
  /// Whether the node can be applied as a prologue (an element-wise, per-channel map).
  std::function<bool(const ir::Node& node)> is_prologue;
  /// Whether the backend's kernel for this reader can apply a prologue to its first input.
  std::function<bool(const ir::Node& reader)> takes_prologue;
  /// Optional: whether the prologue's output value may stay unmaterialized (e.g. it is not
  /// placed in a Concat's buffer). Every value may when absent.
  std::function<bool(int value)> may_skip_output;
};

/// A node becomes its reader's prologue when its single output is read by exactly one node,
/// once, as that node's first input, is not a graph output, and the reader takes a prologue and
/// has none yet.
PrologueFusion plan_prologue_fusion(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers,
                                    const PrologueRule& rule);

}  // namespace chexrt::builder
