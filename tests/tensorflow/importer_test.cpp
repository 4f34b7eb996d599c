// The TensorFlow importer: Deeplearning4j's TensorFlow test graphs (FusedBatchNormV3 in training
// mode, MirrorPad; references as CSV), text and binary GraphDefs, layout handling, and errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "chexrt/builder.h"
#include "chexrt/tensorflow_parser.h"
#include "import/tensor_io.h"
#include "ir/graph.h"

namespace chexrt {
namespace {

const std::string kData = CHEXRT_TF_DATA_DIR;

// A DL4J reference: NAME.csv (row-major values, one a line) and NAME.shape (one dim a line).
HostTensor read_csv_tensor(const std::string& base) {
  std::ifstream shape_file(base + ".shape");
  Dims dims;
  for (int64_t d; shape_file >> d;) dims.push_back(d);
  std::ifstream values_file(base + ".csv");
  std::vector<float> values;
  for (std::string line; std::getline(values_file, line);) {
    if (!line.empty()) values.push_back(std::stof(line));
  }
  EXPECT_EQ(static_cast<int64_t>(values.size()), num_elements(dims)) << base;
  return HostTensor::from_floats(values, dims);
}

HostTensor nhwc_to_nchw(const HostTensor& t) {
  const Dims& d = t.dims();
  HostTensor out(DataType::kFloat32, {d[0], d[3], d[1], d[2]});
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t h = 0; h < d[1]; ++h)
      for (int64_t w = 0; w < d[2]; ++w)
        for (int64_t c = 0; c < d[3]; ++c)
          out.data<float>()[((n * d[3] + c) * d[1] + h) * d[2] + w] =
              t.data<float>()[((n * d[1] + h) * d[2] + w) * d[3] + c];
  return out;
}

double worst_relative_error(const HostTensor& actual, const HostTensor& expected) {
  const auto a = actual.to_doubles();
  const auto e = expected.to_doubles();
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), 1.0));
  return worst;
}

// Runs a DL4J graph with its constant input in_0 fed as a network input.
HostTensor run_dl4j(const std::string& dir, const std::string& output, const HostTensor& input) {
  TensorflowImportOptions options;
  options.constants_as_inputs = {"in_0"};
  options.outputs = {output};
  auto net = parse_tensorflow_file(dir + "/frozen_model.pb", options);
  EXPECT_TRUE(net.ok()) << net.status().message();
  if (!net.ok()) return {};
  BuildOptions build;
  build.device = Device::kReference;
  build.max_batch = input.dims()[0];  // the builder takes dimension 0 for the batch
  auto engine = build_engine(std::move(*net), build);
  EXPECT_TRUE(engine.ok()) << engine.status().message();
  if (!engine.ok()) return {};
  std::vector<HostTensor> outputs;
  EXPECT_TRUE((*engine)->infer({input}, &outputs).ok());
  return outputs.empty() ? HostTensor{} : outputs[0];
}

TEST(Dl4jGraphs, FusedBatchNormV3TrainingUsesBatchStatistics) {
  const std::string dir = kData + "/dl4j/fused_batch_norm/float32_nhwc";
  const HostTensor in = read_csv_tensor(dir + "/in_0.0.prediction_inbw");  // NHWC [1, 2, 3, 4]
  const HostTensor expected = read_csv_tensor(dir + "/FusedBatchNormV3.prediction");
  const HostTensor out = run_dl4j(dir, "FusedBatchNormV3", nhwc_to_nchw(in));
  ASSERT_EQ(out.dims(), (Dims{1, 4, 2, 3}));
  EXPECT_LE(worst_relative_error(out, nhwc_to_nchw(expected)), 1e-5);
  // Outputs 1 and 2: the batch mean and the batch variance (Bessel-corrected, as TensorFlow).
  for (const char* k : {"1", "2"}) {
    const HostTensor stat = run_dl4j(dir, std::string("FusedBatchNormV3:") + k, nhwc_to_nchw(in));
    const HostTensor expected_stat = read_csv_tensor(dir + "/FusedBatchNormV3." + k + ".prediction");
    ASSERT_EQ(stat.dims(), expected_stat.dims()) << k;
    EXPECT_LE(worst_relative_error(stat, expected_stat), 1e-5) << k;
  }
}

TEST(Dl4jGraphs, MirrorPadReflectAndSymmetric) {
  for (const char* mode : {"reflect", "symmetric"}) {
    const std::string dir = kData + "/dl4j/pad/rank3Pone_" + mode;
    const HostTensor in = read_csv_tensor(dir + "/in_0.0.prediction_inbw");
    const HostTensor expected = read_csv_tensor(dir + "/MirrorPad.prediction");
    const HostTensor out = run_dl4j(dir, "MirrorPad", in);
    ASSERT_EQ(out.dims(), expected.dims()) << mode;
    EXPECT_EQ(worst_relative_error(out, expected), 0.0) << mode;  // padding copies values
  }
}

TEST(TensorflowImporter, TextAndBinaryGraphsGiveTheSameResult) {
  const std::string dir = kData + "/dl4j/fused_batch_norm/float32_nhwc";
  TensorflowImportOptions options;
  options.constants_as_inputs = {"in_0"};
  auto text = parse_tensorflow_file(dir + "/frozen_graph.pbtxt", options);
  auto binary = parse_tensorflow_file(dir + "/frozen_model.pb", options);
  ASSERT_TRUE(text.ok()) << text.status().message();
  ASSERT_TRUE(binary.ok()) << binary.status().message();
  EXPECT_EQ(text->num_layers(), binary->num_layers());
  EXPECT_EQ(text->num_parameters(), binary->num_parameters());
}

TEST(TensorflowImporter, NhwcConvolutionsNeedNoTranspose) {
  // Conv2D + BiasAdd + Relu on an NHWC placeholder: NCHW input, one Conv (bias taken in), Relu.
  TensorflowImportOptions options;
  options.input_shapes["input"] = {1, 3, 6, 5};
  auto net = parse_tensorflow_file(kData + "/opencv_extra/single_conv_net.pb", options);
  ASSERT_TRUE(net.ok()) << net.status().message();
  const ir::Graph& g = net->graph();
  EXPECT_EQ(g.value(g.inputs()[0]).dims, (Dims{1, 3, 6, 5}));
  for (int n = 0; n < g.num_nodes(); ++n) EXPECT_NE(g.node(n).op, ir::OpType::kTranspose);
  EXPECT_EQ(g.num_nodes(), 2);
}

TEST(TensorflowImporter, RefusesUnsupportedOpsByName) {
  auto net = parse_tensorflow_file(kData + "/opencv_extra/eltwise_add_mul_net.pb");
  ASSERT_FALSE(net.ok());
  EXPECT_NE(net.status().message().find("Tanh (node '"), std::string::npos) << net.status().message();
}

TEST(TensorflowImporter, ErrorsNameTheFileAndNode) {
  auto missing = parse_tensorflow_file(kData + "/no_such_graph.pb");
  EXPECT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no_such_graph.pb"), std::string::npos);
  const std::string bad = ::testing::TempDir() + "/bad.pbtxt";
  std::ofstream(bad) << "node { name: \"x\" op: \"Placeholder\" bogus_field: 1 }\n";
  auto text = parse_tensorflow_file(bad);
  ASSERT_FALSE(text.ok());
  EXPECT_NE(text.status().message().find("line 1"), std::string::npos) << text.status().message();
  TensorflowImportOptions options;
  options.outputs = {"no_such_node"};
  auto out = parse_tensorflow_file(kData + "/opencv_extra/single_conv_net.pb", options);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("no_such_node"), std::string::npos);
}

// A Keras learning-phase switch, frozen: Switch on a constant predicate, one branch per value,
// Merge. The taken branch stays; the other (and the Merge) leaves nothing in the network.
const char kSwitchGraph[] = R"pb(
  node {
    name: "x"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "shape"
      value {
        shape {
          dim { size: 1 }
          dim { size: 4 }
        }
      }
    }
  }
  node {
    name: "phase"
    op: "Const"
    attr {
      key: "dtype"
      value { type: DT_BOOL }
    }
    attr {
      key: "value"
      value {
        tensor {
          dtype: DT_BOOL
          tensor_shape {}
          bool_val: PHASE
        }
      }
    }
  }
  node { name: "switch" op: "Switch" input: "x" input: "phase" }
  node { name: "training" op: "Sigmoid" input: "switch:1" }
  node { name: "inference" op: "Relu" input: "switch" }
  node { name: "merge" op: "Merge" input: "training" input: "inference" }
  node { name: "y" op: "Identity" input: "merge" }
)pb";

std::vector<std::string> op_names(const NetworkDefinition& net) {
  std::vector<std::string> ops;
  for (int n = 0; n < net.graph().num_nodes(); ++n) ops.push_back(ir::op_name(net.graph().node(n).op));
  return ops;
}

TEST(TensorflowImporter, SwitchOnAConstantPredicateKeepsTheTakenBranch) {
  for (const char* phase : {"false", "true"}) {
    std::string text = kSwitchGraph;
    text.replace(text.find("PHASE"), 5, phase);
    const std::string path = ::testing::TempDir() + "/switch_" + phase + ".pbtxt";
    std::ofstream(path) << text;
    TensorflowImportOptions options;
    options.outputs = {"y"};
    auto net = parse_tensorflow_file(path, options);
    ASSERT_TRUE(net.ok()) << net.status().message();
    const std::vector<std::string> expected = {std::string(phase) == "true" ? "Sigmoid" : "Relu"};
    EXPECT_EQ(op_names(*net), expected) << phase;
    EXPECT_EQ(net->graph().value(net->graph().outputs()[0]).name, "y");
  }
}

// ZeroPadding2D + MaxPool: the pads join the pool only where the input is non-negative (a Relu
// before it), since zero padding and max pooling's -inf padding differ on negative values.
const char kPadPoolGraph[] = R"pb(
  node {
    name: "x"
    op: "Placeholder"
    attr {
      key: "dtype"
      value { type: DT_FLOAT }
    }
    attr {
      key: "shape"
      value {
        shape {
          dim { size: 1 }
          dim { size: 4 }
          dim { size: 4 }
          dim { size: 2 }
        }
      }
    }
  }
  node { name: "act" op: "ACT" input: "x" }
  node {
    name: "paddings"
    op: "Const"
    attr {
      key: "dtype"
      value { type: DT_INT32 }
    }
    attr {
      key: "value"
      value {
        tensor {
          dtype: DT_INT32
          tensor_shape {
            dim { size: 4 }
            dim { size: 2 }
          }
          int_val: [ 0, 0, 1, 1, 1, 1, 0, 0 ]
        }
      }
    }
  }
  node { name: "pad" op: "Pad" input: "act" input: "paddings" }
  node {
    name: "pool"
    op: "MaxPool"
    input: "pad"
    attr {
      key: "ksize"
      value { list { i: [ 1, 3, 3, 1 ] } }
    }
    attr {
      key: "strides"
      value { list { i: [ 1, 2, 2, 1 ] } }
    }
    attr {
      key: "padding"
      value { s: "VALID" }
    }
  }
)pb";

TEST(TensorflowImporter, ZeroPadJoinsAMaxPoolOnlyAfterRelu) {
  for (const char* act : {"Relu", "Sigmoid"}) {
    std::string text = kPadPoolGraph;
    text.replace(text.find("ACT"), 3, act);
    const std::string path = ::testing::TempDir() + "/pad_pool_" + act + ".pbtxt";
    std::ofstream(path) << text;
    auto net = parse_tensorflow_file(path);
    ASSERT_TRUE(net.ok()) << net.status().message();
    const bool relu = std::string(act) == "Relu";
    const std::vector<std::string> expected =
        relu ? std::vector<std::string>{"Relu", "MaxPool"} : std::vector<std::string>{"Sigmoid", "Pad", "MaxPool"};
    EXPECT_EQ(op_names(*net), expected);
    const ir::Graph& g = net->graph();
    const ir::Node& pool = g.node(g.num_nodes() - 1);
    EXPECT_EQ(pool.attrs.get_ints("pads"),
              relu ? (std::vector<int64_t>{1, 1, 1, 1}) : (std::vector<int64_t>{0, 0, 0, 0}));
    EXPECT_EQ(g.value(g.outputs()[0]).dims, (Dims{1, 2, 2, 2}));  // NCHW out of an NHWC graph
  }
}

TEST(TensorflowImporter, ListsItsOps) {
  const auto ops = supported_tensorflow_ops();
  for (const char* op : {"Conv2D", "FusedBatchNormV3", "MirrorPad", "Switch", "Merge", "StridedSlice"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), op), ops.end()) << op;
  }
}

}  // namespace
}  // namespace chexrt
