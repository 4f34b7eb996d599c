// The Caffe importer's rules on small hand-written networks: Caffe's pooled sizes and average
// divisors (checked against a transcription of Caffe's own loops), BatchNorm + Scale, Eltwise,
// ReLU's negative slope, Dropout, Scale by a second bottom, phase rules, inputs, blob versions
// of in-place layers, seeded weights, and the errors for what is refused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "caffe_proto/caffe.pb.h"
#include "caffe_test_util.h"
#include "chexrt/caffe_parser.h"
#include "ir/graph.h"
#include "reference_data.h"

namespace chexrt {
namespace {

using testing::random_uniform;

std::string net_4d(const std::string& name, const Dims& d, const std::string& layers) {
  std::string s = "name: \"t\"\ninput: \"" + name + "\"\n";
  for (int64_t v : d) s += "input_dim: " + std::to_string(v) + "\n";
  return s + layers;
}

std::vector<HostTensor> run(const NetworkDefinition& net, const std::vector<HostTensor>& inputs) {
  auto out = caffetest::run_reference(net, inputs);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? *out : std::vector<HostTensor>{};
}

int count_ops(const NetworkDefinition& net, ir::OpType op) {
  int n = 0;
  for (int i = 0; i < net.graph().num_nodes(); ++i) n += net.graph().node(i).op == op;
  return n;
}

// ---------------------------------------------------------------------------------------------
// Pooling: Caffe's PoolingLayer, transcribed (pooling_layer.cpp, Reshape and Forward_cpu).

struct PoolCase {
  int64_t h, w, kh, kw, sh, sw, ph, pw;
  const char* rounding;  // "", "ceil_mode: false", "round_mode: FLOOR"
  bool average;
};

int64_t caffe_pooled(int64_t in, int64_t k, int64_t s, int64_t p, bool ceil) {
  const double v = static_cast<double>(in + 2 * p - k) / static_cast<double>(s);
  int64_t out = static_cast<int64_t>(ceil ? std::ceil(v) : std::floor(v)) + 1;
  if (p > 0 && (out - 1) * s >= in + p) --out;
  return out;
}

HostTensor caffe_pool(const HostTensor& x, const PoolCase& c, int64_t out_h, int64_t out_w) {
  const Dims& d = x.dims();
  HostTensor y(DataType::kFloat32, {d[0], d[1], out_h, out_w});
  for (int64_t n = 0; n < d[0] * d[1]; ++n) {
    const float* in = x.data<float>() + n * c.h * c.w;
    float* out = y.data<float>() + n * out_h * out_w;
    for (int64_t ph = 0; ph < out_h; ++ph) {
      for (int64_t pw = 0; pw < out_w; ++pw) {
        int64_t hstart = ph * c.sh - c.ph, wstart = pw * c.sw - c.pw;
        int64_t hend = std::min(hstart + c.kh, c.h + (c.average ? c.ph : 0));
        int64_t wend = std::min(wstart + c.kw, c.w + (c.average ? c.pw : 0));
        const int64_t pool_size = (hend - hstart) * (wend - wstart);
        hstart = std::max<int64_t>(hstart, 0);
        wstart = std::max<int64_t>(wstart, 0);
        hend = std::min(hend, c.h);
        wend = std::min(wend, c.w);
        float acc = c.average ? 0.f : -std::numeric_limits<float>::max();
        for (int64_t i = hstart; i < hend; ++i) {
          for (int64_t j = wstart; j < wend; ++j) {
            acc = c.average ? acc + in[i * c.w + j] : std::max(acc, in[i * c.w + j]);
          }
        }
        out[ph * out_w + pw] = c.average ? acc / static_cast<float>(pool_size) : acc;
      }
    }
  }
  return y;
}

class CaffePooling : public ::testing::TestWithParam<PoolCase> {};

TEST_P(CaffePooling, SizesAndValuesAreCaffes) {
  const PoolCase c = GetParam();
  const bool ceil = std::string(c.rounding).empty();
  const std::string text = net_4d("x", {2, 3, c.h, c.w},
                                  "layer { name: \"pool\" type: \"Pooling\" bottom: \"x\" top: \"y\" pooling_param {"
                                  " pool: " +
                                      std::string(c.average ? "AVE" : "MAX") + " kernel_h: " + std::to_string(c.kh) +
                                      " kernel_w: " + std::to_string(c.kw) + " stride_h: " + std::to_string(c.sh) +
                                      " stride_w: " + std::to_string(c.sw) + " pad_h: " + std::to_string(c.ph) +
                                      " pad_w: " + std::to_string(c.pw) + " " + c.rounding + " } }\n");
  auto net = parse_caffe_buffers(text, "");
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const int64_t oh = caffe_pooled(c.h, c.kh, c.sh, c.ph, ceil), ow = caffe_pooled(c.w, c.kw, c.sw, c.pw, ceil);
  EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{2, 3, oh, ow}));
  const HostTensor x = random_uniform({2, 3, c.h, c.w}, 7);
  const HostTensor want = caffe_pool(x, c, oh, ow);
  const std::vector<HostTensor> got = run(*net, {x});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_LE(caffetest::range_relative_error(got[0], want), 1e-6) << "reference kernels";
  auto cpu = caffetest::run_engine(std::move(*net), Device::kCpu, {x});
  ASSERT_TRUE(cpu.ok()) << cpu.status().to_string();
  EXPECT_LE(caffetest::range_relative_error(cpu->at(0), want), 1e-6) << "CPU engine";
}

INSTANTIATE_TEST_SUITE_P(
    Rounding, CaffePooling,
    ::testing::Values(PoolCase{112, 112, 3, 3, 2, 2, 1, 1, "", false},                   // DenseNet stem, Caffe: 57
                      PoolCase{112, 112, 3, 3, 2, 2, 1, 1, "ceil_mode: false", false},   // as PyTorch: 56
                      PoolCase{112, 112, 3, 3, 2, 2, 1, 1, "round_mode: FLOOR", false},  // BVLC's spelling
                      PoolCase{8, 9, 3, 3, 2, 2, 0, 0, "", false},                       // ceil, no padding
                      PoolCase{8, 9, 3, 3, 2, 2, 0, 0, "", true},                        // AVE past the input
                      PoolCase{5, 6, 2, 3, 2, 2, 1, 1, "", true},   // a last window dropped (starts in the padding)
                      PoolCase{7, 10, 3, 4, 2, 3, 1, 2, "", true},  // AVE: padding counts, the ceil part not
                      PoolCase{7, 10, 3, 4, 2, 3, 1, 2, "ceil_mode: false", true},
                      PoolCase{56, 56, 2, 2, 2, 2, 0, 0, "", true}));  // DenseNet transition

TEST(CaffePooling, GlobalPooling) {
  for (const char* pool : {"AVE", "MAX"}) {
    auto net = parse_caffe_buffers(net_4d("x", {1, 2, 5, 3},
                                          std::string("layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"y\" "
                                                      "pooling_param { pool: ") +
                                              pool + " global_pooling: true } }"),
                                   "");
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{1, 2, 1, 1}));
    const HostTensor x = random_uniform({1, 2, 5, 3}, 3);
    const std::vector<HostTensor> y = run(*net, {x});
    ASSERT_EQ(y.size(), 1u);
    for (int c = 0; c < 2; ++c) {
      const float* p = x.data<float>() + c * 15;
      double want = std::string(pool) == "AVE" ? 0.0 : -1e30;
      for (int i = 0; i < 15; ++i)
        want = std::string(pool) == "AVE" ? want + p[i] / 15.0 : std::max<double>(want, p[i]);
      EXPECT_NEAR(y[0].data<float>()[c], want, 1e-6) << pool;
    }
  }
}

TEST(CaffePooling, EmptyCeilWindowIsRefused) {
  // Caffe: ceil((5 - 1) / 3) + 1 = 3 windows, the last starting at 6, past the input: an empty
  // window that the IR's pools do not make.
  auto net = parse_caffe_buffers(net_4d("x", {1, 1, 5, 5},
                                        "layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"y\" "
                                        "pooling_param { pool: MAX kernel_size: 1 stride: 3 } }"),
                                 "");
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("layer 'p' (Pooling)"), std::string::npos) << net.status().message();
  EXPECT_NE(net.status().message().find("starts past the input"), std::string::npos) << net.status().message();
}

// ---------------------------------------------------------------------------------------------
// BatchNorm + Scale, with Caffe-written-like blobs.

caffe::BlobProto blob(const std::vector<float>& values) {
  caffe::BlobProto b;
  b.mutable_shape()->add_dim(static_cast<int64_t>(values.size()));
  for (float v : values) b.add_data(v);
  return b;
}

std::string weights_of(const std::vector<std::pair<std::string, std::vector<caffe::BlobProto>>>& layers) {
  caffe::NetParameter net;
  for (const auto& [name, blobs] : layers) {
    auto* l = net.add_layer();
    l->set_name(name);
    for (const auto& b : blobs) *l->add_blobs() = b;
  }
  return net.SerializeAsString();
}

const char kBnScale[] =
    "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"x\" top: \"y\" batch_norm_param { eps: 0.001 } }\n"
    "layer { name: \"scale\" type: \"Scale\" bottom: \"y\" top: \"y\" scale_param { bias_term: true } }\n"
    "layer { name: \"relu\" type: \"ReLU\" bottom: \"y\" top: \"y\" }\n";

TEST(CaffeBatchNorm, ScaleFoldsIntoOneBatchNormWithTheMovingAverageFactor) {
  const std::vector<float> mean = {0.5f, -1.f}, var = {2.f, 0.25f}, gamma = {1.5f, -0.5f}, beta = {0.1f, 0.2f};
  const float factor = 4.f;  // blobs hold mean * factor, var * factor
  const std::string weights = weights_of(
      {{"bn", {blob({mean[0] * factor, mean[1] * factor}), blob({var[0] * factor, var[1] * factor}), blob({factor})}},
       {"scale", {blob(gamma), blob(beta)}}});
  auto net = parse_caffe_buffers(net_4d("x", {2, 2, 3, 4}, kBnScale), weights);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  EXPECT_EQ(count_ops(*net, ir::OpType::kBatchNormalization), 1);
  EXPECT_EQ(count_ops(*net, ir::OpType::kMul), 0);
  // In place: the last version keeps the blob's name; the BatchNorm's own version was folded.
  EXPECT_TRUE(net->find_tensor("y").valid());
  EXPECT_TRUE(net->find_tensor("y@scale").valid());
  EXPECT_FALSE(net->find_tensor("y@bn").valid());
  const HostTensor x = random_uniform({2, 2, 3, 4}, 11, -3.f, 3.f);
  const std::vector<HostTensor> y = run(*net, {x});
  ASSERT_EQ(y.size(), 1u);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int c = static_cast<int>((i / 12) % 2);
    const double want = std::max(0.0, (x.data<float>()[i] - mean[c]) / std::sqrt(var[c] + 0.001) * gamma[c] + beta[c]);
    EXPECT_NEAR(y[0].data<float>()[i], want, 1e-5);
  }
}

TEST(CaffeBatchNorm, ZeroFactorMeansZeroStatistics) {
  const std::string weights = weights_of({{"bn", {blob({3.f}), blob({5.f}), blob({0.f})}}});
  auto net = parse_caffe_buffers(
      net_4d("x", {1, 1, 1, 2}, "layer { name: \"bn\" type: \"BatchNorm\" bottom: \"x\" top: \"y\" }"), weights);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const HostTensor x = HostTensor::from_floats({1.f, -2.f}, {1, 1, 1, 2});
  const std::vector<HostTensor> y = run(*net, {x});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_NEAR(y[0].data<float>()[0], 1.0 / std::sqrt(1e-5), 1e-2);
  EXPECT_NEAR(y[0].data<float>()[1], -2.0 / std::sqrt(1e-5), 1e-2);
}

// ---------------------------------------------------------------------------------------------
// Eltwise, ReLU, Dropout, Scale by a bottom

TEST(CaffeEltwise, SumWithCoefficientsProductAndMax) {
  const std::string inputs =
      "layer { name: \"in\" type: \"Input\" top: \"a\" top: \"b\" top: \"c\" "
      "input_param { shape { dim: 2 dim: 3 dim: 4 } } }\n";
  const HostTensor a = random_uniform({2, 3, 4}, 1), b = random_uniform({2, 3, 4}, 2), c = random_uniform({2, 3, 4}, 3);
  struct Op {
    const char* param;
    double (*f)(double, double, double);
  };
  const Op ops[] = {
      {"operation: SUM coeff: 0.5 coeff: -2 coeff: 1",
       [](double x, double y, double z) { return 0.5 * x - 2 * y + z; }},
      {"operation: SUM", [](double x, double y, double z) { return x + y + z; }},
      {"operation: PROD", [](double x, double y, double z) { return x * y * z; }},
      {"operation: MAX",
       [](double x, double y, double z) {
         return std::max({x, y, z});
       }},
  };
  for (const Op& op : ops) {
    auto net = parse_caffe_buffers(inputs +
                                       "layer { name: \"e\" type: \"Eltwise\" bottom: \"a\" bottom: \"b\" bottom: "
                                       "\"c\" top: \"y\" eltwise_param { " +
                                       op.param + " } }",
                                   "");
    ASSERT_TRUE(net.ok()) << op.param << ": " << net.status().to_string();
    const std::vector<HostTensor> y = run(*net, {a, b, c});
    ASSERT_EQ(y.size(), 1u) << op.param;
    ASSERT_EQ(y[0].dims(), a.dims()) << op.param;
    for (int64_t i = 0; i < a.numel(); ++i) {
      EXPECT_NEAR(y[0].data<float>()[i], op.f(a.data<float>()[i], b.data<float>()[i], c.data<float>()[i]), 1e-6)
          << op.param;
    }
  }
}

TEST(CaffeActivations, LeakyReluAndDropoutScaledAtTestTime) {
  auto net = parse_caffe_buffers(
      net_4d("x", {1, 2, 2, 2},
             "layer { name: \"r\" type: \"ReLU\" bottom: \"x\" top: \"r\" relu_param { negative_slope: 0.1 } }\n"
             "layer { name: \"d\" type: \"Dropout\" bottom: \"r\" top: \"y\" dropout_param { dropout_ratio: 0.25 "
             "scale_train: false } }\n"
             "layer { name: \"d2\" type: \"Dropout\" bottom: \"r\" top: \"z\" }\n"),
      "");
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const HostTensor x = random_uniform({1, 2, 2, 2}, 5);
  const std::vector<HostTensor> out = run(*net, {x});
  ASSERT_EQ(out.size(), 2u);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const float v = x.data<float>()[i];
    const float leaky = v > 0 ? v : 0.1f * v;
    EXPECT_EQ(out[1].data<float>()[i], leaky);  // exact: relu(x) - 0.1 * relu(-x)
    EXPECT_FLOAT_EQ(out[0].data<float>()[i], leaky * 0.75f);
  }
}

TEST(CaffeScale, SecondBottomIsTheMultiplier) {
  auto net = parse_caffe_buffers(
      "layer { name: \"in\" type: \"Input\" top: \"x\" top: \"s\" input_param { shape { dim: 1 dim: 2 dim: 3 } "
      "shape { dim: 2 } } }\n"
      "layer { name: \"sc\" type: \"Scale\" bottom: \"x\" bottom: \"s\" top: \"y\" }\n",
      "");
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const HostTensor x = random_uniform({1, 2, 3}, 8), s = HostTensor::from_floats({2.f, -3.f}, {2});
  const std::vector<HostTensor> y = run(*net, {x, s});
  ASSERT_EQ(y.size(), 1u);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(y[0].data<float>()[i], x.data<float>()[i] * (i < 3 ? 2.f : -3.f));
}

// ---------------------------------------------------------------------------------------------
// Network structure

TEST(CaffeNet, PhaseRulesInputsAndVersions) {
  const std::string text = net_4d(
      "data", {1, 3, 4, 4},
      "layer { name: \"train_only\" type: \"Dropout\" bottom: \"data\" top: \"data\" include { phase: TRAIN } }\n"
      "layer { name: \"r1\" type: \"ReLU\" bottom: \"data\" top: \"a\" }\n"
      "layer { name: \"r2\" type: \"Sigmoid\" bottom: \"a\" top: \"a\" }\n"
      "layer { name: \"not_test\" type: \"Softmax\" bottom: \"a\" top: \"a\" exclude { phase: TEST } }\n");
  CaffeImportOptions options;
  options.batch_size = 4;
  auto net = parse_caffe_buffers(text, "", options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  EXPECT_EQ(net->num_layers(), 2);
  EXPECT_EQ(net->tensor_dims(net->find_tensor("data")), (Dims{4, 3, 4, 4}));
  EXPECT_TRUE(net->find_tensor("a@r1").valid());
  ASSERT_EQ(net->graph().outputs().size(), 1u);
  EXPECT_EQ(net->graph().value(net->graph().outputs()[0]).name, "a");

  options.input_shapes["data"] = {2, 3, 8, 8};
  auto resized = parse_caffe_buffers(text, "", options);
  ASSERT_TRUE(resized.ok()) << resized.status().to_string();
  EXPECT_EQ(resized->tensor_dims(resized->find_tensor("a")), (Dims{2, 3, 8, 8}));

  options.input_shapes["image"] = {1, 3, 8, 8};
  auto wrong = parse_caffe_buffers(text, "", options);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'image' is not an input"), std::string::npos) << wrong.status().message();
}

TEST(CaffeNet, InputWrittenInPlaceKeepsItsName) {
  auto net =
      parse_caffe_buffers(net_4d("data", {1, 1, 1, 2},
                                 "layer { name: \"d\" type: \"Dropout\" bottom: \"data\" top: \"data\" dropout_param { "
                                 "dropout_ratio: 0.5 scale_train: false } }\n"),
                          "");
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  ASSERT_EQ(net->graph().inputs().size(), 1u);
  EXPECT_EQ(net->graph().value(net->graph().inputs()[0]).name, "data");
  ASSERT_EQ(net->graph().outputs().size(), 1u);
  EXPECT_EQ(net->graph().value(net->graph().outputs()[0]).name, "data@d");
  const std::vector<HostTensor> y = run(*net, {HostTensor::from_floats({2.f, -4.f}, {1, 1, 1, 2})});
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].to_doubles(), (std::vector<double>{1.0, -2.0}));
}

TEST(CaffeNet, SeededWeightsAreDeterministic) {
  const std::string text =
      net_4d("x", {1, 4, 5, 5},
             "layer { name: \"c\" type: \"Convolution\" bottom: \"x\" top: \"y\" convolution_param { num_output: 6 "
             "kernel_size: 3 pad: 1 group: 2 dilation: 2 } }\n");
  const auto weights = [&](uint32_t seed) {
    CaffeImportOptions o;
    o.seeded_weights = true;
    o.seed = seed;
    auto net = parse_caffe_buffers(text, "", o);
    EXPECT_TRUE(net.ok()) << net.status().to_string();
    const Tensor w = net->find_tensor("c.weight");
    EXPECT_EQ(net->tensor_dims(w), (Dims{6, 2, 3, 3}));
    EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{1, 6, 3, 3}));  // dilated 3x3 spans 5
    return net->graph().value(w.id).constant.to_doubles();
  };
  EXPECT_EQ(weights(1), weights(1));
  EXPECT_NE(weights(1), weights(2));
}

// ---------------------------------------------------------------------------------------------
// Errors

std::string error_of(const std::string& text, const std::string& weights = "") {
  auto net = parse_caffe_buffers(text, weights);
  EXPECT_FALSE(net.ok());
  return net.ok() ? "" : net.status().message();
}

TEST(CaffeErrors, UnsupportedLayersAreAllNamed) {
  const std::string m = error_of(net_4d("x", {1, 3, 8, 8},
                                        "layer { name: \"norm1\" type: \"LRN\" bottom: \"x\" top: \"n\" }\n"
                                        "layer { name: \"up\" type: \"Deconvolution\" bottom: \"n\" top: \"u\" }\n"));
  EXPECT_NE(m.find("2 layers"), std::string::npos) << m;
  EXPECT_NE(m.find("layer 'norm1' (LRN)"), std::string::npos) << m;
  EXPECT_NE(m.find("layer 'up' (Deconvolution)"), std::string::npos) << m;
}

TEST(CaffeErrors, UnknownFieldOfASupportedLayer) {
  const std::string m = error_of(net_4d("x", {1, 3, 8, 8},
                                        "layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"y\"\n"
                                        "  pooling_param { pool: MAX kernel_size: 2 pyramid: 3 } }\n"));
  EXPECT_NE(m.find("layer 'p' (Pooling)"), std::string::npos) << m;
  EXPECT_NE(m.find("line 8"), std::string::npos) << m;  // the line of pooling_param
  EXPECT_NE(m.find("pyramid"), std::string::npos) << m;
}

TEST(CaffeErrors, MalformedText) {
  const std::string m = error_of("layer { name: \"a\" type: ");
  EXPECT_NE(m.find("not a Caffe network definition"), std::string::npos) << m;
}

TEST(CaffeErrors, LegacyV1Layers) {
  const std::string m = error_of("layers { name: \"conv1\" type: CONVOLUTION bottom: \"x\" top: \"y\" }");
  EXPECT_NE(m.find("legacy V1"), std::string::npos) << m;
  EXPECT_NE(m.find("conv1"), std::string::npos) << m;
}

TEST(CaffeErrors, MissingAndMismatchedWeights) {
  const std::string conv = net_4d("x", {1, 3, 8, 8},
                                  "layer { name: \"conv\" type: \"Convolution\" bottom: \"x\" top: \"y\" "
                                  "convolution_param { num_output: 4 kernel_size: 3 } }\n");
  std::string m = error_of(conv);
  EXPECT_NE(m.find("layer 'conv' (Convolution): needs learned blobs (weights [4, 3, 3, 3], bias [4])"),
            std::string::npos)
      << m;
  m = error_of(conv, weights_of({{"other", {}}}));
  EXPECT_NE(m.find("layer 'conv' (Convolution): no weights in the .caffemodel"), std::string::npos) << m;
  caffe::BlobProto w;
  for (int64_t d : {4, 3, 5, 5}) w.mutable_shape()->add_dim(d);
  m = error_of(conv, weights_of({{"conv", {w, blob({0, 0, 0, 0})}}}));
  EXPECT_NE(
      m.find(
          "layer 'conv' (Convolution): in the .caffemodel: weights blob is [4, 3, 5, 5], the layer needs [4, 3, 3, 3]"),
      std::string::npos)
      << m;
  m = error_of(conv, weights_of({{"conv", {blob({1})}}}));
  EXPECT_NE(m.find("layer 'conv' (Convolution): 1 blobs in the .caffemodel, expected 2"), std::string::npos) << m;
  m = error_of(conv, "not a protobuf \xff\xff");
  EXPECT_NE(m.find("not a Caffe model"), std::string::npos) << m;
}

TEST(CaffeErrors, StructureAndParameters) {
  std::string m = error_of(net_4d("x", {1, 3, 8, 8}, "layer { name: \"r\" type: \"ReLU\" bottom: \"z\" top: \"y\" }"));
  EXPECT_NE(m.find("bottom 'z' is not an input or an earlier layer's top"), std::string::npos) << m;
  m = error_of(
      net_4d("x", {1, 3, 8, 8}, "layer { name: \"r\" type: \"ReLU\" bottom: \"x\" bottom: \"x\" top: \"y\" }"));
  EXPECT_NE(m.find("has 2 bottoms, expects 1"), std::string::npos) << m;
  m = error_of(net_4d("x", {1, 3, 8, 8},
                      "layer { name: \"p\" type: \"Pooling\" bottom: \"x\" top: \"y\" pooling_param { pool: "
                      "STOCHASTIC kernel_size: 2 } }"));
  EXPECT_NE(m.find("STOCHASTIC pooling is not supported"), std::string::npos) << m;
  m = error_of(net_4d("x", {1, 3, 8, 8},
                      "layer { name: \"e\" type: \"Eltwise\" bottom: \"x\" bottom: \"x\" top: \"y\" "
                      "eltwise_param { operation: PROD coeff: 1 coeff: 2 } }"));
  EXPECT_NE(m.find("coeff is only for operation SUM"), std::string::npos) << m;
  m = error_of("input: \"x\"\nlayer { name: \"r\" type: \"ReLU\" bottom: \"x\" top: \"y\" }");
  EXPECT_NE(m.find("input 'x' has no shape"), std::string::npos) << m;
}

TEST(CaffeErrors, FilesNamed) {
  auto net = parse_caffe_files("/nonexistent/model.prototxt", "");
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("/nonexistent/model.prototxt"), std::string::npos);
  net = parse_caffe_files(caffetest::data_dir() + "/opencv_extra/layer_convolution.prototxt",
                          "/nonexistent/w.caffemodel");
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("/nonexistent/w.caffemodel"), std::string::npos);
}

TEST(CaffeLayers, SupportedListIsSorted) {
  const std::vector<std::string> layers = supported_caffe_layers();
  EXPECT_TRUE(std::is_sorted(layers.begin(), layers.end()));
  for (const char* t : {"BatchNorm", "Concat", "Convolution", "Dropout", "Eltwise", "InnerProduct", "Input", "Pooling",
                        "ReLU", "Scale", "Sigmoid", "Softmax", "Split"}) {
    EXPECT_TRUE(std::count(layers.begin(), layers.end(), t)) << t;
  }
}

}  // namespace
}  // namespace chexrt
