#include "perf/perf_stats.h"

#include <gtest/gtest.h>

namespace chexrt::perf {
namespace {

TEST(PerfStats, NearestRankPercentiles) {
  std::vector<double> hundred;
  for (int i = 100; i >= 1; --i) hundred.push_back(i);  // unsorted on purpose
  EXPECT_EQ(percentile(hundred, 50), 50);
  EXPECT_EQ(percentile(hundred, 90), 90);
  EXPECT_EQ(percentile(hundred, 99), 99);
  EXPECT_EQ(percentile(hundred, 100), 100);
  EXPECT_EQ(percentile(hundred, 0.5), 1);
  // Ten values: p99 is the largest, p50 the fifth, p90 the ninth.
  const std::vector<double> ten = {7, 3, 9, 1, 10, 2, 8, 4, 6, 5};
  EXPECT_EQ(percentile(ten, 50), 5);
  EXPECT_EQ(percentile(ten, 90), 9);
  EXPECT_EQ(percentile(ten, 99), 10);
  EXPECT_EQ(percentile({4.5}, 99), 4.5);
  EXPECT_EQ(percentile({}, 50), 0);
}

TEST(PerfStats, Summary) {
  const LatencySummary s = summarize({4, 1, 3, 2});
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mean, 2.5);
  EXPECT_EQ(s.p50, 2);
  EXPECT_EQ(s.p90, 4);
  EXPECT_EQ(s.max, 4);
  EXPECT_EQ(summarize({}).count, 0);
}

std::vector<int> levels(const std::string& text) {
  auto r = parse_concurrency(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? r.value() : std::vector<int>{};
}

TEST(PerfStats, ConcurrencyLevels) {
  EXPECT_EQ(levels("1:256"), (std::vector<int>{1, 2, 4, 8, 16, 32, 64, 128, 256}));
  EXPECT_EQ(levels("3:20"), (std::vector<int>{3, 6, 12, 20}));
  EXPECT_EQ(levels("2:10:4"), (std::vector<int>{2, 6, 10}));
  EXPECT_EQ(levels("1:8:3"), (std::vector<int>{1, 4, 7, 8}));
  EXPECT_EQ(levels("1,4,16"), (std::vector<int>{1, 4, 16}));
  EXPECT_EQ(levels("5"), (std::vector<int>{5}));
  EXPECT_EQ(levels("4:4"), (std::vector<int>{4}));
  for (const char* bad : {"0", "x", "4:2", "1:2:3:4", "1,,2", "", "1:5000", "1:"}) {
    auto r = parse_concurrency(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--concurrency"), std::string::npos) << bad;
  }
}

}  // namespace
}  // namespace chexrt::perf
