// OpenCV's Caffe layer tests (tests/data/caffe/opencv_extra): each network, imported with its
// Caffe-written weights, must give Caffe's stored output for its input to 1e-5 of the output's
// range, on the reference executor (the imported graph as it is) and on the CPU engine (the
// optimized graph).
#include <gtest/gtest.h>

#include <filesystem>

#include "caffe_test_util.h"
#include "chexrt/caffe_parser.h"
#include "import/tensor_io.h"

namespace chexrt {
namespace {

constexpr double kTolerance = 1e-5;

struct LayerCase {
  const char* name;  ///< layer_<name>.prototxt
  bool has_weights;  ///< layer_<name>.caffemodel exists
  bool own_input;    ///< layer_<name>.input.npy, else blob.npy
  const char* what;  ///< what the case covers
};

void PrintTo(const LayerCase& c, std::ostream* os) { *os << c.name; }

const LayerCase kCases[] = {
    {"batch_norm", true, false, "BatchNorm, global statistics and the moving-average factor"},
    {"batch_norm_local_stats", true, true, "BatchNorm, use_global_stats: false (the batch's statistics)"},
    {"concat", false, false, "Split + one-bottom Concat"},
    {"concat_optim", true, true, "Convolution, in-place-free ReLU, Concat, Eltwise SUM"},
    {"concat_shared_input", true, true, "1x1 Convolutions, Concat of a shared input"},
    {"convolution", true, false, "grouped Convolution, kernel/pad/stride _h/_w"},
    {"inner_product", true, false, "InnerProduct axis 2 and 1, Scale with bias on 2-D"},
    {"pooling_ave", false, false, "AVE Pooling, padding counted, ceil rounding"},
    {"pooling_max", false, false, "MAX Pooling, padded, ceil rounding"},
    {"relu", false, false, "ReLU"},
    {"softmax", false, false, "Softmax over channels"},
};

class CaffeLayer : public ::testing::TestWithParam<LayerCase> {
 protected:
  std::string file(const std::string& suffix) const {
    return caffetest::data_dir() + "/opencv_extra/layer_" + GetParam().name + suffix;
  }
  Result<NetworkDefinition> parse() const {
    return parse_caffe_files(file(".prototxt"), GetParam().has_weights ? file(".caffemodel") : "");
  }
  HostTensor input() const {
    auto t = read_npy(GetParam().own_input ? file(".input.npy") : caffetest::data_dir() + "/opencv_extra/blob.npy");
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? *t : HostTensor();
  }
  HostTensor expected() const {
    auto t = read_npy(file(".npy"));
    EXPECT_TRUE(t.ok()) << t.status().to_string();
    return t.ok() ? *t : HostTensor();
  }
};

TEST_P(CaffeLayer, ReferenceExecutorMatchesCaffe) {
  auto net = parse();
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = caffetest::run_reference(*net, {input()});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  const HostTensor want = expected();
  ASSERT_EQ(out->front().dims(), want.dims());
  const double e = caffetest::range_relative_error(out->front(), want);
  EXPECT_LE(e, kTolerance) << GetParam().what;
  std::printf("layer_%s: error %.2e (%s)\n", GetParam().name, e, GetParam().what);
}

TEST_P(CaffeLayer, CpuEngineMatchesCaffe) {
  auto net = parse();
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = caffetest::run_engine(std::move(*net), Device::kCpu, {input()});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  const HostTensor want = expected();
  ASSERT_EQ(out->front().dims(), want.dims());
  EXPECT_LE(caffetest::range_relative_error(out->front(), want), kTolerance) << GetParam().what;
}

// Every bundled layer test is in the list above (a new file cannot go untested).
TEST(CaffeLayerData, EveryBundledNetworkIsTested) {
  int prototxts = 0;
  for (const auto& entry : std::filesystem::directory_iterator(caffetest::data_dir() + "/opencv_extra")) {
    const std::string name = entry.path().filename().string();
    if (entry.path().extension() != ".prototxt") continue;
    ++prototxts;
    bool listed = false;
    for (const auto& c : kCases) listed = listed || name == "layer_" + std::string(c.name) + ".prototxt";
    EXPECT_TRUE(listed) << name << " has no test case";
  }
  EXPECT_EQ(prototxts, static_cast<int>(std::size(kCases)));
}

INSTANTIATE_TEST_SUITE_P(OpenCvExtra, CaffeLayer, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<LayerCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace chexrt
