// Optimization profiles: which batches a builder tunes at, and the per-profile tactic strings
// engine files store.
#include "builder/optimization_profiles.h"

#include <gtest/gtest.h>

namespace chexrt::builder {
namespace {

TEST(OptimizationProfiles, CoverTheRange) {
  EXPECT_EQ(optimization_profiles(1, 0, 256), (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 256}));
  EXPECT_EQ(optimization_profiles(8, 100, 256), (std::vector<int64_t>{8, 16, 32, 64, 100, 128, 256}));
  EXPECT_EQ(optimization_profiles(3, 3, 8), (std::vector<int64_t>{3, 4, 8}));
  EXPECT_EQ(optimization_profiles(1, 6, 8), (std::vector<int64_t>{1, 2, 4, 6, 8}));
  EXPECT_EQ(optimization_profiles(1, 1, 1), (std::vector<int64_t>{1}));
  EXPECT_EQ(optimization_profiles(200, 200, 200), (std::vector<int64_t>{200}));
}

TEST(OptimizationProfiles, ProfileTacticsRoundTrip) {
  EXPECT_EQ(join_profile_tactics({{1, "a"}, {2, "a"}}), "1=a;2=a");
  EXPECT_EQ(join_profile_tactics({{8, "a"}}), "a");
  const std::string text = join_profile_tactics({{1, "conv_split_k"}, {8, "(inside conv_x)"}, {256, "conv_big"}});
  EXPECT_EQ(text, "1=conv_split_k;8=(inside conv_x);256=conv_big");
  EXPECT_EQ(parse_profile_tactics(text),
            (std::map<int64_t, std::string>{{1, "conv_split_k"}, {8, "(inside conv_x)"}, {256, "conv_big"}}));
  EXPECT_EQ(parse_profile_tactics("conv_big"), (std::map<int64_t, std::string>{{0, "conv_big"}}));
  EXPECT_TRUE(parse_profile_tactics("").empty());
}

}  // namespace
}  // namespace chexrt::builder
