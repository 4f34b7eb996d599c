// The conversion report: how the builder splits an optimized graph between the chosen backend
// and the reference kernels, as TF-TRT reports which subgraphs became TRTEngineOp segments and
// which nodes stayed with TensorFlow. A node the backend does not support does not stop the
// build: it runs on the reference backend, which runs every op of the IR, in a segment of its
// own between the backend's segments. Printed by `chexrt build -v` and `chexrt inspect`.
#pragma once

#include <string>
#include <vector>

#include "backends/backend.h"
#include "ir/graph.h"

namespace chexrt::builder {

/// One run of consecutive nodes (in topological order) that go to the same backend.
struct ConversionSegment {
  bool on_backend = false;
  std::vector<int> nodes;
  std::vector<std::string> reasons;  ///< Off the backend: why, per node.
};

struct ConversionPlan {
  std::string backend;
  int converted = 0;
  std::vector<ConversionSegment> segments;
};

ConversionPlan plan_conversion(const ir::Graph& graph, const backends::Backend& backend, Precision precision);

/// The report as text: a summary line, then one line per segment (its nodes and op counts) and
/// one per node left to the reference backend, with the reason.
std::string conversion_report(const ir::Graph& graph, const ConversionPlan& plan);

/// The report for the backend `device` picks on this machine (auto: the first available).
Result<std::string> conversion_report(const ir::Graph& graph, Device device, Precision precision);

}  // namespace chexrt::builder
