// Element types beyond float32: the ops that take float64 give float32's results (checked by hand
// elsewhere) in double, and supports() refuses, with a reason, what the kernels do not handle.
#include <cmath>

#include "backends/reference/reference_kernels.h"
#include "ir/graph.h"
#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

HostTensor to_f64(const HostTensor& t) {
  HostTensor d(DataType::kFloat64, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) d.data<double>()[i] = t.data<float>()[i];
  return d;
}

void expect_same_in_f64(const std::string& op, const std::vector<HostTensor>& inputs, const std::vector<A>& attrs) {
  std::vector<OpInput> f32_in, f64_in;
  for (const HostTensor& t : inputs) {
    f32_in.emplace_back(t);
    f64_in.emplace_back(to_f64(t));
  }
  const std::vector<HostTensor> a = run_op_ok(op, f32_in, attrs);
  const std::vector<HostTensor> b = run_op_ok(op, f64_in, attrs);
  ASSERT_EQ(b[0].dtype(), DataType::kFloat64) << op;
  expect_tensor_near(b[0], a[0].dims(), a[0].to_doubles(), 1e-6, 1e-6);
}

TEST(ReferenceDtypes, Float64GivesFloat32Results) {
  const HostTensor x = random_uniform({2, 3, 4, 4}, 21);
  expect_same_in_f64("Add", {x, random_uniform({4}, 22)}, {});
  expect_same_in_f64("Div", {x, random_uniform({3, 1, 1}, 23, 1.0f, 2.0f)}, {});
  expect_same_in_f64("Relu", {x}, {});
  expect_same_in_f64("Sigmoid", {x}, {});
  expect_same_in_f64("Exp", {x}, {});
  expect_same_in_f64("Softmax", {x}, {A::integer("axis", 1)});
  expect_same_in_f64("ReduceSum", {x}, {A::integers("axes", {2, 3})});
  expect_same_in_f64("ReduceMax", {x}, {A::integers("axes", {1})});
  expect_same_in_f64("MaxPool", {x}, {A::integers("kernel_shape", {3, 3}), A::integers("pads", {1, 1, 1, 1})});
  expect_same_in_f64("AveragePool", {x}, {A::integers("kernel_shape", {2, 2}), A::integers("strides", {2, 2})});
}

TEST(ReferenceDtypes, MaxPoolOnSignedIntegers) {
  const HostTensor x = make_tensor<int8_t>(DataType::kInt8, {1, 1, 2, 2}, {-128, -5, -7, -100});
  auto out = run_op_ok("MaxPool", {x}, {A::integers("kernel_shape", {2, 2}), A::integers("pads", {0, 0, 1, 1})});
  EXPECT_EQ(values_of<int8_t>(out[0]), (std::vector<int8_t>{-5, -5, -7, -100}));
}

TEST(ReferenceDtypes, SupportsGivesAReason) {
  ir::Graph g;
  const int x = g.add_input("x", DataType::kFloat64, {1, 1, 2, 2}).value();
  const int w = g.add_constant("w", HostTensor(DataType::kFloat64, {1, 1, 1, 1})).value();
  const int conv = g.add_node(ir::OpType::kConv, "conv", {x, w}, {"y"}).value();
  std::string why;
  EXPECT_FALSE(reference::supports(g, g.node(conv), &why));
  EXPECT_NE(why.find("'conv'"), std::string::npos) << why;
  EXPECT_NE(why.find("f64"), std::string::npos) << why;

  const int h = g.add_input("h", DataType::kFloat16, {2}).value();
  const int sig = g.add_node(ir::OpType::kSigmoid, "sig", {h}, {"s"}).value();
  EXPECT_FALSE(reference::supports(g, g.node(sig), &why));
  const int id = g.add_node(ir::OpType::kIdentity, "id", {h}, {"i"}).value();
  EXPECT_TRUE(reference::supports(g, g.node(id), &why));
  const int cast = g.add_node(ir::OpType::kCast, "cast", {h}, {"c"}).value();
  EXPECT_TRUE(reference::supports(g, g.node(cast), &why));
}

}  // namespace
}  // namespace chexrt::test
