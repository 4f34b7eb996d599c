// The libdeflate PNG path (png_fast.cpp) against libpng (png_codec.cpp): the same samples for
// every layout it takes, and for the rest it steps aside.
#include <gtest/gtest.h>

#include <random>

#include "app/codecs.h"
#include "app/heatmap.h"
#include "app/preprocess.h"
#include "test_support.h"

namespace chexrt::app::detail {
namespace {

using testing::read_bytes;
using testing::test_data;

void expect_same_as_libpng(const std::vector<uint8_t>& png, const std::string& what) {
  Result<RawImage> fast = decode_png_fast(png.data(), png.size());
  Result<RawImage> slow = decode_png(png.data(), png.size());
  ASSERT_TRUE(slow.ok()) << what << ": " << slow.status().to_string();
  ASSERT_TRUE(fast.ok()) << what << ": " << fast.status().to_string();
  EXPECT_EQ(fast->width, slow->width) << what;
  EXPECT_EQ(fast->height, slow->height) << what;
  EXPECT_EQ(fast->channels, slow->channels) << what;
  EXPECT_EQ(fast->bit_depth, slow->bit_depth) << what;
  EXPECT_EQ(fast->source_bit_depth, slow->source_bit_depth) << what;
  EXPECT_TRUE(fast->pixels8 == slow->pixels8) << what;
  EXPECT_TRUE(fast->pixels16 == slow->pixels16) << what;
}

TEST(PngFast, BundledPngsDecodeAsLibpngDecodesThem) {
  // NIH files use the Paeth and Average filters; the others are 16-bit grey, RGBA, 512 x 512
  // and 2000 x 1800.
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/nih/00017921_000.png", "cxr/formats/00017921_000_16bit.png",
                           "cxr/formats/00014995_000_rgba.png", "cxr/formats/00012082_000_512.png",
                           "cxr/formats/00023104_000_2000x1800.png"}) {
    expect_same_as_libpng(read_bytes(test_data(file)), file);
  }
}

TEST(PngFast, EveryFilterOnGreyAndRgb) {
  // encode_png at level 6 lets libpng pick each row's filter from all five.
  std::mt19937 rng(5);
  // Grey images are unfiltered four rows at a time: heights around multiples of four, too.
  for (int channels : {1, 3})
    for (int h : {1, 3, 4, 5, 8, 61}) {
      SCOPED_TRACE(std::to_string(channels) + " channel(s), " + std::to_string(h) + " row(s)");
      const int w = 97;
      std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * channels);
      for (size_t i = 0; i < pixels.size(); ++i) {
        pixels[i] = static_cast<uint8_t>((i % 7 == 0 ? rng() : (i / channels) % w * 3 + (i / channels / w) * 2) & 0xff);
      }
      Result<std::vector<uint8_t>> png = encode_png(pixels.data(), w, h, channels, 6);
      ASSERT_TRUE(png.ok());
      expect_same_as_libpng(*png, channels == 1 ? "grey" : "rgb");
      Result<RawImage> fast = decode_png_fast(png->data(), png->size());
      ASSERT_TRUE(fast.ok());
      EXPECT_TRUE(fast->pixels8 == pixels);
    }
}

TEST(PngFast, OtherLayoutsAndDamageAreLeftToLibpng) {
  std::vector<uint8_t> png = read_bytes(test_data("cxr/formats/00012082_000_512.png"));
  // Interlaced: the IHDR's last byte (and its CRC would then be wrong: either way, not taken).
  std::vector<uint8_t> interlaced = png;
  interlaced[28] = 1;
  EXPECT_FALSE(decode_png_fast(interlaced.data(), interlaced.size()).ok());
  std::vector<uint8_t> truncated(png.begin(), png.begin() + png.size() / 2);
  EXPECT_FALSE(decode_png_fast(truncated.data(), truncated.size()).ok());
  std::vector<uint8_t> flipped = png;
  flipped[png.size() / 2] ^= 0x55;  // inside IDAT: the chunk's CRC no longer matches
  EXPECT_FALSE(decode_png_fast(flipped.data(), flipped.size()).ok());
}

TEST(PngFast, FastEncodingRoundTripsThroughBothDecoders) {
  std::mt19937 rng(11);
  for (int channels : {1, 3}) {
    for (auto [w, h] : {std::pair<int, int>{1, 1}, {1, 9}, {13, 1}, {257, 31}}) {
      std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * channels);
      for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng());
      for (int level : {1, 3}) {
        Result<std::vector<uint8_t>> png = encode_png(pixels.data(), w, h, channels, level);
        ASSERT_TRUE(png.ok()) << png.status().to_string();
        Result<RawImage> slow = decode_png(png->data(), png->size());  // libpng checks every CRC
        ASSERT_TRUE(slow.ok()) << w << "x" << h << ": " << slow.status().to_string();
        EXPECT_EQ(slow->channels, channels);
        EXPECT_TRUE(slow->pixels8 == pixels) << w << "x" << h << "x" << channels << " level " << level;
        expect_same_as_libpng(*png, "fast-encoded");
      }
    }
  }
  EXPECT_FALSE(encode_png(nullptr, 4, 4, 3, 10).ok());
}

// What predict writes: the heat map of an NIH X-ray (1024 x 1024 RGB) and the X-ray itself
// (grey), through every fast level, decode to the same pixels with libpng and the libdeflate
// path, and compress (the filtered rows of a radiograph are far from random).
TEST(PngFast, HeatMapsAndXraysRoundTripAtEveryFastLevel) {
  const std::vector<uint8_t> file = read_bytes(test_data("cxr/nih/00000284_000.png"));
  const Image8 xray = decode_image8(file.data(), file.size(), "xray").value();
  ActivationMap map{7, 7, {}};
  for (int i = 0; i < 49; ++i) map.values.push_back(static_cast<float>((i * 37) % 11));
  const Image8 heatmap =
      render_heatmap(xray, map, crop_region(xray.width, xray.height, PreprocessOptions{}), {}).value();
  for (const Image8* image : {&heatmap, &xray}) {
    for (int level : {1, 2, 3}) {
      SCOPED_TRACE(std::to_string(image->channels) + " channel(s), level " + std::to_string(level));
      Result<std::vector<uint8_t>> png =
          encode_png(image->pixels.data(), image->width, image->height, image->channels, level);
      ASSERT_TRUE(png.ok()) << png.status().to_string();
      EXPECT_LT(png->size(), image->pixels.size() / 2);
      Result<RawImage> slow = decode_png(png->data(), png->size());
      ASSERT_TRUE(slow.ok()) << slow.status().to_string();
      EXPECT_TRUE(slow->pixels8 == image->pixels);
      expect_same_as_libpng(*png, "fast-encoded");
    }
  }
}

}  // namespace
}  // namespace chexrt::app::detail
