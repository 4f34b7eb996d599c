// core/png_rows.h: undoing the five PNG filters and taking the 8-bit samples, against rows
// filtered by the test's own forward filters (tests/support/png_rows_maker.h), for every layout
// PixelEncoding::kPngFiltered takes; and the checks that refuse what it does not take.
#include "core/png_rows.h"

#include <gtest/gtest.h>

#include <string>

#include "png_rows_maker.h"

namespace chexrt {
namespace {

using testing::all_png_row_formats;
using testing::make_png_rows;
using testing::PngRowsCase;

std::string describe(const PngRowsCase& c, const std::string& filters) {
  return std::to_string(c.width) + " x " + std::to_string(c.height) + ", depth " + std::to_string(c.format.bit_depth) +
         ", colour type " + std::to_string(c.format.color_type) + ", filters " + filters;
}

TEST(PngRows, EveryFilterOnEveryLayoutGivesTheSamples) {
  // One filter on every row (0-4), then all five in turn; odd widths, a single pixel's width.
  const std::vector<std::pair<std::string, std::function<int(int)>>> patterns = {
      {"none", [](int) { return 0; }},    {"sub", [](int) { return 1; }},   {"up", [](int) { return 2; }},
      {"average", [](int) { return 3; }}, {"paeth", [](int) { return 4; }}, {"all five", [](int y) { return y % 5; }}};
  uint32_t seed = 1;
  for (const PngRowFormat& format : all_png_row_formats()) {
    for (int width : {1, 3, 1023}) {
      for (int height : {1, 11}) {
        for (const auto& [name, filter_of_row] : patterns) {
          const PngRowsCase c = make_png_rows(width, height, format, seed++, filter_of_row);
          const ImageView view = c.view();
          ASSERT_EQ(image_bytes(view), c.rows.size());
          std::vector<uint8_t> scratch, out(c.expected.size(), 0xA5);
          const Status s = png_rows::to_eight_bit(view, scratch, out.data());
          ASSERT_TRUE(s.ok()) << describe(c, name) << ": " << s.to_string();
          EXPECT_TRUE(out == c.expected) << describe(c, name);
        }
      }
    }
  }
}

TEST(PngRows, RefusesUnknownFiltersAndLayouts) {
  PngRowsCase c = make_png_rows(5, 6, {8, 2}, 3, [](int y) { return y % 5; });
  c.rows[3 * (1 + 5 * 3)] = 7;  // row 3's filter type
  std::vector<uint8_t> scratch, out(c.expected.size());
  Status s = png_rows::to_eight_bit(c.view(), scratch, out.data());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "PNG: unknown filter type 7 in row 3");
  EXPECT_EQ(png_rows::check(c.view()).message(), s.message());

  ImageView four_bit = c.view();
  four_bit.png.bit_depth = 4;
  EXPECT_EQ(png_rows::check(four_bit).code(), StatusCode::kInvalidArgument);
  ImageView palette = c.view();
  palette.png.color_type = 3;
  EXPECT_EQ(png_rows::check(palette).code(), StatusCode::kInvalidArgument);
  const PngRowsCase grey = make_png_rows(5, 6, {8, 0}, 4, [](int) { return 0; });
  ImageView grey_as_rgb = grey.view();
  EXPECT_TRUE(png_rows::check(grey_as_rgb).ok());
  grey_as_rgb.channels = 3;
  s = png_rows::check(grey_as_rgb);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("colour type 0"), std::string::npos) << s.message();
}

TEST(PngRows, BytesPerPixelAndViewSizes) {
  EXPECT_EQ(png_bytes_per_pixel({8, 0}), 1);
  EXPECT_EQ(png_bytes_per_pixel({16, 0}), 2);
  EXPECT_EQ(png_bytes_per_pixel({8, 4}), 2);
  EXPECT_EQ(png_bytes_per_pixel({8, 2}), 3);
  EXPECT_EQ(png_bytes_per_pixel({16, 6}), 8);
  EXPECT_EQ(png_bytes_per_pixel({8, 3}), 0);  // palette
  EXPECT_EQ(png_bytes_per_pixel({4, 0}), 0);
  const uint8_t byte = 0;
  EXPECT_EQ(png_rows_view(&byte, 7, 3, {16, 6}).channels, 3);
  EXPECT_EQ(png_rows_view(&byte, 7, 3, {16, 4}).channels, 1);
  EXPECT_EQ(image_bytes(png_rows_view(&byte, 7, 3, {16, 6})), 3u * (1 + 7 * 8));
  EXPECT_EQ(image_bytes(ImageView{&byte, 7, 3, 3}), 7u * 3 * 3);
}

}  // namespace
}  // namespace chexrt
