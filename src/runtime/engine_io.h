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

/// An engine with what its engine file holds (the optimized graph, the build options, the
/// backend's fingerprint and tactics), so that it can be written after it was built or loaded,
/// as TensorRT's serialize() (the Python API's Engine.save). Keeps the graph's weights alive.
struct SavableEngine {
  BuiltEngine built;
  ir::Graph graph;
  BuildOptions options;
};

/// build_engine() that keeps what save_engine_file() needs.
Result<SavableEngine> build_savable_engine(NetworkDefinition network, const BuildOptions& options);

namespace runtime {

Status save_engine_file(const std::string& path, ir::Graph graph, const BuildOptions& options,
                        const BuiltEngine& built);
inline Status save_engine_file(const std::string& path, const SavableEngine& engine) {
  return save_engine_file(path, engine.graph, engine.options, engine.built);
}

/// load_engine() that keeps what save_engine_file() needs; `gpu` as BuildOptions::gpu.
Result<SavableEngine> load_savable_engine(const std::string& path, int gpu = 0);

}  // namespace runtime
}  // namespace chexrt
