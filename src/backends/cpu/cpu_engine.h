// The CPU engine: oneDNN convolutions and hand-written memory-bound kernels over one arena, in
// the layout described in cpu_steps.h. Built once per graph; runs any batch from 1 to the
// graph's, creating oneDNN primitives for a batch size the first time it is seen (at build for
// 1 and the largest).
#pragma once

#include <memory>
#include <string>

#include "chexrt/builder.h"
#include "chexrt/engine.h"
#include "ir/graph.h"

namespace chexrt::cpu {

/// Whether this CPU computes bfloat16 natively (AVX-512 BF16), which Precision::kBf16 needs.
bool has_native_bf16();

/// Whether the CPU backend runs `node` at `precision`; if not and `why` is set, says why.
bool supports_node(const ir::Graph& graph, const ir::Node& node, Precision precision, std::string* why);

/// Builds an engine for an optimized graph whose every node supports_node(); dim 0 of the
/// inputs is the largest batch. options.threads (0: every core) sizes the OpenMP pool.
Result<std::unique_ptr<Engine>> build_cpu_engine(const ir::Graph& graph, const BuildOptions& options);

}  // namespace chexrt::cpu
