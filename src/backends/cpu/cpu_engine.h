// The CPU engine: oneDNN convolutions and hand-written memory-bound kernels over one arena, in
// the layout described in cpu_steps.h. Built once per graph; runs any batch from 1 to the
// graph's, with oneDNN primitives for every batch size created when it is built (or loaded):
// running never creates one.
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

/// oneDNN primitives created so far in this process (tests check that running creates none).
int64_t primitives_created();

/// Builds an engine for an optimized graph whose every node supports_node(); dim 0 of the
/// inputs is the largest batch. options.threads (0: every core) sizes the OpenMP pool.
Result<std::unique_ptr<Engine>> build_cpu_engine(const ir::Graph& graph, const BuildOptions& options);

}  // namespace chexrt::cpu
