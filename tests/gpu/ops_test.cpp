// Every CUDA kernel (each tactic the GPU offers) against the reference kernels, on DenseNet-121's
// real shapes, in FP32 and FP16.
//
// Tolerances (relative L2 error against the float64 reference):
//  - FP32: 1e-5. Products are exact in fp32 FMA, sums of up to 1152 terms round to ~1e-7.
//  - FP16: 2e-3. Inputs, weights and outputs are each rounded to fp16 (at most 2^-11 = 4.9e-4
//    relative, ~2.8e-4 RMS), the fused prologue rounds twice more in fp16 arithmetic; sums are
//    fp32. The combination stays under 1e-3 RMS; a wrong index or tile gives errors of order 1.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "backends/cuda/cuda_engine.h"
#include "gpu_test_util.h"
#include "runtime/graph_executor.h"

namespace chexrt::cuda {
namespace {

using gputest::LayerMaker;

struct OpCase {
  std::string name;
  int64_t batch;
  std::function<void(NetworkDefinition&, LayerMaker&, int64_t)> build;
};

// One DenseNet layer (BN + ReLU, 1x1 to 128 channels, 3x3 to 32) on a channels x size x size input,
// inside its block as in the network: a kernel writes the block's first channels, the layer
// writes its 32 into the block's buffer (an in-place Concat). So the one-kernel dense layer
// (kernels/dense_layer_cluster.cu) is offered where its shape fits.
OpCase dense_layer_case(std::string name, int64_t batch, int64_t channels, int64_t size) {
  return {std::move(name), batch, [channels, size](NetworkDefinition& net, LayerMaker& m, int64_t n) {
            Tensor input = net.add_input("x", DataType::kFloat32, {n, channels, size, size});
            Tensor x = net.add_activation("block_input", input, Activation::kRelu);
            Tensor h = m.conv("conv1", m.affine("norm1", x, true), 128, 1, 1, 0, true, true);
            Tensor y = m.conv("conv2", h, 32, 3, 1, 1, false, false);
            net.mark_output(net.add_concat("block", {x, y}, 1), "y");
          }};
}

std::vector<OpCase> op_cases() {
  return {
      {"stem_conv7x7s2_maxpool", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("image", DataType::kFloat32, {n, 3, 224, 224});
         Tensor y = m.conv("conv0", x, 64, 7, 2, 3, true, true);
         net.mark_output(m.pool("pool0", y, true, 3, 2, 1), "y");
       }},
      // A smaller, non-square stem: the one-kernel stem and pool (kernels/stem_pool_wgmma.cu)
      // in bands of 24, 12, 6, 8, 4, 2 and 1 pooled rows, so that bands start inside the image.
      {"stem_maxpool_96x80", 3,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("image", DataType::kFloat32, {n, 3, 96, 80});
         Tensor y = m.conv("conv0", x, 64, 7, 2, 3, true, true);
         net.mark_output(m.pool("pool0", y, true, 3, 2, 1), "y");
       }},
      {"stem_odd_size_space_to_depth", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("image", DataType::kFloat32, {n, 3, 31, 37});
         net.mark_output(m.conv("conv0", x, 64, 7, 2, 3, true, true), "y");
       }},
      {"dense_block1_two_layers", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) { gputest::add_two_dense_layers(net, m, n); }},
      dense_layer_case("dense_layer_block4_7x7", 3, 512, 7),
      dense_layer_case("dense_layer_block2_28x28", 2, 160, 28),
      dense_layer_case("dense_layer_block3_14x14", 2, 288, 14),
      // Shapes the one-kernel dense layer (kernels/dense_layer_cluster.cu) takes: batch 1 at
      // 14x14 with the most input channels of block 3, batch 4 at 7x7, and an input of fewer
      // 16-channel chunks than the cluster has CTAs (some CTAs add nothing in phase 1).
      dense_layer_case("dense_layer_block3_14x14_batch1", 1, 992, 14),
      dense_layer_case("dense_layer_block4_7x7_batch4", 4, 1008, 7),
      dense_layer_case("dense_layer_narrow_input", 1, 144, 14),
      {"transition1_pool_before_conv", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("x", DataType::kFloat32, {n, 256, 56, 56});
         Tensor p = m.pool("pool", m.affine("norm", x, true), false, 2, 2, 0);
         net.mark_output(m.conv("conv", p, 128, 1, 1, 0, false, false), "y");
       }},
      {"classifier_head", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("x", DataType::kFloat32, {n, 1024, 7, 7});
         net.mark_output(m.head("head", m.affine("norm5", x, true), 14), "probabilities");
       }},
      {"unfused_ops", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("x", DataType::kFloat32, {n, 40, 9, 9});
         Tensor a = m.affine("affine", x, false);
         net.mark_output(a, "affine");
         Tensor r = net.add_activation("relu", a, Activation::kRelu);
         Tensor p = m.pool("avgpool", r, false, 3, 1, 1, true);
         Tensor g = net.add_flatten("flatten", net.add_global_average_pool("gap", p), 1);
         Tensor f = net.add_fully_connected("fc", g, gputest::random_normal({14, 40}, m.rng(), 0.3f),
                                            gputest::random_uniform({14}, m.rng(), -0.5f, 0.5f));
         net.mark_output(net.add_activation("sigmoid", f, Activation::kSigmoid), "probabilities");
       }},
      {"odd_channels", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor x = net.add_input("x", DataType::kFloat32, {n, 3, 10, 10});
         Tensor p = m.pool("pool", m.conv("conv", x, 6, 3, 1, 1, true, true), true, 2, 2, 0);
         Tensor r = net.add_activation("relu", p, Activation::kRelu);
         net.mark_output(net.add_concat("concat", {p, r}, 1), "y");
       }},
      {"concat_of_inputs", 2,
       [](NetworkDefinition& net, LayerMaker& m, int64_t n) {
         Tensor a = net.add_input("a", DataType::kFloat32, {n, 16, 5, 5});
         Tensor b = net.add_input("b", DataType::kFloat32, {n, 8, 5, 5});
         Tensor c = net.add_concat("concat", {a, b}, 1);
         net.mark_output(net.add_activation("relu", c, Activation::kRelu), "y");
       }},
  };
}

struct OpParam {
  size_t case_index;
  Precision precision;
};

std::string param_name(const testing::TestParamInfo<OpParam>& info) {
  return op_cases()[info.param.case_index].name + (info.param.precision == Precision::kFp16 ? "_fp16" : "_fp32");
}

class CudaOps : public testing::TestWithParam<OpParam> {};

TEST_P(CudaOps, EveryTacticMatchesReference) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const OpCase c = op_cases()[GetParam().case_index];
  const Precision precision = GetParam().precision;
  const double tolerance = precision == Precision::kFp16 ? 2e-3 : 1e-5;
  NetworkDefinition net;
  LayerMaker maker(net, 17);
  c.build(net, maker, c.batch);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  const ir::Graph& graph = net.graph();

  std::mt19937 rng(23);
  std::vector<HostTensor> inputs;
  for (int v : graph.inputs()) inputs.push_back(gputest::random_normal(graph.value(v).dims, rng));
  auto reference = runtime::run_reference(graph, inputs);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  BuildOptions options = gputest::cuda_options(precision, c.batch);
  options.min_batch = c.batch;  // one profile: the tactics listed are those of this batch
  auto tactics = CudaEngine::candidate_tactics(graph, options);
  ASSERT_TRUE(tactics.ok()) << tactics.status().to_string();

  // One build per tactic of each node; the other nodes keep their first tactic.
  std::vector<std::string> base(graph.num_nodes());
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (!(*tactics)[n].empty()) base[n] = (*tactics)[n][0];
  }
  std::vector<std::vector<std::string>> runs = {base};
  for (int n = 0; n < graph.num_nodes(); ++n) {
    for (size_t t = 1; t < (*tactics)[n].size(); ++t) {
      runs.push_back(base);
      runs.back()[n] = (*tactics)[n][t];
    }
  }
  for (const auto& run : runs) {
    CudaBuildSettings settings;
    settings.tactics = run;
    auto engine = CudaEngine::build(graph, options, settings);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    std::string kernels;
    for (const auto& k : run) kernels += k.empty() ? "" : k + " ";
    std::vector<HostTensor> outputs;
    const Status s = (*engine)->infer_with(inputs, false, &outputs);
    ASSERT_TRUE(s.ok()) << s.to_string() << " with " << kernels;
    ASSERT_EQ(outputs.size(), reference->size());
    for (size_t o = 0; o < outputs.size(); ++o) {
      ASSERT_EQ(outputs[o].dims(), (*reference)[o].dims());
      const gputest::Diff d = gputest::compare(outputs[o], (*reference)[o]);
      EXPECT_TRUE(d.finite) << kernels;
      EXPECT_LT(d.rel_l2, tolerance) << "output " << o << " max |diff| " << d.max_abs << " with " << kernels;
    }
  }
}

TEST_P(CudaOps, GraphReplayEqualsStepByStep) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const OpCase c = op_cases()[GetParam().case_index];
  NetworkDefinition net;
  LayerMaker maker(net, 29);
  c.build(net, maker, c.batch);
  ASSERT_TRUE(net.status().ok());
  const BuildOptions options = gputest::cuda_options(GetParam().precision, c.batch);
  auto engine = CudaEngine::build(net.graph(), options, {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::mt19937 rng(31);
  std::vector<HostTensor> inputs;
  for (int v : net.graph().inputs()) {
    Dims d = net.graph().value(v).dims;
    d[0] = c.batch > 1 ? c.batch - 1 : 1;  // a batch below the maximum
    inputs.push_back(gputest::random_normal(d, rng));
  }
  std::vector<HostTensor> with_graph, without;
  ASSERT_TRUE((*engine)->infer_with(inputs, true, &with_graph).ok());
  ASSERT_TRUE((*engine)->infer_with(inputs, false, &without).ok());
  ASSERT_EQ(with_graph.size(), without.size());
  for (size_t o = 0; o < without.size(); ++o) {
    ASSERT_EQ(with_graph[o].nbytes(), without[o].nbytes());
    EXPECT_EQ(std::memcmp(with_graph[o].raw(), without[o].raw(), without[o].nbytes()), 0) << "output " << o;
  }
}

// How many of node `node`'s candidate tactics in op case `c` at `precision` satisfy `wanted`;
// -1 (with a test failure) when the case does not build.
int offered_tactics(const OpCase& c, Precision precision, const std::string& node,
                    const std::function<bool(const std::string&)>& wanted) {
  NetworkDefinition net;
  LayerMaker maker(net, 17);
  c.build(net, maker, c.batch);
  if (!net.status().ok()) {
    ADD_FAILURE() << net.status().to_string();
    return -1;
  }
  auto tactics = CudaEngine::candidate_tactics(net.graph(), gputest::cuda_options(precision, c.batch));
  if (!tactics.ok()) {
    ADD_FAILURE() << tactics.status().to_string();
    return -1;
  }
  int offered = 0;
  for (int n = 0; n < net.graph().num_nodes(); ++n) {
    if (net.graph().node(n).name != node) continue;
    for (const std::string& t : (*tactics)[n]) offered += wanted(t);
  }
  return offered;
}

// Every dense-layer case offers the one-kernel dense layer in FP16 (else the test above would
// not run it).
TEST(CudaOps, OneKernelDenseLayerIsOfferedWhereItFits) {
  CHEXRT_SKIP_WITHOUT_GPU();
  CHEXRT_SKIP_WITHOUT_LARGE_CLUSTERS();
  for (const OpCase& c : op_cases()) {
    if (c.name.rfind("dense_layer_", 0) != 0) continue;
    SCOPED_TRACE(c.name);
    EXPECT_GT(offered_tactics(c, Precision::kFp16, "conv1",
                              [](const std::string& t) { return t.rfind("dense_layer_f16", 0) == 0; }),
              0);
  }
}

// The stem cases offer the one-kernel stem and max pool in FP16 on compute capability 9.0 (else
// EveryTacticMatchesReference would not run it).
TEST(CudaOps, OneKernelStemAndPoolIsOfferedOnHopper) {
  CHEXRT_SKIP_WITHOUT_GPU();
  CHEXRT_SKIP_WITHOUT_SM90();
  for (const OpCase& c : op_cases()) {
    if (c.name.rfind("stem_", 0) != 0 || c.name.find("maxpool") == std::string::npos) continue;
    SCOPED_TRACE(c.name);
    EXPECT_GE(
        offered_tactics(c, Precision::kFp16, "conv0",
                        [](const std::string& t) { return t.find("_maxpool3x3s2__wgmma_band") != std::string::npos; }),
        1);
  }
}

// DenseNet's transition (BN + ReLU, average pool, 1x1) as one kernel, a tactic of the pool's node
// (PoolConvStep) in fp16 only.
TEST(CudaOps, OneKernelTransitionIsOffered) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const auto fused = [](const std::string& t) { return t.find("_conv1x1__mma_resident_") != std::string::npos; };
  for (const OpCase& c : op_cases()) {
    if (c.name.rfind("transition", 0) != 0) continue;
    SCOPED_TRACE(c.name);
    EXPECT_GE(offered_tactics(c, Precision::kFp16, "pool", fused), 1);
    EXPECT_EQ(offered_tactics(c, Precision::kFp32, "pool", fused), 0);
  }
}

std::vector<OpParam> all_params() {
  std::vector<OpParam> p;
  for (size_t i = 0; i < op_cases().size(); ++i) {
    p.push_back({i, Precision::kFp32});
    p.push_back({i, Precision::kFp16});
  }
  return p;
}

INSTANTIATE_TEST_SUITE_P(DenseNetShapes, CudaOps, testing::ValuesIn(all_params()), param_name);

}  // namespace
}  // namespace chexrt::cuda
