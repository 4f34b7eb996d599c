// The oneDNN CPU backend (see cpu_engine.h and cpu_steps.h for how it runs a graph).
#include <oneapi/dnnl/dnnl.hpp>

#include "backends/backend.h"
#include "backends/cpu/cpu_engine.h"

namespace chexrt::backends {
namespace {

class CpuBackend : public Backend {
 public:
  const char* name() const override { return "cpu-onednn"; }
  bool available(std::string*) const override { return true; }
  bool supports(const ir::Graph& graph, const ir::Node& node, Precision precision) const override {
    return cpu::supports_node(graph, node, precision, nullptr);
  }
  std::string why_unsupported(const ir::Graph& graph, const ir::Node& node, Precision precision) const override {
    std::string why;
    cpu::supports_node(graph, node, precision, &why);
    return why;
  }
  Result<std::unique_ptr<Engine>> build(const ir::Graph& graph, const BuildOptions& options) override {
    return cpu::build_cpu_engine(graph, options);
  }
  std::map<std::string, std::string> fingerprint(const BuildOptions&) const override {
    const dnnl_version_t* v = dnnl_version();
    return {{"onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)},
            {"cpu_bf16", cpu::has_native_bf16() ? "yes" : "no"}};
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace chexrt::backends
