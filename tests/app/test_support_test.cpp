// The test-data helpers: a missing file must fail the calling test with the file's path (an
// exception GoogleTest reports), never crash it or hand it empty bytes.
#include "test_support.h"

#include <gtest/gtest.h>

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::test_data;

std::string thrown_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(TestSupport, MissingTestDataNamesTheFile) {
  const std::string message = thrown_message([] { test_data("cxr/nih/no_such_image.png"); });
  EXPECT_NE(message.find("cxr/nih/no_such_image.png"), std::string::npos) << message;
}

TEST(TestSupport, UnreadableFileNamesTheFile) {
  const std::string message = thrown_message([] { read_bytes("/nonexistent/chexrt/file.png"); });
  EXPECT_NE(message.find("/nonexistent/chexrt/file.png"), std::string::npos) << message;
}

TEST(TestSupport, BundledDataIsInTheRepository) {
  // Everything the tests read is under the repository's data/, not beside the checkout.
  const std::string path = test_data("cxr/nih/00017921_000.png");
  EXPECT_EQ(path.find("/../"), std::string::npos) << path;
  EXPECT_GT(read_bytes(path).size(), 1000u);
}

}  // namespace
}  // namespace chexrt::app
