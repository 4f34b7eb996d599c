// DenseNet-121's Caffe definition (tests/data/caffe/densenet/DenseNet_121.prototxt, whose trained
// weights are not available): it imports with seeded weights, every layer's output has the shape
// Caffe's rules give (computed here from the .prototxt, independently of the importer), and it
// builds into an engine that runs.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "caffe_proto/caffe.pb.h"
#include "caffe_test_util.h"
#include "chexrt/caffe_parser.h"
#include "reference_data.h"

namespace chexrt {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string densenet_text() { return read_text(caffetest::data_dir() + "/densenet/DenseNet_121.prototxt"); }

// Caffe's output shapes (conv_layer.cpp compute_output_shape, pooling_layer.cpp Reshape,
// concat_layer.cpp Reshape) for the layer forms this definition uses, by top blob.
std::map<std::string, Dims> caffe_shapes(const caffe::NetParameter& net,
                                         std::vector<std::pair<std::string, Dims>>* tops) {
  std::map<std::string, Dims> blobs;
  blobs[net.input(0)] = Dims(net.input_dim().begin(), net.input_dim().end());
  for (const auto& l : net.layer()) {
    Dims in = blobs.at(l.bottom(0));
    Dims out = in;
    if (l.type() == "Convolution") {
      const auto& p = l.convolution_param();
      const int64_t k = p.kernel_size(0), s = p.stride_size() ? p.stride(0) : 1, pad = p.pad_size() ? p.pad(0) : 0;
      out = {in[0], p.num_output(), (in[2] + 2 * pad - k) / s + 1, (in[3] + 2 * pad - k) / s + 1};
    } else if (l.type() == "Pooling") {
      const auto& p = l.pooling_param();
      if (p.global_pooling()) {
        out = {in[0], in[1], 1, 1};
      } else {
        for (int i = 2; i < 4; ++i) {
          const double v = static_cast<double>(in[i] + 2 * p.pad() - p.kernel_size()) / p.stride();
          out[i] = static_cast<int64_t>(p.ceil_mode() ? std::ceil(v) : std::floor(v)) + 1;
          if (p.pad() > 0 && (out[i] - 1) * p.stride() >= in[i] + p.pad()) --out[i];
        }
      }
    } else if (l.type() == "Concat") {
      out[1] = 0;
      for (const auto& b : l.bottom()) out[1] += blobs.at(b)[1];
    }
    blobs[l.top(0)] = out;
    tops->emplace_back(l.name(), out);
  }
  return blobs;
}

struct ShapeReport {
  int checked = 0;
  int folded = 0;  // BatchNorm tops that became part of one BatchNormalization with their Scale
};

// Checks every layer's top tensor: "<blob>" for a blob's last version, "<blob>@<layer>" before.
ShapeReport check_shapes(const std::string& text, const NetworkDefinition& net, const std::string& final_blob,
                         const Dims& final_dims) {
  caffe::NetParameter proto;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &proto));
  std::vector<std::pair<std::string, Dims>> tops;
  caffe_shapes(proto, &tops);
  std::map<std::string, int> last_writer;
  for (int i = 0; i < proto.layer_size(); ++i) last_writer[proto.layer(i).top(0)] = i;
  ShapeReport r;
  for (int i = 0; i < proto.layer_size(); ++i) {
    const auto& l = proto.layer(i);
    const std::string name = last_writer[l.top(0)] == i ? l.top(0) : l.top(0) + "@" + l.name();
    const Tensor t = net.find_tensor(name);
    if (!t.valid()) {
      EXPECT_EQ(l.type(), "BatchNorm") << name << " is missing";
      EXPECT_EQ(proto.layer(i + 1).type(), "Scale") << name;
      ++r.folded;
      continue;
    }
    EXPECT_EQ(net.tensor_dims(t), tops[i].second) << "layer " << l.name() << " (" << l.type() << ")";
    ++r.checked;
  }
  EXPECT_EQ(net.tensor_dims(net.find_tensor(final_blob)), final_dims);
  return r;
}

Result<NetworkDefinition> seeded(const std::string& text) {
  CaffeImportOptions options;
  options.seeded_weights = true;
  options.seed = 121;
  return parse_caffe_buffers(text, "", options);
}

TEST(DenseNetCaffe, EveryLayerHasCaffesShape) {
  const std::string text = densenet_text();
  ASSERT_FALSE(text.empty());
  auto net = seeded(text);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const ShapeReport r = check_shapes(text, *net, "fc6", {1, 1000, 1, 1});
  EXPECT_EQ(r.checked + r.folded, 547);
  EXPECT_EQ(r.folded, 121);
  // The stem pool's ceil_mode: false gives PyTorch's 56x56.
  EXPECT_EQ(net->tensor_dims(net->find_tensor("pool1")), (Dims{1, 64, 56, 56}));
  EXPECT_EQ(net->tensor_dims(net->find_tensor("pool4")), (Dims{1, 512, 7, 7}));
}

TEST(DenseNetCaffe, CaffesDefaultCeilRoundingOnTheStem) {
  std::string text = densenet_text();
  const std::string floor = "ceil_mode: false";
  const size_t at = text.find(floor);
  ASSERT_NE(at, std::string::npos);
  text.erase(at, floor.size());
  auto net = seeded(text);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  check_shapes(text, *net, "fc6", {1, 1000, 1, 1});
  // ceil((112 + 2 - 3) / 2) + 1 = 57, then the transitions round 57 -> 29 -> 15 -> 8 up.
  EXPECT_EQ(net->tensor_dims(net->find_tensor("pool1")), (Dims{1, 64, 57, 57}));
  EXPECT_EQ(net->tensor_dims(net->find_tensor("pool4")), (Dims{1, 512, 8, 8}));
}

TEST(DenseNetCaffe, BuildsAndRunsWithSeededWeights) {
  auto net = seeded(densenet_text());
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = caffetest::run_engine(std::move(*net), Device::kCpu, {testing::random_uniform({1, 3, 224, 224}, 3)});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  ASSERT_EQ(out->front().dims(), (Dims{1, 1000, 1, 1}));
  double spread = 0;
  for (double v : out->front().to_doubles()) {
    ASSERT_TRUE(std::isfinite(v));
    spread = std::max(spread, std::abs(v - out->front().to_doubles()[0]));
  }
  EXPECT_GT(spread, 0.0);  // not a constant output
}

}  // namespace
}  // namespace chexrt
