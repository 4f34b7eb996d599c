// Optimization profiles of the CUDA engine: one engine built for a max batch runs every batch
// with kernels timed at that batch's profile (profile_batch in plan.h), and every batch matches
// the reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/steps.h"
#include "builder/optimization_profiles.h"
#include "chexrt/builder.h"
#include "gpu_test_util.h"
#include "runtime/graph_executor.h"

namespace chexrt::cuda {
namespace {

using gputest::LayerMaker;

// Two dense layers of block 4 (7x7 pixels, where batch 1 and batch 8 want different kernels:
// split-K or the one-kernel dense layer at batch 1), writing into the block's buffer as in the
// network (a kernel writes its first channels, the Concats are in place).
NetworkDefinition dense_layers_network(int64_t batch) {
  NetworkDefinition net;
  LayerMaker m(net, 41);  // the same seed gives the same weights at every batch
  Tensor input = net.add_input("x", DataType::kFloat32, {batch, 512, 7, 7});
  Tensor x = net.add_activation("block_input", input, Activation::kRelu);
  Tensor h = m.conv("l1.conv1", m.affine("l1.norm1", x, true), 128, 1, 1, 0, true, true);
  Tensor f = m.conv("l1.conv2", h, 32, 3, 1, 1, false, false);
  Tensor c = net.add_concat("l2.concat", {x, f}, 1);
  Tensor h2 = m.conv("l2.conv1", m.affine("l2.norm1", c, true), 128, 1, 1, 0, true, true);
  Tensor f2 = m.conv("l2.conv2", h2, 32, 3, 1, 1, false, false);
  net.mark_output(net.add_concat("block", {x, f, f2}, 1), "y");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  return net;
}

ir::Graph dense_layers(int64_t batch) { return dense_layers_network(batch).graph(); }

// Runs `engine` on `in` and compares its first output with the reference backend's for `graph`.
void expect_matches_reference(Engine& engine, const ir::Graph& graph, const std::vector<HostTensor>& in,
                              double tolerance) {
  std::vector<HostTensor> out;
  ASSERT_TRUE(engine.infer(in, &out).ok());
  auto ref = runtime::run_reference(graph, in);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  const gputest::Diff d = gputest::compare(out[0], (*ref)[0]);
  EXPECT_TRUE(d.finite);
  EXPECT_LT(d.rel_l2, tolerance) << "max |diff| " << d.max_abs;
}

// The tactic of the nearest node before `n` that runs a one-kernel dense layer ("" if none).
std::string fused_partner(const std::vector<std::string>& tactics, size_t n) {
  while (n-- > 0) {
    if (tactics[n].rfind("dense_layer_f16", 0) == 0) return tactics[n];
  }
  return "";
}

TEST(CudaProfiles, EachBatchRunsKernelsTimedAtItsProfile) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMax = 8;
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    const ir::Graph graph = dense_layers(kMax);
    const BuildOptions options = gputest::cuda_options(precision, kMax);
    auto engine = CudaEngine::build(graph, options, settings_from_environment());
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();

    for (int64_t batch : {int64_t{1}, int64_t{3}, kMax}) {
      SCOPED_TRACE("batch " + std::to_string(batch) + (precision == Precision::kFp16 ? " fp16" : " fp32"));
      const ir::Graph at_batch = dense_layers(batch);
      std::mt19937 rng(static_cast<uint32_t>(batch));
      const std::vector<HostTensor> in = {gputest::random_normal({batch, 512, 7, 7}, rng)};
      expect_matches_reference(**engine, at_batch, in, precision == Precision::kFp16 ? 2e-3 : 1e-5);

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
        if (is_fused_away_name((*chosen)[n])) {
          // A 3x3 whose work the one-kernel dense layer chosen for the 1x1 before it does.
          EXPECT_EQ((*chosen)[n], "(inside " + fused_partner(*chosen, n) + ")");
          continue;
        }
        EXPECT_NE(std::find(list.begin(), list.end(), (*chosen)[n]), list.end())
            << graph.node(static_cast<int>(n)).name << ": " << (*chosen)[n];
      }
    }
    // node_tactics() holds every profile's: the max profile's are the ones at kMax.
    auto at_max = (*engine)->tactics_for_batch(kMax);
    ASSERT_TRUE(at_max.ok());
    const std::vector<std::string> all = (*engine)->node_tactics();
    ASSERT_EQ(all.size(), at_max->size());
    for (size_t n = 0; n < all.size(); ++n) {
      const auto per_profile = builder::parse_profile_tactics(all[n]);
      const auto it = per_profile.count(kMax) ? per_profile.find(kMax) : per_profile.find(0);
      ASSERT_NE(it, per_profile.end()) << all[n];
      EXPECT_EQ(it->second, (*at_max)[n]);
    }
  }
}

// An engine file keeps the one-kernel dense layer (kernels/dense_layer_cluster.cu): the 1x1's
// tactic names it, the 3x3's says it runs inside it, and the loaded engine runs it and matches
// the reference.
TEST(CudaProfiles, EngineFileKeepsTheOneKernelDenseLayer) {
  CHEXRT_SKIP_WITHOUT_GPU();
  CHEXRT_SKIP_WITHOUT_LARGE_CLUSTERS();
  const ir::Graph graph = dense_layers(1);
  NetworkDefinition net = dense_layers_network(1);
  const BuildOptions options = gputest::cuda_options(Precision::kFp16, 1);
  const std::string path = testing::TempDir() + "/dense_layer.engine";
  // Only the dense-layer kernel where it applies, so that the timing cannot pick the pair.
  setenv("CHEXRT_CUDA_TACTIC", "dense_layer", 1);
  auto built = build_engine_file(std::move(net), options, path);
  unsetenv("CHEXRT_CUDA_TACTIC");
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  auto loaded = load_engine(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const std::vector<std::string> tactics = (*loaded)->node_tactics();
  EXPECT_EQ(tactics, (*built)->node_tactics());
  int fused = 0;
  for (size_t n = 0; n < tactics.size(); ++n) {
    if (!is_fused_away_name(tactics[n])) continue;
    EXPECT_EQ(tactics[n], "(inside " + fused_partner(tactics, n) + ")");
    ++fused;
  }
  EXPECT_EQ(fused, 2);  // both layers

  std::mt19937 rng(5);
  const std::vector<HostTensor> in = {gputest::random_normal({1, 512, 7, 7}, rng)};
  expect_matches_reference(**loaded, graph, in, 2e-3);
  std::remove(path.c_str());
}

// Every profile is timed when the engine is built and stored in its file; the loaded engine
// runs each batch with the same kernels as the built one, without timing any.
TEST(CudaProfiles, EngineFileStoresEveryProfile) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMax = 8;
  BuildOptions options = gputest::cuda_options(Precision::kFp16, kMax);
  options.opt_batch = 6;
  const std::string path = testing::TempDir() + "/profiles.engine";
  auto built = build_engine_file(dense_layers_network(kMax), options, path);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  auto loaded = load_engine(path);
  std::remove(path.c_str());
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->node_tactics(), (*built)->node_tactics());
  auto* b = dynamic_cast<CudaEngine*>(built->get());
  auto* l = dynamic_cast<CudaEngine*>(loaded->get());
  ASSERT_TRUE(b && l);
  for (int64_t batch = 1; batch <= kMax; ++batch) {
    EXPECT_EQ(b->tactics_for_batch(batch).value(), l->tactics_for_batch(batch).value()) << "batch " << batch;
  }
  EXPECT_NE((*loaded)->describe_layers().find("5 profile(s)"), std::string::npos) << (*loaded)->describe_layers();
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
