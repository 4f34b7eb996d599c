// The engine file: round trip (same dump, same outputs bit for bit, weights 64-byte aligned),
// refusal of damaged files with a ParseError (every truncation, every flipped byte, and damage
// behind a recomputed checksum, which the parser itself must survive), fingerprint checks and
// the atomic write.
#include "engine/engine_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "ir/dump.h"
#include "pass_test_util.h"
#include "passes/pass_manager.h"
#include "runtime/graph_executor.h"

namespace chexrt::engine {
namespace {

namespace fs = std::filesystem;

EngineFingerprint h100_fingerprint() {
  EngineFingerprint f;
  f.backend = "cuda";
  f.device_name = "NVIDIA H100 80GB HBM3";
  f.compute_capability_major = 9;
  f.compute_capability_minor = 0;
  f.cuda_runtime_version = 13000;
  f.cudnn_version = 91900;
  f.chexrt_version = chexrt_version();
  f.precision = "fp16";
  f.max_batch = 8;
  return f;
}

EngineFile make_engine(ir::Graph graph) {
  EngineFile file;
  file.fingerprint = h100_fingerprint();
  for (const ir::Node& node : graph.nodes()) {
    file.tactics.push_back(std::string(ir::op_name(node.op)) + "_f16_nhwc__" + node.name);
  }
  file.graph = std::move(graph);
  file.metadata = {{"source_model", "mini_densenet.onnx"}, {"passes", "fold_batchnorm,fuse_activation"}};
  return file;
}

// A small graph that uses every attribute kind and an absent optional input (the Gemm's C).
ir::Graph make_small_graph() {
  std::mt19937 rng(51);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 3, 4, 4});
  Tensor c = test::add_random_conv(net, "conv", x, 4, 3, 1, 1, true, rng);
  c = net.add_activation("relu", c, Activation::kRelu);
  Tensor b = test::add_random_batch_norm(net, "bn", x, rng);
  Tensor cat = net.add_concat("cat", {c, b}, 1);
  Tensor tagged = net.add_layer("Identity", "tagged", {cat}, {LayerAttribute::reals("tag", {1.5f, -2.0f})})[0];
  Tensor flat = net.add_flatten("flatten", net.add_global_average_pool("gap", tagged), 1);
  Tensor w = net.add_constant("fc.w", test::random_tensor({7, 2}, rng));
  Tensor fc = net.add_layer("Gemm", "fc", {flat, w, Tensor{}}, {LayerAttribute::integer("transB", 0)})[0];
  net.mark_output(fc, "logits");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  ir::Graph g = net.graph();
  EXPECT_TRUE(passes::fuse_activation(g, nullptr).ok());  // a string attribute: activation="relu"
  return g;
}

// FNV-1a 64 as docs/engine_format.md specifies it.
uint64_t fnv1a64(const uint8_t* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

void store_checksum(std::vector<uint8_t>& bytes) {
  const uint64_t h = fnv1a64(bytes.data(), bytes.size() - 8);
  for (int i = 0; i < 8; ++i) bytes[bytes.size() - 8 + i] = static_cast<uint8_t>(h >> (8 * i));
}

void expect_parse_error(const std::vector<uint8_t>& bytes, const std::string& what) {
  auto parsed = parse_engine(bytes, "damaged.engine");
  ASSERT_FALSE(parsed.ok()) << what;
  EXPECT_EQ(parsed.status().code(), StatusCode::kParseError) << what << ": " << parsed.status().to_string();
  EXPECT_NE(parsed.status().message().find("damaged.engine"), std::string::npos) << parsed.status().message();
}

void expect_same_engine(const EngineFile& a, const EngineFile& b) {
  EXPECT_EQ(ir::dump(a.graph), ir::dump(b.graph));
  EXPECT_EQ(a.tactics, b.tactics);
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_TRUE(check_fingerprint(a.fingerprint, b.fingerprint).ok());
  EXPECT_EQ(a.fingerprint.precision, b.fingerprint.precision);
  EXPECT_EQ(a.fingerprint.max_batch, b.fingerprint.max_batch);
  const std::vector<HostTensor> inputs = test::random_inputs(a.graph, 9);
  auto expected = runtime::run_reference(a.graph, inputs);
  auto got = runtime::run_reference(b.graph, inputs);
  ASSERT_TRUE(expected.ok() && got.ok());
  ASSERT_EQ(got->size(), expected->size());
  for (size_t i = 0; i < got->size(); ++i) {
    ASSERT_EQ((*got)[i].nbytes(), (*expected)[i].nbytes());
    EXPECT_EQ(std::memcmp((*got)[i].raw(), (*expected)[i].raw(), (*got)[i].nbytes()), 0) << "output " << i;
  }
}

class TempDir {
 public:
  TempDir() : path_(fs::temp_directory_path() / ("chexrt_engine_test_" + std::to_string(getpid()))) {
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  size_t num_entries() const { return std::distance(fs::directory_iterator(path_), fs::directory_iterator()); }

 private:
  fs::path path_;
};

TEST(EngineFile, RoundTripOfAnOptimizedMiniDenseNet) {
  NetworkDefinition net = test::make_mini_densenet(61);
  ir::Graph g = net.graph();
  ASSERT_TRUE(passes::optimize(g).ok());
  const EngineFile original = make_engine(g);
  TempDir dir;
  const std::string path = dir.file("mini.engine");
  ASSERT_TRUE(write_engine_file(path, original).ok());
  EXPECT_EQ(dir.num_entries(), 1u) << "no temporary file is left behind";
  auto loaded = read_engine_file(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  expect_same_engine(original, *loaded);
  EXPECT_EQ(loaded->fingerprint.device_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(loaded->tactics[0], original.tactics[0]);
}

TEST(EngineFile, RoundTripKeepsEveryAttributeKindAndAbsentInputs) {
  const EngineFile original = make_engine(make_small_graph());
  auto bytes = serialize_engine(original);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  auto parsed = parse_engine(*bytes, "small.engine");
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  expect_same_engine(original, *parsed);
  const std::string dump = ir::dump(parsed->graph);
  EXPECT_NE(dump.find("tag=[1.5, -2]"), std::string::npos) << dump;
  EXPECT_NE(dump.find("activation=\"relu\""), std::string::npos) << dump;
  EXPECT_NE(dump.find("Gemm(%flatten, @fc.w, _)"), std::string::npos) << dump;
}

TEST(EngineFile, WeightsAreAlignedFor64ByteMapping) {
  NetworkDefinition net = test::make_mini_densenet(62);
  ir::Graph g = net.graph();
  ASSERT_TRUE(passes::optimize(g).ok());
  const EngineFile original = make_engine(g);
  auto bytes = serialize_engine(original);
  ASSERT_TRUE(bytes.ok());
  int checked = 0;
  for (int v = 0; v < original.graph.num_values(); ++v) {
    const HostTensor& t = original.graph.value(v).constant;
    if (t.empty() || t.nbytes() < 16) continue;  // random floats: 16 bytes occur only once
    const auto* data = static_cast<const uint8_t*>(t.raw());
    auto at = std::search(bytes->begin(), bytes->end(), data, data + t.nbytes());
    ASSERT_NE(at, bytes->end()) << original.graph.value(v).name;
    EXPECT_EQ((at - bytes->begin()) % 64, 0) << original.graph.value(v).name;
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(EngineFile, EveryTruncationIsAParseError) {
  auto bytes = serialize_engine(make_engine(make_small_graph()));
  ASSERT_TRUE(bytes.ok());
  for (size_t size = 0; size < bytes->size(); ++size) {
    expect_parse_error(std::vector<uint8_t>(bytes->begin(), bytes->begin() + size), "cut at " + std::to_string(size));
  }
  std::vector<uint8_t> longer = *bytes;
  longer.push_back(0);
  expect_parse_error(longer, "one byte appended");
}

TEST(EngineFile, EveryFlippedByteIsAParseError) {
  auto bytes = serialize_engine(make_engine(make_small_graph()));
  ASSERT_TRUE(bytes.ok());
  for (size_t i = 0; i < bytes->size(); ++i) {
    std::vector<uint8_t> damaged = *bytes;
    damaged[i] ^= 0x10;
    expect_parse_error(damaged, "byte " + std::to_string(i) + " flipped");
  }
}

TEST(EngineFile, ParserSurvivesDamageBehindAValidChecksum) {
  // The checksum stops accidental damage; the parser must still never read out of bounds or
  // trust a count when the checksum is right (a file written by a buggy or hostile tool).
  auto bytes = serialize_engine(make_engine(make_small_graph()));
  ASSERT_TRUE(bytes.ok());
  int refused = 0;
  auto try_damage = [&](std::vector<uint8_t> damaged, const std::string& what) {
    store_checksum(damaged);
    auto parsed = parse_engine(damaged, "resealed.engine");
    if (parsed.ok()) return;  // e.g. a weight's value or a name's letter changed
    EXPECT_EQ(parsed.status().code(), StatusCode::kParseError) << what << ": " << parsed.status().to_string();
    ++refused;
  };
  for (size_t i = 8; i + 8 < bytes->size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xff}) {
      std::vector<uint8_t> damaged = *bytes;
      damaged[i] ^= mask;
      try_damage(damaged, "byte " + std::to_string(i) + " ^ " + std::to_string(mask));
    }
    // Whole little-endian words: an absent index (0xffffffff), huge counts, zero, one.
    for (uint32_t word : {0xffffffffu, 0x7fffffffu, 0u, 1u}) {
      if (i + 4 + 8 > bytes->size()) break;
      std::vector<uint8_t> damaged = *bytes;
      for (int k = 0; k < 4; ++k) damaged[i + k] = static_cast<uint8_t>(word >> (8 * k));
      try_damage(damaged, "word at " + std::to_string(i) + " = " + std::to_string(word));
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(EngineFile, ClearMessagesForMagicVersionAndChecksum) {
  auto bytes = serialize_engine(make_engine(make_small_graph()));
  ASSERT_TRUE(bytes.ok());
  std::vector<uint8_t> magic = *bytes;
  magic[0] = 'X';
  auto r = parse_engine(magic, "m.engine");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a chexrt engine file"), std::string::npos) << r.status().message();

  std::vector<uint8_t> version = *bytes;
  version[8] = 2;  // format version, little-endian u32 after the magic
  r = parse_engine(version, "v.engine");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("format version 2 is not supported"), std::string::npos) << r.status().message();

  std::vector<uint8_t> data = *bytes;
  data[data.size() - 20] ^= 1;  // inside the last weight
  r = parse_engine(data, "c.engine");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("checksum mismatch"), std::string::npos) << r.status().message();
}

TEST(EngineFile, FileErrors) {
  TempDir dir;
  const EngineFile engine = make_engine(make_small_graph());
  auto missing_dir = write_engine_file(dir.file("no/such/dir/x.engine"), engine);
  EXPECT_EQ(missing_dir.code(), StatusCode::kIoError) << missing_dir.to_string();
  auto missing = read_engine_file(dir.file("absent.engine"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kIoError);
  EXPECT_NE(missing.status().message().find("absent.engine"), std::string::npos);

  std::ofstream(dir.file("text.engine")) << "this is not an engine, but it is long enough to have a header";
  auto text = read_engine_file(dir.file("text.engine"));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().code(), StatusCode::kParseError);

  EngineFile wrong = engine;
  wrong.tactics.pop_back();
  EXPECT_EQ(write_engine_file(dir.file("wrong.engine"), wrong).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(dir.num_entries(), 1u) << "only text.engine: a refused write leaves nothing";
}

TEST(EngineFile, OverwritingKeepsTheOldFileUntilTheNewOneIsComplete) {
  TempDir dir;
  const std::string path = dir.file("model.engine");
  EngineFile first = make_engine(make_small_graph());
  ASSERT_TRUE(write_engine_file(path, first).ok());
  EngineFile second = first;
  second.metadata["build"] = "second";
  ASSERT_TRUE(write_engine_file(path, second).ok());
  auto loaded = read_engine_file(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->metadata.at("build"), "second");
  EXPECT_EQ(dir.num_entries(), 1u);
}

TEST(Fingerprint, MismatchNamesEveryDifferingField) {
  const EngineFingerprint built = h100_fingerprint();
  EXPECT_TRUE(check_fingerprint(built, built).ok());

  EngineFingerprint other_precision = built;
  other_precision.precision = "fp32";
  other_precision.max_batch = 1;
  EXPECT_TRUE(check_fingerprint(built, other_precision).ok()) << "precision and batch describe the engine";

  EngineFingerprint a100 = built;
  a100.device_name = "NVIDIA A100-SXM4-80GB";
  a100.compute_capability_major = 8;
  Status s = check_fingerprint(built, a100);
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch);
  EXPECT_NE(s.message().find("compute_capability: engine built with '9.0', here '8.0'"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("device_name"), std::string::npos);

  EngineFingerprint newer = built;
  newer.cudnn_version = 92000;
  newer.chexrt_version = "9.9.9";
  s = check_fingerprint(built, newer);
  EXPECT_EQ(s.code(), StatusCode::kVersionMismatch);
  EXPECT_NE(s.message().find("cudnn_version: engine built with '91900', here '92000'"), std::string::npos);
  EXPECT_NE(s.message().find("chexrt_version"), std::string::npos);
  EXPECT_EQ(s.message().find("compute_capability"), std::string::npos) << "only the fields that differ";
}

TEST(Fingerprint, VersionComesFromTheProject) {
  EXPECT_FALSE(std::string(chexrt_version()).empty());
  EXPECT_EQ(std::count(chexrt_version(), chexrt_version() + std::strlen(chexrt_version()), '.'), 2);
}

}  // namespace
}  // namespace chexrt::engine
