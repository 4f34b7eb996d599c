// Graph optimization passes, shared by every backend. Each pass takes a graph and gives a graph
// (in place), logs what it changed ("fold_batchnorm: conv0+norm0"), and keeps the graph valid.
//
// Every pass below returns the number of changes it made, leaves the graph verified
// (ir::verify) with shapes inferred, and appends one line per change to `log` when it is not
// null. All of them preserve the graph's outputs exactly in real arithmetic; in floating point
// the folded weights round differently, well inside FP32 tolerances.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace chexrt::passes {

struct PassOptions {
  bool verbose = false;  ///< Also print the log to stderr as passes run.
  /// Names of pipeline passes to skip ("pool_before_conv", ...); unknown names are an error.
  /// The environment variable CHEXRT_DISABLE_PASSES (comma-separated) adds to it.
  std::vector<std::string> disabled;
};

/// Runs the standard pipeline (constant folding, dead-node elimination, batch-norm folding,
/// activation fusion, head fusion, ...) and returns the log lines.
Result<std::vector<std::string>> optimize(ir::Graph& graph, const PassOptions& options = {});

/// The passes optimize() runs, in order.
std::vector<std::string> pipeline_pass_names();

/// Evaluates nodes whose inputs are all constants (with the reference kernels) and replaces
/// their outputs by constants. Shape nodes fold whenever their input's dims are known, which
/// they always are.
Result<int> fold_constants(ir::Graph& graph, std::vector<std::string>* log);

/// Bypasses Identity nodes (exporters turn Dropout into Identity) and removes nodes that no
/// graph output depends on.
Result<int> eliminate_dead_nodes(ir::Graph& graph, std::vector<std::string>* log);

/// A Concat reading another Concat's output along the same axis reads that Concat's inputs
/// instead (Keras's chained dense blocks become torchvision's form); dead Concats go.
Result<int> flatten_concat(ir::Graph& graph, std::vector<std::string>* log);

/// Folds an inference-form BatchNormalization into the Conv before it when that Conv has no
/// other reader; the remaining ones become ChannelAffine.
Result<int> fold_batchnorm(ir::Graph& graph, std::vector<std::string>* log);

/// Conv -> Relu and ChannelAffine -> Relu become one node with attribute activation="relu".
Result<int> fuse_activation(ir::Graph& graph, std::vector<std::string>* log);

/// GlobalAveragePool -> Flatten -> Gemm [-> Sigmoid] becomes one ClassifierHead.
Result<int> fuse_classifier_head(ir::Graph& graph, std::vector<std::string>* log);

/// A 1x1, stride-1, unpadded Conv followed by a non-overlapping AveragePool is turned around:
/// pool first, then the conv on kernel^2 times fewer pixels.
Result<int> pool_before_conv(ir::Graph& graph, std::vector<std::string>* log);

}  // namespace chexrt::passes
