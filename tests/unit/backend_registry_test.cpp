// The backend registry: every place that names a backend reads it, so the words, the help text
// and the engine-file names must agree with its entries, exactly.
#include <gtest/gtest.h>

#include <set>

#include "runtime/backend_registry.h"

namespace chexrt::backends {
namespace {

// The "word (" items of a help string: "auto (x), cuda (y) or reference (z)" -> auto, cuda, reference.
std::vector<std::string> help_words(const std::string& help) {
  std::vector<std::string> words;
  size_t begin = 0;
  int depth = 0;
  for (size_t i = 0; i < help.size(); ++i) {
    if (help[i] == '(') {
      if (depth++ == 0) {
        std::string word = help.substr(begin, i - begin);
        for (const char* sep : {",", " or "}) {
          if (word.rfind(sep, 0) == 0) word = word.substr(std::string(sep).size());
        }
        word.erase(0, word.find_first_not_of(' '));
        while (!word.empty() && word.back() == ' ') word.pop_back();
        words.push_back(word);
      }
    } else if (help[i] == ')' && --depth == 0) {
      begin = i + 1;
    }
  }
  return words;
}

TEST(BackendRegistry, DeviceHelpListsExactlyTheRegisteredBackends) {
  std::vector<std::string> expected = {"auto"};
  for (const BackendEntry& e : registered_backends()) expected.push_back(e.name);
  EXPECT_EQ(help_words(device_help()), expected) << device_help();
}

TEST(BackendRegistry, PrecisionHelpNamesTheBackendsOfEachPrecision) {
  const std::string help = precision_help();
  for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kBf16}) {
    std::vector<std::string> builders;
    for (const BackendEntry& e : registered_backends()) {
      if (e.builds(p)) builders.push_back(e.name);
    }
    const std::string name = precision_name(p);
    const size_t at = help.find(name);
    if (builders.empty()) {
      EXPECT_EQ(at, std::string::npos) << help;
      continue;
    }
    ASSERT_NE(at, std::string::npos) << help;
    if (builders.size() == registered_backends().size()) continue;  // every backend: no list
    const size_t open = at + name.size() + 1, close = help.find(')', open);
    ASSERT_EQ(help[open], '(') << help;
    const std::string list = help.substr(open + 1, close - open - 1);
    for (const BackendEntry& e : registered_backends()) {
      EXPECT_EQ(list.find(e.name) != std::string::npos, e.builds(p)) << name << ": " << list;
    }
  }
}

TEST(BackendRegistry, WordsNamesAndEngineFileNamesRoundTrip) {
  std::set<std::string> words = {"auto"};
  for (const BackendEntry& e : registered_backends()) {
    EXPECT_TRUE(words.insert(e.name).second) << e.name << " is used twice";
    Result<Device> d = parse_device(e.name);
    ASSERT_TRUE(d.ok()) << d.status().to_string();
    EXPECT_EQ(*d, e.device);
    EXPECT_STREQ(device_name(e.device), e.name);
    EXPECT_EQ(find_backend(e.device), &e);
    for (const char* alias : e.aliases) {
      EXPECT_TRUE(words.insert(alias).second) << alias << " is used twice";
      EXPECT_EQ(find_backend(std::string(alias)), &e);
    }
    EXPECT_EQ(find_backend_of_engine_file(e.make()->name()), &e);
    EXPECT_TRUE(e.builds(Precision::kFp32)) << e.name;
  }
  EXPECT_EQ(find_backend(Device::kAuto), nullptr);
  EXPECT_EQ(find_backend_of_engine_file("tpu"), nullptr);
  const Result<Device> bad = parse_device("tpu");
  ASSERT_FALSE(bad.ok());
  for (const BackendEntry& e : registered_backends()) {
    EXPECT_NE(bad.status().message().find(e.name), std::string::npos) << bad.status().message();
  }
}

TEST(BackendRegistry, ReferenceIsAlwaysAvailable) {
  const BackendEntry* reference = find_backend(Device::kReference);
  ASSERT_NE(reference, nullptr);
  std::string why;
  EXPECT_TRUE(reference->make()->available(&why)) << why;
}

}  // namespace
}  // namespace chexrt::backends
