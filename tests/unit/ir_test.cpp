#include <gtest/gtest.h>

#include "chexrt/network.h"
#include "ir/dump.h"
#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "ir/verifier.h"

namespace chexrt {
namespace {

HostTensor filled(Dims dims, float v) {
  HostTensor t(DataType::kFloat32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = v;
  return t;
}

TEST(NetworkDefinition, InfersConvAndPoolShapes) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 224, 224});
  Tensor c = net.add_convolution("conv0", x, filled({64, 3, 7, 7}, 0.1f), {}, {{7, 7}, {2, 2}, {}, {3, 3, 3, 3}});
  Tensor p = net.add_pooling("pool0", c, PoolType::kMax, {{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}});
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  EXPECT_EQ(net.tensor_dims(c), (Dims{2, 64, 112, 112}));
  EXPECT_EQ(net.tensor_dims(p), (Dims{2, 64, 56, 56}));
  net.mark_output(p, "y");
  EXPECT_TRUE(ir::verify(net.graph()).ok());
  EXPECT_NE(ir::dump(net.graph()).find("Conv("), std::string::npos);
  EXPECT_EQ(ir::summarize(net.graph()).flops, 2LL * 2 * 64 * 112 * 112 * 3 * 7 * 7);
}

TEST(NetworkDefinition, ErrorNamesTheLayer) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 8, 8});
  net.add_convolution("bad_conv", x, filled({4, 5, 3, 3}, 1.f), {}, {{3, 3}});
  ASSERT_FALSE(net.status().ok());
  EXPECT_NE(net.status().message().find("bad_conv"), std::string::npos) << net.status().message();
  EXPECT_FALSE(net.add_activation("after", x, Activation::kRelu).valid());
}

TEST(ShapeInference, SameUpperPadsAndCeilMode) {
  EXPECT_EQ(ir::window_output_size(4, 3, 2, 1, 0, 0, true), 2);
  EXPECT_EQ(ir::window_output_size(4, 3, 2, 1, 0, 0, false), 1);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 1, 5, 5});
  WindowParams w{{2, 2}, {1, 1}, {}, {}, "SAME_LOWER"};
  Tensor p = net.add_pooling("p", x, PoolType::kAverage, {w});
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  EXPECT_EQ(net.tensor_dims(p), (Dims{1, 1, 5, 5}));
  const auto& node = net.graph().node(0);
  EXPECT_EQ(node.attrs.get_ints("pads"), (std::vector<int64_t>{1, 1, 0, 0}));
}

TEST(ShapeInference, ReshapeAndBroadcast) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 4});
  Tensor r = net.add_reshape("r", x, {0, -1});
  Tensor y = net.add_input("y", DataType::kFloat32, {3, 1});
  Tensor z = net.add_input("z", DataType::kFloat32, {2, 1, 4});
  Tensor s = net.add_elementwise("s", z, y, ElementwiseOp::kAdd);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  EXPECT_EQ(net.tensor_dims(r), (Dims{2, 12}));
  EXPECT_EQ(net.tensor_dims(s), (Dims{2, 3, 4}));
}

TEST(Graph, RemoveNodesRenumbersValues) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4});
  Tensor a = net.add_activation("a", x, Activation::kRelu);
  Tensor b = net.add_activation("b", a, Activation::kSigmoid);
  net.mark_output(b, "out");
  ir::Graph& g = net.graph();
  // Bypass node a: b reads x directly, then a is dead.
  g.replace_uses(a.id, x.id);
  g.remove_nodes({true, false});
  ASSERT_TRUE(ir::verify(g).ok()) << ir::verify(g).to_string();
  EXPECT_EQ(g.num_nodes(), 1);
  EXPECT_EQ(g.value(g.node(0).inputs[0]).name, "x");
  EXPECT_EQ(g.find_value("a"), -1);
}

TEST(Tensor, HalfRoundTrip) {
  for (float f : {0.f, 1.f, -2.5f, 65504.f, 6.1e-5f, 1e-7f, 0.333333f}) {
    const float back = half_to_float(float_to_half(f));
    EXPECT_NEAR(back, f, std::abs(f) * 1e-3 + 1e-7) << f;
  }
}

}  // namespace
}  // namespace chexrt
