// Engine::infer_concatenated on the host (the default: the parts gathered, then infer()), and
// HostTensor::rows, the views that the server's batcher hands it.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "chexrt/builder.h"

namespace chexrt {
namespace {

constexpr int64_t kMaxBatch = 6;

std::unique_ptr<Engine> small_engine() {
  std::mt19937 rng(12);
  std::normal_distribution<float> normal(0.f, 0.3f);
  HostTensor weights(DataType::kFloat32, {4, 3, 3, 3});
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = normal(rng);
  NetworkDefinition net;
  Tensor x = net.add_input("image", DataType::kFloat32, {kMaxBatch, 3, 8, 8});
  net.mark_output(net.add_convolution("conv", x, weights, {}, {{3, 3}, {1, 1}, {}, {1, 1, 1, 1}}), "y");
  BuildOptions options;
  options.device = Device::kReference;
  options.max_batch = kMaxBatch;
  auto engine = build_engine(std::move(net), options);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  return engine.ok() ? std::move(*engine) : nullptr;
}

HostTensor random_batch(int64_t rows, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  HostTensor t(DataType::kFloat32, {rows, 3, 8, 8});
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

TEST(HostTensorRows, ViewsTheRowsWithoutACopy) {
  const HostTensor t = random_batch(5, 1);
  auto rows = t.rows(2, 3);
  ASSERT_TRUE(rows.ok()) << rows.status().to_string();
  EXPECT_EQ(rows->dims(), (Dims{3, 3, 8, 8}));
  EXPECT_EQ(rows->data<float>(), t.data<float>() + 2 * 3 * 8 * 8);
  EXPECT_TRUE(t.rows(5, 0).ok());
  EXPECT_EQ(t.rows(4, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(t.rows(-1, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(HostTensor::from_floats({1.f}, {}).rows(0, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(InferConcatenated, EqualsInferOnTheWholeBatch) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  const HostTensor whole = random_batch(kMaxBatch, 2);
  std::vector<HostTensor> expected, got;
  ASSERT_TRUE(engine->infer({whole}, &expected).ok());
  const Status s = engine->infer_concatenated(
      {whole.rows(0, 1).value(), whole.rows(1, 3).value(), whole.rows(4, 0).value(), whole.rows(4, 2).value()}, &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].dims(), expected[0].dims());
  EXPECT_EQ(std::memcmp(got[0].raw(), expected[0].raw(), got[0].nbytes()), 0);
}

TEST(InferConcatenated, RefusesPartsThatDoNotFitTogether) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  std::vector<HostTensor> out;
  // Trailing dims that differ, naming the part.
  Status s = engine->infer_concatenated({random_batch(1, 3), HostTensor(DataType::kFloat32, {1, 3, 8, 9})}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("part 1"), std::string::npos) << s.message();
  // Dtypes that differ.
  s = engine->infer_concatenated({random_batch(1, 3), HostTensor(DataType::kFloat16, {1, 3, 8, 8})}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // More rows together than the engine's max batch, though each part fits.
  s = engine->infer_concatenated({random_batch(4, 4), random_batch(3, 5)}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  // No parts at all.
  s = engine->infer_concatenated({}, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt
