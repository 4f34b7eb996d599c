// The segmented PNG encoder's CPU reference (core/png_encode.h), which the GPU's encoder matches
// byte for byte (tests/gpu/png_encode_test.cpp): its files decode, through libpng and through
// zlib's inflate (which checks the Adler-32), to exactly the pixels given, for odd sizes, flat
// images, noise that only stored blocks hold, and real heat maps; and its pieces (match lengths,
// length-limited codes) hold to RFC 1951.
#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstring>
#include <random>

#include "app/codecs.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"
#include "core/png_encode.h"
#include "test_support.h"

namespace chexrt::png_encode {
namespace {

using app::testing::read_bytes;
using app::testing::test_data;

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// The samples libpng decodes from `png`, checking its size and colour type.
std::vector<uint8_t> decode_with_libpng(const std::vector<uint8_t>& png, int width, int height, int channels) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_memory(&image, png.data(), png.size())) << image.message;
  EXPECT_EQ(static_cast<int>(image.width), width);
  EXPECT_EQ(static_cast<int>(image.height), height);
  image.format = channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(PNG_IMAGE_SIZE(image));
  EXPECT_TRUE(png_image_finish_read(&image, nullptr, pixels.data(), 0, nullptr)) << image.message;
  png_image_free(&image);
  return pixels;
}

// The IDAT's zlib stream inflated by zlib: the filtered rows (row 0 None, the others Up). zlib
// checks the Adler-32, the file's structure is checked on the way.
std::vector<uint8_t> inflate_idat(const std::vector<uint8_t>& png) {
  EXPECT_GE(png.size(), kPrefixBytes + kSuffixBytes);
  EXPECT_EQ(std::memcmp(png.data() + 12, "IHDR", 4), 0);
  const size_t idat = 33;
  EXPECT_EQ(std::memcmp(png.data() + idat + 4, "IDAT", 4), 0);
  const uint32_t size = be32(png.data() + idat);
  EXPECT_EQ(idat + 12 + size + 12, png.size());
  EXPECT_EQ(std::memcmp(png.data() + png.size() - 8, "IEND", 4), 0);
  std::vector<uint8_t> out;
  z_stream z{};
  EXPECT_EQ(inflateInit(&z), Z_OK);
  z.next_in = const_cast<uint8_t*>(png.data() + idat + 8);
  z.avail_in = size;
  uint8_t buffer[1 << 16];
  int ret = Z_OK;
  while (ret == Z_OK) {
    z.next_out = buffer;
    z.avail_out = sizeof(buffer);
    ret = inflate(&z, Z_NO_FLUSH);
    out.insert(out.end(), buffer, buffer + (sizeof(buffer) - z.avail_out));
  }
  EXPECT_EQ(ret, Z_STREAM_END) << (z.msg ? z.msg : "");
  EXPECT_EQ(z.avail_in, 0u) << "bytes after the zlib stream";
  inflateEnd(&z);
  return out;
}

std::vector<uint8_t> filtered_rows(const std::vector<uint8_t>& pixels, int width, int height, int channels) {
  const size_t row = static_cast<size_t>(width) * channels;
  std::vector<uint8_t> out;
  for (int y = 0; y < height; ++y) {
    out.push_back(y == 0 ? 0 : 2);
    for (size_t i = 0; i < row; ++i) {
      const uint8_t above = y == 0 ? 0 : pixels[(y - 1) * row + i];
      out.push_back(static_cast<uint8_t>(pixels[y * row + i] - above));
    }
  }
  return out;
}

// Encodes `pixels`, decodes the file both ways and compares; returns the file.
std::vector<uint8_t> round_trip(const std::vector<uint8_t>& pixels, int width, int height, int channels) {
  SCOPED_TRACE(std::to_string(width) + "x" + std::to_string(height) + "x" + std::to_string(channels));
  Result<std::vector<uint8_t>> png = encode_png(pixels.data(), width, height, channels);
  EXPECT_TRUE(png.ok()) << png.status().to_string();
  if (!png.ok()) return {};
  EXPECT_TRUE(decode_with_libpng(*png, width, height, channels) == pixels);
  EXPECT_TRUE(inflate_idat(*png) == filtered_rows(pixels, width, height, channels));
  // The same bytes every time.
  EXPECT_TRUE(encode_png(pixels.data(), width, height, channels).value() == *png);
  return *png;
}

// Smooth gradients with some noise: matches, literals and long and short codes.
std::vector<uint8_t> gradient(int width, int height, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> p(static_cast<size_t>(width) * height * channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c) {
        const int noise = rng() % 9 == 0 ? static_cast<int>(rng() % 7) : 0;
        p[(static_cast<size_t>(y) * width + x) * channels + c] = static_cast<uint8_t>(x / 3 + y / 5 + 40 * c + noise);
      }
  return p;
}

TEST(SegmentedPng, OddSizesDecodeToThePixels) {
  for (int channels : {1, 3}) {
    for (auto [w, h] : {std::pair{1, 1}, {3, 7}, {1023, 5}, {5, 1023}, {17, 33}, {64, 16}, {64, 17}, {1024, 1024}}) {
      round_trip(gradient(w, h, channels, static_cast<uint32_t>(w * 31 + h)), w, h, channels);
    }
  }
}

TEST(SegmentedPng, FlatImagesAreAlmostAllMatches) {
  for (int channels : {1, 3}) {
    for (uint8_t v : {0, 77, 255}) {
      const int w = 301, h = 40;
      const std::vector<uint8_t> png =
          round_trip(std::vector<uint8_t>(static_cast<size_t>(w) * h * channels, v), w, h, channels);
      // Runs of up to a chunk: a few bits for 128 bytes.
      EXPECT_LT(png.size(), static_cast<size_t>(w) * h * channels / 20);
    }
  }
  // Grey RGB pixels (R = G = B) and a colour repeated every pixel.
  const int w = 200, h = 20;
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i % 3 == 0 ? 10 : i % 3 == 1 ? 200 : 90);
  round_trip(rgb, w, h, 3);
}

TEST(SegmentedPng, NoiseFallsBackToStoredBlocks) {
  std::mt19937 rng(3);
  // 1500 RGB pixels a row: a segment of 16 rows is 72,016 bytes, more than one stored block holds.
  for (auto [w, h, channels] : {std::tuple{1, 1, 1}, {33, 9, 3}, {1500, 20, 3}, {700, 40, 1}}) {
    std::vector<uint8_t> noise(static_cast<size_t>(w) * h * channels);
    for (uint8_t& v : noise) v = static_cast<uint8_t>(rng());
    const std::vector<uint8_t> png = round_trip(noise, w, h, channels);
    // Every segment stored: Huffman codes would be larger.
    long long stored = 0;
    const long long row = static_cast<long long>(w) * channels;
    for (int s = 0; s < num_segments(h); ++s) stored += stored_size(segment_bytes(h, row, s));
    EXPECT_EQ(png.size(), kPrefixBytes + static_cast<size_t>(stored) + kSuffixBytes);
  }
}

TEST(SegmentedPng, RealHeatMapsDecodeAndCompress) {
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/formats/00014995_000_rgba.png"}) {
    SCOPED_TRACE(file);
    const std::vector<uint8_t> bytes = read_bytes(test_data(file));
    Result<Image8> xray = app::decode_image8(bytes.data(), bytes.size(), file);
    ASSERT_TRUE(xray.ok()) << xray.status().to_string();
    app::ActivationMap map{7, 7, {}};
    for (int i = 0; i < 49; ++i) map.values.push_back(static_cast<float>((i * 17) % 11));
    const app::Region region = app::crop_region(xray->width, xray->height, PreprocessOptions{});
    Result<Image8> rgb = app::render_heatmap(*xray, map, region, {});
    ASSERT_TRUE(rgb.ok());
    const std::vector<uint8_t> png = round_trip(rgb->pixels, rgb->width, rgb->height, 3);
    Result<std::vector<uint8_t>> igzip = app::encode_png(rgb->pixels.data(), rgb->width, rgb->height, 3, 1);
    ASSERT_TRUE(igzip.ok());
    // The figures are heatmap_bench's; here only that the map is compressed, by something like igzip's level 1.
    EXPECT_LT(png.size(), rgb->pixels.size() * 3 / 4);
    EXPECT_LT(png.size(), igzip->size() * 2);
    std::printf("%s: %zu bytes, igzip level 1 %zu (ratio %.3f)\n", file, png.size(), igzip->size(),
                static_cast<double>(png.size()) / static_cast<double>(igzip->size()));
  }
}

TEST(SegmentedPng, RefusesWhatItCannotEncode) {
  const uint8_t pixel[4] = {};
  EXPECT_EQ(encode_png(pixel, 0, 1, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_png(pixel, 1, -1, 1).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_png(pixel, 1, 1, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_png(pixel, 1, 1, 4).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_png(pixel, 100000, 100000, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST(SegmentedPng, LengthSymbolsAreRfc1951s) {
  // RFC 1951 3.2.5: base lengths and extra bits of symbols 257..285.
  const int base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                        31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
  const int bits[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
  for (int length = kMinMatch; length <= kMaxMatch; ++length) {
    int s = 28;
    while (base[s] > length) --s;
    int extra_bits, extra;
    EXPECT_EQ(length_symbol(length, &extra_bits, &extra), 257 + s) << length;
    EXPECT_EQ(extra_bits, bits[s]) << length;
    EXPECT_EQ(extra, length - base[s]) << length;
  }
}

// Kraft's sum of the code lengths in units of 2^-max_bits: 2^max_bits for a complete code.
uint64_t kraft(const std::vector<uint8_t>& lengths, int max_bits) {
  uint64_t sum = 0;
  for (uint8_t l : lengths) {
    if (l) sum += uint64_t{1} << (max_bits - l);
  }
  return sum;
}

TEST(SegmentedPng, CodesAreCompleteAndLimited) {
  // Fibonacci counts: an unlimited Huffman code would be as deep as there are symbols.
  std::vector<uint32_t> freq(kNumLitLen, 0);
  uint32_t f0 = 1, f1 = 1;
  for (int s = 0; s < 30; ++s) {
    freq[s * 7] = f0;
    const uint32_t next = f0 + f1;
    f0 = f1, f1 = next;
  }
  for (int max_bits : {kMaxCodeBits, kMaxCodeLenBits}) {
    std::vector<uint16_t> order(kNumLitLen);
    std::vector<uint32_t> work(kNumLitLen);
    std::vector<uint8_t> lengths(kNumLitLen);
    const int used = order_symbols(freq.data(), kNumLitLen, order.data());
    ASSERT_EQ(used, 30);
    code_lengths(freq.data(), order.data(), used, max_bits, work.data(), lengths.data(), kNumLitLen);
    EXPECT_EQ(kraft(lengths, max_bits), uint64_t{1} << max_bits);
    for (int s = 0; s < kNumLitLen; ++s) {
      EXPECT_LE(lengths[s], max_bits);
      EXPECT_EQ(lengths[s] != 0, freq[s] != 0) << s;
    }
    // Commoner symbols never get longer codes.
    for (int i = 1; i < used; ++i) EXPECT_GE(lengths[order[i - 1]], lengths[order[i]]);
  }
  // Unlimited, a small code is Huffman's: counts 1, 1, 2, 4 give lengths 3, 3, 2, 1.
  std::vector<uint32_t> small = {4, 1, 2, 1};
  std::vector<uint16_t> order(4);
  std::vector<uint32_t> work(4);
  std::vector<uint8_t> lengths(4);
  code_lengths(small.data(), order.data(), order_symbols(small.data(), 4, order.data()), kMaxCodeBits, work.data(),
               lengths.data(), 4);
  EXPECT_EQ(lengths, (std::vector<uint8_t>{1, 3, 2, 3}));
  // One symbol alone gets a partner.
  std::vector<uint32_t> one(kNumDist, 0);
  one[5] = 9;
  ensure_two_symbols(one.data(), kNumDist);
  EXPECT_EQ(one[0], 1u);
  EXPECT_EQ(one[5], 9u);
}

}  // namespace
}  // namespace chexrt::png_encode
