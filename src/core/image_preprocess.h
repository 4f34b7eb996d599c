// CheXNet input preprocessing, matching torchvision 0.14 on PIL images bit for bit:
//   img.convert('RGB') -> Resize -> CenterCrop | TenCrop -> ToTensor -> Normalize
// PIL resizes 8-bit images with fixed-point arithmetic and rounds to uint8 after each pass;
// chexrt does the same (resize_like_pil), so its tensors equal torchvision's, not just
// approximate them. The filter banks, crop plans and normalization table here are the one
// description of that arithmetic: the host path below and the CUDA backend's kernels both run
// from them.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "chexrt/engine.h"
#include "chexrt/image_input.h"
#include "chexrt/status.h"

namespace chexrt::preprocessing {

/// PIL's fixed-point precision for 8-bit resampling: 32 bits minus 8 for the sample minus 2
/// of headroom for filters whose coefficients sum above 1. An output sample is
/// clamp((2^(bits-1) + sum(pixel * weight)) >> bits, 0, 255).
inline constexpr int kPrecisionBits = 32 - 8 - 2;

/// Per output sample along one axis: the first input index, the number of taps and their
/// fixed-point weights (stride `taps`, unused tail zero).
struct FilterBank {
  int taps = 0;
  std::vector<int32_t> first;
  std::vector<int32_t> count;
  std::vector<int32_t> weights;
};

/// PIL's triangle ("bilinear") filter from in_size to out_size samples. When downscaling by
/// s > 1 its support is stretched to s input pixels each side (antialiasing). At
/// in_size == out_size every output copies its input exactly.
FilterBank bilinear_filter_bank(int in_size, int out_size);

/// PIL's Image.resize(size, BILINEAR) for 8-bit images (PixelEncoding::kEight): horizontal pass
/// first, rounding to uint8 after each pass.
Image8 resize_like_pil(const ImageView& image, int out_width, int out_height);

/// torchvision's Resize(int) output size: the shorter side becomes `size`, the longer one
/// int(size * long / short).
std::array<int, 2> resized_size(int width, int height, int size);

/// Where a sample is cut from the resized image.
struct CropPlan {
  int left = 0;
  int top = 0;
  bool mirrored = false;  ///< a crop of the horizontally flipped image
};

/// How one image becomes its samples: the size it is resized to and its crops, in
/// torchvision's order (ten-crop: top-left, top-right, bottom-left, bottom-right, centre, then
/// the same five of the mirrored image).
struct SamplePlan {
  int resized_width = 0;
  int resized_height = 0;
  std::vector<CropPlan> crops;
};

/// InvalidArgument for a malformed image (sizes, channels 1 or 3, a null or short buffer is
/// the caller's), Unsupported when resizing it would exceed kMaxImagePixels.
Result<SamplePlan> plan_samples(int width, int height, int channels, const PreprocessOptions& options);

/// (v / 255 - mean) / std per channel and grey level, in float32 as torch computes it.
using NormalizeTable = std::array<std::array<float, 256>, 3>;
NormalizeTable normalize_table(const PreprocessOptions& options);

/// Preprocesses one image into samples_per_image(options) samples of float32 [3, crop, crop],
/// written at `out`. Validates the options and the image. Filtered PNG rows are unfiltered first
/// (core/png_rows.h), JPEG views decoded first (core/jpeg_decode.h).
Status preprocess_image(const ImageView& image, const PreprocessOptions& options, float* out);

/// Checks a call of Engine::infer_images() against the engine's one input (float32
/// [N, 3, crop, crop]) and max batch, and every image's pixels (filtered PNG rows: their format
/// and every row's filter type); returns the batch in samples.
Result<int64_t> check_image_batch(const Engine& engine, const std::vector<ImageView>& images,
                                  const PreprocessOptions& options);

}  // namespace chexrt::preprocessing
