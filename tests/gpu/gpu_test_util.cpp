#include "gpu_test_util.h"

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>

namespace chexrt::gputest {

bool have_gpu() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

bool have_large_clusters() {
  cudaDeviceProp prop{};
  return have_gpu() && cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major >= 9;
}

bool have_sm90() {
  cudaDeviceProp prop{};
  return have_gpu() && cudaGetDeviceProperties(&prop, 0) == cudaSuccess && prop.major == 9 && prop.minor == 0;
}

BuildOptions cuda_options(Precision precision, int64_t max_batch) {
  BuildOptions options;
  options.device = Device::kCuda;
  options.precision = precision;
  options.max_batch = max_batch;
  return options;
}

Diff compare(const HostTensor& a, const HostTensor& b) {
  Diff d;
  const std::vector<double> x = a.to_doubles(), y = b.to_doubles();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    if (!std::isfinite(x[i])) d.finite = false;
    num += (x[i] - y[i]) * (x[i] - y[i]);
    den += y[i] * y[i];
    d.max_abs = std::max(d.max_abs, std::abs(x[i] - y[i]));
  }
  d.rel_l2 = std::sqrt(num / std::max(den, 1e-300));
  if (x.size() != y.size()) d.finite = false;
  return d;
}

Tensor LayerMaker::affine(const std::string& name, Tensor x, bool relu) {
  const int64_t c = net_.tensor_dims(x)[1];
  Tensor scale = net_.add_constant(name + ".scale", random_uniform({c}, rng_, 0.5f, 1.5f));
  Tensor shift = net_.add_constant(name + ".shift", random_uniform({c}, rng_, -0.3f, 0.3f));
  std::vector<LayerAttribute> attrs;
  if (relu) attrs.push_back(LayerAttribute::string("activation", "relu"));
  return net_.add_layer("ChannelAffine", name, {x, scale, shift}, attrs)[0];
}

Tensor LayerMaker::conv(const std::string& name, Tensor x, int64_t out_channels, int64_t kernel, int64_t stride,
                        int64_t pad, bool bias, bool relu) {
  const int64_t c = net_.tensor_dims(x)[1];
  const float he = std::sqrt(2.f / static_cast<float>(c * kernel * kernel));
  std::vector<Tensor> inputs = {
      x, net_.add_constant(name + ".weight", random_normal({out_channels, c, kernel, kernel}, rng_, he))};
  if (bias) inputs.push_back(net_.add_constant(name + ".bias", random_uniform({out_channels}, rng_, -0.2f, 0.2f)));
  std::vector<LayerAttribute> attrs = {LayerAttribute::integers("kernel_shape", {kernel, kernel}),
                                       LayerAttribute::integers("strides", {stride, stride}),
                                       LayerAttribute::integers("pads", {pad, pad, pad, pad})};
  if (relu) attrs.push_back(LayerAttribute::string("activation", "relu"));
  return net_.add_layer("Conv", name, inputs, attrs)[0];
}

Tensor LayerMaker::pool(const std::string& name, Tensor x, bool max, int64_t kernel, int64_t stride, int64_t pad,
                        bool count_include_pad) {
  PoolParams p;
  p.window = {{kernel, kernel}, {stride, stride}, {}, {pad, pad, pad, pad}};
  p.count_include_pad = count_include_pad;
  return net_.add_pooling(name, x, max ? PoolType::kMax : PoolType::kAverage, p);
}

Tensor LayerMaker::head(const std::string& name, Tensor x, int64_t classes) {
  const int64_t c = net_.tensor_dims(x)[1];
  Tensor w = net_.add_constant(name + ".weight", random_normal({classes, c}, rng_, 2.f / std::sqrt(float(c))));
  Tensor b = net_.add_constant(name + ".bias", random_uniform({classes}, rng_, -0.5f, 0.5f));
  return net_.add_layer("ClassifierHead", name, {x, w, b}, {LayerAttribute::string("activation", "sigmoid")})[0];
}

void add_two_dense_layers(NetworkDefinition& net, LayerMaker& m, int64_t n) {
  Tensor x = net.add_input("x", DataType::kFloat32, {n, 64, 112, 112});
  Tensor x0 = m.pool("pool0", x, true, 3, 2, 1);
  std::vector<Tensor> features = {x0};
  for (int i = 1; i <= 2; ++i) {
    const std::string l = "layer" + std::to_string(i);
    Tensor in = features.size() == 1 ? x0 : net.add_concat(l + ".concat", features, 1);
    Tensor h = m.conv(l + ".conv1", m.affine(l + ".norm1", in, true), 128, 1, 1, 0, true, true);
    features.push_back(m.conv(l + ".conv2", h, 32, 3, 1, 1, false, false));
  }
  net.mark_output(net.add_concat("block.concat", features, 1), "y");
}

NetworkDefinition small_image_classifier(int64_t max_batch) {
  NetworkDefinition net;
  LayerMaker m(net, 5);
  Tensor x = net.add_input("image", DataType::kFloat32, {max_batch, 3, 32, 32});
  Tensor h = m.conv("conv", x, 16, 3, 1, 1, true, true);
  net.mark_output(m.head("head", h, 14), "probabilities");
  return net;
}

}  // namespace chexrt::gputest
