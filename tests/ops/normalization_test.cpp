// Reference BatchNormalization (inference and training_mode=1) and the fused ChannelAffine.
#include <cmath>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

TEST(ReferenceBatchNorm, InferenceUsesGivenStatistics) {
  // x: channel 0 = [1 2], channel 1 = [3 4]; y = scale * (x - mean) / sqrt(var + eps) + bias.
  //   channel 0: (x - 1) / 2 = [0 0.5];   channel 1: 2 * (x - 3) / 1 + 1 = [1 3]
  auto out = run_op_ok("BatchNormalization",
                       {iota_f32({1, 2, 1, 2}), constant(f32({2}, {1, 2})), constant(f32({2}, {0, 1})),
                        constant(f32({2}, {1, 3})), constant(f32({2}, {4, 1}))},
                       {A::real("epsilon", 0.0f)});
  expect_tensor_near(out[0], {1, 2, 1, 2}, {0, 0.5, 1, 3});
}

TEST(ReferenceBatchNorm, DefaultEpsilonAndRank2) {
  // x is [N=2, C=1]; var 3 with the default epsilon 1e-5.
  auto out = run_op_ok("BatchNormalization", {f32({2, 1}, {5, -1}), constant(f32({1}, {1})), constant(f32({1}, {0})),
                                              constant(f32({1}, {2})), constant(f32({1}, {3}))});
  const double d = std::sqrt(3.0 + 1e-5);
  expect_tensor_near(out[0], {2, 1}, {3 / d, -3 / d});
}

TEST(ReferenceBatchNorm, TrainingModeUsesBatchStatistics) {
  // One channel, values 1 3 5 7 over N=2 and W=2: batch mean 4, biased variance
  // (9 + 1 + 1 + 9) / 4 = 5. Running stats with momentum 0.9 from (mean 0, var 1):
  //   0 * 0.9 + 4 * 0.1 = 0.4,   1 * 0.9 + 5 * 0.1 = 1.4
  auto out = run_op_ok("BatchNormalization",
                       {f32({2, 1, 1, 2}, {1, 3, 5, 7}), constant(f32({1}, {1})), constant(f32({1}, {0})),
                        constant(f32({1}, {0})), constant(f32({1}, {1}))},
                       {A::real("epsilon", 0.0f), A::integer("training_mode", 1)}, 3);
  const double r5 = std::sqrt(5.0);
  expect_tensor_near(out[0], {2, 1, 1, 2}, {-3 / r5, -1 / r5, 1 / r5, 3 / r5});
  expect_tensor_near(out[1], {1}, {0.4});
  expect_tensor_near(out[2], {1}, {1.4});
}

TEST(ReferenceBatchNorm, TrainingModeMomentumAndScale) {
  // Same batch, scale 2, bias 1, momentum 0.5, running stats start at (2, 3): (3, 4).
  auto out = run_op_ok("BatchNormalization",
                       {f32({2, 1, 1, 2}, {1, 3, 5, 7}), constant(f32({1}, {2})), constant(f32({1}, {1})),
                        constant(f32({1}, {2})), constant(f32({1}, {3}))},
                       {A::real("epsilon", 0.0f), A::real("momentum", 0.5f), A::integer("training_mode", 1)}, 3);
  const double r5 = std::sqrt(5.0);
  expect_tensor_near(out[0], {2, 1, 1, 2}, {1 - 6 / r5, 1 - 2 / r5, 1 + 2 / r5, 1 + 6 / r5});
  expect_tensor_near(out[1], {1}, {3});
  expect_tensor_near(out[2], {1}, {4});
}

TEST(ReferenceBatchNorm, RunningStatsWithoutTrainingModeAreRefused) {
  auto r = run_op("BatchNormalization",
                  {f32({2, 1}, {1, 2}), constant(f32({1}, {1})), constant(f32({1}, {0})), constant(f32({1}, {0})),
                   constant(f32({1}, {1}))},
                  {}, 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().to_string();
}

TEST(ReferenceChannelAffine, ScaleShiftAndRelu) {
  // channel 0 = [1 2] * 2 + 1 = [3 5]; channel 1 = [3 4] * -1 + 0.5 = [-2.5 -3.5].
  const std::vector<OpInput> in = {iota_f32({1, 2, 1, 2}), constant(f32({2}, {2, -1})), constant(f32({2}, {1, 0.5}))};
  expect_tensor_near(run_op_ok("ChannelAffine", in)[0], {1, 2, 1, 2}, {3, 5, -2.5, -3.5});
  expect_tensor_near(run_op_ok("ChannelAffine", in, {A::string("activation", "relu")})[0], {1, 2, 1, 2}, {3, 5, 0, 0});
}

}  // namespace
}  // namespace chexrt::test
