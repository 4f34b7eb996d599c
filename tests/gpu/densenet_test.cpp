// The whole DenseNet-121 / CheXNet network (random He-initialized weights, random batch-norm
// statistics) through the real pipeline: NetworkDefinition -> graph passes -> CUDA engine.
#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "backends/cuda/cuda_engine.h"
#include "densenet121_network.h"
#include "gpu_test_util.h"
#include "passes/pass_manager.h"
#include "runtime/graph_executor.h"

namespace chexrt::cuda {
namespace {

Result<ir::Graph> optimized_densenet(int64_t batch) {
  auto net = examples::build_densenet121_chexnet(
      [](const std::string& key) { return gputest::densenet121_random_weight(key, 1234); }, batch);
  if (!net.ok()) return net.status();
  ir::Graph graph = std::move(net->graph());
  auto log = passes::optimize(graph);
  if (!log.ok()) return log.status();
  return graph;
}

std::vector<HostTensor> images(int64_t batch, uint32_t seed) {
  std::mt19937 rng(seed);
  return {gputest::random_normal({batch, 3, 224, 224}, rng)};
}

std::unique_ptr<CudaEngine> build(const ir::Graph& graph, Precision precision, int64_t max_batch) {
  const BuildOptions options = gputest::cuda_options(precision, max_batch);
  auto engine = CudaEngine::build(graph, options, settings_from_environment());
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  return engine.ok() ? std::move(*engine) : nullptr;
}

TEST(CudaDenseNet, Fp32MatchesReference) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto graph = optimized_densenet(1);
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  auto engine = build(*graph, Precision::kFp32, 1);
  ASSERT_TRUE(engine);
  const auto in = images(1, 3);
  std::vector<HostTensor> out;
  ASSERT_TRUE(engine->infer(in, &out).ok());
  auto ref = runtime::run_reference(*graph, in);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  const gputest::Diff d = gputest::compare(out[0], (*ref)[0]);
  EXPECT_TRUE(d.finite);
  EXPECT_LT(d.rel_l2, 1e-4) << "max |diff| " << d.max_abs;
  std::printf("DenseNet-121 fp32 vs reference: rel L2 %.3g, max |diff| %.3g\n", d.rel_l2, d.max_abs);
}

TEST(CudaDenseNet, EveryConcatRunsInPlace) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto graph = optimized_densenet(2);
  ASSERT_TRUE(graph.ok());
  auto engine = build(*graph, Precision::kFp16, 2);
  ASSERT_TRUE(engine);
  int concats = 0;
  for (int n = 0; n < graph->num_nodes(); ++n) {
    if (graph->node(n).op != ir::OpType::kConcat) continue;
    ++concats;
    EXPECT_EQ(engine->plan().node_note[n], "in place") << graph->node(n).name;
  }
  EXPECT_EQ(concats, 5 + 11 + 23 + 15 + 4);  // one per layer after the first, one per block
}

TEST(CudaDenseNet, Fp16AgreesWithFp32) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto graph = optimized_densenet(4);
  ASSERT_TRUE(graph.ok());
  auto fp32 = build(*graph, Precision::kFp32, 4);
  auto fp16 = build(*graph, Precision::kFp16, 4);
  ASSERT_TRUE(fp32 && fp16);
  const auto in = images(4, 5);
  std::vector<HostTensor> a, b;
  ASSERT_TRUE(fp32->infer(in, &a).ok());
  ASSERT_TRUE(fp16->infer(in, &b).ok());
  const gputest::Diff d = gputest::compare(b[0], a[0]);
  EXPECT_TRUE(d.finite);
  EXPECT_LT(d.max_abs, 5e-3);
  std::printf("DenseNet-121 fp16 vs fp32: max |probability difference| %.3g\n", d.max_abs);
}

TEST(CudaDenseNet, GraphReplayAndSmallerBatches) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto graph = optimized_densenet(4);
  ASSERT_TRUE(graph.ok());
  const auto in = images(3, 9);
  HostTensor one(DataType::kFloat32, {1, 3, 224, 224});
  std::memcpy(one.raw(), in[0].raw(), one.nbytes());
  // The reference backend's outputs for the 3 images (the same weights at batch 3).
  auto graph3 = optimized_densenet(3);
  ASSERT_TRUE(graph3.ok());
  auto ref = runtime::run_reference(*graph3, in);
  ASSERT_TRUE(ref.ok()) << ref.status().to_string();
  HostTensor ref_row(DataType::kFloat32, {1, 14});
  std::memcpy(ref_row.raw(), (*ref)[0].raw(), ref_row.nbytes());
  for (Precision precision : {Precision::kFp32, Precision::kFp16}) {
    SCOPED_TRACE(precision == Precision::kFp16 ? "fp16" : "fp32");
    auto engine = build(*graph, precision, 4);
    ASSERT_TRUE(engine);
    std::vector<HostTensor> replay, steps;
    ASSERT_TRUE(engine->infer_with(in, true, &replay).ok());
    ASSERT_TRUE(engine->infer_with(in, false, &steps).ok());
    EXPECT_EQ(std::memcmp(replay[0].raw(), steps[0].raw(), steps[0].nbytes()), 0);

    // Batch 3 runs the kernels timed at batch 4, image 0 alone those timed at batch 1 (other
    // tiles, split-K, FFMA or 3xTF32 for fp32): each gives the reference's outputs within the
    // precision's contract (fp32: relative error < 1e-4; fp16: |probability difference| < 5e-3).
    std::vector<HostTensor> single;
    ASSERT_TRUE(engine->infer({one}, &single).ok());
    const gputest::Diff batch3 = gputest::compare(steps[0], (*ref)[0]);
    const gputest::Diff alone = gputest::compare(single[0], ref_row);
    EXPECT_TRUE(batch3.finite && alone.finite);
    if (precision == Precision::kFp32) {
      EXPECT_LT(batch3.rel_l2, 1e-4) << "max |diff| " << batch3.max_abs;
      EXPECT_LT(alone.rel_l2, 1e-4) << "max |diff| " << alone.max_abs;
    } else {
      EXPECT_LT(batch3.max_abs, 5e-3);
      EXPECT_LT(alone.max_abs, 5e-3);
    }
    std::printf("DenseNet-121 %s against the reference: batch 3 rel L2 %.3g, image 0 alone rel L2 %.3g\n",
                precision == Precision::kFp16 ? "fp16" : "fp32", batch3.rel_l2, alone.rel_l2);
  }
}

TEST(CudaDenseNet, ConcurrentContextsShareWeights) {
  CHEXRT_SKIP_WITHOUT_GPU();
  auto graph = optimized_densenet(2);
  ASSERT_TRUE(graph.ok());
  auto engine = build(*graph, Precision::kFp16, 2);
  ASSERT_TRUE(engine);
  const auto in = images(2, 13);
  std::vector<HostTensor> expected;
  ASSERT_TRUE(engine->infer(in, &expected).ok());
  constexpr int kThreads = 3;
  std::vector<int> mismatches(kThreads, 0), failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::vector<HostTensor> out;
        if (!engine->infer(in, &out).ok()) {
          ++failures[t];
          continue;
        }
        if (std::memcmp(out[0].raw(), expected[0].raw(), expected[0].nbytes()) != 0) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0);
    EXPECT_EQ(mismatches[t], 0);
  }
}

}  // namespace
}  // namespace chexrt::cuda
