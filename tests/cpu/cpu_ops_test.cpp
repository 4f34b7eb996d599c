// Every CPU kernel against the reference kernels, on the shapes DenseNet-121 runs them at, in
// float32 and (where the CPU has AVX-512 BF16) bfloat16, at batch 1 and at the engine's largest
// batch of 2 (two batch sizes in one engine: the primitives made per batch and the arena's
// prefix use). Graphs are built by hand in the form the graph passes give the backend
// (ChannelAffine, Conv with activation, ClassifierHead, DenseNet's Concats).
//
// Tolerances, relative to each output's range (cputest::range_relative_error):
//  - fp32 1e-5: the kernels sum in another order than the reference (which sums in double);
//    float32 rounding over DenseNet's longest sums (9 * 128 or 1024 terms) stays ~1e-6.
//  - bf16 2e-2: inputs and weights are rounded to 8 significant bits (relative error up to
//    2^-9 each), and so is the output: a few times 2^-8 on the largest outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "backends/backend.h"
#include "backends/cpu/cpu_engine.h"
#include "cpu_test_util.h"

namespace chexrt {
namespace {

using cputest::random_uniform;
using cputest::worst_error_vs_reference;

constexpr double kFp32Tolerance = 1e-5;
constexpr double kBf16Tolerance = 2e-2;
constexpr int64_t kMaxBatch = 2;

double tolerance(Precision p) { return p == Precision::kFp32 ? kFp32Tolerance : kBf16Tolerance; }

const char* tag(Precision p) { return p == Precision::kFp32 ? "fp32" : "bf16"; }

// Skips bf16 cases on CPUs without AVX-512 BF16, where the backend refuses them.
#define CHEXRT_SKIP_IF_NO_BF16(precision)                                               \
  if ((precision) == Precision::kBf16 && !cpu::has_native_bf16()) {                     \
    GTEST_SKIP() << "no AVX-512 BF16 on this CPU: the CPU backend does not offer bf16"; \
  }

// Weights uniform in +-sqrt(3 / fan_in): outputs keep the inputs' variance, as trained nets do.
HostTensor weights(const Dims& dims, uint32_t seed) {
  int64_t fan_in = 1;
  for (size_t i = 1; i < dims.size(); ++i) fan_in *= dims[i];
  const float a = std::sqrt(3.f / static_cast<float>(fan_in));
  return random_uniform(dims, seed, -a, a);
}

Tensor affine(NetworkDefinition& net, const std::string& name, Tensor x, int64_t c, bool relu, uint32_t seed) {
  const Tensor scale = net.add_constant(name + ".scale", random_uniform({c}, seed, 0.5f, 1.5f));
  const Tensor shift = net.add_constant(name + ".shift", random_uniform({c}, seed + 1, -0.3f, 0.3f));
  return net.add_layer("ChannelAffine", name, {x, scale, shift},
                       {LayerAttribute::string("activation", relu ? "relu" : "")})[0];
}

Tensor conv(NetworkDefinition& net, const std::string& name, Tensor x, int64_t cin, int64_t cout, int64_t k,
            int64_t stride, int64_t pad, bool bias, bool relu, uint32_t seed) {
  std::vector<Tensor> inputs = {x, net.add_constant(name + ".w", weights({cout, cin, k, k}, seed))};
  if (bias) inputs.push_back(net.add_constant(name + ".b", random_uniform({cout}, seed + 1, -0.1f, 0.1f)));
  std::vector<LayerAttribute> attrs = {LayerAttribute::integers("kernel_shape", {k, k}),
                                       LayerAttribute::integers("strides", {stride, stride}),
                                       LayerAttribute::integers("pads", {pad, pad, pad, pad})};
  if (relu) attrs.push_back(LayerAttribute::string("activation", "relu"));
  return net.add_layer("Conv", name, inputs, attrs)[0];
}

Tensor pool(NetworkDefinition& net, const std::string& op, const std::string& name, Tensor x, int64_t k, int64_t stride,
            int64_t pad, bool ceil_mode = false, bool count_include_pad = false) {
  std::vector<LayerAttribute> attrs = {
      LayerAttribute::integers("kernel_shape", {k, k}), LayerAttribute::integers("strides", {stride, stride}),
      LayerAttribute::integers("pads", {pad, pad, pad, pad}), LayerAttribute::integer("ceil_mode", ceil_mode)};
  if (op == "AveragePool") attrs.push_back(LayerAttribute::integer("count_include_pad", count_include_pad));
  return net.add_layer(op, name, {x}, attrs)[0];
}

// ---------------------------------------------------------------------------------------------
// Convolutions

struct ConvCase {
  const char* name;
  int64_t cin, hw, cout, k, stride, pad;
  bool bias, relu;
};

// conv0; the bottleneck 1x1 convs (BN2 folded: bias + ReLU) at the first and last input width
// of each block; the 3x3 growth convs; the transition 1x1 convs (after the pool, no bias).
const ConvCase kConvCases[] = {
    {"conv0_7x7s2_3to64_224", 3, 224, 64, 7, 2, 3, true, true},
    {"dense1x1_64to128_56", 64, 56, 128, 1, 1, 0, true, true},
    {"dense1x1_224to128_56", 224, 56, 128, 1, 1, 0, true, true},
    {"dense1x1_128to128_28", 128, 28, 128, 1, 1, 0, true, true},
    {"dense1x1_480to128_28", 480, 28, 128, 1, 1, 0, true, true},
    {"dense1x1_256to128_14", 256, 14, 128, 1, 1, 0, true, true},
    {"dense1x1_992to128_14", 992, 14, 128, 1, 1, 0, true, true},
    {"dense1x1_512to128_7", 512, 7, 128, 1, 1, 0, true, true},
    {"dense1x1_992to128_7", 992, 7, 128, 1, 1, 0, true, true},
    {"growth3x3_128to32_56", 128, 56, 32, 3, 1, 1, false, false},
    {"growth3x3_128to32_28", 128, 28, 32, 3, 1, 1, false, false},
    {"growth3x3_128to32_14", 128, 14, 32, 3, 1, 1, false, false},
    {"growth3x3_128to32_7", 128, 7, 32, 3, 1, 1, false, false},
    {"transition1x1_256to128_28", 256, 28, 128, 1, 1, 0, false, false},
    {"transition1x1_512to256_14", 512, 14, 256, 1, 1, 0, false, false},
    {"transition1x1_1024to512_7", 1024, 7, 512, 1, 1, 0, false, false},
};

class CpuConvTest : public ::testing::TestWithParam<std::tuple<ConvCase, Precision>> {};

TEST_P(CpuConvTest, MatchesReference) {
  const auto& [c, precision] = GetParam();
  CHEXRT_SKIP_IF_NO_BF16(precision);
  const ConvCase cc = c;
  const double error = worst_error_vs_reference(
      [cc](int64_t batch) {
        NetworkDefinition net;
        const Tensor x = net.add_input("x", DataType::kFloat32, {batch, cc.cin, cc.hw, cc.hw});
        net.mark_output(conv(net, "conv", x, cc.cin, cc.cout, cc.k, cc.stride, cc.pad, cc.bias, cc.relu, 11), "y");
        return net;
      },
      precision, kMaxBatch, {kMaxBatch, 1});
  EXPECT_LT(error, tolerance(precision));
}

INSTANTIATE_TEST_SUITE_P(DenseNet121, CpuConvTest,
                         ::testing::Combine(::testing::ValuesIn(kConvCases),
                                            ::testing::Values(Precision::kFp32, Precision::kBf16)),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param).name) + "_" + tag(std::get<1>(info.param));
                         });

// Winograd (float32 only) runs a bottleneck (affine + ReLU -> 1x1 conv -> 3x3 conv) in nChw16c
// on maps of 28x28 and up; CHEXRT_CPU_WINOGRAD=1 forces it on every size so that all four of
// DenseNet's are tested. Its transforms add rounding of their own, within the float32 tolerance.
TEST(CpuConvWinograd, BottlenecksMatchReference) {
  setenv("CHEXRT_CPU_WINOGRAD", "1", 1);
  for (const auto& [c, hw] : {std::pair{64, 56}, {256, 28}, {512, 14}, {992, 7}}) {
    std::string layers;
    const double error = worst_error_vs_reference(
        [c = c, hw = hw](int64_t batch) {
          NetworkDefinition net;
          const Tensor x = net.add_input("x", DataType::kFloat32, {batch, c, hw, hw});
          const Tensor a = affine(net, "norm1", x, c, true, 21);
          const Tensor b = conv(net, "conv1", a, c, 128, 1, 1, 0, true, true, 22);
          net.mark_output(conv(net, "conv2", b, 128, 32, 3, 1, 1, false, false, 23), "y");
          return net;
        },
        Precision::kFp32, kMaxBatch, {kMaxBatch, 1}, &layers);
    EXPECT_LT(error, kFp32Tolerance) << c << "x" << hw;
    EXPECT_NE(layers.find("channel_affine_relu_nhwc_to_nchw16c__cpu"), std::string::npos) << layers;
    EXPECT_NE(layers.find("conv2d_f32_nchw16c_bias_relu__onednn"), std::string::npos) << layers;
    EXPECT_NE(layers.find("wino"), std::string::npos) << layers;
  }
  unsetenv("CHEXRT_CPU_WINOGRAD");
}

// ---------------------------------------------------------------------------------------------
// Memory-bound kernels

class CpuKernelTest : public ::testing::TestWithParam<Precision> {
 protected:
  double run(const cputest::NetworkFactory& make) {
    return worst_error_vs_reference(make, GetParam(), kMaxBatch, {kMaxBatch, 1});
  }
};

TEST_P(CpuKernelTest, ChannelAffineReluBlockInput) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  for (const auto& [c, hw, relu] : {std::tuple{256, 56, true}, {1024, 7, true}, {96, 28, false}}) {
    const double error = run([c = c, hw = hw, relu = relu](int64_t batch) {
      NetworkDefinition net;
      const Tensor x = net.add_input("x", DataType::kFloat32, {batch, c, hw, hw});
      net.mark_output(affine(net, "norm", x, c, relu, 3), "y");
      return net;
    });
    EXPECT_LT(error, tolerance(GetParam())) << c << "x" << hw << "x" << hw;
  }
}

TEST_P(CpuKernelTest, MaxPoolStem) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  const double error = run([](int64_t batch) {
    NetworkDefinition net;
    const Tensor x = net.add_input("x", DataType::kFloat32, {batch, 64, 112, 112});
    net.mark_output(pool(net, "MaxPool", "pool0", x, 3, 2, 1), "y");
    return net;
  });
  EXPECT_LT(error, tolerance(GetParam()));
}

// A transition after pool_before_conv: BN + ReLU, then the 2x2 average pool (fused into one
// kernel), then the 1x1 conv.
TEST_P(CpuKernelTest, TransitionAffineReluAvgPoolConv) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  for (const auto& [c, hw] : {std::pair{256, 56}, {512, 28}, {1024, 14}}) {
    std::string layers;
    const double error = worst_error_vs_reference(
        [c = c, hw = hw](int64_t batch) {
          NetworkDefinition net;
          const Tensor x = net.add_input("x", DataType::kFloat32, {batch, c, hw, hw});
          const Tensor p = pool(net, "AveragePool", "pool", affine(net, "norm", x, c, true, 5), 2, 2, 0);
          net.mark_output(conv(net, "conv", p, c, c / 2, 1, 1, 0, false, false, 7), "y");
          return net;
        },
        GetParam(), kMaxBatch, {kMaxBatch, 1}, &layers);
    EXPECT_LT(error, tolerance(GetParam())) << c;
    EXPECT_NE(layers.find("norm  ChannelAffine  fused into pool"), std::string::npos) << layers;
    EXPECT_NE(layers.find("avgpool2d_affine_relu_nhwc__cpu"), std::string::npos) << layers;
  }
}

// Pool corners DenseNet does not use: padding counted or not, ceil_mode windows that run past the
// padded input, dilation, a fused affine without ReLU.
TEST_P(CpuKernelTest, PoolWindowsWithPaddingAndCeilMode) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  for (const bool include_pad : {false, true}) {
    for (const bool ceil_mode : {false, true}) {
      const double error = run([=](int64_t batch) {
        NetworkDefinition net;
        const Tensor x = net.add_input("x", DataType::kFloat32, {batch, 40, 15, 15});
        const Tensor a =
            pool(net, "AveragePool", "avg", affine(net, "norm", x, 40, false, 9), 3, 2, 1, ceil_mode, include_pad);
        net.mark_output(a, "avg");
        net.mark_output(pool(net, "MaxPool", "max", x, 3, 2, 1, ceil_mode), "max");
        net.mark_output(net.add_layer("MaxPool", "dilated", {x},
                                      {LayerAttribute::integers("kernel_shape", {2, 2}),
                                       LayerAttribute::integers("dilations", {2, 2}),
                                       LayerAttribute::integers("strides", {1, 1})})[0],
                        "dilated");
        return net;
      });
      EXPECT_LT(error, tolerance(GetParam())) << "count_include_pad " << include_pad << " ceil_mode " << ceil_mode;
    }
  }
}

TEST_P(CpuKernelTest, ClassifierHeadWithFusedNorm5) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  for (const bool with_norm : {true, false}) {
    for (const char* act : {"sigmoid", ""}) {
      const double error = run([=](int64_t batch) {
        NetworkDefinition net;
        const Tensor x = net.add_input("x", DataType::kFloat32, {batch, 1024, 7, 7});
        const Tensor in = with_norm ? affine(net, "norm5", x, 1024, true, 13) : x;
        const Tensor w = net.add_constant("fc.w", weights({14, 1024}, 17));
        const Tensor b = net.add_constant("fc.b", random_uniform({14}, 19, -0.1f, 0.1f));
        net.mark_output(
            net.add_layer("ClassifierHead", "head", {in, w, b}, {LayerAttribute::string("activation", act)})[0], "p");
        return net;
      });
      EXPECT_LT(error, tolerance(GetParam())) << "norm " << with_norm << " activation '" << act << "'";
    }
  }
}

// Unoptimized nodes the backend also runs: BatchNormalization and a standalone Relu.
TEST_P(CpuKernelTest, BatchNormAndRelu) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  const double error = run([](int64_t batch) {
    NetworkDefinition net;
    const Tensor x = net.add_input("x", DataType::kFloat32, {batch, 64, 56, 56});
    const Tensor bn = net.add_batch_norm("bn", x, random_uniform({64}, 1, 0.5f, 1.5f), random_uniform({64}, 2),
                                         random_uniform({64}, 3), random_uniform({64}, 4, 0.5f, 1.5f), 1e-5f);
    net.mark_output(net.add_activation("relu", bn, Activation::kRelu), "y");
    return net;
  });
  EXPECT_LT(error, tolerance(GetParam()));
}

// A dense block as ONNX exporters write it: every layer concatenates the block input with all
// earlier layers' outputs (a Concat of 1, 2, 3, ... inputs), BN + ReLU, 1x1 conv + ReLU, 3x3 conv;
// then the block's Concat feeds a transition. The concat plan puts all of it in one buffer.
NetworkDefinition dense_block(int64_t batch, int64_t c0, int64_t hw, int layers) {
  NetworkDefinition net;
  const Tensor x = net.add_input("x", DataType::kFloat32, {batch, c0, hw, hw});
  const Tensor stem = pool(net, "MaxPool", "pool0", x, 3, 2, 1);
  std::vector<Tensor> features = {stem};
  int64_t c = c0;
  for (int l = 0; l < layers; ++l) {
    const std::string p = "layer" + std::to_string(l);
    const Tensor cat = net.add_concat(p + ".cat", features, 1);
    const Tensor a = affine(net, p + ".norm1", cat, c, true, 100 + l);
    const Tensor b = conv(net, p + ".conv1", a, c, 128, 1, 1, 0, true, true, 200 + l);
    features.push_back(conv(net, p + ".conv2", b, 128, 32, 3, 1, 1, false, false, 300 + l));
    c += 32;
  }
  const Tensor block = net.add_concat("block.cat", features, 1);
  const Tensor t = pool(net, "AveragePool", "trans.pool", affine(net, "trans.norm", block, c, true, 400), 2, 2, 0);
  net.mark_output(conv(net, "trans.conv", t, c, c / 2, 1, 1, 0, false, false, 500), "y");
  return net;
}

TEST_P(CpuKernelTest, DenseBlockConcatsInPlace) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  // In float32, with the bottlenecks both in NHWC and in nChw16c with Winograd.
  for (const char* winograd : {"0", "1"}) {
    if (GetParam() == Precision::kBf16 && winograd[0] == '1') continue;
    setenv("CHEXRT_CPU_WINOGRAD", winograd, 1);
    std::string layers;
    const double error = worst_error_vs_reference([](int64_t batch) { return dense_block(batch, 64, 56, 4); },
                                                  GetParam(), kMaxBatch, {kMaxBatch, 1}, &layers);
    EXPECT_LT(error, tolerance(GetParam())) << "CHEXRT_CPU_WINOGRAD=" << winograd;
    for (const char* cat : {"layer0.cat", "layer1.cat", "layer2.cat", "layer3.cat", "block.cat"}) {
      EXPECT_NE(layers.find(std::string(cat) + "  Concat  in place"), std::string::npos) << cat << "\n" << layers;
    }
    EXPECT_EQ(layers.find("wino") != std::string::npos, winograd[0] == '1') << layers;
  }
  unsetenv("CHEXRT_CPU_WINOGRAD");
}

// A Concat of a graph input (bound by the caller, so not placeable) is a real copy.
TEST_P(CpuKernelTest, ConcatCopy) {
  CHEXRT_SKIP_IF_NO_BF16(GetParam());
  std::string layers;
  const double error = worst_error_vs_reference(
      [](int64_t batch) {
        NetworkDefinition net;
        const Tensor x = net.add_input("x", DataType::kFloat32, {batch, 48, 14, 14});
        const Tensor y = conv(net, "conv", x, 48, 32, 3, 1, 1, true, true, 3);
        net.mark_output(net.add_concat("cat", {x, y}, 1), "y");
        return net;
      },
      GetParam(), kMaxBatch, {kMaxBatch, 1}, &layers);
  EXPECT_LT(error, tolerance(GetParam()));
  EXPECT_NE(layers.find("concat_copy_nhwc__cpu"), std::string::npos) << layers;
}

INSTANTIATE_TEST_SUITE_P(Precisions, CpuKernelTest, ::testing::Values(Precision::kFp32, Precision::kBf16),
                         [](const auto& info) { return std::string(tag(info.param)); });

// ---------------------------------------------------------------------------------------------
// What the backend refuses, and bad requests

TEST(CpuBackend, SupportsAnswersPerNodeAndPrecision) {
  NetworkDefinition net;
  const Tensor x = net.add_input("x", DataType::kFloat32, {1, 8, 4, 4});
  const Tensor c = conv(net, "conv", x, 8, 8, 3, 1, 1, true, true, 1);
  const Tensor g = net.add_global_average_pool("gap", c);
  net.mark_output(g, "y");
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  auto backend = backends::make_cpu_backend();
  std::string why;
  ASSERT_TRUE(backend->available(&why)) << why;
  const ir::Graph& graph = net.graph();
  EXPECT_TRUE(backend->supports(graph, graph.node(0), Precision::kFp32));
  EXPECT_FALSE(backend->supports(graph, graph.node(0), Precision::kFp16));
  EXPECT_EQ(backend->supports(graph, graph.node(0), Precision::kBf16), cpu::has_native_bf16());
  EXPECT_FALSE(backend->supports(graph, graph.node(1), Precision::kFp32));  // GlobalAveragePool
  // Building a graph with an unsupported node is refused with the node named.
  BuildOptions options;
  auto engine = backend->build(graph, options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(engine.status().message().find("gap"), std::string::npos) << engine.status().to_string();
}

TEST(CpuBackend, RejectsBadInputs) {
  NetworkDefinition net;
  const Tensor x = net.add_input("x", DataType::kFloat32, {2, 8, 4, 4});
  net.mark_output(conv(net, "conv", x, 8, 8, 1, 1, 0, true, false, 1), "y");
  BuildOptions options;
  options.max_batch = 2;
  auto engine = backends::make_cpu_backend()->build(net.graph(), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  EXPECT_EQ((*engine)->max_batch(), 2);
  std::vector<HostTensor> out;
  EXPECT_EQ((*engine)->infer({HostTensor(DataType::kFloat32, {3, 8, 4, 4})}, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->infer({HostTensor(DataType::kFloat32, {1, 8, 5, 4})}, &out).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ((*engine)->infer({}, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*engine)->infer({HostTensor(DataType::kFloat32, {1, 8, 4, 4})}, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dims(), (Dims{1, 8, 4, 4}));
}

}  // namespace
}  // namespace chexrt
