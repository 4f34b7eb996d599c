// ONNX importer tests on small models built here with the generated protobuf classes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "chexrt/onnx_parser.h"
#include "import/onnx/onnx_tensor.h"
#include "ir/graph.h"
#include "ir/ops.h"
#include "onnx_proto/onnx.pb.h"
#include "runtime/graph_executor.h"

namespace chexrt {
namespace {

namespace fs = std::filesystem;
using onnx::TensorProto;

constexpr int64_t kDynamic = -1;  // a dim_param ("N") dimension in ModelBuilder::input

// A model under construction: one graph, default domain at `opset`.
class ModelBuilder {
 public:
  explicit ModelBuilder(int64_t opset = 13) {
    model_.set_ir_version(7);
    auto* o = model_.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph_ = model_.mutable_graph();
    graph_->set_name("test");
  }

  onnx::ValueInfoProto* input(const std::string& name, int32_t elem_type, const std::vector<int64_t>& dims) {
    auto* in = graph_->add_input();
    in->set_name(name);
    auto* t = in->mutable_type()->mutable_tensor_type();
    t->set_elem_type(elem_type);
    auto* shape = t->mutable_shape();
    for (int64_t d : dims) {
      if (d == kDynamic) {
        shape->add_dim()->set_dim_param("N");
      } else
        shape->add_dim()->set_dim_value(d);
    }
    return in;
  }

  void output(const std::string& name) { graph_->add_output()->set_name(name); }

  onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, const std::string& name = "") {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }

  TensorProto* initializer(const std::string& name, const std::vector<float>& values,
                           const std::vector<int64_t>& dims) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float v : values) t->add_float_data(v);
    return t;
  }

  TensorProto* int_initializer(const std::string& name, const std::vector<int64_t>& values,
                               const std::vector<int64_t>& dims) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : values) t->add_int64_data(v);
    return t;
  }

  onnx::ModelProto& model() { return model_; }
  onnx::GraphProto& graph() { return *graph_; }
  std::string bytes() const { return model_.SerializeAsString(); }

 private:
  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
};

void attr_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}

void attr_string(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

TensorProto* attr_tensor(onnx::NodeProto* n, const std::string& name) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::TENSOR);
  return a->mutable_t();
}

// A Constant node holding int64 values.
void constant_ints(ModelBuilder& m, const std::string& out, const std::vector<int64_t>& values, bool scalar = false) {
  auto* t = attr_tensor(m.node("Constant", {}, {out}, out + "_const"), "value");
  t->set_data_type(TensorProto::INT64);
  if (!scalar) t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
}

Result<NetworkDefinition> parse(const ModelBuilder& m, const OnnxImportOptions& options = {}) {
  return parse_onnx_bytes(m.bytes(), "", options);
}

std::vector<float> iota_floats(size_t n, float start = 0.f, float step = 1.f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

std::vector<float> floats_of(const HostTensor& t) {
  const float* p = t.data<float>();
  return std::vector<float>(p, p + t.numel());
}

// Runs the network's graph on the reference backend with one input.
std::vector<HostTensor> run(const NetworkDefinition& net, const std::vector<HostTensor>& inputs) {
  auto out = runtime::run_reference(net.graph(), inputs);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  return out.ok() ? *out : std::vector<HostTensor>{};
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A scratch directory, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::path(testing::TempDir()) /
            ("chexrt_onnx_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// --- graph inputs and initializers -------------------------------------------------------------

TEST(OnnxImporter, InitializerListedAsInputIsAConstant) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {2, 3});
  m.input("w", TensorProto::FLOAT, {3});  // old exporters list initializers as inputs too
  m.initializer("w", {10.f, 20.f, 30.f}, {3});
  m.node("Add", {"x", "w"}, {"y"}, "add0");
  m.output("y");
  auto net = parse(m);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const ir::Graph& g = net->graph();
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.value(g.inputs()[0]).name, "x");
  EXPECT_TRUE(g.value(g.find_value("w")).is_constant());
  const std::vector<float> x = iota_floats(6);
  auto out = run(*net, {HostTensor::from_floats(x, {2, 3})});
  ASSERT_EQ(out.size(), 1u);
  const float w[3] = {10.f, 20.f, 30.f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(out[0].data<float>()[i], x[i] + w[i % 3]) << i;
}

TEST(OnnxImporter, KeepsTheModelsTensorNames) {
  ModelBuilder m;
  m.input("input.1", TensorProto::FLOAT, {1, 4});
  m.node("Relu", {"input.1"}, {"onnx::Sigmoid_3"}, "/features/relu");
  m.node("Sigmoid", {"onnx::Sigmoid_3"}, {"probabilities"}, "/head/sigmoid");
  m.output("probabilities");
  auto net = parse(m);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  const ir::Graph& g = net->graph();
  EXPECT_GE(g.find_value("onnx::Sigmoid_3"), 0);
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.value(g.outputs()[0]).name, "probabilities");
  EXPECT_EQ(g.node(0).name, "/features/relu");
  EXPECT_EQ(g.node(1).name, "/head/sigmoid");
}

TEST(OnnxImporter, DynamicBatchDimensionTakesTheBatchSize) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {kDynamic, 3});
  m.node("Relu", {"x"}, {"y"});
  m.output("y");
  OnnxImportOptions options;
  options.batch_size = 4;
  auto net = parse(m, options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  EXPECT_EQ(net->tensor_dims(net->find_tensor("x")), (Dims{4, 3}));
  EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{4, 3}));
}

TEST(OnnxImporter, DynamicNonBatchDimensionIsAnError) {
  ModelBuilder m;
  m.input("image", TensorProto::FLOAT, {1, kDynamic});
  m.node("Relu", {"image"}, {"y"});
  m.output("y");
  auto net = parse(m);
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(net.status().message(), "graph input 'image': dimension 1 is 'N'")) << net.status().message();
}

TEST(OnnxImporter, ConstantInputsAreBoundAtBuildTime) {
  ModelBuilder m;
  m.input("data", TensorProto::FLOAT, {2, 3, 4});
  m.input("shape", TensorProto::INT64, {2});
  m.node("Reshape", {"data", "shape"}, {"reshaped"});
  m.output("reshaped");
  OnnxImportOptions options;
  options.constant_inputs["shape"] = HostTensor::from_int64s({4, -1}, {2});
  auto net = parse(m, options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  EXPECT_EQ(net->graph().inputs().size(), 1u);
  EXPECT_EQ(net->tensor_dims(net->find_tensor("reshaped")), (Dims{4, 6}));

  OnnxImportOptions wrong_type;
  wrong_type.constant_inputs["shape"] = HostTensor::from_floats({4, 6}, {2});
  auto bad = parse(m, wrong_type);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(contains(bad.status().message(), "graph input 'shape'")) << bad.status().message();

  OnnxImportOptions unknown;
  unknown.constant_inputs["shapes"] = HostTensor::from_int64s({4, 6}, {2});
  auto missing = parse(m, unknown);
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(contains(missing.status().message(), "'shapes' is not a graph input")) << missing.status().message();
}

// --- tensor data -------------------------------------------------------------------------------

template <class T>
std::string raw_bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

TEST(OnnxTensor, RawAndTypedDataDecodeAlike) {
  const std::vector<float> f = {1.5f, -2.f, 0.25f, 1e-3f, 3e4f, -0.f};
  TensorProto typed;
  typed.set_name("w");
  typed.set_data_type(TensorProto::FLOAT);
  typed.add_dims(2);
  typed.add_dims(3);
  for (float v : f) typed.add_float_data(v);
  TensorProto raw = typed;
  raw.clear_float_data();
  raw.set_raw_data(raw_bytes(f));
  for (const TensorProto* p : {&typed, &raw}) {
    auto t = onnx_import::tensor_from_proto(*p, "");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->dtype(), DataType::kFloat32);
    EXPECT_EQ(t->dims(), (Dims{2, 3}));
    EXPECT_EQ(std::memcmp(t->raw(), f.data(), 6 * sizeof(float)), 0);
  }

  const std::vector<int64_t> i = {-1, 0, int64_t{1} << 40};
  TensorProto i64;
  i64.set_data_type(TensorProto::INT64);
  i64.add_dims(3);
  for (int64_t v : i) i64.add_int64_data(v);
  TensorProto i64_raw = i64;
  i64_raw.clear_int64_data();
  i64_raw.set_raw_data(raw_bytes(i));
  for (const TensorProto* p : {&i64, &i64_raw}) {
    auto t = onnx_import::tensor_from_proto(*p, "");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->to_int64s(), i);
  }

  const std::vector<double> d = {0.1, -1e300};
  TensorProto f64;
  f64.set_data_type(TensorProto::DOUBLE);
  f64.add_dims(2);
  for (double v : d) f64.add_double_data(v);
  auto t64 = onnx_import::tensor_from_proto(f64, "");
  ASSERT_TRUE(t64.ok());
  EXPECT_EQ(t64->to_doubles(), d);
}

TEST(OnnxTensor, SmallIntegerTypesTravelInInt32Data) {
  struct Case {
    int32_t onnx_type;
    DataType dtype;
    std::vector<int32_t> values;
  };
  const Case cases[] = {{TensorProto::UINT8, DataType::kUInt8, {0, 7, 255}},
                        {TensorProto::INT8, DataType::kInt8, {-128, 0, 127}},
                        {TensorProto::INT32, DataType::kInt32, {-70000, 0, 70000}},
                        {TensorProto::BOOL, DataType::kBool, {1, 0, 1}}};
  for (const auto& c : cases) {
    TensorProto p;
    p.set_data_type(c.onnx_type);
    p.add_dims(3);
    for (int32_t v : c.values) p.add_int32_data(v);
    auto t = onnx_import::tensor_from_proto(p, "");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->dtype(), c.dtype);
    EXPECT_EQ(t->to_int64s(), std::vector<int64_t>(c.values.begin(), c.values.end()));
  }
}

TEST(OnnxTensor, Float16FromRawAndInt32Data) {
  // Exactly representable in binary16: 1.5, -2.25, 2^-10, the largest half 65504, and a subnormal 2^-24.
  const std::vector<float> values = {1.5f, -2.25f, 0.0009765625f, 65504.f, 5.9604644775390625e-8f};
  std::vector<uint16_t> bits;
  for (float v : values) bits.push_back(float_to_half(v));
  TensorProto typed;
  typed.set_data_type(TensorProto::FLOAT16);
  typed.add_dims(5);
  for (uint16_t b : bits) typed.add_int32_data(b);
  TensorProto raw = typed;
  raw.clear_int32_data();
  raw.set_raw_data(raw_bytes(bits));
  for (const TensorProto* p : {&typed, &raw}) {
    auto t = onnx_import::tensor_from_proto(*p, "");
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    EXPECT_EQ(t->dtype(), DataType::kFloat16);
    const std::vector<double> got = t->to_doubles();
    for (size_t k = 0; k < values.size(); ++k) EXPECT_EQ(got[k], values[k]) << k;
  }
}

TEST(OnnxTensor, MalformedDataNamesTheTensor) {
  TensorProto short_raw;
  short_raw.set_name("conv0.weight");
  short_raw.set_data_type(TensorProto::FLOAT);
  short_raw.add_dims(4);
  short_raw.set_raw_data(std::string(12, '\0'));
  auto a = onnx_import::tensor_from_proto(short_raw, "");
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), StatusCode::kParseError);
  EXPECT_TRUE(contains(a.status().message(), "tensor 'conv0.weight': raw_data has 12 bytes")) << a.status().message();

  TensorProto few_values;
  few_values.set_name("b");
  few_values.set_data_type(TensorProto::FLOAT);
  few_values.add_dims(3);
  few_values.add_float_data(1.f);
  auto b = onnx_import::tensor_from_proto(few_values, "");
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(contains(b.status().message(), "float_data holds 1 values")) << b.status().message();

  TensorProto huge;
  huge.set_name("huge");
  huge.set_data_type(TensorProto::FLOAT);
  huge.add_dims(int64_t{1} << 30);
  huge.add_dims(int64_t{1} << 30);
  auto h = onnx_import::tensor_from_proto(huge, "");
  ASSERT_FALSE(h.ok());
  EXPECT_TRUE(contains(h.status().message(), "implausibly large")) << h.status().message();

  TensorProto strings;
  strings.set_name("labels");
  strings.set_data_type(TensorProto::STRING);
  auto c = onnx_import::tensor_from_proto(strings, "");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(contains(c.status().message(), "STRING")) << c.status().message();
}

TEST(OnnxImporter, Float16InitializerThroughCast) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {3});
  auto* w = m.graph().add_initializer();
  w->set_name("w16");
  w->set_data_type(TensorProto::FLOAT16);
  w->add_dims(3);
  const std::vector<float> wv = {0.5f, -1.25f, 1024.f};
  for (float v : wv) w->add_int32_data(float_to_half(v));
  attr_int(m.node("Cast", {"w16"}, {"w"}, "cast_w"), "to", TensorProto::FLOAT);
  m.node("Mul", {"x", "w"}, {"y"}, "mul");
  m.output("y");
  auto net = parse(m);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  // The Cast of a constant is folded: only Mul remains, reading a float32 constant.
  ASSERT_EQ(net->num_layers(), 1);
  const ir::Value& folded = net->graph().value(net->graph().find_value("w"));
  ASSERT_TRUE(folded.is_constant());
  EXPECT_EQ(folded.dtype, DataType::kFloat32);
  auto out = run(*net, {HostTensor::from_floats({2.f, 4.f, -1.f}, {3})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(floats_of(out[0]), (std::vector<float>{2.f * wv[0], 4.f * wv[1], -1.f * wv[2]}));
}

TEST(OnnxImporter, ExternalDataNextToTheModel) {
  TempDir dir;
  const std::vector<float> w = {1.f, 2.f, 3.f, -4.f, 5.f, 6.5f};
  write_file(dir.path() / "weights.bin", std::string(16, 'x') + raw_bytes(w));
  const auto make = [&](const std::string& location, const std::string& offset, const std::string& length) {
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {2, 3});
    auto* t = m.graph().add_initializer();
    t->set_name("w");
    t->set_data_type(TensorProto::FLOAT);
    t->add_dims(2);
    t->add_dims(3);
    t->set_data_location(TensorProto::EXTERNAL);
    const std::pair<const char*, std::string> entries[] = {
        {"location", location}, {"offset", offset}, {"length", length}};
    for (const auto& [key, value] : entries) {
      auto* e = t->add_external_data();
      e->set_key(key);
      e->set_value(value);
    }
    m.node("Add", {"x", "w"}, {"y"}, "add");
    m.output("y");
    return m;
  };

  const ModelBuilder good = make("weights.bin", "16", "24");
  write_file(dir.path() / "model.onnx", good.bytes());
  auto net = parse_onnx_file((dir.path() / "model.onnx").string());
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = run(*net, {HostTensor(DataType::kFloat32, {2, 3})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(floats_of(out[0]), w);

  auto escape = parse_onnx_bytes(make("../weights.bin", "16", "24").bytes(), dir.path().string());
  ASSERT_FALSE(escape.ok());
  EXPECT_TRUE(contains(escape.status().message(), "tensor 'w': external data location '../weights.bin' leaves"))
      << escape.status().message();
  auto absolute = parse_onnx_bytes(make((dir.path() / "weights.bin").string(), "16", "24").bytes(), "");
  ASSERT_FALSE(absolute.ok());
  EXPECT_TRUE(contains(absolute.status().message(), "is an absolute path")) << absolute.status().message();
  auto past_end = parse_onnx_bytes(make("weights.bin", "24", "24").bytes(), dir.path().string());
  ASSERT_FALSE(past_end.ok());
  EXPECT_TRUE(contains(past_end.status().message(), "has 40 bytes, needs 48")) << past_end.status().message();
  auto wrong_length = parse_onnx_bytes(make("weights.bin", "16", "20").bytes(), dir.path().string());
  ASSERT_FALSE(wrong_length.ok());
  EXPECT_TRUE(contains(wrong_length.status().message(), "length 20 does not match")) << wrong_length.status().message();
  auto missing = parse_onnx_bytes(make("other.bin", "0", "24").bytes(), dir.path().string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
}

// --- constant folding --------------------------------------------------------------------------

// The flatten glue PyTorch exports for x.view(x.size(0), -1):
//   Shape(x) -> Gather(0) -> Unsqueeze(0) -> Concat(with [-1]) -> Reshape(x, .)
ModelBuilder flatten_glue_model(int64_t opset) {
  ModelBuilder m(opset);
  m.input("x", TensorProto::FLOAT, {kDynamic, 3, 2, 2});
  m.node("Shape", {"x"}, {"x_shape"}, "shape");
  constant_ints(m, "zero", {0}, /*scalar=*/true);
  attr_int(m.node("Gather", {"x_shape", "zero"}, {"batch"}, "gather"), "axis", 0);
  if (opset >= 13) {
    constant_ints(m, "axes", {0});
    m.node("Unsqueeze", {"batch", "axes"}, {"batch_1d"}, "unsqueeze");
  } else {
    attr_ints(m.node("Unsqueeze", {"batch"}, {"batch_1d"}, "unsqueeze"), "axes", {0});
  }
  constant_ints(m, "minus_one", {-1});
  attr_int(m.node("Concat", {"batch_1d", "minus_one"}, {"new_shape"}, "concat"), "axis", 0);
  m.node("Reshape", {"x", "new_shape"}, {"y"}, "reshape");
  m.output("y");
  return m;
}

class FlattenGlue : public testing::TestWithParam<int64_t> {};

TEST_P(FlattenGlue, FoldsToOneReshape) {
  OnnxImportOptions options;
  options.batch_size = 2;
  auto net = parse(flatten_glue_model(GetParam()), options);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  ASSERT_EQ(net->num_layers(), 1);
  const ir::Graph& g = net->graph();
  EXPECT_EQ(g.node(0).op, ir::OpType::kReshape);
  const ir::Value& shape = g.value(g.node(0).inputs[1]);
  ASSERT_TRUE(shape.is_constant());
  EXPECT_EQ(shape.name, "new_shape");
  EXPECT_EQ(shape.constant.to_int64s(), (std::vector<int64_t>{2, -1}));
  EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{2, 12}));
  const std::vector<float> x = iota_floats(24, -3.f, 0.5f);
  auto out = run(*net, {HostTensor::from_floats(x, {2, 3, 2, 2})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dims(), (Dims{2, 12}));
  EXPECT_EQ(floats_of(out[0]), x);
}

INSTANTIATE_TEST_SUITE_P(Opsets, FlattenGlue, testing::Values(11, 13), [](const testing::TestParamInfo<int64_t>& info) {
  return "opset" + std::to_string(info.param);
});

TEST(OnnxImporter, WithoutFoldingShapesFromNodesAreNotKnown) {
  OnnxImportOptions options;
  options.fold_constants = false;
  auto net = parse(flatten_glue_model(13), options);
  ASSERT_FALSE(net.ok());
  EXPECT_TRUE(contains(net.status().message(), "node 'reshape' (Reshape): shape input 'new_shape' must be known"))
      << net.status().message();
}

TEST(OnnxImporter, WithoutFoldingEveryNodeIsKept) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {2});
  constant_ints(m, "shape", {2});
  auto* fill = m.node("ConstantOfShape", {"shape"}, {"half"}, "fill");
  auto* value = attr_tensor(fill, "value");
  value->set_data_type(TensorProto::FLOAT);
  value->add_dims(1);
  value->add_float_data(0.5f);
  m.node("Add", {"x", "half"}, {"y"}, "add");
  m.output("y");
  for (bool fold : {true, false}) {
    OnnxImportOptions options;
    options.fold_constants = fold;
    auto net = parse(m, options);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    EXPECT_EQ(net->num_layers(), fold ? 1 : 2);
    auto out = run(*net, {HostTensor::from_floats({1.f, -2.f}, {2})});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(floats_of(out[0]), (std::vector<float>{1.5f, -1.5f})) << "fold=" << fold;
  }
}

// --- opset differences -------------------------------------------------------------------------

// exp(x - max) / sum(exp(x - max)) over each group of `group` consecutive elements.
std::vector<float> softmax_groups(const std::vector<float>& x, size_t group) {
  std::vector<float> y(x.size());
  for (size_t g = 0; g < x.size(); g += group) {
    const float m = *std::max_element(x.begin() + g, x.begin() + g + group);
    double sum = 0;
    for (size_t i = g; i < g + group; ++i) sum += std::exp(double(x[i]) - m);
    for (size_t i = g; i < g + group; ++i) y[i] = static_cast<float>(std::exp(double(x[i]) - m) / sum);
  }
  return y;
}

TEST(OnnxImporter, SoftmaxBeforeOpset13FlattensAtTheAxis) {
  ModelBuilder m(11);
  m.input("x", TensorProto::FLOAT, {2, 3, 4});
  attr_int(m.node("Softmax", {"x"}, {"y"}, "softmax"), "axis", 1);
  m.output("y");
  auto net = parse(m);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  EXPECT_EQ(net->num_layers(), 3);  // Flatten, Softmax, Reshape
  EXPECT_EQ(net->tensor_dims(net->find_tensor("y")), (Dims{2, 3, 4}));
  const std::vector<float> x = iota_floats(24, -2.f, 0.3f);
  auto out = run(*net, {HostTensor::from_floats(x, {2, 3, 4})});
  ASSERT_EQ(out.size(), 1u);
  const std::vector<float> expected = softmax_groups(x, 12);  // one distribution per batch item
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(out[0].data<float>()[i], expected[i], 1e-6f) << i;
}

TEST(OnnxImporter, SoftmaxOverTheLastAxisIsOneLayerInEveryOpset) {
  for (int64_t opset : {11, 13}) {
    ModelBuilder m(opset);
    m.input("x", TensorProto::FLOAT, {2, 3});
    auto* n = m.node("Softmax", {"x"}, {"y"}, "softmax");
    if (opset < 13) attr_int(n, "axis", 1);
    m.output("y");
    auto net = parse(m);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    EXPECT_EQ(net->num_layers(), 1);
    const std::vector<float> x = {0.f, 1.f, 2.f, -1.f, 5.f, 3.f};
    auto out = run(*net, {HostTensor::from_floats(x, {2, 3})});
    ASSERT_EQ(out.size(), 1u);
    const std::vector<float> expected = softmax_groups(x, 3);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(out[0].data<float>()[i], expected[i], 1e-6f) << i;
  }
}

TEST(OnnxImporter, ReduceAxesAsAttributeOrInput) {
  // ReduceMax takes axes as an input from opset 18, ReduceSum from opset 13.
  struct Case {
    const char* op;
    int64_t opset;
    bool axes_input;
  };
  for (const Case c : {Case{"ReduceMax", 13, false}, Case{"ReduceMax", 18, true}, Case{"ReduceSum", 11, false},
                       Case{"ReduceSum", 13, true}}) {
    SCOPED_TRACE(std::string(c.op) + " opset " + std::to_string(c.opset));
    ModelBuilder m(c.opset);
    m.input("x", TensorProto::FLOAT, {2, 3});
    onnx::NodeProto* n;
    if (c.axes_input) {
      constant_ints(m, "axes", {-1});
      n = m.node(c.op, {"x", "axes"}, {"y"}, "reduce");
    } else {
      n = m.node(c.op, {"x"}, {"y"}, "reduce");
      attr_ints(n, "axes", {-1});
    }
    attr_int(n, "keepdims", 0);
    m.output("y");
    auto net = parse(m);
    ASSERT_TRUE(net.ok()) << net.status().to_string();
    auto out = run(*net, {HostTensor::from_floats({1.f, 5.f, 2.f, -4.f, -3.f, -6.f}, {2, 3})});
    ASSERT_EQ(out.size(), 1u);
    const bool max = std::string(c.op) == "ReduceMax";
    EXPECT_EQ(floats_of(out[0]), max ? (std::vector<float>{5.f, -3.f}) : (std::vector<float>{8.f, -13.f}));
  }
}

TEST(OnnxImporter, BatchNormExtraOutputsOnlyInTraining) {
  const auto model = [](bool use_mean) {
    ModelBuilder m(9);
    m.input("x", TensorProto::FLOAT, {1, 2, 1, 1});
    for (const char* p : {"s", "b", "mean", "var"}) m.initializer(p, {1.f, 1.f}, {2});
    m.node("BatchNormalization", {"x", "s", "b", "mean", "var"}, {"y", "running_mean", "running_var"}, "bn");
    m.output("y");
    if (use_mean) m.output("running_mean");
    return m;
  };
  auto inference = parse(model(false));
  ASSERT_TRUE(inference.ok()) << inference.status().to_string();
  EXPECT_EQ(inference->num_layers(), 1);
  EXPECT_EQ(inference->graph().node(0).outputs.size(), 1u);
  auto training = parse(model(true));
  ASSERT_FALSE(training.ok());
  EXPECT_EQ(training.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(contains(training.status().message(), "node 'bn' (BatchNormalization): output 1 ('running_mean')"))
      << training.status().message();
}

TEST(OnnxImporter, DropoutIsIdentityAndItsMaskIsRefused) {
  ModelBuilder m(12);
  m.input("x", TensorProto::FLOAT, {3});
  m.node("Dropout", {"x"}, {"y", "mask"}, "drop");
  m.output("y");
  auto net = parse(m);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  auto out = run(*net, {HostTensor::from_floats({1.f, -2.f, 3.f}, {3})});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(floats_of(out[0]), (std::vector<float>{1.f, -2.f, 3.f}));

  m.output("mask");
  auto with_mask = parse(m);
  ASSERT_FALSE(with_mask.ok());
  EXPECT_TRUE(
      contains(with_mask.status().message(), "node 'drop' (Dropout): the mask output ('mask') is not supported"))
      << with_mask.status().message();
}

TEST(OnnxImporter, ZeroPadIsAnIdentityOtherPadsAreRefused) {
  for (int64_t opset : {9, 13}) {
    for (bool zero : {true, false}) {
      SCOPED_TRACE("opset " + std::to_string(opset) + (zero ? " zero pads" : " real pads"));
      const std::vector<int64_t> pads =
          zero ? std::vector<int64_t>(8, 0) : std::vector<int64_t>{0, 0, 1, 1, 0, 0, 1, 1};
      ModelBuilder m(opset);
      m.input("x", TensorProto::FLOAT, {1, 1, 2, 2});
      if (opset < 11) {
        attr_ints(m.node("Pad", {"x"}, {"padded"}, "pad"), "pads", pads);
      } else {
        constant_ints(m, "pads", pads);
        m.node("Pad", {"x", "pads"}, {"padded"}, "pad");
      }
      m.node("Relu", {"padded"}, {"y"}, "relu");
      m.output("y");
      auto net = parse(m);
      if (!zero) {
        ASSERT_FALSE(net.ok());
        EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
        EXPECT_TRUE(
            contains(net.status().message(), "node 'pad' (Pad): padding [0, 0, 1, 1, 0, 0, 1, 1] is not supported"))
            << net.status().message();
        continue;
      }
      ASSERT_TRUE(net.ok()) << net.status().to_string();
      auto out = run(*net, {HostTensor::from_floats({1.f, -2.f, 3.f, -4.f}, {1, 1, 2, 2})});
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(floats_of(out[0]), (std::vector<float>{1.f, 0.f, 3.f, 0.f}));
    }
  }
}

// --- errors ------------------------------------------------------------------------------------

TEST(OnnxImporterErrors, UnknownOpNamesTheFileNodeAndOp) {
  TempDir dir;
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {1, 4, 8});
  m.node("LSTM", {"x"}, {"y"}, "foo");
  m.output("y");
  const fs::path path = dir.path() / "model.onnx";
  write_file(path, m.bytes());
  auto net = parse_onnx_file(path.string());
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(net.status().message(), path.string() + ": node 'foo' (LSTM): op is not supported by chexrt");
}

TEST(OnnxImporterErrors, UnnamedNodesAreNamedByOpAndIndex) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {4});
  m.node("Relu", {"x"}, {"r"});
  m.node("Erf", {"r"}, {"y"});
  m.output("y");
  auto net = parse(m);
  ASSERT_FALSE(net.ok());
  EXPECT_TRUE(contains(net.status().message(), "node 'Erf_1' (Erf): op is not supported")) << net.status().message();
}

TEST(OnnxImporterErrors, NonDefaultDomain) {
  ModelBuilder m;
  auto* o = m.model().add_opset_import();
  o->set_domain("com.microsoft");
  o->set_version(1);
  m.input("x", TensorProto::FLOAT, {1, 3, 8, 8});
  m.node("FusedConv", {"x"}, {"y"}, "fused")->set_domain("com.microsoft");
  m.output("y");
  auto net = parse(m);
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(contains(net.status().message(), "node 'fused' (FusedConv): domain 'com.microsoft' is not supported"))
      << net.status().message();
}

TEST(OnnxImporterErrors, MissingInput) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {4});
  m.node("Add", {"x", "nowhere"}, {"y"}, "add0");
  m.output("y");
  auto net = parse(m);
  ASSERT_FALSE(net.ok());
  EXPECT_TRUE(contains(net.status().message(), "node 'add0' (Add): input 'nowhere' is not a graph input"))
      << net.status().message();
}

TEST(OnnxImporterErrors, BadAttributes) {
  struct Case {
    std::function<void(onnx::NodeProto*)> set;
    std::string message;
  };
  const Case cases[] = {
      {[](onnx::NodeProto* n) { attr_string(n, "auto_pad", "MIDDLE"); }, "attribute auto_pad='MIDDLE' is not one of"},
      {[](onnx::NodeProto* n) { attr_float(n, "group", 1.f); }, "attribute 'group' is FLOAT, expected INT"},
      {[](onnx::NodeProto* n) { attr_int(n, "winograd", 1); }, "attribute 'winograd' is not supported"},
      {[](onnx::NodeProto* n) {
         attr_ints(n, "strides", {0, 1});
       },
       "attribute strides has a non-positive value 0"},
  };
  for (const auto& c : cases) {
    ModelBuilder m;
    m.input("x", TensorProto::FLOAT, {1, 1, 4, 4});
    m.initializer("w", std::vector<float>(9, 1.f), {1, 1, 3, 3});
    c.set(m.node("Conv", {"x", "w"}, {"y"}, "conv0"));
    m.output("y");
    auto net = parse(m);
    ASSERT_FALSE(net.ok()) << c.message;
    EXPECT_TRUE(contains(net.status().message(), "node 'conv0' (Conv): " + c.message)) << net.status().message();
  }
}

TEST(OnnxImporterErrors, ShapeErrorsNameTheNodeOnce) {
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {1, 3, 8, 8});
  m.initializer("w", std::vector<float>(4 * 5 * 9, 0.f), {4, 5, 3, 3});
  m.node("Conv", {"x", "w"}, {"y"}, "conv0");
  m.output("y");
  auto net = parse(m);
  ASSERT_FALSE(net.ok());
  const std::string& msg = net.status().message();
  EXPECT_EQ(msg.rfind("(in-memory model): node 'conv0' (Conv): weight [4, 5, 3, 3] does not fit", 0), 0u) << msg;
  EXPECT_EQ(msg.find("node 'conv0'"), msg.rfind("node 'conv0'")) << msg;
}

TEST(OnnxImporterErrors, TruncatedFile) {
  TempDir dir;
  ModelBuilder m;
  m.input("x", TensorProto::FLOAT, {256});
  auto* w = m.initializer("w", {}, {256});
  w->set_raw_data(raw_bytes(iota_floats(256)));
  m.node("Add", {"x", "w"}, {"y"}, "add");
  m.output("y");
  const std::string bytes = m.bytes();
  const fs::path path = dir.path() / "truncated.onnx";
  write_file(path, bytes.substr(0, bytes.size() / 2));
  auto net = parse_onnx_file(path.string());
  ASSERT_FALSE(net.ok());
  EXPECT_EQ(net.status().code(), StatusCode::kParseError);
  EXPECT_EQ(net.status().message().rfind(path.string() + ": not a valid ONNX model", 0), 0u) << net.status().message();

  auto absent = parse_onnx_file((dir.path() / "absent.onnx").string());
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), StatusCode::kIoError);
}

TEST(OnnxImporterErrors, VersionsOutOfRange) {
  ModelBuilder too_new(22);
  too_new.input("x", TensorProto::FLOAT, {4});
  too_new.node("Relu", {"x"}, {"y"});
  too_new.output("y");
  auto a = parse(too_new);
  ASSERT_FALSE(a.ok());
  EXPECT_TRUE(contains(a.status().message(), "opset 22 is newer than chexrt supports (up to 21)"))
      << a.status().message();

  // Element-wise ops before opset 7 broadcast only on request: a different op.
  ModelBuilder old_add(6);
  old_add.input("x", TensorProto::FLOAT, {4});
  old_add.node("Add", {"x", "x"}, {"y"}, "add");
  old_add.output("y");
  auto b = parse(old_add);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(contains(b.status().message(), "node 'add' (Add): opset 6 is older")) << b.status().message();

  ModelBuilder old_ir;
  old_ir.model().set_ir_version(2);
  auto c = parse(old_ir);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(contains(c.status().message(), "IR version 2")) << c.status().message();
}

TEST(OnnxImporter, SupportedOpsMapToChexrtOps) {
  const std::vector<std::string> ops = supported_onnx_ops();
  for (const char* expected : {"Conv", "BatchNormalization", "Gemm", "Softmax", "Constant", "Shape", "Dropout"}) {
    EXPECT_NE(std::find(ops.begin(), ops.end(), expected), ops.end()) << expected;
  }
  EXPECT_EQ(std::find(ops.begin(), ops.end(), "LSTM"), ops.end());
  // Constant becomes a value, Dropout and zero Pad an Identity; every other op is chexrt's own.
  for (const std::string& op : ops) {
    if (op == "Constant" || op == "Dropout" || op == "Pad") continue;
    EXPECT_TRUE(ir::op_from_name(op).has_value()) << op;
  }
}

}  // namespace
}  // namespace chexrt
