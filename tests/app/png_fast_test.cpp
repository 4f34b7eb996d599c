// The libdeflate PNG path (png_fast.cpp) against libpng (png_codec.cpp): the same samples for
// every layout it takes, and for the rest it steps aside. Its inflating alone (inflate_png_fast),
// unfiltered by core/png_rows.h as an engine unfilters, gives the same samples again and fails
// where the full path fails.
#include <gtest/gtest.h>
#include <png.h>

#include <filesystem>
#include <random>

#include "app/codecs.h"
#include "app/heatmap.h"
#include "app/preprocess.h"
#include "core/png_rows.h"
#include "test_support.h"

namespace chexrt::app::detail {
namespace {

using testing::png_with_filter_bytes;
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

void append_to_vector(png_structp png, png_bytep data, size_t size) {
  auto* out = static_cast<std::vector<uint8_t>*>(png_get_io_ptr(png));
  out->insert(out->end(), data, data + size);
}

// A PNG written by libpng with only `filter` (PNG_FILTER_NONE ... PNG_FILTER_PAETH) allowed.
// Only trivially destructible objects live in this frame: libpng may longjmp out of it.
bool write_png_with_filter(std::vector<uint8_t>* out, int width, int height, int depth, int color_type, int filter,
                           png_bytepp rows) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_set_write_fn(png, out, append_to_vector, nullptr);
  png_set_IHDR(png, info, width, height, depth, color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_filter(png, PNG_FILTER_TYPE_BASE, filter);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return true;
}

// inflate_png_fast() and the host's unfiltering (what Engine::infer_images does with the rows off
// the GPU) against decode_image8(), the CPU path: the same 8-bit samples.
void expect_rows_decode_as_the_file(const std::vector<uint8_t>& png, const std::string& what) {
  std::vector<uint8_t> rows;
  Result<PngRows> inflated = inflate_png_fast(png.data(), png.size(), &rows);
  ASSERT_TRUE(inflated.ok()) << what << ": " << inflated.status().to_string();
  const ImageView view = png_rows_view(rows.data(), inflated->width, inflated->height, inflated->format);
  ASSERT_EQ(rows.size(), image_bytes(view)) << what;
  const Image8 decoded = decode_image8(png.data(), png.size(), what).value();
  ASSERT_EQ(view.channels, decoded.channels) << what;
  std::vector<uint8_t> scratch, pixels(decoded.pixels.size());
  const Status s = png_rows::to_eight_bit(view, scratch, pixels.data());
  ASSERT_TRUE(s.ok()) << what << ": " << s.to_string();
  EXPECT_TRUE(pixels == decoded.pixels) << what;
}

TEST(PngFast, InflatedRowsUnfilteredEqualTheDecodeForEveryFilterAndLayout) {
  // Filter type k (0 None ... 4 Paeth) is libpng's flag kFilterFlags[k].
  const int kFilterFlags[] = {PNG_FILTER_NONE, PNG_FILTER_SUB, PNG_FILTER_UP, PNG_FILTER_AVG, PNG_FILTER_PAETH};
  std::mt19937 rng(17);
  for (int depth : {8, 16}) {
    for (int color_type : {PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGBA}) {
      for (int width : {1, 3, 1023}) {
        const int height = 9;
        const int bpp = png_bytes_per_pixel({depth, color_type});
        // A ramp with noise, so that the predictors take all their branches.
        std::vector<uint8_t> raw(static_cast<size_t>(width) * bpp * height);
        for (size_t i = 0; i < raw.size(); ++i) {
          raw[i] = static_cast<uint8_t>((i % 5 == 0 ? rng() : (i / bpp) % width * 3 + i / (width * bpp) * 7) & 0xff);
        }
        std::vector<png_bytep> row_pointers(height);
        for (int y = 0; y < height; ++y) row_pointers[y] = raw.data() + static_cast<size_t>(y) * width * bpp;
        for (int filter_type = 0; filter_type < 5; ++filter_type) {
          const std::string what = "depth " + std::to_string(depth) + ", colour type " + std::to_string(color_type) +
                                   ", width " + std::to_string(width) + ", filter type " + std::to_string(filter_type);
          std::vector<uint8_t> png;
          ASSERT_TRUE(write_png_with_filter(&png, width, height, depth, color_type, kFilterFlags[filter_type],
                                            row_pointers.data()))
              << what;
          // Every row after the first carries the one filter allowed, so that the test takes the path
          // it names; but on images one pixel wide libpng allows None and Up alone (its
          // png_write_start_row), and writes None for the rest. The rows of tests/unit's
          // png_rows_test.cpp cover those.
          std::vector<uint8_t> rows;
          ASSERT_TRUE(inflate_png_fast(png.data(), png.size(), &rows).ok()) << what;
          const size_t stride = 1 + static_cast<size_t>(width) * bpp;
          const int written_type = width == 1 && filter_type != 2 ? 0 : filter_type;
          for (int y = 1; y < height; ++y) ASSERT_EQ(rows[y * stride], written_type) << what << ", row " << y;
          expect_rows_decode_as_the_file(png, what);
        }
      }
    }
  }
}

TEST(PngFast, InflatedRowsOfTheBundledXraysEqualTheirDecode) {
  size_t files = 0;
  const std::filesystem::path cxr =
      std::filesystem::path(test_data("cxr/nih/00000284_000.png")).parent_path().parent_path();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(cxr)) {
    if (entry.path().extension() != ".png") continue;
    expect_rows_decode_as_the_file(read_bytes(entry.path().string()), entry.path().string());
    ++files;
  }
  EXPECT_GE(files, 19u);
}

TEST(PngFast, InflatingAloneFailsWhereTheFastDecodeFails) {
  const std::vector<uint8_t> good = png_with_filter_bytes(5, {0, 1, 2, 3, 4});
  std::vector<uint8_t> rows;
  ASSERT_TRUE(decode_png_fast(good.data(), good.size()).ok());
  ASSERT_TRUE(inflate_png_fast(good.data(), good.size(), &rows).ok());
  // An unknown filter type in row 2: refused by both, and decode_image8() gives libpng's verdict.
  const std::vector<uint8_t> bad = png_with_filter_bytes(5, {0, 1, 9, 3, 4});
  Result<RawImage> fast = decode_png_fast(bad.data(), bad.size());
  Result<PngRows> inflated = inflate_png_fast(bad.data(), bad.size(), &rows);
  EXPECT_FALSE(fast.ok());
  ASSERT_FALSE(inflated.ok());
  EXPECT_EQ(inflated.status().message(), fast.status().message());
  EXPECT_EQ(inflated.status().message(), "PNG: unknown filter type 9 in row 2");
  EXPECT_FALSE(decode_image8(bad.data(), bad.size(), "bad.png").ok());

  std::vector<uint8_t> png = read_bytes(test_data("cxr/formats/00012082_000_512.png"));
  std::vector<uint8_t> interlaced = png;
  interlaced[28] = 1;
  std::vector<uint8_t> truncated(png.begin(), png.begin() + png.size() / 2);
  std::vector<uint8_t> flipped = png;
  flipped[png.size() / 2] ^= 0x55;
  for (const std::vector<uint8_t>* file : {&interlaced, &truncated, &flipped}) {
    EXPECT_FALSE(decode_png_fast(file->data(), file->size()).ok());
    EXPECT_FALSE(inflate_png_fast(file->data(), file->size(), &rows).ok());
  }
}

}  // namespace
}  // namespace chexrt::app::detail
