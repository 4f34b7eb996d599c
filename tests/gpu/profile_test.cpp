// Optimization profiles of the CUDA engine: one engine built for a max batch runs every batch
// with kernels timed at that batch's profile (profile_batch in plan.h), and every batch matches
// the reference.
#include <gtest/gtest.h>

#include <algorithm>

#include "backends/cuda/cuda_engine.h"
#include "gpu_test_util.h"
#include "runtime/graph_executor.h"

namespace chexrt::cuda {
namespace {

using gputest::LayerMaker;

// A dense layer of block 4 (7x7 pixels, where batch 1 and batch 8 want different kernels:
// split-K at batch 1), then the block's next layer reading both slices.
ir::Graph dense_layers(int64_t batch) {
  NetworkDefinition net;
  LayerMaker m(net, 41);  // the same seed gives the same weights at every batch
  Tensor x = net.add_input("x", DataType::kFloat32, {batch, 512, 7, 7});
  Tensor h = m.conv("l1.conv1", m.affine("l1.norm1", x, true), 128, 1, 1, 0, true, true);
  Tensor f = m.conv("l1.conv2", h, 32, 3, 1, 1, false, false);
  Tensor c = net.add_concat("l2.concat", {x, f}, 1);
  Tensor h2 = m.conv("l2.conv1", m.affine("l2.norm1", c, true), 128, 1, 1, 0, true, true);
  net.mark_output(m.conv("l2.conv2", h2, 32, 3, 1, 1, false, false), "y");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  return net.graph();
}

TEST(CudaProfiles, EachBatchRunsKernelsTimedAtItsProfile) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMax = 8;
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    const ir::Graph graph = dense_layers(kMax);
    BuildOptions options;
    options.device = Device::kCuda;
    options.precision = precision;
    options.max_batch = kMax;
    auto engine = CudaEngine::build(graph, options, settings_from_environment());
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();

    for (int64_t batch : {int64_t{1}, int64_t{3}, kMax}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + (precision == Precision::kFp16 ? " fp16" : " fp32"));
      const ir::Graph at_batch = dense_layers(batch);
      std::mt19937 rng(static_cast<uint32_t>(batch));
      const std::vector<HostTensor> in = {gputest::random_normal({batch, 512, 7, 7}, rng)};
      std::vector<HostTensor> out;
      ASSERT_TRUE((*engine)->infer(in, &out).ok());
      auto ref = runtime::run_reference(at_batch, in);
      ASSERT_TRUE(ref.ok()) << ref.status().to_string();
      const gputest::Diff d = gputest::compare(out[0], (*ref)[0]);
      EXPECT_TRUE(d.finite);
      EXPECT_LT(d.rel_l2, precision == Precision::kFp16 ? 2e-3 : 1e-5) << "max |diff| " << d.max_abs;

      // The kernels that ran are ones offered for the profile's batch (split-K counts and
      // library algorithms depend on it).
      const int64_t profile = profile_batch(batch, kMax);
      BuildOptions at_profile = options;
      at_profile.max_batch = profile;
      auto offered = CudaEngine::candidate_tactics(dense_layers(profile), at_profile);
      ASSERT_TRUE(offered.ok()) << offered.status().to_string();
      auto chosen = (*engine)->tactics_for_batch(batch);
      ASSERT_TRUE(chosen.ok()) << chosen.status().to_string();
      ASSERT_EQ(chosen->size(), offered->size());
      for (size_t n = 0; n < chosen->size(); ++n) {
        const auto& list = (*offered)[n];
        if (list.empty()) continue;
        EXPECT_NE(std::find(list.begin(), list.end(), (*chosen)[n]), list.end())
            << graph.node(static_cast<int>(n)).name << ": " << (*chosen)[n];
      }
    }
    auto at_max = (*engine)->tactics_for_batch(kMax);
    ASSERT_TRUE(at_max.ok());
    EXPECT_EQ(*at_max, (*engine)->node_tactics());
  }
}

TEST(CudaProfiles, ProfileBatchesArePowersOfTwoUpToTheMax) {
  EXPECT_EQ(profile_batch(1, 256), 1);
  EXPECT_EQ(profile_batch(2, 256), 2);
  EXPECT_EQ(profile_batch(3, 256), 4);
  EXPECT_EQ(profile_batch(32, 256), 32);
  EXPECT_EQ(profile_batch(33, 256), 64);
  EXPECT_EQ(profile_batch(256, 256), 256);
  EXPECT_EQ(profile_batch(129, 200), 200);
  EXPECT_EQ(profile_batch(5, 6), 6);
  EXPECT_EQ(profile_batch(1, 1), 1);
}

}  // namespace
}  // namespace chexrt::cuda
