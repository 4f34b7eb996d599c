// Whole-model agreement: chexrt against PyTorch on DenseNet-121 with CheXNet's head, on the
// reference images that scripts/make_reference_model.py preprocessed and ran through PyTorch.
//
// The measure is the relative error e = ||y - y_torch||_2 / ||y_torch||_2 over an image's 14
// outputs, and every image must have e < 1e-4 in FP32. PyTorch's own float32 output is ~3e-7
// from its float64 one, so 1e-4 leaves room for another summation order, not for a wrong op;
// an output that ignored the image (the mean over images) would be 1.8e-2 to 2.3e-1 off.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"
#include "reference_data.h"
#include "runtime/graph_executor.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxRelativeError = 1e-4;
constexpr int64_t kBatch = 8;

using testing::ReferenceImage;
using testing::ReferenceSet;
using testing::relative_error;

class ModelAgreement : public testing::ReferenceSetTest {};

// One row of the table: chexrt against PyTorch float32 and float64, and PyTorch's own drift.
double report(const ReferenceImage& ref, const HostTensor& got, double seconds) {
  const double e32 = relative_error(got, ref.output);
  std::printf("%-44s %10.2e %10.2e %10.2e %8.2f\n", fs::path(ref.image).filename().c_str(), e32,
              relative_error(got, ref.output_f64), relative_error(ref.output, ref.output_f64), seconds);
  std::fflush(stdout);  // a row per image as it comes: the whole test takes minutes
  return e32;
}

void print_header() {
  std::printf("%-44s %10s %10s %10s %8s\n", "image", "vs torch32", "vs torch64", "torch drift", "s");
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The imported graph as it is (no passes), one image at a time, on the reference kernels.
TEST_F(ModelAgreement, ImportedGraphMatchesPyTorchOneImageAtATime) {
  const ReferenceSet* refs = references();
  if (!refs) return;
  OnnxImportOptions options;
  options.batch_size = 1;
  Result<NetworkDefinition> net = parse_onnx_file(refs->model_path, options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();

  print_header();
  double worst = 0;
  for (const ReferenceImage& ref : refs->entries) {
    const auto start = std::chrono::steady_clock::now();
    Result<std::vector<HostTensor>> out = runtime::run_reference(net->graph(), {ref.input});
    ASSERT_TRUE(out.ok()) << ref.image << ": " << out.status().to_string();
    ASSERT_EQ(out->size(), 1u);
    ASSERT_EQ(out->front().dims(), ref.output.dims()) << ref.image;
    const double e = report(ref, out->front(), seconds_since(start));
    EXPECT_LT(e, kMaxRelativeError) << ref.image;
    worst = std::max(worst, e);
  }
  std::printf("max relative error over %zu images: %.2e (limit %.0e)\n", refs->entries.size(), worst,
              kMaxRelativeError);
}

// The public path: parse, optimize (graph passes), build a reference engine for batches of up to
// 8, and infer one full batch and one partial one.
TEST_F(ModelAgreement, OptimizedEngineMatchesPyTorchInBatches) {
  const ReferenceSet* refs = references();
  if (!refs) return;
  ASSERT_GE(static_cast<int64_t>(refs->entries.size()), kBatch + 3) << "too few reference images";
  OnnxImportOptions import_options;
  import_options.batch_size = kBatch;
  Result<NetworkDefinition> net = parse_onnx_file(refs->model_path, import_options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  BuildOptions build_options;
  build_options.device = Device::kReference;
  build_options.max_batch = kBatch;
  Result<std::unique_ptr<Engine>> engine = build_engine(std::move(net).value(), build_options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();

  print_header();
  double worst = 0;
  for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, kBatch}, {kBatch, 3}}) {
    const Dims& image_dims = refs->entries[first].input.dims();
    HostTensor batch(DataType::kFloat32, {count, image_dims[1], image_dims[2], image_dims[3]});
    const size_t image_bytes = refs->entries[first].input.nbytes();
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(batch.data<uint8_t>() + i * image_bytes, refs->entries[first + i].input.raw(), image_bytes);
    }
    const auto start = std::chrono::steady_clock::now();
    std::vector<HostTensor> outputs;
    Status status = (*engine)->infer({batch}, &outputs);
    ASSERT_TRUE(status.ok()) << status.to_string();
    const double seconds = seconds_since(start) / static_cast<double>(count);
    ASSERT_EQ(outputs.size(), 1u);
    const int64_t num_classes = refs->entries[first].output.numel();
    ASSERT_EQ(outputs[0].dims(), (Dims{count, num_classes}));
    for (int64_t i = 0; i < count; ++i) {
      const ReferenceImage& ref = refs->entries[first + i];
      HostTensor row = HostTensor::from_floats(std::vector<float>(outputs[0].data<float>() + i * num_classes,
                                                                  outputs[0].data<float>() + (i + 1) * num_classes),
                                               {1, num_classes});
      const double e = report(ref, row, seconds);
      EXPECT_LT(e, kMaxRelativeError) << ref.image << " (batch of " << count << ", row " << i << ")";
      worst = std::max(worst, e);
    }
  }
  std::printf("max relative error over %lld images in batches: %.2e (limit %.0e)\n", static_cast<long long>(kBatch + 3),
              worst, kMaxRelativeError);
}

}  // namespace
}  // namespace chexrt
