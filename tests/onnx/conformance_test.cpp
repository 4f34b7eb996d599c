// ONNX's node conformance tests (the Debian package libonnx-testdata) for the op families chexrt
// imports: each model is imported and run on the reference backend, and every output is compared
// with the expected one at the ONNX backend-test tolerances (rtol 1e-3, atol 1e-7; integers exact).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "chexrt/onnx_parser.h"
#include "onnx_proto/onnx.pb.h"
#include "runtime/graph_executor.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;

const char kDataDir[] = CHEXRT_ONNX_TESTDATA_DIR;
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

// Test directory name prefixes: DenseNet's ops and the shape glue exporters emit. "test_conv_"
// and "test_matmul_" leave out ConvInteger, ConvTranspose and MatMulInteger.
const std::vector<std::string> kFamilies = {
    "test_conv_",  "test_batchnorm", "test_maxpool", "test_averagepool", "test_globalaveragepool",
    "test_concat", "test_gemm",      "test_matmul_", "test_flatten",     "test_add",
    "test_mul",    "test_sigmoid",   "test_softmax", "test_reshape",     "test_transpose"};
const std::vector<std::string> kSingleTests = {"test_relu"};

std::vector<std::string> conformance_cases() {
  std::vector<std::string> cases;
  std::error_code ec;
  if (!fs::is_directory(kDataDir, ec)) return cases;
  for (const auto& entry : fs::directory_iterator(kDataDir)) {
    const std::string name = entry.path().filename().string();
    const bool family =
        std::any_of(kFamilies.begin(), kFamilies.end(), [&](const std::string& p) { return name.rfind(p, 0) == 0; });
    const bool single = std::find(kSingleTests.begin(), kSingleTests.end(), name) != kSingleTests.end();
    if (family || single) cases.push_back(name);
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

TEST(OnnxConformance, TestDataPresent) {
  if (!fs::is_directory(kDataDir)) {
    GTEST_SKIP() << "ONNX test data not found at " << kDataDir << " (Debian package libonnx-testdata)";
  }
  const std::vector<std::string> cases = conformance_cases();
  std::cout << "[ ONNX     ] " << cases.size() << " node conformance tests selected from " << kDataDir << "\n";
  // A family that matches nothing (renamed directories, a wrong prefix) must not go unnoticed.
  for (const std::string& family : kFamilies) {
    EXPECT_TRUE(std::any_of(cases.begin(), cases.end(), [&](const std::string& c) { return c.rfind(family, 0) == 0; }))
        << family;
  }
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// numpy.allclose for floating point, equality otherwise; returns a description of the mismatch.
std::string compare(const HostTensor& actual, const HostTensor& expected) {
  if (actual.dtype() != expected.dtype()) {
    return std::string("type ") + dtype_name(actual.dtype()) + ", expected " + dtype_name(expected.dtype());
  }
  if (actual.dims() != expected.dims()) {
    return "dims " + dims_to_string(actual.dims()) + ", expected " + dims_to_string(expected.dims());
  }
  const DataType t = actual.dtype();
  const bool floating = t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kFloat64;
  const std::vector<double> a = actual.to_doubles();
  const std::vector<double> e = expected.to_doubles();
  const std::vector<int64_t> ai = actual.to_int64s();
  const std::vector<int64_t> ei = expected.to_int64s();
  int64_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool ok = floating ? std::fabs(a[i] - e[i]) <= kAtol + kRtol * std::fabs(e[i]) : ai[i] == ei[i];
    if (!ok && bad++ == 0) first << "element " << i << " is " << a[i] << ", expected " << e[i];
  }
  if (bad == 0) return "";
  return std::to_string(bad) + " of " + std::to_string(a.size()) + " elements differ; " + first.str();
}

class OnnxNodeTest : public testing::TestWithParam<std::string> {};

TEST_P(OnnxNodeTest, MatchesExpectedOutputs) {
  const fs::path dir = fs::path(kDataDir) / GetParam();
  const fs::path model_path = dir / "model.onnx";
  onnx::ModelProto model;
  ASSERT_TRUE(model.ParseFromString(read_bytes(model_path))) << model_path;
  // ONNX's test inputs follow the graph inputs that are not initializers, in order.
  std::set<std::string> initializers;
  for (const auto& init : model.graph().initializer()) initializers.insert(init.name());
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& input : model.graph().input()) {
    if (!initializers.count(input.name())) inputs.push_back(&input);
  }

  int data_sets = 0;
  for (int k = 0; fs::is_directory(dir / ("test_data_set_" + std::to_string(k))); ++k, ++data_sets) {
    const fs::path data = dir / ("test_data_set_" + std::to_string(k));
    SCOPED_TRACE(data.string());
    OnnxImportOptions options;
    std::map<std::string, HostTensor> feeds;
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto t = read_tensor_proto_file((data / ("input_" + std::to_string(i) + ".pb")).string());
      ASSERT_TRUE(t.ok()) << t.status().to_string();
      // Integer inputs (Reshape's shape) must be known when the engine is built.
      if (inputs[i]->type().tensor_type().elem_type() == onnx::TensorProto::INT64) {
        options.constant_inputs[inputs[i]->name()] = *t;
      } else {
        feeds[inputs[i]->name()] = *t;
      }
    }
    auto net = parse_onnx_file(model_path.string(), options);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    const ir::Graph& graph = net->graph();
    std::vector<HostTensor> feed_list;
    for (int v : graph.inputs()) {
      ASSERT_TRUE(feeds.count(graph.value(v).name)) << graph.value(v).name;
      feed_list.push_back(feeds[graph.value(v).name]);
    }
    auto outputs = runtime::run_reference(graph, feed_list);
    ASSERT_TRUE(outputs.ok()) << outputs.status().to_string();
    ASSERT_EQ(static_cast<int>(outputs->size()), model.graph().output_size());
    for (int i = 0; i < model.graph().output_size(); ++i) {
      const std::string& name = model.graph().output(i).name();
      EXPECT_EQ(graph.value(graph.outputs()[i]).name, name);
      auto expected = read_tensor_proto_file((data / ("output_" + std::to_string(i) + ".pb")).string());
      ASSERT_TRUE(expected.ok()) << expected.status().to_string();
      EXPECT_EQ(compare((*outputs)[i], *expected), "") << "output '" << name << "'";
    }
  }
  EXPECT_GT(data_sets, 0) << "no test_data_set_* in " << dir;
}

INSTANTIATE_TEST_SUITE_P(Node, OnnxNodeTest, testing::ValuesIn(conformance_cases()),
                         [](const testing::TestParamInfo<std::string>& info) { return info.param; });
// Without the test data there are no cases; TestDataPresent reports the skip.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OnnxNodeTest);

}  // namespace
}  // namespace chexrt
