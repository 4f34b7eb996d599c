// The CUDA backend: NVIDIA GPUs of compute capability 9.0 (Hopper) and later, through cuDNN 9,
// cuBLASLt and chexrt's own kernels (src/backends/cuda/kernels).
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "backends/backend.h"
#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/plan.h"
#include "ir/op_attributes.h"

namespace chexrt::backends {

namespace {

std::string version_string(int v) { return std::to_string(v); }

class CudaBackend : public Backend {
 public:
  const char* name() const override { return "cuda"; }

  bool available(std::string* why) const override {
    int count = 0;
    const cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
      if (why) *why = std::string("no CUDA GPU (") + (e != cudaSuccess ? cudaGetErrorString(e) : "0 devices") + ")";
      return false;
    }
    cudaDeviceProp prop{};
    int device = 0;
    cudaGetDevice(&device);
    cudaGetDeviceProperties(&prop, device);
    if (prop.major < 9) {
      if (why) {
        *why = std::string(prop.name) + " has compute capability " + std::to_string(prop.major) + "." +
               std::to_string(prop.minor) + "; chexrt's CUDA kernels are built for 9.0 (Hopper) and later";
      }
      return false;
    }
    const size_t cudnn = cudnnGetVersion();
    if (cudnn < 90000 || cudnn >= 100000) {
      if (why) *why = "cuDNN " + std::to_string(cudnn) + " was loaded; chexrt needs cuDNN 9";
      return false;
    }
    return true;
  }

  std::string why_unsupported(const ir::Graph& graph, const ir::Node& node, Precision precision) const override {
    std::string why;
    if (!cuda::plan_supports(graph, node, &why)) return why;
    return Backend::why_unsupported(graph, node, precision);
  }

  bool supports(const ir::Graph& graph, const ir::Node& node, Precision precision) const override {
    if (!cuda::plan_supports(graph, node, nullptr)) return false;
    if (node.op == ir::OpType::kConv) {
      // cuDNN takes symmetric padding only; the tensor-core kernels (fp16) take any padding but
      // need 8-channel groups (graph inputs are padded to them).
      const std::vector<int64_t> pads = ir::conv_attributes(node)->pads;  // checked by plan_supports
      const bool symmetric = pads[0] == pads[2] && pads[1] == pads[3];
      const ir::Value& x = graph.value(node.inputs[0]);
      const bool groups_of_8 = x.dims[1] % 8 == 0 || x.producer < 0;
      return symmetric || (precision == Precision::kFp16 && groups_of_8);
    }
    return true;
  }

  Result<std::unique_ptr<Engine>> build(const ir::Graph& graph, const BuildOptions& options) override {
    return build_with_tactics(graph, options, {});
  }

  Result<std::unique_ptr<Engine>> build_with_tactics(const ir::Graph& graph, const BuildOptions& options,
                                                     const std::vector<std::string>& tactics) override {
    std::string why;
    if (!available(&why)) return unsupported("CUDA backend: " + why);
    cuda::CudaBuildSettings settings = cuda::settings_from_environment();
    settings.tactics = tactics;
    CHEXRT_ASSIGN_OR_RETURN(auto engine, cuda::CudaEngine::build(graph, options, settings));
    return std::unique_ptr<Engine>(std::move(engine));
  }

  std::map<std::string, std::string> fingerprint(const BuildOptions& options) const override {
    std::map<std::string, std::string> f;
    int runtime = 0;
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, options.gpu) == cudaSuccess) {
      f["device_name"] = prop.name;
      f["compute_capability"] = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    } else {
      cudaGetLastError();  // a GPU that does not exist (refused by build): not the next call's error
    }
    cudaRuntimeGetVersion(&runtime);
    f["cuda_runtime_version"] = version_string(runtime);
    f["cudnn_version"] = std::to_string(cudnnGetVersion());
    return f;
  }
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace chexrt::backends
