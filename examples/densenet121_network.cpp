#include "densenet121_network.h"

#include <vector>

namespace chexrt::examples {

namespace {

constexpr int kBlockLayers[] = {6, 12, 24, 16};
constexpr int64_t kNumFindings = 14;

class Builder {
 public:
  Builder(NetworkDefinition& net, const WeightLookup& weights) : net_(net), weights_(weights) {}

  Tensor batch_norm(const std::string& key, Tensor x) {
    return net_.add_batch_norm(key, x, weight(key + ".weight"), weight(key + ".bias"), weight(key + ".running_mean"),
                               weight(key + ".running_var"), 1e-5f);
  }
  Tensor relu(const std::string& name, Tensor x) { return net_.add_activation(name, x, Activation::kRelu); }
  Tensor conv(const std::string& key, Tensor x, int64_t kernel, int64_t stride, int64_t pad) {
    WindowParams w{{kernel, kernel}, {stride, stride}, {}, {pad, pad, pad, pad}};
    return net_.add_convolution(key, x, weight(key + ".weight"), {}, w);
  }

  // BN -> ReLU -> conv1x1 (to 128) -> BN -> ReLU -> conv3x3 (to 32): one new feature map.
  Tensor dense_layer(const std::string& key, Tensor x) {
    Tensor y = relu(key + ".relu1", batch_norm(key + ".norm1", x));
    y = conv(key + ".conv1", y, 1, 1, 0);
    y = relu(key + ".relu2", batch_norm(key + ".norm2", y));
    return conv(key + ".conv2", y, 3, 1, 1);
  }

  // Every layer sees the concatenation of the block input and all earlier layers' outputs.
  Tensor dense_block(const std::string& key, Tensor x, int layers) {
    std::vector<Tensor> features = {x};
    for (int i = 1; i <= layers; ++i) {
      const std::string layer = key + ".denselayer" + std::to_string(i);
      Tensor input = features.size() == 1 ? features[0] : net_.add_concat(layer + ".concat", features, 1);
      features.push_back(dense_layer(layer, input));
    }
    return net_.add_concat(key + ".concat", features, 1);
  }

  // BN -> ReLU -> conv1x1 (halves the channels) -> average pool 2x2.
  Tensor transition(const std::string& key, Tensor x) {
    Tensor y = conv(key + ".conv", relu(key + ".relu", batch_norm(key + ".norm", x)), 1, 1, 0);
    return net_.add_pooling(key + ".pool", y, PoolType::kAverage, {{{2, 2}, {2, 2}}});
  }

  HostTensor weight(const std::string& key) {
    auto w = weights_(key);
    if (!w.ok()) {
      if (status_.ok()) status_ = w.status().with_context("weight '" + key + "'");
      return HostTensor(DataType::kFloat32, {1});  // shape errors follow; status_ reports the cause
    }
    return *w;
  }
  const Status& status() const { return status_; }

 private:
  NetworkDefinition& net_;
  const WeightLookup& weights_;
  Status status_;
};

}  // namespace

Result<NetworkDefinition> build_densenet121_chexnet(const WeightLookup& weights, int64_t batch) {
  NetworkDefinition net;
  Builder b(net, weights);
  Tensor x = net.add_input("image", DataType::kFloat32, {batch, 3, 224, 224});
  x = b.relu("features.relu0", b.batch_norm("features.norm0", b.conv("features.conv0", x, 7, 2, 3)));
  x = net.add_pooling("features.pool0", x, PoolType::kMax, {{{3, 3}, {2, 2}, {}, {1, 1, 1, 1}}});
  for (int block = 0; block < 4; ++block) {
    const std::string n = std::to_string(block + 1);
    x = b.dense_block("features.denseblock" + n, x, kBlockLayers[block]);
    if (block < 3) x = b.transition("features.transition" + n, x);
  }
  x = b.relu("features.relu5", b.batch_norm("features.norm5", x));
  x = net.add_global_average_pool("avgpool", x);
  x = net.add_flatten("flatten", x, 1);
  x = net.add_fully_connected("classifier.0", x, b.weight("classifier.0.weight"), b.weight("classifier.0.bias"));
  x = net.add_activation("classifier.1", x, Activation::kSigmoid);
  net.mark_output(x, "probabilities");
  CHEXRT_RETURN_IF_ERROR(b.status());
  CHEXRT_RETURN_IF_ERROR(net.status());
  if (net.tensor_dims(x) != Dims{batch, kNumFindings}) return invalid_argument("classifier does not give 14 findings");
  return net;
}

}  // namespace chexrt::examples
