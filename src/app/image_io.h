// Decoding chest X-ray files (PNG, JPEG, DICOM), and PNG encoding.
//
// Two decoded forms. `Image` is floating point: every source (8-bit, 16-bit, DICOM with any
// stored bit depth) is mapped linearly onto [0, 1], so code downstream never branches on bit
// depth. An 8-bit sample v becomes v / 255 and a 16-bit sample v / 65535; DICOM pixels become
// the VOI-windowed display value (0 = black). `Image8` holds the 8-bit grey levels
// round(x * 255) of the same values, which recovers 8-bit sources exactly and is what the PIL
// pipelines that CheXNet models were trained with see: preprocessing starts from it, so the
// pipeline decodes straight to it (a quarter of the bytes, no float pass).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chexrt/image_input.h"
#include "chexrt/status.h"

namespace chexrt::app {

enum class ImageFormat { kUnknown, kPng, kJpeg, kDicom };

const char* image_format_name(ImageFormat format);

/// A decoded image: row-major, channels interleaved (HWC), samples in [0, 1].
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;          ///< 1 (grey) or 3 (RGB); alpha is dropped at decode time
  int source_bit_depth = 0;  ///< bits per sample in the file (1..16), for reporting only
  ImageFormat format = ImageFormat::kUnknown;
  std::vector<float> pixels;  ///< width * height * channels samples

  float at(int x, int y, int c) const { return pixels[(static_cast<size_t>(y) * width + x) * channels + c]; }
};

/// 8-bit images and the pixel limit are the engines' too (chexrt/image_input.h).
using chexrt::Image8;
using chexrt::kMaxImagePixels;

/// What a file's header says, read without decoding its pixels.
struct ImageInfo {
  ImageFormat format = ImageFormat::kUnknown;
  int width = 0;
  int height = 0;
  int channels = 0;          ///< after decoding: 1 (grey) or 3 (RGB)
  int bytes_per_sample = 1;  ///< of the decoder's own buffer: 1 or 2
  /// PNG: the bytes of its inflated image data (filtered rows, each with its filter-type byte).
  int64_t png_rows_bytes = 0;
};

/// The most bytes that decode_image8() holds at once for an image of this header (the
/// decoder's buffers and the 8-bit pixels; for a PNG, its inflated rows too, which is all that
/// inflating it alone holds), for DecodeBudget.
int64_t decode_peak_bytes(const ImageInfo& info);

/// The format named by the first bytes: the PNG signature, the JPEG SOI marker, "DICM" at
/// offset 128, or (when DICOM support is built) a DICOM data set without preamble.
/// Never looks at a file name.
ImageFormat detect_image_format(const uint8_t* data, size_t size);

/// True when chexrt was built with DCMTK; otherwise DICOM input is refused as Unsupported.
bool dicom_supported();

/// Decodes an in-memory file. `name` (a path or an upload's name) prefixes every error.
Result<Image> decode_image(const uint8_t* data, size_t size, const std::string& name);

/// Reads the header of an in-memory file: ParseError for a file that is not an image,
/// Unsupported for one beyond kMaxImagePixels; `name` prefixes every error.
Result<ImageInfo> read_image_info(const uint8_t* data, size_t size, const std::string& name);

/// A whole file's bytes: NotFound, IoError, or Unsupported beyond 512 MiB.
Result<std::vector<uint8_t>> read_file_bytes(const std::string& path);

/// Reads and decodes a file.
Result<Image> read_image(const std::string& path);

/// Decodes to 8-bit grey levels: exactly quantize_to_8bit(decode_image(...)), without the float
/// image (a 16-bit sample v becomes round(v / 257)).
Result<Image8> decode_image8(const uint8_t* data, size_t size, const std::string& name);

/// For an engine that unfilters PNG rows on its device (Engine::unfilters_png_on_device): a PNG
/// that chexrt's fast decoder takes, inflated into `rows` (resized; its storage reused) and seen
/// as filtered rows, every row's filter type checked. Not ok for any other file or layout: the
/// caller then decodes it in full (decode_image8), which gives the verdict and the message.
Result<ImageView> inflate_png_rows(const uint8_t* data, size_t size, std::vector<uint8_t>* rows);

/// round(x * 255) of every sample: the 8-bit grey levels PIL would hold.
Image8 quantize_to_8bit(const Image& image);

/// round(v / 257): a 16-bit sample's 8-bit grey level, as quantize_to_8bit() gives for v / 65535.
uint8_t sixteen_to_eight(uint16_t v);

/// Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels, row-major, as a PNG file.
/// `compression_level` is zlib's, 0 (none) to 9 (smallest). Levels 1-3 go through ISA-L's igzip
/// (its levels 1-3) with the Up filter on every row: over ten times faster than libpng's default
/// 6 with adaptive filtering, for files about a tenth larger.
Result<std::vector<uint8_t>> encode_png(const uint8_t* pixels, int width, int height, int channels,
                                        int compression_level = 6);

/// Encodes 8-bit grey (channels 1) or RGB (channels 3) pixels as a baseline JPEG of `quality`
/// (1-100) through libjpeg: several times faster than PNG for photographs and heat maps, lossy.
Result<std::vector<uint8_t>> encode_jpeg(const uint8_t* pixels, int width, int height, int channels, int quality = 90);

}  // namespace chexrt::app
