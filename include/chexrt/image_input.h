// Images as a classifier's input: 8-bit pixels, and CheXNet's preprocessing of them (resize,
// centre crop or ten-crop, normalize), the same on every engine. Engine::infer_images() takes
// these; engines on a GPU run the preprocessing there, the others on the host.
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

/// The bytes of an encoded file held elsewhere.
struct EncodedBytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

/// A view of 8-bit pixels held elsewhere, laid out as Image8's; or of a JPEG file whose pixels
/// the engine decodes (`jpeg` set, `pixels` null).
struct ImageView {
  const uint8_t* pixels = nullptr;
  int width = 0;
  int height = 0;
  int channels = 0;
  /// A whole JPEG file. width, height and channels are then those of its decoded pixels, as its
  /// header says (1: grey, 3: RGB), and the engine decodes it to the pixels chexrt's host JPEG
  /// decoder gives: on the host, or on its device where Engine::decodes_jpeg_on_device().
  EncodedBytes jpeg;
};

inline ImageView view_of(const Image8& image) {
  return {image.pixels.data(), image.width, image.height, image.channels};
}

/// A view of the JPEG file `data`, whose header gives width x height x channels.
inline ImageView jpeg_view(const uint8_t* data, size_t size, int width, int height, int channels) {
  ImageView view{nullptr, width, height, channels};
  view.jpeg = {data, size};
  return view;
}

/// True when `image` holds a JPEG file rather than pixels.
inline bool is_jpeg(const ImageView& image) { return image.jpeg.data != nullptr; }

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
