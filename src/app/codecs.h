// The decoders behind decode_image(), one per container format. Each returns errors without
// the file name; decode_image() adds it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "app/image_io.h"

namespace chexrt::app::detail {

/// What a decoder gives: the samples at their own depth, 8 or 16 bits (native byte order),
/// grey or RGB, before any conversion to Image or Image8.
struct RawImage {
  int width = 0;
  int height = 0;
  int channels = 0;
  int source_bit_depth = 0;
  ImageFormat format = ImageFormat::kUnknown;
  int bit_depth = 8;               ///< 8: `pixels8` holds the samples; 16: `pixels16`
  std::vector<uint8_t> pixels8;    ///< width * height * channels
  std::vector<uint16_t> pixels16;  ///< width * height * channels
};

Result<RawImage> decode_png(const uint8_t* data, size_t size);
/// Non-interlaced 8/16-bit grey, grey + alpha, RGB and RGBA through libdeflate (png_fast.cpp);
/// any other file or any error: not ok, and decode_png() decides.
Result<RawImage> decode_png_fast(const uint8_t* data, size_t size);

/// A PNG's image data inflated, its rows still filtered (inflate_png_fast).
struct PngRows {
  int width = 0;
  int height = 0;
  PngRowFormat format;      ///< bit depth 8 or 16; colour type 0, 2, 4 or 6
  int bytes_per_pixel = 0;  ///< png_bytes_per_pixel(format)
};
/// decode_png_fast() without the unfiltering: the same checks, the image data inflated into
/// `filtered` (resized to height * (1 + width * bytes_per_pixel): each row's filter type, then its
/// bytes) and every row's filter type checked, so that it fails exactly where decode_png_fast()
/// does. The caller's buffer is reused as it is (no allocation when it is large enough).
Result<PngRows> inflate_png_fast(const uint8_t* data, size_t size, std::vector<uint8_t>* filtered);

Result<RawImage> decode_jpeg(const uint8_t* data, size_t size);
/// Unsupported when chexrt was built without DCMTK.
Result<RawImage> decode_dicom(const uint8_t* data, size_t size);

/// The header alone, for read_image_info(): format, size and decoded channels.
Result<ImageInfo> png_info(const uint8_t* data, size_t size);
Result<ImageInfo> jpeg_info(const uint8_t* data, size_t size);
Result<ImageInfo> dicom_info(const uint8_t* data, size_t size);

/// 8-bit grey or RGB as a PNG through ISA-L's igzip at `level` (1-3), every row Up-filtered: for
/// encode_png()'s fast levels, several times faster than libpng's zlib and twice libdeflate's
/// level 1 (docs/PERF.md, "Heat maps").
Result<std::vector<uint8_t>> encode_png_fast(const uint8_t* pixels, int width, int height, int channels, int level);

/// ParseError for an image without pixels, Unsupported for one beyond kMaxImagePixels.
Status check_image_size(int64_t width, int64_t height);

}  // namespace chexrt::app::detail
