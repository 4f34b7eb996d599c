// runtime::run_reference: input checks, multi-node plumbing, constants, outputs that are also
// intermediates or graph inputs, and refusal of unsupported nodes before running.
#include "runtime/graph_executor.h"

#include "ir/graph.h"
#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

// x -> Relu -> r;  s = r + x;  t = s * c (constant);  outputs: t and r.
NetworkDefinition small_network() {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3});
  Tensor r = net.add_activation("relu", x, Activation::kRelu);
  Tensor s = net.add_elementwise("add", r, x, ElementwiseOp::kAdd);
  Tensor c = net.add_constant("c", f32({3}, {1, 10, 100}));
  Tensor t = net.add_elementwise("mul", s, c, ElementwiseOp::kMul);
  net.mark_output(t, "t");
  net.mark_output(r, "r");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  return net;
}

TEST(GraphExecutor, RunsNodesInOrderAndKeepsOutputsThatAreAlsoRead) {
  NetworkDefinition net = small_network();
  // x = [-1 2 3]: r = [0 2 3], s = [-1 4 6], t = [-1 40 600].
  auto out = runtime::run_reference(net.graph(), {f32({1, 3}, {-1, 2, 3})});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 2u);
  expect_tensor_near((*out)[0], {1, 3}, {-1, 40, 600});
  expect_tensor_near((*out)[1], {1, 3}, {0, 2, 3});
}

TEST(GraphExecutor, InputErrorsNameTheInput) {
  NetworkDefinition net = small_network();
  auto r = runtime::run_reference(net.graph(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("takes 1 inputs, got 0"), std::string::npos) << r.status().message();
  r = runtime::run_reference(net.graph(), {f32({3}, {1, 2, 3})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'x'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[1, 3]"), std::string::npos) << r.status().message();
  r = runtime::run_reference(net.graph(), {i64({1, 3}, {1, 2, 3})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'x' is i64"), std::string::npos) << r.status().message();
  r = runtime::run_reference(net.graph(), {HostTensor()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(GraphExecutor, InputAndConstantOutputsAreCopies) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2});
  Tensor c = net.add_constant("c", f32({1}, {5}));
  net.mark_output(x);
  net.mark_output(c);
  const HostTensor feed = f32({2}, {1, 2});
  auto out = runtime::run_reference(net.graph(), {feed});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  (*out)[0].data<float>()[0] = 42;
  (*out)[1].data<float>()[0] = 42;
  EXPECT_EQ(feed.data<float>()[0], 1.0f);
  EXPECT_EQ(net.graph().value(c.id).constant.data<float>()[0], 5.0f);
}

TEST(GraphExecutor, UnusedSecondOutputAndAbsentOptionalInput) {
  // MaxPool's Indices, produced and never read; Conv without its optional bias.
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 1, 2, 2});
  auto pool = net.add_layer("MaxPool", "pool", {x}, {A::integers("kernel_shape", {1, 1})}, 2);
  ASSERT_EQ(pool.size(), 2u);
  auto conv = net.add_layer("Conv", "conv", {pool[0], net.add_constant("w", f32({1, 1, 1, 1}, {2})), Tensor{}}, {});
  ASSERT_EQ(conv.size(), 1u);
  net.mark_output(conv[0]);
  auto out = runtime::run_reference(net.graph(), {f32({1, 1, 2, 2}, {1, 2, 3, 4})});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  expect_tensor_near((*out)[0], {1, 1, 2, 2}, {2, 4, 6, 8});
}

TEST(GraphExecutor, UnsupportedNodeIsRefusedBeforeRunning) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 1, 1});
  auto y = net.add_layer("ChannelAffine", "affine",
                         {x, net.add_constant("s", f32({2}, {1, 1})), net.add_constant("b", f32({2}, {0, 0}))},
                         {A::string("activation", "gelu")});
  ASSERT_EQ(y.size(), 1u);
  net.mark_output(y[0]);
  auto out = runtime::run_reference(net.graph(), {f32({1, 2, 1, 1}, {1, 2})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(out.status().message().find("'affine'"), std::string::npos) << out.status().message();
  EXPECT_NE(out.status().message().find("gelu"), std::string::npos) << out.status().message();
}

}  // namespace
}  // namespace chexrt::test
