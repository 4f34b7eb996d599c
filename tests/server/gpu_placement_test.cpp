// `chexrt serve --gpus`: parsing "all" and lists of device ordinals against the GPUs there are,
// and round-robin placement of the instances.
#include "server/gpu_placement.h"

#include <gtest/gtest.h>

namespace chexrt::server {
namespace {

std::vector<int> parsed(const std::string& text, int gpu_count) {
  auto gpus = parse_gpus(text, gpu_count);
  EXPECT_TRUE(gpus.ok()) << text << ": " << gpus.status().to_string();
  return gpus.ok() ? *gpus : std::vector<int>{};
}

// The message of a refused --gpus, which must be a usage error naming the text.
std::string refused(const std::string& text, int gpu_count) {
  auto gpus = parse_gpus(text, gpu_count);
  EXPECT_FALSE(gpus.ok()) << text;
  if (gpus.ok()) return "";
  EXPECT_EQ(gpus.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(gpus.status().message().find("--gpus " + text), std::string::npos) << gpus.status().message();
  return gpus.status().message();
}

TEST(GpuPlacement, AllIsEveryVisibleGpu) {
  EXPECT_EQ(parsed("all", 1), std::vector<int>({0}));
  EXPECT_EQ(parsed("all", 4), std::vector<int>({0, 1, 2, 3}));
  EXPECT_NE(refused("all", 0).find("no GPU is visible"), std::string::npos);
}

TEST(GpuPlacement, ListsKeepTheirOrder) {
  EXPECT_EQ(parsed("0", 1), std::vector<int>({0}));
  EXPECT_EQ(parsed("0,1", 2), std::vector<int>({0, 1}));
  EXPECT_EQ(parsed("3,1", 4), std::vector<int>({3, 1}));
}

TEST(GpuPlacement, MissingGpusNameTheOrdinalAndTheCount) {
  const std::string two = refused("0,2", 2);
  EXPECT_NE(two.find("GPU 2 does not exist"), std::string::npos) << two;
  EXPECT_NE(two.find("2 GPU(s) are visible (0 to 1)"), std::string::npos) << two;
  EXPECT_NE(refused("0", 0).find("GPU 0 does not exist: no GPU is visible"), std::string::npos);
}

TEST(GpuPlacement, MalformedItemsAreNamed) {
  for (const char* text : {"", "0,", ",0", "0,,1", "a", "-1", "1.5", "0 ,1", "+1", "99999999999", "ALL"}) {
    const std::string message = refused(text, 8);
    EXPECT_NE(message.find("is not a device ordinal"), std::string::npos) << text << ": " << message;
  }
  EXPECT_NE(refused("1,0,1", 2).find("GPU 1 is listed twice"), std::string::npos);
  // The form is checked before the GPUs: a typo is named as one even where no GPU is.
  EXPECT_NE(refused("0,a", 0).find("'a' is not a device ordinal"), std::string::npos);
}

TEST(GpuPlacement, InstancesGoRoundRobin) {
  EXPECT_EQ(place_instances(1, {0, 1}), std::vector<int>({0}));
  EXPECT_EQ(place_instances(5, {0, 1}), std::vector<int>({0, 1, 0, 1, 0}));
  EXPECT_EQ(place_instances(3, {2}), std::vector<int>({2, 2, 2}));
  EXPECT_EQ(place_instances(4, {3, 1, 0}), std::vector<int>({3, 1, 0, 3}));
}

}  // namespace
}  // namespace chexrt::server
