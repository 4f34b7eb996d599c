#include "app/preprocess.h"

#include <algorithm>
#include <cmath>

namespace chexrt::app {
namespace {

// PIL's fixed-point precision for 8-bit resampling: 32 bits minus 8 for the sample minus 2
// of headroom for filters whose coefficients sum above 1.
constexpr int kPrecisionBits = 32 - 8 - 2;

// Per output sample: the first input index, the number of taps and their fixed-point weights
// (stride `taps`, unused tail zero).
struct FilterBank {
  int taps = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

// The triangle ("bilinear") filter of PIL's Resample.c. When downscaling by s > 1 its support
// is stretched to s input pixels each side, so every input pixel under an output pixel counts
// (antialiasing); each output's weights are normalized to sum to 1 before conversion to
// fixed point, and taps are rounded half away from zero (all weights here are >= 0).
FilterBank bilinear_filter_bank(int in_size, int out_size) {
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;
  FilterBank bank;
  bank.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  bank.first.resize(out_size);
  bank.count.resize(out_size);
  bank.weights.assign(static_cast<size_t>(out_size) * bank.taps, 0);
  std::vector<double> w(bank.taps);
  for (int out = 0; out < out_size; ++out) {
    const double center = (out + 0.5) * scale;
    // Truncation toward zero after +0.5, as PIL rounds these bounds.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int n = hi - lo;
    double sum = 0.0;
    for (int i = 0; i < n; ++i) {
      const double x = std::abs((i + lo - center + 0.5) / filter_scale);
      w[i] = x < 1.0 ? 1.0 - x : 0.0;
      sum += w[i];
    }
    int32_t* fixed = &bank.weights[static_cast<size_t>(out) * bank.taps];
    for (int i = 0; i < n; ++i) {
      const double normalized = sum != 0.0 ? w[i] / sum : w[i];
      fixed[i] = static_cast<int32_t>(0.5 + normalized * (1 << kPrecisionBits));
    }
    bank.first[out] = lo;
    bank.count[out] = n;
  }
  return bank;
}

uint8_t clip_fixed(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

// Horizontal pass over rows [row_begin, row_end) of `in`.
Image8 resample_rows(const Image8& in, int row_begin, int row_end, int out_width) {
  const FilterBank bank = bilinear_filter_bank(in.width, out_width);
  const int ch = in.channels;
  Image8 out{out_width, row_end - row_begin, ch, {}};
  out.pixels.resize(static_cast<size_t>(out.width) * out.height * ch);
  for (int y = row_begin; y < row_end; ++y) {
    const uint8_t* src = &in.pixels[static_cast<size_t>(y) * in.width * ch];
    uint8_t* dst = &out.pixels[static_cast<size_t>(y - row_begin) * out_width * ch];
    for (int x = 0; x < out_width; ++x) {
      const int32_t* k = &bank.weights[static_cast<size_t>(x) * bank.taps];
      const uint8_t* s = src + static_cast<size_t>(bank.first[x]) * ch;
      for (int c = 0; c < ch; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < bank.count[x]; ++i) acc += s[i * ch + c] * k[i];
        dst[x * ch + c] = clip_fixed(acc);
      }
    }
  }
  return out;
}

Image8 resample_columns(const Image8& in, const FilterBank& bank, int row_offset, int out_height) {
  const int ch = in.channels;
  const size_t stride = static_cast<size_t>(in.width) * ch;
  Image8 out{in.width, out_height, ch, {}};
  out.pixels.resize(stride * out_height);
  for (int y = 0; y < out_height; ++y) {
    const int32_t* k = &bank.weights[static_cast<size_t>(y) * bank.taps];
    const uint8_t* src = &in.pixels[static_cast<size_t>(bank.first[y] - row_offset) * stride];
    uint8_t* dst = &out.pixels[static_cast<size_t>(y) * stride];
    for (size_t x = 0; x < stride; ++x) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int i = 0; i < bank.count[y]; ++i) acc += src[i * stride + x] * k[i];
      dst[x] = clip_fixed(acc);
    }
  }
  return out;
}

// Python's round() on a half-integer rounds to even; torchvision's crop offsets use it.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

struct CropPlan {
  int left = 0;
  int top = 0;
  bool mirrored = false;  // crop of the horizontally flipped image
};

// (x - mean) / std of x = v / 255, per channel and grey level, in float32 as torch computes it.
using NormalizeTable = std::array<std::array<float, 256>, 3>;

NormalizeTable normalize_table(const PreprocessOptions& options) {
  NormalizeTable table{};
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      const float x = static_cast<float>(v) / 255.0f;
      table[c][v] = (x - options.mean[c]) / options.std[c];
    }
  }
  return table;
}

void write_sample(const Image8& image, const CropPlan& plan, int crop, const NormalizeTable& table, float* out) {
  const int ch = image.channels;
  for (int c = 0; c < 3; ++c) {
    const int src_c = ch == 1 ? 0 : c;  // grey -> RGB replicates, as convert('RGB') does
    float* plane = out + static_cast<size_t>(c) * crop * crop;
    for (int y = 0; y < crop; ++y) {
      const uint8_t* row = &image.pixels[static_cast<size_t>(plan.top + y) * image.width * ch];
      for (int x = 0; x < crop; ++x) {
        // In the mirrored image, column j is column (width - 1 - j) of the original.
        const int sx = plan.mirrored ? image.width - 1 - (plan.left + x) : plan.left + x;
        plane[static_cast<size_t>(y) * crop + x] = table[c][row[sx * ch + src_c]];
      }
    }
  }
}

}  // namespace

Result<ResizeMode> parse_resize_mode(const std::string& word) {
  if (word == "crop") return ResizeMode::kResizeCenterCrop;
  if (word == "exact") return ResizeMode::kResizeExact;
  if (word == "tencrop") return ResizeMode::kTenCrop;
  return invalid_argument("--mode must be crop, exact or tencrop, not '" + word + "'");
}

Status validate(const PreprocessOptions& options) {
  if (options.crop_size <= 0) return invalid_argument("preprocess: crop size must be positive");
  if (options.crop_size > kMaxPreprocessSize || options.resize_size > kMaxPreprocessSize) {
    return invalid_argument("preprocess: resize size " + std::to_string(options.resize_size) + " and crop size " +
                            std::to_string(options.crop_size) + " must be at most " +
                            std::to_string(kMaxPreprocessSize));
  }
  if (options.mode != ResizeMode::kResizeExact) {
    if (options.resize_size < options.crop_size) {
      return invalid_argument("preprocess: resize size " + std::to_string(options.resize_size) +
                              " is smaller than the crop size " + std::to_string(options.crop_size));
    }
  }
  for (float s : options.std) {
    if (!(s > 0.0f)) return invalid_argument("preprocess: normalization std must be positive");
  }
  return Status::ok_status();
}

int samples_per_image(const PreprocessOptions& options) { return options.mode == ResizeMode::kTenCrop ? 10 : 1; }

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
  const bool horizontal = out_width != image.width;
  const bool vertical = out_height != image.height;
  if (!horizontal && !vertical) return image;
  if (!vertical) return resample_rows(image, 0, image.height, out_width);
  const FilterBank rows = bilinear_filter_bank(image.height, out_height);
  if (!horizontal) return resample_columns(image, rows, 0, out_height);
  // Only the input rows some output row reads need the horizontal pass.
  const int first_row = rows.first.front();
  const int end_row = rows.first.back() + rows.count.back();
  const Image8 narrow = resample_rows(image, first_row, end_row, out_width);
  return resample_columns(narrow, rows, first_row, out_height);
}

std::array<int, 2> resized_size(int width, int height, int size) {
  const int shorter = std::min(width, height);
  const int longer = std::max(width, height);
  // Python: int(size * long / short), a true division truncated.
  const int new_long = static_cast<int>(static_cast<double>(int64_t{size} * longer) / shorter);
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

// Area averaging, rounded to the nearest grey level.
Image8 scale_down(const Image8& image, int max_side) {
  const int longer = std::max(image.width, image.height);
  if (longer <= max_side || max_side < 1) return image;
  Image8 out{std::max(1, static_cast<int>(int64_t{image.width} * max_side / longer)),
             std::max(1, static_cast<int>(int64_t{image.height} * max_side / longer)), image.channels, {}};
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

Region crop_region(int width, int height, const PreprocessOptions& options) {
  if (options.mode == ResizeMode::kResizeExact) return {0, 0, double(width), double(height)};
  const auto [w, h] = resized_size(width, height, options.resize_size);
  const int crop = options.crop_size;
  const int left = round_half_even((w - crop) / 2.0);
  const int top = round_half_even((h - crop) / 2.0);
  const double sx = static_cast<double>(width) / w;
  const double sy = static_cast<double>(height) / h;
  return {left * sx, top * sy, (left + crop) * sx, (top + crop) * sy};
}

Status preprocess_into(const Image& image, const PreprocessOptions& options, HostTensor* batch, int64_t first) {
  if (image.pixels.size() != static_cast<size_t>(std::max(image.width, 0)) * std::max(image.height, 0) *
                                 std::max(image.channels, 0)) {
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

  const Image8& grey_levels = image;
  Image8 resized;
  std::vector<CropPlan> plans;
  if (options.mode == ResizeMode::kResizeExact) {
    resized = resize_like_pil(grey_levels, crop, crop);
    plans.push_back({0, 0, false});
  } else {
    // The longer side grows with the aspect ratio: a 1-pixel-high strip must not become an
    // image of billions of pixels.
    const int64_t shorter = std::min(image.width, image.height);
    const int64_t longer = std::max(image.width, image.height);
    if (static_cast<double>(options.resize_size) * options.resize_size * longer / shorter > kMaxImagePixels) {
      return unsupported("preprocess: a " + std::to_string(image.width) + " x " + std::to_string(image.height) +
                         " image resized to " + std::to_string(options.resize_size) +
                         " on its shorter side would be larger than " + std::to_string(kMaxImagePixels) + " pixels");
    }
    const auto [w, h] = resized_size(image.width, image.height, options.resize_size);
    resized = resize_like_pil(grey_levels, w, h);
    const CropPlan center{round_half_even((w - crop) / 2.0), round_half_even((h - crop) / 2.0), false};
    if (options.mode == ResizeMode::kResizeCenterCrop) {
      plans.push_back(center);
    } else {
      for (bool mirrored : {false, true}) {
        plans.push_back({0, 0, mirrored});
        plans.push_back({w - crop, 0, mirrored});
        plans.push_back({0, h - crop, mirrored});
        plans.push_back({w - crop, h - crop, mirrored});
        plans.push_back({center.left, center.top, mirrored});
      }
    }
  }
  const NormalizeTable table = normalize_table(options);
  const size_t sample_size = static_cast<size_t>(3) * crop * crop;
  for (size_t i = 0; i < plans.size(); ++i) {
    write_sample(resized, plans[i], crop, table, batch->data<float>() + (first + i) * sample_size);
  }
  return Status::ok_status();
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
