// The builder's tactic selection on a fake device: fastest candidate per step, fused pairs taken
// only when they beat the pair of separate kernels, refused launches skipped, the timing cache
// consulted first, and every chosen kernel run in plan order so that later steps see real data.
#include "builder/tactic_selection.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace chexrt::builder {
namespace {

struct FakeTactic {
  std::string name;
  double ms;  // TacticTimer::kRefused: the device refuses it
  bool fuses_next = false;
};

class FakeTimer final : public TacticTimer {
 public:
  explicit FakeTimer(std::vector<std::vector<FakeTactic>> steps) : steps_(std::move(steps)) {}
  size_t num_steps() const override { return steps_.size(); }
  size_t num_candidates(size_t s) const override { return steps_[s].size(); }
  std::string name(size_t s, size_t c) const override { return steps_[s][c].name; }
  bool fuses_next(size_t s, size_t c) const override { return steps_[s][c].fuses_next; }
  std::string cache_key(size_t s, size_t c) const override { return "dev|" + steps_[s][c].name; }
  Result<double> time(size_t s, size_t c) override {
    timed.push_back(steps_[s][c].name);
    return steps_[s][c].ms;
  }
  Status run(size_t s, size_t c) override {
    ran.push_back(steps_[s][c].name);
    return Status::ok_status();
  }

  std::vector<std::string> timed, ran;

 private:
  std::vector<std::vector<FakeTactic>> steps_;
};

std::vector<std::string> chosen_names(const FakeTimer& timer, const std::vector<size_t>& chosen) {
  std::vector<std::string> names;
  for (size_t s = 0; s < chosen.size(); ++s) names.push_back(chosen[s] == kFusedAway ? "-" : timer.name(s, chosen[s]));
  return names;
}

TEST(TacticSelection, ChoosesTheFastestAndRunsEveryChoiceInOrder) {
  FakeTimer timer({{{"a_slow", 2.0}, {"a_fast", 1.0}}, {{"b_only", 5.0}}, {{"c_fast", 0.5}, {"c_slow", 0.7}}});
  auto chosen = select_tactics(timer, nullptr, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status().to_string();
  EXPECT_EQ(chosen_names(timer, *chosen), (std::vector<std::string>{"a_fast", "b_only", "c_fast"}));
  EXPECT_EQ(timer.ran, (std::vector<std::string>{"a_fast", "b_only", "c_fast"}));
  // A step with one candidate is not timed.
  EXPECT_EQ(timer.timed, (std::vector<std::string>{"a_slow", "a_fast", "c_fast", "c_slow"}));
}

TEST(TacticSelection, NothingIsTimedOrRunWhenEveryStepHasOneCandidate) {
  FakeTimer timer({{{"a", 1.0}}, {{"b", 1.0}}});
  EXPECT_FALSE(needs_timing(timer));
  auto chosen = select_tactics(timer, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(*chosen, (std::vector<size_t>{0, 0}));
  EXPECT_TRUE(timer.timed.empty());
  EXPECT_TRUE(timer.ran.empty());
}

TEST(TacticSelection, AFusedPairWinsOnlyWhenFasterThanTheTwoKernels) {
  // Fused 1.5 ms against 1.0 + 0.8 for the pair: taken; the next step runs nothing.
  FakeTimer faster({{{"a", 1.0}, {"a+b_fused", 1.5, true}}, {{"b", 0.8}, {"b2", 0.9}}});
  auto chosen = select_tactics(faster, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(faster, *chosen), (std::vector<std::string>{"a+b_fused", "-"}));
  EXPECT_EQ(faster.ran.back(), "a+b_fused");

  // Fused 2.0 ms against 1.8 for the pair: passed over.
  FakeTimer slower({{{"a", 1.0}, {"a+b_fused", 2.0, true}}, {{"b", 0.8}, {"b2", 0.9}}});
  chosen = select_tactics(slower, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(slower, *chosen), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(slower.ran, (std::vector<std::string>{"a", "b"}));
}

TEST(TacticSelection, AStepDoneByAFusedKernelStartsNoPairOfItsOwn) {
  // Step 1's fused kernel would beat steps 1+2, but step 1 is already done by step 0's.
  FakeTimer timer({{{"a", 1.0}, {"a+b", 0.1, true}}, {{"b", 1.0}, {"b+c", 0.1, true}}, {{"c", 1.0}, {"c2", 2.0}}});
  auto chosen = select_tactics(timer, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(timer, *chosen), (std::vector<std::string>{"a+b", "-", "c"}));
}

TEST(TacticSelection, AForcedFusedKernelStandsAlone) {
  FakeTimer timer({{{"a+b", 1.0, true}}, {{"b", 1.0}, {"b2", 0.5}}, {{"c", 1.0}, {"c2", 0.4}}});
  auto chosen = select_tactics(timer, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(timer, *chosen), (std::vector<std::string>{"a+b", "-", "c2"}));
  for (const auto& name : timer.timed) EXPECT_NE(name.front(), 'b') << "step 1 was timed: " << name;
}

TEST(TacticSelection, RefusedCandidatesLoseAndAllRefusedIsAnError) {
  FakeTimer some({{{"cluster", TacticTimer::kRefused}, {"plain", 3.0}}});
  auto chosen = select_tactics(some, nullptr, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(some, *chosen), (std::vector<std::string>{"plain"}));

  FakeTimer none({{{"x", TacticTimer::kRefused}, {"y", TacticTimer::kRefused}}});
  chosen = select_tactics(none, nullptr, {});
  ASSERT_FALSE(chosen.ok());
  EXPECT_NE(chosen.status().message().find("no tactic of step x"), std::string::npos) << chosen.status().to_string();
}

TEST(TacticSelection, TheCacheAnswersBeforeTheDeviceAndKeepsNewTimings) {
  TimingCache cache;
  cache.insert("dev|a_slow", 0.1);  // an earlier build found a_slow faster on this device
  FakeTimer timer({{{"a_slow", 2.0}, {"a_fast", 1.0}}});
  auto chosen = select_tactics(timer, &cache, {});
  ASSERT_TRUE(chosen.ok());
  EXPECT_EQ(chosen_names(timer, *chosen), (std::vector<std::string>{"a_slow"}));
  EXPECT_EQ(timer.timed, (std::vector<std::string>{"a_fast"}));
  ASSERT_TRUE(cache.find("dev|a_fast").has_value());
  EXPECT_DOUBLE_EQ(*cache.find("dev|a_fast"), 1.0);
}

TEST(TacticSelection, AStepWithoutCandidatesIsRefused) {
  FakeTimer timer({{{"a", 1.0}}, {}});
  EXPECT_FALSE(select_tactics(timer, nullptr, {}).ok());
}

}  // namespace
}  // namespace chexrt::builder
