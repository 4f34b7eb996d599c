// Every frozen graph of tests/data/tensorflow/opencv_extra, imported and run on the reference
// backend against the output TensorFlow computed (to 1e-5 relative), or refused with the
// unsupported op named. The .npy files hold 4-D tensors NCHW, which is also how an NHWC graph's
// 4-D inputs and outputs cross chexrt's network boundary.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>

#include "chexrt/builder.h"
#include "chexrt/tensorflow_parser.h"
#include "import/tensor_io.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(CHEXRT_TF_DATA_DIR) + "/opencv_extra/";

// Graphs with an op that chexrt's IR does not have: the import fails and names the op.
const std::map<std::string, std::string> kRefused = {
    {"atrous_conv2d_same", "SpaceToBatchND"},
    {"atrous_conv2d_valid", "SpaceToBatchND"},
    {"keras_atrous_conv2d_same", "SpaceToBatchND"},
    {"batch_norm_text", "SquaredDifference"},
    {"deconvolution", "Conv2DBackpropInput"},
    {"deconvolution_adj_pad_same", "Conv2DBackpropInput"},
    {"deconvolution_adj_pad_valid", "Conv2DBackpropInput"},
    {"deconvolution_same", "Conv2DBackpropInput"},
    {"deconvolution_stride_2_same", "Conv2DBackpropInput"},
    {"fp16_deconvolution", "Conv2DBackpropInput"},
    {"keras_deconv_same", "Conv2DBackpropInput"},
    {"keras_deconv_valid", "Conv2DBackpropInput"},
    {"defun_dropout", "Dropout"},  // a function call (the graph's function library)
    {"eltwise_add_mul", "Tanh"},
    {"fp16_eltwise_add_mul", "Tanh"},
    {"padding_same", "Abs"},
    {"fp16_padding_same", "Abs"},
    {"padding_valid", "Elu"},
    {"fp16_padding_valid", "Elu"},
    {"keras_upsampling2d", "ResizeNearestNeighbor"},
    {"resize_nearest_neighbor", "ResizeNearestNeighbor"},
    {"resize_bilinear", "ResizeBilinear"},
    {"resize_bilinear_factor", "ResizeBilinear"},
    {"lstm", "BlockLSTM"},
    {"slice_4d", "Slice"},
    {"split_equals", "Split"},
    {"uint8_single_conv", "Dequantize"},
};

std::vector<std::string> graph_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kDir)) {
    const std::string file = entry.path().filename().string();
    const std::string suffix = "_net.pb";
    if (file.size() > suffix.size() && file.compare(file.size() - suffix.size(), suffix.size(), suffix) == 0) {
      names.push_back(file.substr(0, file.size() - suffix.size()));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Largest |actual - expected| / max(|expected|, 1): relative error, absolute below magnitude 1.
double worst_error(const HostTensor& actual, const HostTensor& expected) {
  const auto a = actual.to_doubles();
  const auto e = expected.to_doubles();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) return INFINITY;
    worst = std::max(worst, std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), 1.0));
  }
  return worst;
}

class OpenCvGraph : public ::testing::TestWithParam<std::string> {};

TEST_P(OpenCvGraph, MatchesTensorFlowOrIsRefusedByName) {
  const std::string name = GetParam();
  const std::string model = kDir + name + "_net.pb";
  auto refused = kRefused.find(name);
  if (refused != kRefused.end()) {
    auto net = parse_tensorflow_file(model);
    ASSERT_FALSE(net.ok()) << name << " was expected to be refused for " << refused->second;
    EXPECT_NE(net.status().message().find(refused->second), std::string::npos) << net.status().message();
    EXPECT_NE(net.status().message().find(model), std::string::npos) << net.status().message();
    return;
  }
  auto input = read_npy(kDir + name + "_in.npy");
  auto expected = read_npy(kDir + name + "_out.npy");
  ASSERT_TRUE(input.ok()) << input.status().message();
  ASSERT_TRUE(expected.ok()) << expected.status().message();
  // Graphs optimized for inference drop the placeholder's shape: it is the input array's.
  auto info = describe_tensorflow_file(model);
  ASSERT_TRUE(info.ok()) << info.status().message();
  ASSERT_EQ(info->placeholders.size(), 1u);
  TensorflowImportOptions options;
  options.input_shapes[info->placeholders[0].name] = input->dims();
  auto net = parse_tensorflow_file(model, options);
  ASSERT_TRUE(net.ok()) << net.status().message();
  BuildOptions build;
  build.device = Device::kReference;
  build.max_batch = input->dims()[0];
  auto engine = build_engine(std::move(*net), build);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  std::vector<HostTensor> outputs;
  ASSERT_TRUE((*engine)->infer({*input}, &outputs).ok());
  ASSERT_EQ(outputs.size(), 1u);
  ASSERT_EQ(outputs[0].dims(), expected->dims());
  // TensorFlow computed the fp16_ graphs in half precision (11 significant bits): their
  // reference is itself only that exact, while chexrt widens the weights and runs float32.
  const double tolerance = name.rfind("fp16_", 0) == 0 ? 2e-3 : 1e-5;
  EXPECT_LE(worst_error(outputs[0], *expected), tolerance);
}

INSTANTIATE_TEST_SUITE_P(OpenCvExtra, OpenCvGraph, ::testing::ValuesIn(graph_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace chexrt
