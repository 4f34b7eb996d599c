// Test images as filtered PNG rows (PNG spec 9, "Filtering"), made without any decoder: samples
// at the file's depth, each row filtered by the forward filters written out here from the spec
// (Paeth in its branching form), and the 8-bit samples that a PNG decoder must give for them
// (alpha dropped, a 16-bit sample v as round(v / 257), computed in floating point).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "chexrt/image_input.h"

namespace chexrt::testing {

struct PngRowsCase {
  int width = 0;
  int height = 0;
  PngRowFormat format;
  std::vector<uint8_t> rows;      ///< height * (1 + width * bytes per pixel): filter type, bytes
  std::vector<uint8_t> expected;  ///< width * height * channels 8-bit samples
  ImageView view() const { return png_rows_view(rows.data(), width, height, format); }
};

inline int spec_paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

/// An image of `format` whose row y is filtered with filter_of_row(y) (0-4). Samples are a smooth
/// ramp with noise, so that every predictor's branches are taken.
inline PngRowsCase make_png_rows(int width, int height, PngRowFormat format, uint32_t seed,
                                 const std::function<int(int)>& filter_of_row) {
  const int samples = format.color_type == 0 ? 1 : format.color_type == 2 ? 3 : format.color_type == 4 ? 2 : 4;
  const int bytes_per_sample = format.bit_depth / 8;
  const int bpp = samples * bytes_per_sample;
  const int channels = samples >= 3 ? 3 : 1;
  const size_t row_bytes = static_cast<size_t>(width) * bpp;
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-30, 30);
  // The raw (unfiltered) bytes: big-endian samples, as a PNG stores them.
  std::vector<uint8_t> raw(row_bytes * height);
  PngRowsCase c;
  c.width = width;
  c.height = height;
  c.format = format;
  c.expected.resize(static_cast<size_t>(width) * height * channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int s = 0; s < samples; ++s) {
        const int ramp = (x * 7 + y * 5 + s * 60) % 256;
        const int eight = std::min(255, std::max(0, ramp + (rng() % 4 == 0 ? noise(rng) : 0)));
        const int value = bytes_per_sample == 1 ? eight : eight * 256 + static_cast<int>(rng() % 256);
        uint8_t* at = &raw[y * row_bytes + static_cast<size_t>(x) * bpp + s * bytes_per_sample];
        if (bytes_per_sample == 1) {
          at[0] = static_cast<uint8_t>(value);
        } else {
          at[0] = static_cast<uint8_t>(value >> 8);
          at[1] = static_cast<uint8_t>(value & 0xff);
        }
        if (s < channels) {
          const double level = bytes_per_sample == 1 ? value : std::round(value / 257.0);
          c.expected[(static_cast<size_t>(y) * width + x) * channels + s] = static_cast<uint8_t>(level);
        }
      }
    }
  }
  c.rows.resize((row_bytes + 1) * height);
  for (int y = 0; y < height; ++y) {
    const int filter = filter_of_row(y);
    uint8_t* out = &c.rows[y * (row_bytes + 1)];
    out[0] = static_cast<uint8_t>(filter);
    const uint8_t* row = &raw[y * row_bytes];
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= static_cast<size_t>(bpp) ? row[i - bpp] : 0;
      const int b = y > 0 ? row[i - row_bytes] : 0;
      const int d = y > 0 && i >= static_cast<size_t>(bpp) ? row[i - row_bytes - bpp] : 0;
      const int predicted = filter == 1   ? a
                            : filter == 2 ? b
                            : filter == 3 ? (a + b) / 2
                            : filter == 4 ? spec_paeth(a, b, d)
                                          : 0;
      out[1 + i] = static_cast<uint8_t>(row[i] - predicted);
    }
  }
  return c;
}

/// Every layout kPngFiltered takes: 8 and 16 bits of grey, RGB, grey + alpha and RGBA.
inline std::vector<PngRowFormat> all_png_row_formats() {
  std::vector<PngRowFormat> formats;
  for (int depth : {8, 16}) {
    for (int color : {0, 2, 4, 6}) formats.push_back({depth, color});
  }
  return formats;
}

}  // namespace chexrt::testing
