// The backend interface. A backend turns an optimized graph into an Engine; it answers
// supports(node, precision) so that unsupported nodes are found before building, and they fall
// back to the reference backend. Nothing outside src/backends/<name> knows a backend's details;
// the list of backends, their names and precisions is src/runtime/backend_registry.h.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/engine.h"
#include "ir/graph.h"

namespace chexrt::backends {

class Backend {
 public:
  virtual ~Backend() = default;
  /// The name engine files record: "reference", "cpu-onednn", "cuda".
  virtual const char* name() const = 0;
  /// Whether this build and machine can run the backend (a GPU is present, ...).
  virtual bool available(std::string* why) const = 0;
  /// Whether the backend runs this node at this precision.
  virtual bool supports(const ir::Graph& graph, const ir::Node& node, Precision precision) const = 0;
  /// Why supports() says no, for the conversion report. The default names the op; backends
  /// that know more (a dtype, an attribute) say so.
  virtual std::string why_unsupported(const ir::Graph& graph, const ir::Node& node, Precision precision) const {
    (void)graph;
    (void)precision;
    return std::string("the ") + name() + " backend has no kernel for " + ir::op_name(node.op);
  }
  /// Builds an engine from a graph on which the passes have already run.
  virtual Result<std::unique_ptr<Engine>> build(const ir::Graph& graph, const BuildOptions& options) = 0;
  /// Builds with the per-node tactics stored in an engine file instead of timing them.
  virtual Result<std::unique_ptr<Engine>> build_with_tactics(const ir::Graph& graph, const BuildOptions& options,
                                                             const std::vector<std::string>& tactics) {
    return build(graph, options);
  }
  /// What an engine built here with `options` depends on, for the engine file's fingerprint.
  /// Keys: "device_name" ("NVIDIA H100 80GB HBM3", of GPU options.gpu), "compute_capability"
  /// ("9.0"), "cuda_runtime_version" ("13000"), "cudnn_version" ("91900"). Empty on CPUs.
  virtual std::map<std::string, std::string> fingerprint(const BuildOptions& options) const {
    (void)options;
    return {};
  }
};

std::unique_ptr<Backend> make_reference_backend();
/// Defined in src/backends/cpu; a build without oneDNN links a stub whose available() is false.
std::unique_ptr<Backend> make_cpu_backend();
/// Defined in src/backends/cuda; a build without CUDA links a stub whose available() is false.
std::unique_ptr<Backend> make_cuda_backend();

}  // namespace chexrt::backends
