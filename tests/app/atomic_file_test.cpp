#include "core/atomic_file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_support.h"

namespace chexrt::core {
namespace {

using app::testing::read_bytes;
using app::testing::TempDir;

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  return names;
}

TEST(AtomicFile, WritesAndReplaces) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  ASSERT_TRUE(write_file_atomically(path, std::string_view("first version, longer")).ok());
  ASSERT_TRUE(write_file_atomically(path, std::vector<uint8_t>{'s', 'e', 'c', 0, 'd'}).ok());
  EXPECT_EQ(read_bytes(path), (std::vector<uint8_t>{'s', 'e', 'c', 0, 'd'}));
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.json"});
}

TEST(AtomicFile, FailureLeavesTargetAndNoTemporary) {
  TempDir dir;
  Status missing_dir = write_file_atomically(dir.file("absent/out.json"), std::string_view("x"));
  EXPECT_EQ(missing_dir.code(), StatusCode::kIoError);
  EXPECT_NE(missing_dir.message().find(dir.file("absent/out.json")), std::string::npos) << missing_dir.message();

  // Renaming a file over a non-empty directory fails after the temporary was written.
  std::filesystem::create_directories(dir.file("taken/inner"));
  Status over_dir = write_file_atomically(dir.file("taken"), std::string_view("x"));
  EXPECT_EQ(over_dir.code(), StatusCode::kIoError);
  EXPECT_NE(over_dir.message().find("rename"), std::string::npos) << over_dir.message();
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"taken"});
}

}  // namespace
}  // namespace chexrt::core
