// ir::batchnorm_affine: the one place where a batch norm becomes scale and shift.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/batchnorm_affine.h"

namespace chexrt::ir {
namespace {

HostTensor vector_of(std::vector<float> values) {
  HostTensor t(DataType::kFloat32, {static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.data<float>()[i] = values[i];
  return t;
}

// x -> BatchNormalization(gamma, beta, mean, var) with two channels; `var` may be an input.
Graph batchnorm_graph(bool constant_var) {
  Graph g;
  const int x = g.add_input("x", DataType::kFloat32, {1, 2, 4, 4}).value();
  const int gamma = g.add_constant("gamma", vector_of({2.f, 0.5f})).value();
  const int beta = g.add_constant("beta", vector_of({1.f, -1.f})).value();
  const int mean = g.add_constant("mean", vector_of({0.25f, 3.f})).value();
  const int var = constant_var ? g.add_constant("var", vector_of({4.f, 0.01f})).value()
                               : g.add_input("var", DataType::kFloat32, {2}).value();
  Attributes attrs;
  attrs.set("epsilon", 1e-3f);
  EXPECT_TRUE(g.add_node(OpType::kBatchNormalization, "bn0", {x, gamma, beta, mean, var}, {"y"}, attrs).ok());
  return g;
}

TEST(BatchnormAffine, ScaleAndShift) {
  const Graph g = batchnorm_graph(true);
  const Result<ChannelAffineParams> a = batchnorm_affine(g, g.node(0));
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  const double eps = 1e-3f;
  const double s0 = 2.0 / std::sqrt(4.0 + eps), s1 = 0.5 / std::sqrt(0.01f + eps);
  ASSERT_EQ(a->scale.size(), 2u);
  EXPECT_DOUBLE_EQ(a->scale[0], s0);
  EXPECT_DOUBLE_EQ(a->scale[1], s1);
  EXPECT_DOUBLE_EQ(a->shift[0], 1.0 - 0.25 * s0);
  EXPECT_DOUBLE_EQ(a->shift[1], -1.0 - 3.0 * s1);
}

TEST(BatchnormAffine, NonConstantParameterNamesTheNode) {
  const Graph g = batchnorm_graph(false);
  const Result<ChannelAffineParams> a = batchnorm_affine(g, g.node(0));
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("'bn0'"), std::string::npos) << a.status().message();
}

}  // namespace
}  // namespace chexrt::ir
