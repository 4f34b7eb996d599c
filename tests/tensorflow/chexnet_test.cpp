// CheXNet as a Keras-style TensorFlow frozen graph (scripts/make_tensorflow_chexnet.py, from the
// same seeded weights as the ONNX model of scripts/make_reference_model.py): after the graph
// passes it is the ONNX model's graph node for node, so every backend builds the same engine from
// either file (checked here on the CPU backend, kernel for kernel: the dense blocks' Concats are
// in place in both), and its findings are the ONNX model's.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <map>

#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"
#include "chexrt/tensorflow_parser.h"
#include "import/tensor_io.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "runtime/backend_registry.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;

const std::string kGenerated = CHEXRT_GENERATED_DIR;
const std::string kOnnx = kGenerated + "/densenet121_chexnet_seeded.onnx";
const std::string kTensorflow = kGenerated + "/densenet121_chexnet_seeded.pb";

class TensorflowChexnet : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& path : {kOnnx, kTensorflow}) {
      ASSERT_TRUE(fs::exists(path)) << path
                                    << " is missing: run scripts/make_reference_model.py, then "
                                       "scripts/make_tensorflow_chexnet.py (scripts/test.sh runs both)";
    }
  }
};

ir::Graph optimized(NetworkDefinition net) {
  ir::Graph graph = std::move(net.graph());
  auto log = passes::optimize(graph);
  EXPECT_TRUE(log.ok()) << log.status().message();
  return graph;
}

// The nodes that run something: torchvision's first dense layer of each block reads
// torch.cat([x]), a one-input Concat that the concat plan makes a view of its input (no kernel);
// Keras's graph has no such node.
std::vector<int> working_nodes(const ir::Graph& g) {
  std::vector<int> nodes;
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (!(g.node(n).op == ir::OpType::kConcat && g.node(n).inputs.size() == 1)) nodes.push_back(n);
  }
  return nodes;
}

std::map<std::string, int> op_counts(const ir::Graph& g) {
  std::map<std::string, int> counts;
  for (int n : working_nodes(g)) ++counts[ir::op_name(g.node(n).op)];
  return counts;
}

TEST_F(TensorflowChexnet, OptimizesToTheOnnxModelsGraph) {
  auto tf = parse_tensorflow_file(kTensorflow);
  auto onnx = parse_onnx_file(kOnnx);
  ASSERT_TRUE(tf.ok()) << tf.status().message();
  ASSERT_TRUE(onnx.ok()) << onnx.status().message();
  // As imported: NCHW input, no Transpose anywhere.
  EXPECT_EQ(tf->graph().value(tf->graph().inputs()[0]).dims, (Dims{1, 3, 224, 224}));
  const ir::Graph a = optimized(std::move(*tf));
  const ir::Graph b = optimized(std::move(*onnx));
  EXPECT_EQ(op_counts(a).count("Transpose"), 0u);
  EXPECT_EQ(op_counts(a), op_counts(b));
  const std::vector<int> na = working_nodes(a), nb = working_nodes(b);
  ASSERT_EQ(na.size(), nb.size());
  EXPECT_EQ(na.size(), static_cast<size_t>(a.num_nodes()));
  // Node for node: the same op, inputs, attributes and output shape (what kernels depend on).
  for (size_t i = 0; i < na.size(); ++i) {
    const ir::Node& x = a.node(na[i]);
    const ir::Node& y = b.node(nb[i]);
    EXPECT_EQ(x.op, y.op) << x.name << " vs " << y.name;
    EXPECT_EQ(x.inputs.size(), y.inputs.size()) << x.name << " vs " << y.name;
    EXPECT_EQ(a.value(x.outputs[0]).dims, b.value(y.outputs[0]).dims) << x.name << " vs " << y.name;
    for (const char* attr : {"kernel_shape", "strides", "pads", "dilations"}) {
      EXPECT_EQ(x.attrs.get_ints(attr), y.attrs.get_ints(attr)) << attr << " of " << x.name << " vs " << y.name;
    }
    EXPECT_EQ(x.attrs.get_string("activation", ""), y.attrs.get_string("activation", "")) << x.name;
  }
}

TEST_F(TensorflowChexnet, GivesTheOnnxModelsFindings) {
  // The CPU backend when this build has it (seconds), else the reference kernels.
  std::string why;
  const bool cpu = backends::find_backend(Device::kCpu)->make()->available(&why);
  BuildOptions build;
  build.device = cpu ? Device::kCpu : Device::kReference;
  HostTensor image;
  for (const auto& entry : fs::directory_iterator(kGenerated + "/reference")) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 10 && name.substr(name.size() - 10) == ".input.npy") {
      auto t = read_npy(entry.path().string());
      ASSERT_TRUE(t.ok()) << t.status().message();
      image = *t;
      break;
    }
  }
  ASSERT_FALSE(image.empty()) << "no reference input in " << kGenerated << "/reference";
  std::vector<HostTensor> findings[2];
  std::vector<std::string> kernels[2];
  const std::string models[2] = {kTensorflow, kOnnx};
  for (int m = 0; m < 2; ++m) {
    auto net = m == 0 ? parse_tensorflow_file(models[m]) : parse_onnx_file(models[m]);
    ASSERT_TRUE(net.ok()) << net.status().message();
    // The kernel of every node that runs something (see working_nodes), in order.
    const ir::Graph graph = optimized(std::move(*net));
    auto again = m == 0 ? parse_tensorflow_file(models[m]) : parse_onnx_file(models[m]);
    ASSERT_TRUE(again.ok());
    auto engine = build_engine(std::move(*again), build);
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    const std::vector<std::string> tactics = (*engine)->node_tactics();
    if (static_cast<int>(tactics.size()) == graph.num_nodes()) {
      // "fused into <node>" names the node, whose name differs between the formats.
      for (int n : working_nodes(graph)) {
        kernels[m].push_back(tactics[n].rfind("fused into ", 0) == 0 ? "fused into its reader" : tactics[n]);
      }
    }
    ASSERT_TRUE((*engine)->infer({image}, &findings[m]).ok());
    ASSERT_EQ(findings[m].size(), 1u);
  }
  if (cpu) EXPECT_FALSE(kernels[0].empty()) << "the CPU engine reports its kernels";
  EXPECT_EQ(kernels[0], kernels[1]) << "the engines' kernels differ";
  ASSERT_EQ(findings[0][0].dims(), (Dims{1, 14}));
  ASSERT_EQ(findings[0][0].dims(), findings[1][0].dims());
  for (int k = 0; k < 14; ++k) {
    EXPECT_NEAR(findings[0][0].data<float>()[k], findings[1][0].data<float>()[k], 1e-5) << "finding " << k;
  }
}

}  // namespace
}  // namespace chexrt
