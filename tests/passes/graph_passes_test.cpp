// Each pass on a small hand-built graph: the structure it should leave, and the same outputs as
// before it ran (reference executor, relative error < 1e-5).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "ir/dump.h"
#include "ir/shape_inference.h"
#include "ir/verifier.h"
#include "pass_test_util.h"
#include "passes/pass_manager.h"

namespace chexrt {
namespace {

using test::add_random_batch_norm;
using test::add_random_conv;
using test::op_counts;
using test::op_sequence;
using test::random_tensor;
using Strings = std::vector<std::string>;

// Runs `pass` on a copy of the network's graph, checks it left a valid graph with the same
// outputs, and returns the copy.
template <class Pass>
ir::Graph run_pass(const NetworkDefinition& net, Pass pass, int expected_changes, Strings* log = nullptr) {
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  ir::Graph g = net.graph();
  Strings lines;
  auto changes = pass(g, &lines);
  EXPECT_TRUE(changes.ok()) << changes.status().to_string();
  if (changes.ok()) {
    EXPECT_EQ(*changes, expected_changes) << ir::dump(g);
  }
  EXPECT_EQ(lines.size(), static_cast<size_t>(expected_changes)) << "one log line per change";
  EXPECT_TRUE(ir::verify(g).ok()) << ir::verify(g).to_string();
  test::expect_same_outputs(net.graph(), g, 7);
  if (log != nullptr) *log = lines;
  return g;
}

// ---- fold_constants ----

TEST(FoldConstants, FoldsConstantChainsAndShape) {
  std::mt19937 rng(1);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 4});
  Tensor a = net.add_constant("a", random_tensor({2, 4}, rng));
  Tensor b = net.add_constant("b", random_tensor({2, 4}, rng));
  Tensor ab = net.add_elementwise("ab", a, b, ElementwiseOp::kAdd);
  Tensor abb = net.add_elementwise("abb", ab, b, ElementwiseOp::kMul);
  Tensor y = net.add_elementwise("y", x, abb, ElementwiseOp::kSub);
  Tensor shape = net.add_layer("Shape", "shape", {x}, {})[0];
  net.mark_output(y, "y");
  net.mark_output(shape, "x_shape");
  Strings log;
  ir::Graph g = run_pass(net, passes::fold_constants, 3, &log);
  EXPECT_EQ(op_sequence(g), Strings{"Sub"});
  const ir::Value& folded_shape = g.value(g.outputs()[1]);
  ASSERT_TRUE(folded_shape.is_constant());
  EXPECT_EQ(folded_shape.name, "x_shape");
  EXPECT_EQ(folded_shape.constant.to_int64s(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(log[0], "fold_constants: ab (Add)");
  // The constants only the folded nodes read are gone.
  EXPECT_EQ(g.find_value("a"), -1);
}

TEST(FoldConstants, LeavesNodesWithRuntimeInputs) {
  std::mt19937 rng(2);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 5, 5});
  Tensor y = add_random_conv(net, "conv", x, 4, 3, 1, 1, true, rng);
  net.mark_output(net.add_activation("relu", y, Activation::kRelu), "y");
  ir::Graph g = run_pass(net, passes::fold_constants, 0);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "Relu"}));
}

// ---- eliminate_dead_nodes ----

TEST(EliminateDeadNodes, BypassesIdentityAndRemovesUnusedBranches) {
  std::mt19937 rng(3);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 6, 6});
  Tensor c = add_random_conv(net, "conv", x, 4, 3, 1, 1, true, rng);
  Tensor id = net.add_layer("Identity", "dropout", {c}, {})[0];
  Tensor y = net.add_activation("relu", id, Activation::kRelu);
  Tensor unused = net.add_activation("unused_sigmoid", c, Activation::kSigmoid);
  net.add_global_average_pool("unused_pool", unused);
  net.mark_output(y, "y");
  ir::Graph g = run_pass(net, passes::eliminate_dead_nodes, 3);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "Relu"}));
  EXPECT_EQ(g.node(1).inputs[0], g.node(0).outputs[0]);
}

TEST(EliminateDeadNodes, IdentityOntoAGraphOutputKeepsTheOutputName) {
  std::mt19937 rng(4);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 6, 6});
  Tensor c = add_random_conv(net, "conv", x, 4, 3, 1, 1, true, rng);
  Tensor y = net.add_layer("Identity", "rename", {c}, {})[0];
  Tensor z = net.add_activation("relu", c, Activation::kRelu);
  net.mark_output(y, "y");
  net.mark_output(z, "z");
  // An Identity straight from a graph input to an output is the only way to produce it.
  Tensor copy = net.add_layer("Identity", "copy", {x}, {})[0];
  net.mark_output(copy, "x_copy");
  ir::Graph g = run_pass(net, passes::eliminate_dead_nodes, 1);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "Relu", "Identity"}));
  EXPECT_EQ(g.value(g.node(0).outputs[0]).name, "y");
  EXPECT_EQ(g.node(1).inputs[0], g.node(0).outputs[0]);
  EXPECT_EQ(g.value(g.outputs()[0]).name, "y");
}

// ---- flatten_concat ----

TEST(FlattenConcat, KerasChainBecomesOneConcatPerLayer) {
  // x1 = concat(x0, y1), x2 = concat(x1, y2): x2 reads x0, y1, y2; x1 stays for its other reader.
  std::mt19937 rng(11);
  NetworkDefinition net;
  Tensor x0 = net.add_input("x", DataType::kFloat32, {1, 3, 6, 6});
  Tensor y1 = add_random_conv(net, "conv1", x0, 2, 3, 1, 1, false, rng);
  Tensor x1 = net.add_concat("concat1", {x0, y1}, 1);
  Tensor y2 = add_random_conv(net, "conv2", x1, 2, 3, 1, 1, false, rng);
  Tensor x2 = net.add_concat("concat2", {x1, y2}, 1);
  Tensor y3 = add_random_conv(net, "conv3", x2, 2, 1, 1, 0, false, rng);
  Tensor x3 = net.add_concat("concat3", {x2, y3}, 1);
  net.mark_output(x3, "y");
  ir::Graph g = run_pass(net, passes::flatten_concat, 2);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "Concat", "Conv", "Concat", "Conv", "Concat"}));
  EXPECT_EQ(g.node(5).inputs.size(), 4u);
  EXPECT_EQ(g.node(3).inputs.size(), 3u);
  EXPECT_EQ(g.node(5).inputs[0], g.inputs()[0]);
}

TEST(FlattenConcat, LeavesOtherAxesAndFlatGraphs) {
  std::mt19937 rng(12);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 4, 4});
  Tensor a = net.add_concat("rows", {x, x}, 2);
  Tensor b = net.add_concat("channels", {a, a}, 1);
  net.mark_output(b, "y");
  ir::Graph g = run_pass(net, passes::flatten_concat, 0);
  EXPECT_EQ(op_sequence(g), (Strings{"Concat", "Concat"}));
  NetworkDefinition dense = test::make_mini_densenet(13);
  run_pass(dense, passes::flatten_concat, 0);  // torchvision's form has no nested Concats
}

// ---- fold_batchnorm ----

TEST(FoldBatchnorm, FoldsIntoConvWithAndWithoutBias) {
  for (bool bias : {true, false}) {
    std::mt19937 rng(5);
    NetworkDefinition net;
    Tensor x = net.add_input("x", DataType::kFloat32, {2, 4, 7, 7});
    Tensor c = add_random_conv(net, "conv0", x, 6, 3, 2, 1, bias, rng, /*groups=*/2);
    net.mark_output(add_random_batch_norm(net, "norm0", c, rng), "y");
    Strings log;
    ir::Graph g = run_pass(net, passes::fold_batchnorm, 1, &log);
    EXPECT_EQ(op_sequence(g), Strings{"Conv"});
    EXPECT_EQ(g.node(0).inputs.size(), 3u) << "the folded conv has a bias";
    EXPECT_EQ(g.value(g.node(0).outputs[0]).name, "y");
    EXPECT_EQ(log[0], "fold_batchnorm: conv0+norm0");
  }
}

TEST(FoldBatchnorm, FoldsChainsAndKeepsSharedWeightsIntact) {
  std::mt19937 rng(6);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 5, 5});
  Tensor w = net.add_constant("shared_w", random_tensor({4, 3, 1, 1}, rng));
  // Two convs read the same weight: folding one batch norm must not change the other conv.
  Tensor c1 = net.add_layer("Conv", "conv1", {x, w}, {})[0];
  Tensor c2 = net.add_layer("Conv", "conv2", {x, w}, {})[0];
  Tensor y1 = add_random_batch_norm(net, "bn1a", c1, rng);
  y1 = add_random_batch_norm(net, "bn1b", y1, rng);
  net.mark_output(y1, "y1");
  net.mark_output(add_random_batch_norm(net, "bn2", c2, rng), "y2");
  ir::Graph g = run_pass(net, passes::fold_batchnorm, 3);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "Conv"}));
  EXPECT_NE(g.node(0).inputs[1], g.node(1).inputs[1]);
}

TEST(FoldBatchnorm, OthersBecomeChannelAffine) {
  std::mt19937 rng(7);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 4, 5, 5});
  Tensor on_input = add_random_batch_norm(net, "bn_in", x, rng);
  Tensor c = add_random_conv(net, "conv", on_input, 4, 3, 1, 1, true, rng);
  // The conv's output has a second reader, so its batch norm cannot fold into it.
  Tensor bn = add_random_batch_norm(net, "bn_conv", c, rng);
  net.mark_output(bn, "y");
  net.mark_output(net.add_activation("relu", c, Activation::kRelu), "z");
  ir::Graph g = run_pass(net, passes::fold_batchnorm, 2);
  EXPECT_EQ(op_sequence(g), (Strings{"ChannelAffine", "Conv", "ChannelAffine", "Relu"}));
}

TEST(FoldBatchnorm, LeavesTrainingModeBatchNorm) {
  std::mt19937 rng(8);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 3, 3});
  Tensor c = add_random_conv(net, "conv", x, 2, 1, 1, 0, true, rng);
  std::vector<Tensor> params;
  for (const char* p : {"scale", "bias", "mean", "var"})
    params.push_back(net.add_constant(p, random_tensor({2}, rng, 0.5f, 1.0f)));
  Tensor y = net.add_layer("BatchNormalization", "bn_train", {c, params[0], params[1], params[2], params[3]},
                           {LayerAttribute::integer("training_mode", 1)})[0];
  net.mark_output(y, "y");
  ir::Graph g = net.graph();
  auto changes = passes::fold_batchnorm(g, nullptr);
  ASSERT_TRUE(changes.ok()) << changes.status().to_string();
  EXPECT_EQ(*changes, 0);
  EXPECT_EQ(op_sequence(g), (Strings{"Conv", "BatchNormalization"}));
}

// ---- fuse_activation ----

TEST(FuseActivation, FusesReluIntoConvAndChannelAffine) {
  std::mt19937 rng(9);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 4, 6, 6});
  Tensor h = add_random_batch_norm(net, "bn", x, rng);
  h = net.add_activation("relu_bn", h, Activation::kRelu);
  h = add_random_conv(net, "conv", h, 4, 3, 1, 1, true, rng);
  h = net.add_activation("relu_conv", h, Activation::kRelu);
  net.mark_output(h, "y");
  ir::Graph g = net.graph();
  ASSERT_TRUE(passes::fold_batchnorm(g, nullptr).ok());
  Strings log;
  auto changes = passes::fuse_activation(g, &log);
  ASSERT_TRUE(changes.ok()) << changes.status().to_string();
  EXPECT_EQ(*changes, 2);
  EXPECT_EQ(op_sequence(g), (Strings{"ChannelAffine", "Conv"}));
  EXPECT_EQ(g.node(0).attrs.get_string("activation", ""), "relu");
  EXPECT_EQ(g.node(1).attrs.get_string("activation", ""), "relu");
  EXPECT_EQ(log[1], "fuse_activation: conv+relu_conv");
  EXPECT_EQ(g.value(g.outputs()[0]).name, "y");
  test::expect_same_outputs(net.graph(), g, 11);
}

TEST(FuseActivation, LeavesSharedOutputsAndOtherActivations) {
  std::mt19937 rng(10);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 5, 5});
  Tensor c1 = add_random_conv(net, "conv1", x, 3, 3, 1, 1, true, rng);
  net.mark_output(net.add_activation("relu1", c1, Activation::kRelu), "a");
  net.mark_output(c1, "conv1_out");  // the pre-activation value is needed too
  Tensor c2 = add_random_conv(net, "conv2", x, 3, 3, 1, 1, true, rng);
  net.mark_output(net.add_activation("sigmoid2", c2, Activation::kSigmoid), "b");
  ir::Graph g = run_pass(net, passes::fuse_activation, 0);
  EXPECT_EQ(op_counts(g)["Relu"], 1);
}

// ---- fuse_classifier_head ----

TEST(FuseClassifierHead, FusesPoolFlattenGemmSigmoid) {
  std::mt19937 rng(11);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 8, 4, 4});
  Tensor h = net.add_global_average_pool("gap", x);
  h = net.add_flatten("flatten", h, 1);
  h = net.add_fully_connected("classifier", h, random_tensor({5, 8}, rng), random_tensor({5}, rng));
  net.mark_output(net.add_activation("sigmoid", h, Activation::kSigmoid), "probabilities");
  Strings log;
  ir::Graph g = run_pass(net, passes::fuse_classifier_head, 1, &log);
  ASSERT_EQ(op_sequence(g), Strings{"ClassifierHead"});
  EXPECT_EQ(g.node(0).name, "classifier");
  EXPECT_EQ(g.node(0).attrs.get_string("activation", "?"), "sigmoid");
  EXPECT_EQ(g.value(g.node(0).inputs[1]).name, "classifier.weight") << "weights in head form are kept as they are";
  EXPECT_EQ(g.value(g.outputs()[0]).name, "probabilities");
  EXPECT_EQ(log[0], "fuse_classifier_head: gap+flatten+classifier+sigmoid");
}

TEST(FuseClassifierHead, TransposesWeightsAndScalesAlphaBeta) {
  std::mt19937 rng(12);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {3, 6, 5, 5});
  Tensor h = net.add_global_average_pool("gap", x);
  h = net.add_reshape("to_rows", h, {0, -1});
  Tensor b = net.add_constant("B", random_tensor({6, 4}, rng));
  Tensor c = net.add_constant("C", random_tensor({1, 4}, rng));
  h = net.add_layer("Gemm", "fc", {h, b, c},
                    {LayerAttribute::real("alpha", 0.5f), LayerAttribute::real("beta", 2.0f),
                     LayerAttribute::integer("transB", 0)})[0];
  net.mark_output(h, "logits");
  ir::Graph g = run_pass(net, passes::fuse_classifier_head, 1);
  ASSERT_EQ(op_sequence(g), Strings{"ClassifierHead"});
  EXPECT_EQ(g.node(0).attrs.get_string("activation", "?"), "");
  EXPECT_EQ(g.value(g.node(0).inputs[1]).dims, (Dims{4, 6}));
}

TEST(FuseClassifierHead, NeedsEachIntermediateToHaveOneReader) {
  std::mt19937 rng(13);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 8, 2, 2});
  Tensor pooled = net.add_flatten("flatten", net.add_global_average_pool("gap", x), 1);
  net.mark_output(net.add_fully_connected("fc", pooled, random_tensor({2, 8}, rng), {}), "y");
  net.mark_output(pooled, "features");
  ir::Graph g = run_pass(net, passes::fuse_classifier_head, 0);
  EXPECT_EQ(op_counts(g)["Gemm"], 1);
}

// ---- pool_before_conv ----

TEST(PoolBeforeConv, SwapsPointwiseConvAndTilingPool) {
  for (int64_t size : {8, 7}) {  // 7: the floor drops the last row and column in both orders
    std::mt19937 rng(14);
    NetworkDefinition net;
    Tensor x = net.add_input("x", DataType::kFloat32, {2, 12, size, size});
    Tensor c = add_random_conv(net, "transition.conv", x, 6, 1, 1, 0, true, rng);
    net.mark_output(net.add_pooling("transition.pool", c, PoolType::kAverage, {{{2, 2}, {2, 2}, {}, {}}}), "y");
    const int64_t flops_before = ir::summarize(net.graph()).flops;
    Strings log;
    ir::Graph g = run_pass(net, passes::pool_before_conv, 1, &log);
    EXPECT_EQ(op_sequence(g), (Strings{"AveragePool", "Conv"}));
    EXPECT_EQ(g.node(0).name, "transition.pool");
    EXPECT_EQ(g.node(1).name, "transition.conv");
    EXPECT_EQ(g.value(g.node(0).outputs[0]).dims, (Dims{2, 12, size / 2, size / 2}));
    // Only the conv has FLOPs, and it now runs on (size/2)^2 pixels instead of size^2.
    EXPECT_EQ(ir::summarize(g).flops * size * size, flops_before * (size / 2) * (size / 2));
    EXPECT_EQ(log[0], "pool_before_conv: transition.pool before transition.conv");
  }
}

TEST(PoolBeforeConv, LeavesConvsAndPoolsThatDoNotCommute) {
  std::mt19937 rng(15);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 8, 8});
  auto pool = [&](const std::string& name, Tensor t, PoolParams p) {
    return net.add_pooling(name, t, PoolType::kAverage, p);
  };
  const PoolParams tiling{{{2, 2}, {2, 2}, {}, {}}};
  // A 3x3 conv mixes neighbouring pixels.
  net.mark_output(pool("p1", add_random_conv(net, "conv3x3", x, 4, 3, 1, 1, true, rng), tiling), "a");
  // Overlapping windows, padded windows: the pool is not a plain mean of disjoint tiles.
  net.mark_output(pool("p2", add_random_conv(net, "conv_b", x, 4, 1, 1, 0, true, rng), {{{3, 3}, {2, 2}, {}, {}}}),
                  "b");
  net.mark_output(pool("p3", add_random_conv(net, "conv_c", x, 4, 1, 1, 0, true, rng),
                       {{{2, 2}, {2, 2}, {}, {1, 1, 1, 1}}, false, true}),
                  "c");
  // A strided 1x1 conv samples pixels that the pool would average.
  net.mark_output(pool("p4", add_random_conv(net, "conv_d", x, 4, 1, 2, 0, true, rng), tiling), "d");
  ir::Graph g = run_pass(net, passes::pool_before_conv, 0);
  // A conv with a fused ReLU: ReLU does not commute with the mean.
  NetworkDefinition relu_net;
  Tensor y = relu_net.add_input("y", DataType::kFloat32, {1, 4, 8, 8});
  Tensor r =
      relu_net.add_activation("relu", add_random_conv(relu_net, "conv", y, 4, 1, 1, 0, true, rng), Activation::kRelu);
  relu_net.mark_output(relu_net.add_pooling("pool", r, PoolType::kAverage, tiling), "out");
  ir::Graph fused = relu_net.graph();
  ASSERT_TRUE(passes::fuse_activation(fused, nullptr).ok());
  auto changes = passes::pool_before_conv(fused, nullptr);
  ASSERT_TRUE(changes.ok());
  EXPECT_EQ(*changes, 0);
}

// ---- the pipeline ----

TEST(Optimize, MiniDenseNet) {
  NetworkDefinition net = test::make_mini_densenet(21);
  ir::Graph g = net.graph();
  auto log = passes::optimize(g);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  test::expect_same_outputs(net.graph(), g, 3);

  auto before = op_counts(net.graph());
  auto after = op_counts(g);
  EXPECT_EQ(after["BatchNormalization"], 0);
  EXPECT_EQ(after["Relu"], 0);
  EXPECT_EQ(after["Identity"], 0);
  EXPECT_EQ(after["Sigmoid"], 0);
  EXPECT_EQ(after["Gemm"], 0);
  EXPECT_EQ(after["ClassifierHead"], 1);
  EXPECT_EQ(after["Conv"], before["Conv"]);
  EXPECT_EQ(after["Concat"], before["Concat"]);
  // Batch norms after a conv fold into it (the stem's, each layer's second); those after a
  // Concat (each layer's first, the transition's and norm5) become ChannelAffine.
  EXPECT_EQ(after["ChannelAffine"], 5 + 1 + 1);
  for (const ir::Node& node : g.nodes()) {
    if (node.op == ir::OpType::kChannelAffine) {
      EXPECT_EQ(node.attrs.get_string("activation", ""), "relu");
    }
  }
  // The transition pools first, then convolves; its output keeps the pool's name.
  const int transition = g.find_value("transition1.pool");
  ASSERT_GE(transition, 0);
  const ir::Node& conv = g.node(g.value(transition).producer);
  EXPECT_EQ(conv.op, ir::OpType::kConv);
  EXPECT_EQ(g.node(g.value(conv.inputs[0]).producer).op, ir::OpType::kAveragePool);
  EXPECT_NE(std::find(log->begin(), log->end(), "fold_batchnorm: conv0+norm0"), log->end());
  EXPECT_EQ(g.value(g.outputs()[0]).name, "probabilities");
}

TEST(Optimize, DisabledPassesAndUnknownNames) {
  NetworkDefinition net = test::make_mini_densenet(22, 1, {2});
  ir::Graph g = net.graph();
  passes::PassOptions options;
  options.disabled = {"fuse_classifier_head", "fuse_activation"};
  ASSERT_TRUE(passes::optimize(g, options).ok());
  EXPECT_EQ(op_counts(g)["ClassifierHead"], 0);
  EXPECT_GT(op_counts(g)["Relu"], 0);
  test::expect_same_outputs(net.graph(), g, 4);

  options.disabled = {"fold_everything"};
  auto bad = passes::optimize(g, options);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("fold_everything"), std::string::npos);
}

TEST(Optimize, EnvironmentDisablesPasses) {
  NetworkDefinition net = test::make_mini_densenet(23, 1, {2});
  ir::Graph g = net.graph();
  ASSERT_EQ(setenv("CHEXRT_DISABLE_PASSES", "pool_before_conv,fold_batchnorm", 1), 0);
  auto log = passes::optimize(g);
  unsetenv("CHEXRT_DISABLE_PASSES");
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  EXPECT_EQ(op_counts(g)["BatchNormalization"], 1 + 2 * 2 + 1) << "norm0, two per layer, norm5";
  for (const std::string& line : *log) {
    EXPECT_EQ(line.rfind("fold_batchnorm", 0), std::string::npos) << line;
  }
  test::expect_same_outputs(net.graph(), g, 5);
}

}  // namespace
}  // namespace chexrt
