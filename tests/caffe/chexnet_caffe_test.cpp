// CheXNet as a Caffe model against PyTorch: scripts/make_caffe_chexnet.py (run by the ctest
// fixture caffe.make_chexnet) writes DenseNet_121.prototxt with CheXNet's head (InnerProduct 14 +
// Sigmoid) and a .caffemodel holding the seeded DenseNet-121 weights, and torchvision's output
// of the same weights on preprocessed X-rays. The Caffe definition's stem pool has
// `ceil_mode: false`, so every layer computes what torchvision's does (the script says why);
// what is compared is the 14 sigmoid outputs per image.
//
// The measure is the one of tests/models: e = ||y - y_torch||_2 / ||y_torch||_2 per image,
// below 1e-4 (PyTorch's own float32 drift from float64 is ~3e-7; a wrong op is 1e-2 or more).
#include <gtest/gtest.h>

#include "caffe_test_util.h"
#include "chexrt/caffe_parser.h"
#include "chexrt/onnx_parser.h"
#include "import/tensor_io.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "reference_data.h"

namespace chexrt {
namespace {

constexpr double kMaxRelativeError = 1e-4;

struct Generated {
  HostTensor inputs, outputs;
};

Result<Generated> load_generated() {
  const std::string dir = CHEXRT_CAFFE_CHEXNET_DIR;
  Generated g;
  CHEXRT_ASSIGN_OR_RETURN(g.inputs, read_npy(dir + "/inputs.npy"));
  CHEXRT_ASSIGN_OR_RETURN(g.outputs, read_npy(dir + "/outputs.npy"));
  return g;
}

Result<NetworkDefinition> parse(int64_t batch) {
  const std::string dir = CHEXRT_CAFFE_CHEXNET_DIR;
  CaffeImportOptions options;
  options.batch_size = batch;
  return parse_caffe_files(dir + "/chexnet.prototxt", dir + "/chexnet.caffemodel", options);
}

void expect_rows_match(const HostTensor& got, const HostTensor& want, const char* what) {
  ASSERT_EQ(got.dims(), want.dims()) << what;
  const int64_t rows = want.dims()[0], cols = want.dims()[1];
  for (int64_t r = 0; r < rows; ++r) {
    const HostTensor gr = HostTensor::from_floats(
        std::vector<float>(got.data<float>() + r * cols, got.data<float>() + (r + 1) * cols), {cols});
    const HostTensor wr = HostTensor::from_floats(
        std::vector<float>(want.data<float>() + r * cols, want.data<float>() + (r + 1) * cols), {cols});
    const double e = testing::relative_error(gr, wr);
    std::printf("%s, image %lld: relative error %.2e\n", what, static_cast<long long>(r), e);
    EXPECT_LT(e, kMaxRelativeError) << what << ", image " << r;
  }
}

TEST(ChexnetCaffe, CpuEngineMatchesPyTorch) {
  auto g = load_generated();
  ASSERT_TRUE(g.ok()) << g.status().to_string() << " (made by scripts/make_caffe_chexnet.py)";
  auto net = parse(g->inputs.dims()[0]);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = caffetest::run_engine(std::move(*net), Device::kCpu, {g->inputs});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  expect_rows_match(out->front(), g->outputs, "CPU engine");
}

TEST(ChexnetCaffe, ImportedGraphOnReferenceKernelsMatchesPyTorch) {
  auto g = load_generated();
  ASSERT_TRUE(g.ok()) << g.status().to_string() << " (made by scripts/make_caffe_chexnet.py)";
  auto net = parse(1);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto first = g->inputs.first_rows(1);
  auto want = g->outputs.first_rows(1);
  ASSERT_TRUE(first.ok() && want.ok());
  auto out = caffetest::run_reference(*net, {first->clone()});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  expect_rows_match(out->front(), want->clone(), "reference kernels");
}

// The Caffe model becomes the graph the ONNX export of the same network becomes (BatchNorm + Scale
// as one batch norm, the stem and transition pools without ceil rounding, Flatten + Gemm for the
// head), so the passes and every backend treat both alike: after the passes, the same compute
// nodes in the same order with the same shapes and attributes. Only the Concat nodes differ:
// torchvision concatenates a block's features at the start of each dense layer and once more at
// the block's end, the Caffe definition appends to a running concatenation after each layer.
std::vector<const ir::Node*> compute_nodes(const ir::Graph& g) {
  std::vector<const ir::Node*> nodes;
  for (int i = 0; i < g.num_nodes(); ++i) {
    if (g.node(i).op != ir::OpType::kConcat) nodes.push_back(&g.node(i));
  }
  return nodes;
}

TEST(ChexnetCaffe, OptimizedGraphIsTheOnnxModels) {
  const std::string onnx_path = std::string(CHEXRT_GENERATED_DIR) + "/densenet121_chexnet_seeded.onnx";
  auto onnx = parse_onnx_file(onnx_path);
  ASSERT_TRUE(onnx.ok()) << onnx.status().to_string() << " (made by scripts/make_reference_model.py)";
  auto caffe = parse(1);
  ASSERT_TRUE(caffe.ok()) << caffe.status().to_string();
  ASSERT_TRUE(passes::optimize(onnx->graph()).ok());
  ASSERT_TRUE(passes::optimize(caffe->graph()).ok());
  const ir::Graph& a = onnx->graph();
  const ir::Graph& b = caffe->graph();
  const std::vector<const ir::Node*> xs = compute_nodes(a), ys = compute_nodes(b);
  ASSERT_EQ(xs.size(), ys.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    const ir::Node& x = *xs[i];
    const ir::Node& y = *ys[i];
    ASSERT_EQ(std::string(ir::op_name(x.op)), ir::op_name(y.op)) << "node " << i << ": " << x.name << " / " << y.name;
    ASSERT_EQ(x.outputs.size(), y.outputs.size()) << x.name;
    for (size_t k = 0; k < x.outputs.size(); ++k) {
      EXPECT_EQ(a.value(x.outputs[k]).dims, b.value(y.outputs[k]).dims) << x.name << " / " << y.name;
    }
    EXPECT_EQ(x.attrs.all(), y.attrs.all()) << x.name << " / " << y.name;
  }
}

}  // namespace
}  // namespace chexrt
