#include "app/preprocess.h"

#include <algorithm>
#include <cmath>

namespace chexrt::app {

Result<ResizeMode> parse_resize_mode(const std::string& word) {
  if (word == "crop") return ResizeMode::kResizeCenterCrop;
  if (word == "exact") return ResizeMode::kResizeExact;
  if (word == "tencrop") return ResizeMode::kTenCrop;
  return invalid_argument("--mode must be crop, exact or tencrop, not '" + word + "'");
}

Image8 quantize_to_8bit(const Image& image) {
  Image8 out{image.width, image.height, image.channels, {}};
  out.pixels.resize(image.pixels.size());
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    // Half up, as lround for the non-negative values that remain after the clamp.
    out.pixels[i] = static_cast<uint8_t>(std::clamp(image.pixels[i] * 255.0f, 0.0f, 255.0f) + 0.5f);
  }
  return out;
}

Image8 resize_like_pil(const Image8& image, int out_width, int out_height) {
  return preprocessing::resize_like_pil(view_of(image), out_width, out_height);
}

// Area averaging, rounded to the nearest grey level.
Image8 scale_down(const Image8& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side || max_side < 1) return image;
  Image8 out{std::max(1, static_cast<int>(int64_t{image.width} * max_side / longer)),
             std::max(1, static_cast<int>(int64_t{image.height} * max_side / longer)),
             image.channels,
             {}};
  out.pixels.assign(static_cast<size_t>(out.width) * out.height * out.channels, 0);
  // Output pixel x covers source columns [x * W / w, (x + 1) * W / w), at least one.
  auto span = [](int i, int in, int out_size) {
    const int lo = static_cast<int>(int64_t{i} * in / out_size);
    const int hi = std::max(lo + 1, static_cast<int>(int64_t{i + 1} * in / out_size));
    return std::pair<int, int>(lo, std::min(hi, in));
  };
  const int c = image.channels;
  std::vector<float> sum(c);
  for (int y = 0; y < out.height; ++y) {
    const auto [y0, y1] = span(y, image.height, out.height);
    for (int x = 0; x < out.width; ++x) {
      const auto [x0, x1] = span(x, image.width, out.width);
      std::fill(sum.begin(), sum.end(), 0.0f);
      for (int sy = y0; sy < y1; ++sy) {
        const uint8_t* row = &image.pixels[static_cast<size_t>(sy) * image.width * c];
        for (int sx = x0; sx < x1; ++sx) {
          for (int k = 0; k < c; ++k) sum[k] += row[sx * c + k];
        }
      }
      const float inv = 1.0f / static_cast<float>((y1 - y0) * (x1 - x0));
      uint8_t* dst = &out.pixels[(static_cast<size_t>(y) * out.width + x) * c];
      for (int k = 0; k < c; ++k) dst[k] = static_cast<uint8_t>(std::min(255.0f, sum[k] * inv + 0.5f));
    }
  }
  return out;
}

HeatmapBase heatmap_base(const Image8& image, const PreprocessOptions& options, int max_side) {
  const Region region = crop_region(image.width, image.height, options);
  HeatmapBase base;
  base.image = scale_down(image, max_side);
  const double sx = static_cast<double>(base.image.width) / image.width;
  const double sy = static_cast<double>(base.image.height) / image.height;
  base.crop_region = {region.x0 * sx, region.y0 * sy, region.x1 * sx, region.y1 * sy};
  return base;
}

Region crop_region(int width, int height, const PreprocessOptions& options) {
  const Result<preprocessing::SamplePlan> plan = preprocessing::plan_samples(width, height, 1, options);
  if (options.mode == ResizeMode::kResizeExact || !plan.ok()) return {0, 0, double(width), double(height)};
  // The centre crop: the only one of a centre crop's plan, the fifth of a ten-crop's.
  const preprocessing::CropPlan& centre = plan->crops[plan->crops.size() == 10 ? 4 : 0];
  const int crop = options.crop_size;
  const double sx = static_cast<double>(width) / plan->resized_width;
  const double sy = static_cast<double>(height) / plan->resized_height;
  return {centre.left * sx, centre.top * sy, (centre.left + crop) * sx, (centre.top + crop) * sy};
}

Status preprocess_into(const Image& image, const PreprocessOptions& options, HostTensor* batch, int64_t first) {
  if (image.pixels.size() !=
      static_cast<size_t>(std::max(image.width, 0)) * std::max(image.height, 0) * std::max(image.channels, 0)) {
    return invalid_argument("preprocess: malformed image (" + std::to_string(image.width) + " x " +
                            std::to_string(image.height) + " x " + std::to_string(image.channels) + ")");
  }
  return preprocess_into(quantize_to_8bit(image), options, batch, first);
}

Status preprocess_into(const Image8& image, const PreprocessOptions& options, HostTensor* batch, int64_t first) {
  CHEXRT_RETURN_IF_ERROR(validate(options));
  if (image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3) ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    return invalid_argument("preprocess: malformed image (" + std::to_string(image.width) + " x " +
                            std::to_string(image.height) + " x " + std::to_string(image.channels) + ")");
  }
  const int crop = options.crop_size;
  const int samples = samples_per_image(options);
  if (batch == nullptr || batch->dtype() != DataType::kFloat32 || batch->rank() != 4 || batch->dims()[1] != 3 ||
      batch->dims()[2] != crop || batch->dims()[3] != crop) {
    return invalid_argument("preprocess: the batch must be float32 [N, 3, " + std::to_string(crop) + ", " +
                            std::to_string(crop) + "], not " +
                            (batch ? dims_to_string(batch->dims()) : std::string("null")));
  }
  if (first < 0 || first + samples > batch->dims()[0]) {
    return invalid_argument("preprocess: samples " + std::to_string(first) + ".." +
                            std::to_string(first + samples - 1) + " are outside the batch " +
                            dims_to_string(batch->dims()));
  }
  const size_t sample_size = static_cast<size_t>(3) * crop * crop;
  return preprocessing::preprocess_image(view_of(image), options, batch->data<float>() + first * sample_size);
}

namespace {

template <class AnyImage>
Result<HostTensor> preprocess_one(const AnyImage& image, const PreprocessOptions& options) {
  CHEXRT_RETURN_IF_ERROR(validate(options));
  HostTensor out(DataType::kFloat32, {samples_per_image(options), 3, options.crop_size, options.crop_size});
  CHEXRT_RETURN_IF_ERROR(preprocess_into(image, options, &out, 0));
  return out;
}

}  // namespace

Result<HostTensor> preprocess(const Image& image, const PreprocessOptions& options) {
  return preprocess_one(image, options);
}

Result<HostTensor> preprocess(const Image8& grey_levels, const PreprocessOptions& options) {
  return preprocess_one(grey_levels, options);
}

}  // namespace chexrt::app
