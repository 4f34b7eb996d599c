// attach_cam_features: the last feature map becomes an output and the classifier's weights come
// back as [classes, channels], whichever way the Gemm stores them.
#include <gtest/gtest.h>

#include "app/cam_model.h"
#include "ir/graph.h"

namespace chexrt::app {
namespace {

HostTensor counting(Dims dims) {
  HostTensor t(DataType::kFloat32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

// x [1, 4, 3, 3] -> relu -> GlobalAveragePool -> Flatten -> Gemm to 2 classes.
NetworkDefinition head_network() {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 3, 3});
  Tensor features = net.add_activation("relu", x, Activation::kRelu);
  Tensor pooled = net.add_flatten("flatten", net.add_global_average_pool("gap", features));
  net.mark_output(net.add_fully_connected("fc", pooled, counting({2, 4}), HostTensor()), "logits");
  return net;
}

TEST(CamModel, ExposesFeaturesAndReturnsClassifierWeights) {
  NetworkDefinition net = head_network();
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  const Result<HostTensor> w = attach_cam_features(net);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  EXPECT_EQ(w->dims(), (Dims{2, 4}));
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(w->data<float>()[i], static_cast<float>(i));
  const ir::Graph& g = net.graph();
  ASSERT_EQ(g.outputs().size(), 2u);
  EXPECT_EQ(g.value(g.outputs()[1]).dims, (Dims{1, 4, 3, 3}));
}

TEST(CamModel, TransposesAGemmThatStoresChannelsFirst) {
  NetworkDefinition net = head_network();
  ASSERT_TRUE(net.status().ok());
  ir::Graph& g = net.graph();
  for (int n = 0; n < g.num_nodes(); ++n) {
    ir::Node& node = g.node(n);
    if (node.op != ir::OpType::kGemm) continue;
    node.attrs.set("transB", int64_t{0});
    ir::Value& weight = g.value(node.inputs[1]);
    weight.constant = counting({4, 2});  // [C, K]: element (c, k) = 2c + k
    weight.dims = {4, 2};
  }
  const Result<HostTensor> w = attach_cam_features(net);
  ASSERT_TRUE(w.ok()) << w.status().to_string();
  ASSERT_EQ(w->dims(), (Dims{2, 4}));
  for (int64_t k = 0; k < 2; ++k) {
    for (int64_t c = 0; c < 4; ++c) EXPECT_EQ(w->data<float>()[k * 4 + c], static_cast<float>(2 * c + k));
  }
}

TEST(CamModel, ModelWithoutTheHeadIsUnsupported) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 3, 3});
  net.mark_output(net.add_activation("relu", x, Activation::kRelu), "y");
  const Result<HostTensor> w = attach_cam_features(net);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace chexrt::app
