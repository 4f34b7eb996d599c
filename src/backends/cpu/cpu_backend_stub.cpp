// Linked when chexrt is built without oneDNN: the CPU backend reports itself unavailable.
#include "backends/backend.h"

namespace chexrt::backends {
namespace {
class UnavailableCpuBackend : public Backend {
 public:
  const char* name() const override { return "cpu-onednn"; }
  bool available(std::string* why) const override {
    if (why) *why = "chexrt was built without oneDNN (install libdnnl-dev and rebuild)";
    return false;
  }
  bool supports(const ir::Graph&, const ir::Node&, Precision) const override { return false; }
  Result<std::unique_ptr<Engine>> build(const ir::Graph&, const BuildOptions&) override {
    return unsupported("chexrt was built without oneDNN (install libdnnl-dev and rebuild)");
  }
};
}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<UnavailableCpuBackend>(); }

}  // namespace chexrt::backends
