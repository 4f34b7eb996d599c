// CheXNet input preprocessing, matching torchvision 0.14 on PIL images bit for bit:
//   img.convert('RGB') -> Resize -> CenterCrop | TenCrop -> ToTensor -> Normalize
// PIL resizes 8-bit images with fixed-point arithmetic and rounds to uint8 after each pass;
// chexrt does the same (see resize_like_pil), so its tensors equal torchvision's, not just
// approximate them.
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
#include "chexrt/tensor.h"

namespace chexrt::app {

enum class ResizeMode {
  kResizeCenterCrop,  ///< Resize(resize_size) of the shorter side, then CenterCrop(crop_size)
  kResizeExact,       ///< Resize((crop_size, crop_size)), ignoring the aspect ratio
  kTenCrop,           ///< Resize(resize_size), then TenCrop(crop_size): 10 samples per image
};

/// "crop", "exact" or "tencrop" (the command line's words); InvalidArgument naming --mode else.
Result<ResizeMode> parse_resize_mode(const std::string& word);

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

/// InvalidArgument for sizes that are not positive or above kMaxPreprocessSize, a crop larger
/// than the resize, or a non-positive std.
Status validate(const PreprocessOptions& options);

/// Samples each image contributes to a batch: 10 for kTenCrop, else 1.
int samples_per_image(const PreprocessOptions& options);

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


/// PIL's Image.resize(size, BILINEAR) for 8-bit images: a separable triangle filter whose
/// support grows with the downscale factor (so downscaling is antialiased), coefficients in
/// 22-bit fixed point, horizontal pass first, rounding to uint8 after each pass.
Image8 resize_like_pil(const Image8& image, int out_width, int out_height);

/// torchvision's Resize(int) output size: the shorter side becomes `size`, the longer one
/// int(size * long / short).
std::array<int, 2> resized_size(int width, int height, int size);

}  // namespace chexrt::app
