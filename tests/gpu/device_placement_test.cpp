// A CUDA engine on a chosen GPU (BuildOptions::gpu): refused for an ordinal that does not exist,
// and run from any thread on its own device, leaving the caller's current device as it was.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <thread>

#include "fake_engine.h"
#include "gpu_test_util.h"

namespace chexrt {
namespace {

TEST(CudaDevicePlacement, MissingGpuIsNamed) {
  CHEXRT_SKIP_WITHOUT_GPU();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  BuildOptions options = gputest::cuda_options(Precision::kFp32, 2);
  options.gpu = count;
  auto engine = build_engine(server::testing::tiny_chexnet(2), options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("GPU " + std::to_string(count) + " does not exist"), std::string::npos)
      << engine.status().to_string();
}

TEST(CudaDevicePlacement, LastGpuFromAnotherThread) {
  CHEXRT_SKIP_WITHOUT_GPU();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  BuildOptions options = gputest::cuda_options(Precision::kFp32, 2);
  options.gpu = count - 1;
  auto engine = build_engine(server::testing::tiny_chexnet(2), options);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  BuildOptions reference_options = options;
  reference_options.device = Device::kReference;
  auto reference = build_engine(server::testing::tiny_chexnet(2), reference_options);
  ASSERT_TRUE(reference.ok()) << reference.status().to_string();

  const std::vector<HostTensor> inputs = random_inputs(**engine, 2, 5);
  std::vector<HostTensor> expected;
  ASSERT_TRUE((*reference)->infer(inputs, &expected).ok());
  // A thread whose current device is GPU 0, as a server's batcher worker's is.
  std::vector<HostTensor> got;
  Status status;
  int device_after = -1;
  std::thread worker([&] {
    cudaSetDevice(0);
    status = (*engine)->infer(inputs, &got);
    cudaGetDevice(&device_after);
  });
  worker.join();
  ASSERT_TRUE(status.ok()) << status.to_string();
  EXPECT_EQ(device_after, 0);
  ASSERT_EQ(got.size(), expected.size());
  const gputest::Diff d = gputest::compare(got[0], expected[0]);
  EXPECT_TRUE(d.finite);
  EXPECT_LT(d.rel_l2, 1e-4) << "max |diff| " << d.max_abs;  // FP32, as the DenseNet-121 test
}

}  // namespace
}  // namespace chexrt
