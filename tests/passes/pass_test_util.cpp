#include "pass_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "ir/dump.h"
#include "runtime/graph_executor.h"

namespace chexrt::test {

HostTensor random_tensor(const Dims& dims, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  HostTensor t(DataType::kFloat32, dims);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Tensor add_random_batch_norm(NetworkDefinition& net, const std::string& name, Tensor x, std::mt19937& rng) {
  const int64_t c = net.tensor_dims(x)[1];
  return net.add_batch_norm(name, x, random_tensor({c}, rng, 0.5f, 1.5f), random_tensor({c}, rng, -0.5f, 0.5f),
                            random_tensor({c}, rng, -0.5f, 0.5f), random_tensor({c}, rng, 0.5f, 2.0f), 1e-5f);
}

Tensor add_random_conv(NetworkDefinition& net, const std::string& name, Tensor x, int64_t out_channels, int64_t kernel,
                       int64_t stride, int64_t pad, bool bias, std::mt19937& rng, int64_t groups) {
  const int64_t in_channels = net.tensor_dims(x)[1] / groups;
  // He-style scale keeps activations of order one through a few layers.
  const float scale = std::sqrt(2.0f / static_cast<float>(in_channels * kernel * kernel));
  HostTensor w = random_tensor({out_channels, in_channels, kernel, kernel}, rng, -scale, scale);
  HostTensor b = bias ? random_tensor({out_channels}, rng, -0.5f, 0.5f) : HostTensor();
  WindowParams window{{kernel, kernel}, {stride, stride}, {}, {pad, pad, pad, pad}};
  return net.add_convolution(name, x, std::move(w), std::move(b), window, groups);
}

NetworkDefinition make_mini_densenet(uint32_t seed, int64_t batch, std::vector<int> block_layers) {
  constexpr int64_t kGrowth = 4;
  std::mt19937 rng(seed);
  NetworkDefinition net;
  Tensor x = net.add_input("image", DataType::kFloat32, {batch, 3, 32, 32});
  x = add_random_conv(net, "conv0", x, 8, 7, 2, 3, false, rng);
  x = add_random_batch_norm(net, "norm0", x, rng);
  x = net.add_activation("relu0", x, Activation::kRelu);
  x = net.add_pooling("pool0", x, PoolType::kMax, {{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}});
  for (size_t b = 0; b < block_layers.size(); ++b) {
    const std::string block = "block" + std::to_string(b + 1);
    std::vector<Tensor> features = {x};
    for (int l = 1; l <= block_layers[b]; ++l) {
      const std::string layer = block + ".layer" + std::to_string(l);
      Tensor h = net.add_concat(layer + ".cat", features, 1);
      h = add_random_batch_norm(net, layer + ".norm1", h, rng);
      h = net.add_activation(layer + ".relu1", h, Activation::kRelu);
      h = add_random_conv(net, layer + ".conv1", h, 4 * kGrowth, 1, 1, 0, false, rng);
      h = add_random_batch_norm(net, layer + ".norm2", h, rng);
      h = net.add_activation(layer + ".relu2", h, Activation::kRelu);
      h = add_random_conv(net, layer + ".conv2", h, kGrowth, 3, 1, 1, false, rng);
      features.push_back(h);
    }
    x = net.add_concat(block + ".cat", features, 1);
    if (b + 1 == block_layers.size()) break;
    const std::string transition = "transition" + std::to_string(b + 1);
    x = add_random_batch_norm(net, transition + ".norm", x, rng);
    x = net.add_activation(transition + ".relu", x, Activation::kRelu);
    x = add_random_conv(net, transition + ".conv", x, net.tensor_dims(x)[1] / 2, 1, 1, 0, false, rng);
    x = net.add_pooling(transition + ".pool", x, PoolType::kAverage, {{{2, 2}, {2, 2}, {}, {}}});
  }
  x = add_random_batch_norm(net, "norm5", x, rng);
  x = net.add_activation("relu5", x, Activation::kRelu);
  x = net.add_global_average_pool("gap", x);
  x = net.add_flatten("flatten", x, 1);
  x = net.add_layer("Identity", "dropout", {x}, {})[0];
  const int64_t features = net.tensor_dims(x)[1];
  x = net.add_fully_connected("classifier", x, random_tensor({3, features}, rng), random_tensor({3}, rng));
  x = net.add_activation("sigmoid", x, Activation::kSigmoid);
  net.mark_output(x, "probabilities");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  return net;
}

std::vector<HostTensor> random_inputs(const ir::Graph& graph, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<HostTensor> inputs;
  for (int in : graph.inputs()) inputs.push_back(random_tensor(graph.value(in).dims, rng));
  return inputs;
}

double relative_error(const HostTensor& a, const HostTensor& b) {
  const std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(x[i] - y[i]));
    max_ref = std::max(max_ref, std::abs(y[i]));
  }
  if (max_diff == 0.0) return 0.0;
  return max_ref == 0.0 ? INFINITY : max_diff / max_ref;
}

void expect_same_outputs(const ir::Graph& before, const ir::Graph& after, uint32_t seed, double tolerance) {
  const std::vector<HostTensor> inputs = random_inputs(before, seed);
  auto expected = runtime::run_reference(before, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  auto got = runtime::run_reference(after, inputs);
  ASSERT_TRUE(got.ok()) << got.status().to_string() << "\n" << ir::dump(after);
  ASSERT_EQ(got->size(), expected->size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i].dims(), (*expected)[i].dims()) << "output " << i;
    EXPECT_LT(relative_error((*got)[i], (*expected)[i]), tolerance) << "output " << i << "\n" << ir::dump(after);
  }
}

std::map<std::string, int> op_counts(const ir::Graph& graph) {
  std::map<std::string, int> counts;
  for (const ir::Node& node : graph.nodes()) counts[ir::op_name(node.op)]++;
  return counts;
}

std::vector<std::string> op_sequence(const ir::Graph& graph) {
  std::vector<std::string> ops;
  for (const ir::Node& node : graph.nodes()) ops.push_back(ir::op_name(node.op));
  return ops;
}

}  // namespace chexrt::test
