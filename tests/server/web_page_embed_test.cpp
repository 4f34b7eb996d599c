// The web page embedded at build time (src/server/web/embed_file.cmake): the bytes served are
// exactly the file's, whatever they are, and the page loads nothing from elsewhere.
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "all_bytes.h"
#include "server/web/web_page.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

TEST(WebPage, EmbeddedBytesAreTheFileBytes) {
  std::string expected;
  for (int b = 0; b < 256; ++b) expected.push_back(static_cast<char>(b));
  for (int b = 255; b >= 0; --b) expected.push_back(static_cast<char>(b));
  expected += std::string(")\"\\", 3) + '\0';
  EXPECT_EQ(chexrt_test::all_bytes(), expected);
}

TEST(WebPage, IndexHtmlIsTheSourcePage) {
  const std::string page = read_file(std::string(CHEXRT_SOURCE_DIR) + "/src/server/web/index.html");
  ASSERT_FALSE(page.empty());
  EXPECT_EQ(chexrt::server::index_html(), page);
}

TEST(WebPage, LoadsNothingFromElsewhere) {
  const std::string page(chexrt::server::index_html());
  EXPECT_EQ(page.rfind("<!doctype html>", 0), 0u);
  // Any URL with a host (http:, https:, or scheme-relative //) in an attribute that loads
  // something, in CSS, or an @import would make the page depend on the network.
  const std::regex external(
      R"((src|href|action|srcset)\s*=\s*["']?\s*([a-z]+:)?//|url\(\s*["']?\s*([a-z]+:)?//|@import)", std::regex::icase);
  std::smatch match;
  EXPECT_FALSE(std::regex_search(page, match, external)) << "external reference: " << match.str();
  // Script requests stay relative to the page (v1/...), so that a path prefix in front works too.
  EXPECT_EQ(page.find("fetch('/"), std::string::npos);
  EXPECT_EQ(page.find("fetch(\"/"), std::string::npos);
}

}  // namespace
