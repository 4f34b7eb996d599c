// Linked when chexrt is built without CUDA: the CUDA backend reports itself unavailable.
#include "backends/backend.h"

namespace chexrt::backends {
namespace {
class UnavailableCudaBackend : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  bool available(std::string* why) const override {
    if (why) *why = "chexrt was built without CUDA (install the CUDA toolkit and cuDNN and rebuild)";
    return false;
  }
  bool supports(const ir::Graph&, const ir::Node&, Precision) const override { return false; }
  Result<std::unique_ptr<Engine>> build(const ir::Graph&, const BuildOptions&) override {
    return unsupported("chexrt was built without CUDA (install the CUDA toolkit and cuDNN and rebuild)");
  }
};
}  // namespace

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<UnavailableCudaBackend>(); }

}  // namespace chexrt::backends
