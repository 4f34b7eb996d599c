#include "builder/memory_planner.h"

#include <gtest/gtest.h>

#include <random>

namespace chexrt::builder {
namespace {

// Every pair of buffers alive at a common step occupies disjoint byte ranges of the arena.
void expect_valid_plan(const std::vector<BufferRequest>& requests, const MemoryPlan& plan) {
  ASSERT_EQ(plan.offsets.size(), requests.size());
  EXPECT_EQ(plan.arena_size % kArenaAlignment, 0u);
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % kArenaAlignment, 0u) << "buffer " << i;
    EXPECT_LE(plan.offsets[i] + requests[i].size, plan.arena_size) << "buffer " << i;
    for (size_t j = i + 1; j < requests.size(); ++j) {
      const bool alive_together =
          requests[i].first_use <= requests[j].last_use && requests[j].first_use <= requests[i].last_use;
      const bool bytes_overlap =
          plan.offsets[i] < plan.offsets[j] + requests[j].size && plan.offsets[j] < plan.offsets[i] + requests[i].size;
      EXPECT_FALSE(alive_together && bytes_overlap && requests[i].size > 0 && requests[j].size > 0)
          << "buffers " << i << " and " << j << " overlap while both are alive";
    }
  }
}

TEST(MemoryPlanner, RandomLifetimesNeverOverlapAndBeatTheNaiveSum) {
  std::mt19937 rng(123);
  for (int trial = 0; trial < 20; ++trial) {
    std::uniform_int_distribution<int> start(0, 200), length(0, 12), size(1, 1 << 20);
    std::vector<BufferRequest> requests(300);
    size_t naive = 0;
    for (auto& r : requests) {
      r.first_use = start(rng);
      r.last_use = r.first_use + length(rng);
      r.size = static_cast<size_t>(size(rng));
      naive += (r.size + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
    }
    auto plan = plan_memory(requests);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    expect_valid_plan(requests, *plan);
    EXPECT_GE(plan->arena_size, peak_live_bytes(requests));
    // About 20 buffers are alive at a time out of 300: sharing must save most of the sum.
    EXPECT_LT(plan->arena_size, naive / 4) << "trial " << trial;
  }
}

TEST(MemoryPlanner, ChainOfLayersNeedsTwoBuffers) {
  // A plain feed-forward network: the output of step i is read at step i + 1 only, so two
  // buffers of the largest size are enough and also necessary.
  std::vector<BufferRequest> requests;
  for (int i = 0; i < 10; ++i) requests.push_back({1000, i, i + 1});
  auto plan = plan_memory(requests);
  ASSERT_TRUE(plan.ok());
  expect_valid_plan(requests, *plan);
  EXPECT_EQ(plan->arena_size, 2 * 1024u);
}

TEST(MemoryPlanner, BestFitReusesTheSmallestGap) {
  // Two big buffers alive over steps 0..3 around free gaps of 512 and 1024 bytes (made by
  // short-lived fillers); a 512-byte buffer alive at step 3 fits the small gap exactly.
  std::vector<BufferRequest> requests = {
      {4096, 0, 3},               // placed first at 0
      {1024, 0, 1},               // filler: ends before step 3
      {2048, 0, 3}, {512, 0, 1},  // filler
      {1024, 0, 3}, {512, 3, 3},
  };
  auto plan = plan_memory(requests);
  ASSERT_TRUE(plan.ok());
  expect_valid_plan(requests, *plan);
  // Greedy by size: 4096 at 0, 2048 at 4096, 1024 (0..1) at 6144, 1024 (0..3) at 7168, the
  // 512 filler at 8192; then the last one may reuse the 1024 filler's bytes [6144, 7168) or the
  // 512 filler's [8192, 8704) at the arena's end: best fit takes the latter, which it fills
  // exactly, and keeps the larger gap for later.
  EXPECT_EQ(plan->offsets[5], 8192u);
  EXPECT_EQ(plan->arena_size, 8704u);
}

TEST(MemoryPlanner, DisjointLifetimesShareOffsetZero) {
  std::vector<BufferRequest> requests = {{300, 0, 0}, {100, 1, 2}, {700, 3, 5}, {0, 0, 9}};
  auto plan = plan_memory(requests);
  ASSERT_TRUE(plan.ok());
  for (size_t o : plan->offsets) EXPECT_EQ(o, 0u);
  EXPECT_EQ(plan->arena_size, 768u);
}

TEST(MemoryPlanner, RejectsBadRequests) {
  auto reversed = plan_memory({{64, 5, 4}});
  ASSERT_FALSE(reversed.ok());
  EXPECT_EQ(reversed.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(reversed.status().message().find("buffer 0"), std::string::npos);
  EXPECT_FALSE(plan_memory({{64, 0, 1}}, 100).ok());
}

}  // namespace
}  // namespace chexrt::builder
