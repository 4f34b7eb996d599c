// The tactic timing cache: where it lives by default, the switch that turns
// it off, and a save/load round trip into a folder that does not exist yet.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "builder/timing_cache.h"

namespace chexrt::builder {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one test and restores it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    if (value)
      setenv(name, value, 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_)
      setenv(name_, old_.c_str(), 1);
    else
      unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(TimingCache, DefaultLocationFollowsXdgThenHome) {
  ScopedEnv no_override("CHEXRT_TIMING_CACHE", nullptr);
  {
    ScopedEnv xdg("XDG_CACHE_HOME", "/tmp/xdg");
    EXPECT_EQ(timing_cache_path_from_environment(), "/tmp/xdg/chexrt/timing_cache.tsv");
  }
  ScopedEnv no_xdg("XDG_CACHE_HOME", nullptr);
  ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(timing_cache_path_from_environment(), "/home/someone/.cache/chexrt/timing_cache.tsv");
}

TEST(TimingCache, VariableOverridesOrTurnsOff) {
  {
    ScopedEnv path("CHEXRT_TIMING_CACHE", "/tmp/mine.tsv");
    EXPECT_EQ(timing_cache_path_from_environment(), "/tmp/mine.tsv");
  }
  {
    ScopedEnv off("CHEXRT_TIMING_CACHE", "off");
    EXPECT_EQ(timing_cache_path_from_environment(), "");
  }
  ScopedEnv empty("CHEXRT_TIMING_CACHE", "");
  EXPECT_EQ(timing_cache_path_from_environment(), "");
}

TEST(TimingCache, SaveCreatesTheFolderAndLoadReadsItBack) {
  const fs::path dir = fs::temp_directory_path() / ("chexrt_tc_" + std::to_string(::getpid()));
  const std::string path = (dir / "nested" / "timing_cache.tsv").string();
  TimingCache cache;
  cache.insert("NVIDIA H200|conv1x1_f16|m=802816,k=64,n=128", 0.125);
  cache.insert("NVIDIA H200|conv3x3_f16|m=802816,k=1152,n=32", 0.25);
  ASSERT_TRUE(cache.save(path).ok());
  TimingCache loaded;
  ASSERT_TRUE(loaded.load(path).ok());
  EXPECT_EQ(loaded.size(), 2u);
  ASSERT_TRUE(loaded.find("NVIDIA H200|conv3x3_f16|m=802816,k=1152,n=32").has_value());
  EXPECT_DOUBLE_EQ(*loaded.find("NVIDIA H200|conv3x3_f16|m=802816,k=1152,n=32"), 0.25);
  EXPECT_FALSE(loaded.find("missing").has_value());

  std::ofstream(path, std::ios::app) << "not a timing line\n";
  TimingCache broken;
  const Status s = broken.load(path);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("timing_cache.tsv:"), std::string::npos) << s.message();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chexrt::builder
