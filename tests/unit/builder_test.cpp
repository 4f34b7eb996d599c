// build_engine: nodes the chosen backend does not run fall back to the reference kernels in
// segments, and engine files round-trip, segments included.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include "backends/backend.h"
#include "chexrt/builder.h"
#include "runtime/engine_io.h"

namespace chexrt {
namespace {

HostTensor random_tensor(Dims dims, std::mt19937& rng, float scale = 0.3f) {
  HostTensor t(DataType::kFloat32, std::move(dims));
  std::normal_distribution<float> normal(0.f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

// Conv -> Relu -> Flatten -> Softmax -> Reshape -> Conv: the CPU backend runs the convolutions,
// not Flatten/Softmax/Reshape, so the engine has three segments.
NetworkDefinition make_network(int64_t batch) {
  std::mt19937 rng(3);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {batch, 8, 8, 8});
  Tensor c = net.add_convolution("conv_a", x, random_tensor({8, 8, 3, 3}, rng), random_tensor({8}, rng),
                                 {{3, 3}, {1, 1}, {}, {1, 1, 1, 1}});
  c = net.add_activation("relu_a", c, Activation::kRelu);
  Tensor f = net.add_flatten("flatten", c, 1);
  Tensor s = net.add_softmax("softmax", f, 1);
  Tensor r = net.add_reshape("reshape", s, {0, 8, 8, 8});
  Tensor y = net.add_convolution("conv_b", r, random_tensor({8, 8, 1, 1}, rng), {}, {{1, 1}});
  net.mark_output(y, "y");
  return net;
}

std::vector<HostTensor> run(Engine& engine, const HostTensor& input) {
  std::vector<HostTensor> outputs;
  Status s = engine.infer({input}, &outputs);
  EXPECT_TRUE(s.ok()) << s.to_string();
  return outputs;
}

double relative_error(const HostTensor& a, const HostTensor& b) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = a.data<float>()[i] - b.data<float>()[i];
    num += d * d;
    den += double(b.data<float>()[i]) * b.data<float>()[i];
  }
  return std::sqrt(num / den);
}

TEST(Builder, UnsupportedNodesFallBackInSegments) {
  std::string why;
  if (!backends::make_cpu_backend()->available(&why)) GTEST_SKIP() << why;
  std::mt19937 rng(5);
  const HostTensor input = random_tensor({2, 8, 8, 8}, rng, 1.f);

  BuildOptions reference_options;
  reference_options.device = Device::kReference;
  reference_options.max_batch = 2;
  auto reference = build_engine(make_network(2), reference_options);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  BuildOptions cpu_options = reference_options;
  cpu_options.device = Device::kCpu;
  auto mixed = build_engine(make_network(2), cpu_options);
  ASSERT_TRUE(mixed.ok()) << mixed.status().to_string();
  EXPECT_EQ((*mixed)->backend_name(), "segmented(cpu-onednn,reference,cpu-onednn)");

  const auto expected = run(**reference, input);
  const auto actual = run(**mixed, input);
  ASSERT_EQ(actual.size(), 1u);
  EXPECT_EQ(actual[0].dims(), expected[0].dims());
  EXPECT_LT(relative_error(actual[0], expected[0]), 1e-5);

  // A smaller batch than the engine was built for runs through every segment too.
  HostTensor one(DataType::kFloat32, {1, 8, 8, 8});
  std::copy(input.data<float>(), input.data<float>() + one.numel(), one.data<float>());
  const auto single = run(**mixed, one);
  ASSERT_EQ(single[0].dims(), (Dims{1, 8, 8, 8}));
  for (int64_t i = 0; i < single[0].numel(); ++i) {
    EXPECT_NEAR(single[0].data<float>()[i], expected[0].data<float>()[i], 1e-5) << i;
  }
}

TEST(Builder, EngineFileRoundTripKeepsSegmentsAndOutputs) {
  std::string why;
  const bool have_cpu = backends::make_cpu_backend()->available(&why);
  std::mt19937 rng(6);
  const HostTensor input = random_tensor({2, 8, 8, 8}, rng, 1.f);
  BuildOptions options;
  options.device = have_cpu ? Device::kCpu : Device::kReference;
  options.max_batch = 2;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("chexrt_builder_test_" + std::to_string(::getpid()) + ".engine"))
          .string();
  auto built = build_engine_file(make_network(2), options, path);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  auto loaded = load_engine(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->backend_name(), (*built)->backend_name());
  const auto a = run(**built, input);
  const auto b = run(**loaded, input);
  ASSERT_EQ(a[0].nbytes(), b[0].nbytes());
  EXPECT_EQ(0, std::memcmp(a[0].raw(), b[0].raw(), a[0].nbytes()));
}

// What the Python API's Engine.save rests on: an engine built (or loaded) first and written
// later gives the file build_engine_file would have written, and it runs tensors over memory
// that chexrt did not allocate (HostTensor::wrap, unaligned) as its own.
TEST(Builder, SavableEngineWritesItsFileLaterAndRunsWrappedInputs) {
  std::mt19937 rng(7);
  const HostTensor input = random_tensor({2, 8, 8, 8}, rng, 1.f);
  BuildOptions options;
  options.device = Device::kAuto;
  options.max_batch = 2;
  auto built = build_savable_engine(make_network(2), options);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  const std::string path =
      (std::filesystem::temp_directory_path() / ("chexrt_savable_test_" + std::to_string(::getpid()) + ".engine"))
          .string();
  ASSERT_TRUE(runtime::save_engine_file(path, *built).ok());
  auto loaded = runtime::load_savable_engine(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  ASSERT_TRUE(runtime::save_engine_file(path, *loaded).ok());  // a loaded engine saves again
  auto reloaded = load_engine(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().to_string();

  // The input again, 4 bytes past a 64-byte boundary, in memory held by a shared_ptr.
  auto owner = std::shared_ptr<uint8_t[]>(new uint8_t[input.nbytes() + 68]);
  uint8_t* misaligned = owner.get() + (64 - reinterpret_cast<uintptr_t>(owner.get()) % 64) % 64 + 4;
  std::memcpy(misaligned, input.raw(), input.nbytes());
  const HostTensor wrapped = HostTensor::wrap(DataType::kFloat32, input.dims(), misaligned, owner);
  EXPECT_EQ(wrapped.raw(), misaligned);
  EXPECT_EQ(owner.use_count(), 2);
  const auto a = run(*built->built.engine, input);
  const auto b = run(**reloaded, wrapped);
  ASSERT_EQ(a[0].nbytes(), b[0].nbytes());
  EXPECT_EQ(0, std::memcmp(a[0].raw(), b[0].raw(), a[0].nbytes()));
}

TEST(Builder, BadOptionsAreRefused) {
  BuildOptions options;
  options.max_batch = 0;
  auto engine = build_engine(make_network(1), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_NE(engine.status().message().find("max batch"), std::string::npos);
  EXPECT_FALSE(parse_device("tpu").ok());
  EXPECT_FALSE(parse_precision("fp8").ok());
  EXPECT_FALSE(load_engine("/nonexistent/x.engine").ok());
}

TEST(Builder, PrecisionTheBackendLacksIsRefused) {
  BuildOptions options;
  options.device = Device::kReference;
  options.precision = Precision::kFp16;
  auto engine = build_engine(make_network(1), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(engine.status().message().find("does not build fp16 engines"), std::string::npos)
      << engine.status().message();
}

}  // namespace
}  // namespace chexrt
