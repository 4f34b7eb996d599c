// Images as a classifier's input: 8-bit pixels (or a PNG's filtered rows, which the engine
// unfilters into them, or a JPEG file, which it decodes), and CheXNet's preprocessing of them
// (resize, centre crop or ten-crop, normalize), the same on every engine. Engine::infer_images()
// takes these; engines on a GPU run the preprocessing there, the others on the host.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "chexrt/status.h"

namespace chexrt {

/// 8-bit pixels, row-major, channels interleaved: 1 (grey) or 3 (RGB).
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;
};

/// How the bytes of an ImageView hold its pixels.
enum class PixelEncoding {
  /// 8-bit samples as Image8 lays them out: width * channels bytes per row.
  kEight,
  /// A non-interlaced PNG's image data inflated but not unfiltered: per row, its filter type
  /// (0-4) and then width * png_bytes_per_pixel() filtered bytes (PNG spec 9). The engine
  /// unfilters them and takes the 8-bit samples that chexrt's PNG decoder gives for the file:
  /// alpha dropped, a 16-bit sample v as round(v / 257). Decoders that only inflate hand these
  /// over when Engine::unfilters_png_on_device(), saving the host the serial unfiltering.
  kPngFiltered,
  /// A whole JPEG file of jpeg_size bytes. The engine decodes it to the pixels chexrt's host
  /// JPEG decoder gives: on the host, or on its device where Engine::decodes_jpeg_on_device().
  kJpeg,
};

/// A kPngFiltered view's PNG header fields: bit depth 8 or 16, colour type 0 (grey), 2 (RGB),
/// 4 (grey + alpha) or 6 (RGBA).
struct PngRowFormat {
  int bit_depth = 8;
  int color_type = 0;
};

/// Bytes per complete pixel of a PNG row (1 to 8), or 0 for a layout kPngFiltered does not take.
int png_bytes_per_pixel(const PngRowFormat& format);

/// A view of an image held elsewhere: `pixels` points at width * height * channels 8-bit samples
/// (kEight), at height * (1 + width * png_bytes_per_pixel(png)) bytes of filtered PNG rows
/// (kPngFiltered), or at a JPEG file of jpeg_size bytes (kJpeg). width, height and `channels`
/// are those of the 8-bit samples in all three: channels 1 (grey, grey + alpha) or 3 (RGB,
/// RGBA); for a JPEG, as its header says.
struct ImageView {
  const uint8_t* pixels = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;
  PixelEncoding encoding = PixelEncoding::kEight;
  PngRowFormat png;      ///< kPngFiltered only
  size_t jpeg_size = 0;  ///< kJpeg only: the file's bytes
};

inline ImageView view_of(const Image8& image) {
  return {image.pixels.data(), image.width, image.height, image.channels};
}

/// A view of filtered PNG rows; channels follow from the colour type.
inline ImageView png_rows_view(const uint8_t* rows, int width, int height, PngRowFormat format) {
  const int channels = format.color_type == 2 || format.color_type == 6 ? 3 : 1;
  return {rows, width, height, channels, PixelEncoding::kPngFiltered, format};
}

/// A view of the JPEG file `data`, whose header gives width x height x channels.
inline ImageView jpeg_view(const uint8_t* data, size_t size, int width, int height, int channels) {
  return {data, width, height, channels, PixelEncoding::kJpeg, {}, size};
}

/// True when `image` holds a JPEG file rather than pixels or PNG rows.
inline bool is_jpeg(const ImageView& image) { return image.encoding == PixelEncoding::kJpeg; }

/// The bytes `image.pixels` points at (for kPngFiltered, the filter-type bytes included; for
/// kJpeg, the file).
size_t image_bytes(const ImageView& image);

enum class ResizeMode {
  kResizeCenterCrop,  ///< Resize(resize_size) of the shorter side, then CenterCrop(crop_size)
  kResizeExact,       ///< Resize((crop_size, crop_size)), ignoring the aspect ratio
  kTenCrop,           ///< Resize(resize_size), then TenCrop(crop_size): 10 samples per image
};

struct PreprocessOptions {
  ResizeMode mode = ResizeMode::kResizeCenterCrop;
  /// Target of the shorter side. 256 follows the original CheXNet; the reproduce-chexnet
  /// weights behind data/cxr/chexnet_reference_predictions.csv used 224.
  int resize_size = 256;
  int crop_size = 224;
  /// ImageNet statistics, as in torchvision's Normalize.
  std::array<float, 3> mean = {0.485f, 0.456f, 0.406f};
  std::array<float, 3> std = {0.229f, 0.224f, 0.225f};
};

/// The largest resize and crop size: far above any classifier's input, small enough that a
/// resized X-ray stays within memory.
inline constexpr int kMaxPreprocessSize = 4096;

/// Images larger than this are refused before any pixel buffer is allocated, so that a
/// crafted header cannot make the decoder allocate gigabytes (a 16-bit 8192 x 8192 image
/// is already far beyond any chest radiograph). Resized images are held to it too.
inline constexpr int64_t kMaxImagePixels = int64_t{8192} * 8192;

/// InvalidArgument for sizes that are not positive or above kMaxPreprocessSize, a crop larger
/// than the resize, or a non-positive std.
Status validate(const PreprocessOptions& options);

/// Samples each image contributes to a batch: 10 for kTenCrop, else 1.
int samples_per_image(const PreprocessOptions& options);

}  // namespace chexrt
