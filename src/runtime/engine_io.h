// Building from an optimized graph, and engine files: what `chexrt build` writes and
// load_engine() reads back without the importer, the passes or tactic timing.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "ir/graph.h"

namespace chexrt {

struct BuiltEngine {
  std::unique_ptr<Engine> engine;
  std::string backend;                             ///< The main backend's name.
  std::map<std::string, std::string> fingerprint;  ///< Backend::fingerprint().
  std::vector<std::string> tactics;                ///< Per node of the graph; "" where none.
};

/// Picks the backend, cuts the graph into backend and fallback segments, and builds them. With
/// `stored_tactics` (one per node), backends use those kernels instead of timing.
Result<BuiltEngine> build_optimized(const ir::Graph& graph, const BuildOptions& options,
                                    const std::vector<std::string>* stored_tactics);

namespace runtime {

Status save_engine_file(const std::string& path, ir::Graph graph, const BuildOptions& options,
                        const BuiltEngine& built);

}  // namespace runtime
}  // namespace chexrt
