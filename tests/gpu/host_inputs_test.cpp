// Host inputs given in float16 (Engine::accepts_fp16_inputs): the CUDA engine uploads them as
// they are and widens them on the device, so its answers equal those for the same values given
// in float32, bit for bit, at every batch size and with an element count that is not a multiple
// of the widening kernel's eight-element vectors. A batch given as parts (infer_concatenated, as
// the server's batcher assembles requests) equals the same rows given whole.
#include <gtest/gtest.h>

#include <random>

#include "backends/cuda/cuda_engine.h"
#include "chexrt/builder.h"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

TEST(CudaHostInputs, Float16InputEqualsTheSameValuesInFloat32) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMaxBatch = 9;
  NetworkDefinition net;
  gputest::LayerMaker m(net, 11);
  // 3 x 31 x 31 = 2,883 elements per sample: odd, so the last vector of eight is partial.
  Tensor x = net.add_input("image", DataType::kFloat32, {kMaxBatch, 3, 31, 31});
  Tensor h = m.conv("conv", x, 16, 3, 1, 1, true, true);
  net.mark_output(m.head("head", h, 14), "probabilities");
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    auto engine = CudaEngine::build(net.graph(), gputest::cuda_options(precision, kMaxBatch), {});
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    ASSERT_TRUE((*engine)->accepts_fp16_inputs());
    std::mt19937 rng(5);
    std::normal_distribution<float> normal(0.f, 1.5f);
    for (int64_t batch : {int64_t{1}, int64_t{4}, kMaxBatch}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + (precision == Precision::kFp16 ? ", fp16" : ", fp32"));
      HostTensor half(DataType::kFloat16, {batch, 3, 31, 31});
      HostTensor wide(DataType::kFloat32, {batch, 3, 31, 31});
      for (int64_t i = 0; i < half.numel(); ++i) {
        half.data<uint16_t>()[i] = float_to_half(normal(rng));
        wide.data<float>()[i] = half_to_float(half.data<uint16_t>()[i]);
      }
      std::vector<HostTensor> from_half, from_wide;
      Status s = (*engine)->infer({wide}, &from_wide);
      ASSERT_TRUE(s.ok()) << s.to_string();
      s = (*engine)->infer({half}, &from_half);
      ASSERT_TRUE(s.ok()) << s.to_string();
      ASSERT_EQ(from_half[0].dims(), from_wide[0].dims());
      for (int64_t i = 0; i < from_half[0].numel(); ++i) {
        ASSERT_EQ(from_half[0].data<float>()[i], from_wide[0].data<float>()[i]) << "element " << i;
      }
    }
    // Other dtypes are still refused, naming the input.
    std::vector<HostTensor> out;
    const Status refused = (*engine)->infer({HostTensor(DataType::kInt32, {1, 3, 31, 31})}, &out);
    EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(refused.message().find("'image'"), std::string::npos) << refused.message();
  }
}

// The parts, copied into the pinned upload buffer one after another (some larger than the 4 MB
// upload chunks, some of one row), give what the whole batch gives, in float32 and float16.
TEST(CudaHostInputs, ConcatenatedPartsEqualTheWholeBatch) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMaxBatch = 40;
  NetworkDefinition net;
  gputest::LayerMaker m(net, 12);
  // 3 x 224 x 224 float32 = 602 KB per sample: parts of 8 and more rows span several chunks.
  Tensor x = net.add_input("image", DataType::kFloat32, {kMaxBatch, 3, 224, 224});
  Tensor h = m.conv("conv", x, 8, 3, 2, 1, true, true);
  net.mark_output(m.head("head", h, 14), "probabilities");
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  auto engine = CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp16, kMaxBatch), {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::mt19937 rng(6);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat16}) {
    SCOPED_TRACE(dtype_name(dtype));
    HostTensor whole(dtype, {kMaxBatch, 3, 224, 224});
    for (int64_t i = 0; i < whole.numel(); ++i) {
      const uint16_t v = float_to_half(normal(rng));
      if (dtype == DataType::kFloat16) {
        whole.data<uint16_t>()[i] = v;
      } else {
        whole.data<float>()[i] = half_to_float(v);
      }
    }
    std::vector<HostTensor> expected;
    Status s = (*engine)->infer({whole}, &expected);
    ASSERT_TRUE(s.ok()) << s.to_string();
    std::vector<HostTensor> parts;
    int64_t row = 0;
    for (int64_t rows : {int64_t{1}, int64_t{16}, int64_t{7}, int64_t{1}, int64_t{15}}) {
      parts.push_back(whole.rows(row, rows).value());
      row += rows;
    }
    ASSERT_EQ(row, kMaxBatch);
    std::vector<HostTensor> got;
    s = (*engine)->infer_concatenated(parts, &got);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(got[0].dims(), expected[0].dims());
    for (int64_t i = 0; i < got[0].numel(); ++i) {
      ASSERT_EQ(got[0].data<float>()[i], expected[0].data<float>()[i]) << "element " << i;
    }
    // More rows than the engine's max batch are refused before anything is copied.
    parts.push_back(whole.rows(0, 1).value());
    s = (*engine)->infer_concatenated(parts, &got);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.to_string();
  }
}

}  // namespace
}  // namespace chexrt::cuda
