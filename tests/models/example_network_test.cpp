// DenseNet-121/CheXNet built layer by layer through NetworkDefinition from the safetensors
// weights (no ONNX) must give PyTorch's outputs on the real X-rays.
#include <gtest/gtest.h>

#include "chexrt/builder.h"
#include "densenet121_network.h"
#include "reference_data.h"
#include "safetensors.h"

namespace chexrt {
namespace {

const std::string kGenerated = std::string(CHEXRT_SOURCE_DIR) + "/models/generated";

TEST(ExampleNetwork, BuiltFromWeightsMatchesPyTorch) {
  auto weights = examples::read_safetensors(kGenerated + "/densenet121_chexnet_seeded.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status().to_string() << " (run scripts/make_reference_model.py)";
  auto lookup = [&](const std::string& key) -> Result<HostTensor> {
    auto it = weights->find(key);
    if (it == weights->end()) return not_found(key);
    return it->second;
  };
  constexpr int64_t kBatch = 3;
  auto network = examples::build_densenet121_chexnet(lookup, kBatch);
  ASSERT_TRUE(network.ok()) << network.status().to_string();
  BuildOptions options;
  options.device = Device::kReference;
  options.max_batch = kBatch;
  auto engine = build_engine(std::move(*network), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();

  auto refs = testing::load_reference_set(kGenerated);
  ASSERT_TRUE(refs.ok()) << refs.status().to_string();
  HostTensor batch(DataType::kFloat32, {kBatch, 3, 224, 224});
  for (int64_t i = 0; i < kBatch; ++i) {
    const HostTensor& input = refs->entries[i].input;
    std::copy(input.data<float>(), input.data<float>() + input.numel(), batch.data<float>() + i * input.numel());
  }
  std::vector<HostTensor> outputs;
  ASSERT_TRUE((*engine)->infer({batch}, &outputs).ok());
  ASSERT_EQ(outputs[0].dims(), (Dims{kBatch, 14}));
  for (int64_t i = 0; i < kBatch; ++i) {
    HostTensor row(DataType::kFloat32, {1, 14});
    std::copy(outputs[0].data<float>() + i * 14, outputs[0].data<float>() + (i + 1) * 14, row.data<float>());
    EXPECT_LT(testing::relative_error(row, refs->entries[i].output), 1e-4) << refs->entries[i].image;
  }
}

TEST(ExampleNetwork, MissingWeightIsNamed) {
  auto lookup = [](const std::string& key) -> Result<HostTensor> { return not_found("no tensor '" + key + "'"); };
  auto network = examples::build_densenet121_chexnet(lookup, 1);
  ASSERT_FALSE(network.ok());
  EXPECT_NE(network.status().message().find("features.conv0.weight"), std::string::npos) << network.status().message();
}

}  // namespace
}  // namespace chexrt
