// Linked when chexrt is built without CUDA: the CUDA backend reports itself unavailable, and
// there are no GPUs to ask about (gpu_info.h).
#include "backends/backend.h"
#include "backends/cuda/gpu_info.h"

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

namespace chexrt::cuda {

int gpu_count() { return 0; }

Result<std::vector<GpuMemory>> gpu_memory(const std::vector<int>&) {
  return unsupported("chexrt was built without CUDA: no GPU memory to read");
}

}  // namespace chexrt::cuda
