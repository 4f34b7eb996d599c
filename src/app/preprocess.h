// CheXNet input preprocessing on the host, for the decoded images of src/app. The arithmetic
// itself (PIL's fixed-point resize, torchvision's crops, Normalize) is core/image_preprocess.h,
// shared with the engines that preprocess on their device.
//
// Bit depth: the decoded image is quantized to 8-bit grey levels, round(x * 255), before
// anything else. For a 16-bit PNG this is round(v / 257), which maps a 16-bit copy of an
// 8-bit image (v = 257 * g) back to exactly g. (PIL itself opens 16-bit PNGs as mode 'I' and
// its convert('RGB') clips every value above 255 to white, which no model was trained on.)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "app/image_io.h"
#include "chexrt/image_input.h"
#include "chexrt/tensor.h"
#include "core/image_preprocess.h"

namespace chexrt::app {

using chexrt::kMaxPreprocessSize;
using chexrt::PreprocessOptions;
using chexrt::ResizeMode;
using chexrt::samples_per_image;
using chexrt::validate;
using preprocessing::resized_size;

/// "crop", "exact" or "tencrop" (the command line's words); InvalidArgument naming --mode else.
Result<ResizeMode> parse_resize_mode(const std::string& word);

/// Writes samples_per_image(options) samples of shape [3, crop, crop] into `batch` (float32
/// [N, 3, crop, crop]) starting at sample `first`. Ten-crop order is torchvision's: top-left,
/// top-right, bottom-left, bottom-right, centre, then the same five of the mirrored image.
Status preprocess_into(const Image& image, const PreprocessOptions& options, HostTensor* batch, int64_t first);

/// One image as a float32 tensor [samples_per_image, 3, crop, crop].
Result<HostTensor> preprocess(const Image& image, const PreprocessOptions& options);

/// The same from the image's 8-bit grey levels (decode_image8()): identical tensors.
Status preprocess_into(const Image8& grey_levels, const PreprocessOptions& options, HostTensor* batch, int64_t first);
Result<HostTensor> preprocess(const Image8& grey_levels, const PreprocessOptions& options);

/// `image` itself when its longer side is at most `max_side`, else a copy scaled down to that
/// size by averaging the source pixels under each output pixel (for display, e.g. heat maps:
/// not the model's input).
Image8 scale_down(const Image8& image, int max_side);

/// A rectangle in source-image pixel coordinates (x1, y1 exclusive; may be fractional).
struct Region {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

/// The part of a width x height source image that the (centre) crop shows: where a class
/// activation map computed on that crop belongs when drawn over the original image.
Region crop_region(int width, int height, const PreprocessOptions& options);

/// What a heat map is drawn on: `image` scaled down to at most `max_side` (scale_down), and the
/// crop_region of the full image in the scaled image's coordinates.
struct HeatmapBase {
  Image8 image;
  Region crop_region;
};
HeatmapBase heatmap_base(const Image8& image, const PreprocessOptions& options, int max_side);

/// PIL's Image.resize(size, BILINEAR) for 8-bit images (preprocessing::resize_like_pil).
Image8 resize_like_pil(const Image8& image, int out_width, int out_height);

}  // namespace chexrt::app
