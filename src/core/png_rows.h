// PNG rows after inflate (PNG spec 9, "Filtering"): undoing each row's filter, and the 8-bit
// samples chexrt takes from them. app/png_fast.cpp decodes files through unfilter_row(); engines
// that take PixelEncoding::kPngFiltered on the host (Engine::infer_images' default) use the rest,
// and the CUDA backend's kernels/png_unfilter.cu follows the same arithmetic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "chexrt/image_input.h"
#include "chexrt/status.h"

namespace chexrt::png_rows {

/// The Paeth predictor (PNG spec 9.4) in the branch-free form: with p = a + b - c,
/// |p - a| = |b - c|, |p - b| = |a - c| and |p - c| = |(a - c) + (b - c)|. Ties prefer a, then b.
inline int paeth(int a, int b, int c) {
  const int pa = std::abs(b - c);
  const int pb = std::abs(a - c);
  const int pc = std::abs(a + b - 2 * c);
  const int ab = pb < pa ? b : a;
  const int min_ab = pb < pa ? pb : pa;
  return pc < min_ab ? c : ab;
}

/// Undoes filter type `filter` (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth) on one row of `bytes`
/// bytes in place. `prior` is the previous row, unfiltered (zeros for the first); `bpp` the bytes
/// per complete pixel. False for a filter type above 4. Inline: it is the decoder's inner loop
/// (png_fast.cpp), about a third of a PNG decode.
///
/// Grey 8-bit images (bpp 1, the common X-ray) carry the left and upper-left bytes in registers:
/// Average and Paeth are a serial chain there, and a reload of the byte just written would
/// lengthen it.
inline bool unfilter_row(uint8_t filter, uint8_t* __restrict row, const uint8_t* __restrict prior, size_t bytes,
                         size_t bpp) {
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (size_t i = bpp; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + row[i - bpp]);
      return true;
    case 2:
      for (size_t i = 0; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
      return true;
    case 3:
      if (bpp == 1) {
        int a = 0;
        for (size_t i = 0; i < bytes; ++i) {
          a = (row[i] + ((a + prior[i]) >> 1)) & 0xff;
          row[i] = static_cast<uint8_t>(a);
        }
        return true;
      }
      for (size_t i = 0; i < bpp; ++i) row[i] = static_cast<uint8_t>(row[i] + (prior[i] >> 1));
      for (size_t i = bpp; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + ((row[i - bpp] + prior[i]) >> 1));
      return true;
    case 4:
      if (bpp == 1) {
        int a = 0;
        int c = 0;
        for (size_t i = 0; i < bytes; ++i) {
          const int b = prior[i];
          a = (row[i] + paeth(a, b, c)) & 0xff;
          row[i] = static_cast<uint8_t>(a);
          c = b;
        }
        return true;
      }
      for (size_t i = 0; i < bpp; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
      for (size_t i = bpp; i < bytes; ++i) {
        row[i] = static_cast<uint8_t>(row[i] + paeth(row[i - bpp], prior[i], prior[i - bpp]));
      }
      return true;
    default:
      return false;
  }
}

/// round(v / 257): a 16-bit sample's 8-bit grey level, in integers. v / 257 is never exactly
/// halfway (257 is odd), so this equals round(v / 65535.0f * 255.0f), the float path's
/// quantization (app::sixteen_to_eight, tested for every v).
inline uint8_t sixteen_to_eight(uint16_t v) { return static_cast<uint8_t>((2u * v + 257u) / 514u); }

/// The message for a row whose filter type is above 4, as the PNG decoder words it.
std::string unknown_filter_message(int filter, int row);

/// Checks a kPngFiltered view: its format, its channels against the colour type, and every row's
/// filter type. InvalidArgument naming what is wrong.
Status check(const ImageView& image);

/// The 8-bit samples of a kPngFiltered view (width * height * channels bytes at `out`), through
/// a copy of its rows in `scratch`: each row unfiltered, alpha dropped, 16-bit samples as
/// sixteen_to_eight(). InvalidArgument as check() says.
Status to_eight_bit(const ImageView& image, std::vector<uint8_t>& scratch, uint8_t* out);

}  // namespace chexrt::png_rows
