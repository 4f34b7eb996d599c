// The CPU engine decides everything while it is built or loaded: every batch size's oneDNN
// primitives exist before the first inference, so running any batch from 1 to the max (built
// here, or loaded from an engine file) creates none. (How fast the first call then is, against
// steady state, is `chexrt bench --first-call`'s to measure, not a unit test's.)
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include "backends/backend.h"
#include "backends/cpu/cpu_engine.h"
#include "chexrt/builder.h"

namespace chexrt {
namespace {

constexpr int64_t kMaxBatch = 5;

HostTensor random_tensor(Dims dims, std::mt19937& rng) {
  HostTensor t(DataType::kFloat32, std::move(dims));
  std::normal_distribution<float> normal(0.f, 0.3f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
  return t;
}

NetworkDefinition two_convolutions() {
  std::mt19937 rng(9);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {kMaxBatch, 8, 12, 12});
  Tensor c = net.add_convolution("conv_a", x, random_tensor({16, 8, 3, 3}, rng), random_tensor({16}, rng),
                                 {{3, 3}, {1, 1}, {}, {1, 1, 1, 1}});
  c = net.add_activation("relu", c, Activation::kRelu);
  net.mark_output(net.add_convolution("conv_b", c, random_tensor({8, 16, 1, 1}, rng), {}, {{1, 1}}), "y");
  return net;
}

void expect_no_primitive_made_while_running(Engine& engine) {
  std::mt19937 rng(3);
  const int64_t before = cpu::primitives_created();
  for (int64_t batch : std::vector<int64_t>{3, 1, kMaxBatch, 2, 4, 1}) {
    std::vector<HostTensor> out;
    const Status s = engine.infer({random_tensor({batch, 8, 12, 12}, rng)}, &out);
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(out[0].dims()[0], batch);
  }
  EXPECT_EQ(cpu::primitives_created(), before) << "running created oneDNN primitives";
}

TEST(CpuProfiles, EveryBatchIsPreparedWhenBuiltAndWhenLoaded) {
  std::string why;
  if (!backends::make_cpu_backend()->available(&why)) GTEST_SKIP() << why;
  BuildOptions options;
  options.device = Device::kCpu;
  options.max_batch = kMaxBatch;
  options.threads = 2;
  const std::string path =
      (std::filesystem::temp_directory_path() / ("chexrt_cpu_profiles_" + std::to_string(::getpid()) + ".engine"))
          .string();
  const int64_t before_build = cpu::primitives_created();
  auto built = build_engine_file(two_convolutions(), options, path);
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  // Two convolutions, each at every batch size from 1 to the max.
  EXPECT_GE(cpu::primitives_created() - before_build, 2 * kMaxBatch);
  expect_no_primitive_made_while_running(**built);

  auto loaded = load_engine(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  expect_no_primitive_made_while_running(**loaded);
}

}  // namespace
}  // namespace chexrt
