#include "fake_engine.h"

#include <random>

namespace chexrt::server::testing {

NetworkDefinition tiny_chexnet(int64_t max_batch) {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 0.5f);
  auto random = [&](Dims dims) {
    HostTensor t(chexrt::DataType::kFloat32, std::move(dims));
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    return t;
  };
  NetworkDefinition net;
  Tensor x = net.add_input("image", chexrt::DataType::kFloat32, {max_batch, 3, 224, 224});
  WindowParams window;
  window.kernel = {8, 8};
  window.strides = {8, 8};
  Tensor conv = net.add_convolution("conv", x, random({8, 3, 8, 8}), random({8}), window);
  Tensor features = net.add_activation("relu", conv, Activation::kRelu);
  Tensor pooled = net.add_flatten("flatten", net.add_global_average_pool("gap", features));
  Tensor logits = net.add_fully_connected("fc", pooled, random({14, 8}), random({14}));
  net.mark_output(net.add_activation("sigmoid", logits, Activation::kSigmoid), "probabilities");
  return net;
}

}  // namespace chexrt::server::testing
