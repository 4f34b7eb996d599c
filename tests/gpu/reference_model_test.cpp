// The CUDA engines on chexrt's reference CheXNet model (scripts/make_reference_model.py) and the
// real chest X-rays its outputs were made from: FP32 against PyTorch's float64 outputs (relative
// error < 1e-4), FP16 within 5e-3 of FP32 in every probability. Needs CHEXRT_REFERENCE_MODEL (the
// .onnx file) and CHEXRT_REFERENCE_DIR (its reference/ folder of .npy files); skipped without
// them (scripts/gpu_check.sh sets both) or without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "backends/cuda/cuda_engine.h"
#include "chexrt/onnx_parser.h"
#include "gpu_test_util.h"
#include "import/tensor_io.h"
#include "passes/pass_manager.h"

namespace chexrt::cuda {
namespace {

// Stacks [1, ...] tensors into one [n, ...] tensor.
HostTensor stack(const std::vector<HostTensor>& items) {
  Dims dims = items[0].dims();
  dims[0] = static_cast<int64_t>(items.size());
  HostTensor out(items[0].dtype(), dims);
  size_t offset = 0;
  for (const HostTensor& t : items) {
    std::memcpy(static_cast<char*>(out.raw()) + offset, t.raw(), t.nbytes());
    offset += t.nbytes();
  }
  return out;
}

TEST(CudaReferenceModel, MatchesPyTorchOnXrays) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const char* model = std::getenv("CHEXRT_REFERENCE_MODEL");
  const char* dir = std::getenv("CHEXRT_REFERENCE_DIR");
  if (!model || !dir) GTEST_SKIP() << "CHEXRT_REFERENCE_MODEL and CHEXRT_REFERENCE_DIR are not set";

  std::vector<std::string> stems;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = ".input.npy";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      stems.push_back(entry.path().string().substr(0, entry.path().string().size() - suffix.size()));
    }
  }
  std::sort(stems.begin(), stems.end());
  ASSERT_FALSE(stems.empty()) << "no *.input.npy in " << dir;
  std::vector<HostTensor> images, expected;
  for (const std::string& stem : stems) {
    auto image = read_npy(stem + ".input.npy");
    auto probs = read_npy(stem + ".output_f64.npy");
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    ASSERT_TRUE(probs.ok()) << probs.status().to_string();
    images.push_back(*image);
    expected.push_back(*probs);
  }
  const int64_t batch = static_cast<int64_t>(images.size());
  const HostTensor input = stack(images);
  const HostTensor reference = stack(expected);

  OnnxImportOptions import;
  import.batch_size = batch;
  auto net = parse_onnx_file(model, import);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  ir::Graph graph = std::move(net->graph());
  ASSERT_TRUE(passes::optimize(graph).ok());

  std::vector<HostTensor> fp32_out, fp16_out;
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    const BuildOptions options = gputest::cuda_options(precision, batch);
    auto engine = CudaEngine::build(graph, options, settings_from_environment());
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    ASSERT_TRUE((*engine)->infer({input}, precision == Precision::kFp32 ? &fp32_out : &fp16_out).ok());
  }
  const gputest::Diff fp32 = gputest::compare(fp32_out[0], reference);
  const gputest::Diff fp16 = gputest::compare(fp16_out[0], fp32_out[0]);
  std::printf(
      "reference model, %lld X-rays: fp32 vs PyTorch float64 rel L2 %.3g (max |diff| %.3g); "
      "fp16 vs fp32 max |diff| %.3g\n",
      static_cast<long long>(batch), fp32.rel_l2, fp32.max_abs, fp16.max_abs);
  EXPECT_TRUE(fp32.finite && fp16.finite);
  EXPECT_LT(fp32.rel_l2, 1e-4);
  EXPECT_LT(fp16.max_abs, 5e-3);
}

}  // namespace
}  // namespace chexrt::cuda
