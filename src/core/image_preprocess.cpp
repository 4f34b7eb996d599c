#include "core/image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/jpeg_decode.h"
#include "core/png_rows.h"

namespace chexrt {

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

namespace preprocessing {
namespace {

uint8_t clip_fixed(int32_t acc) {
  const int32_t v = acc >> kPrecisionBits;
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

// Python's round() on a half-integer rounds to even; torchvision's crop offsets use it.
int round_half_even(double v) { return static_cast<int>(std::nearbyint(v)); }

// A rectangle [x0, x1) x [y0, y1) of the resized image.
struct Window {
  int x0 = 0, x1 = 0, y0 = 0, y1 = 0;
};

// Output samples [x0, x1) of the horizontal pass, for input rows [row_begin, row_end); CH is the
// channel count when known at compile time (the grey X-ray), 0 when it is `ch`.
template <int CH>
void resample_row_window(const ImageView& in, const FilterBank& bank, int row_begin, int row_end, int x0, int x1,
                         int ch, uint8_t* out) {
  if (CH != 0) ch = CH;
  const size_t out_stride = static_cast<size_t>(x1 - x0) * ch;
  for (int y = row_begin; y < row_end; ++y) {
    const uint8_t* src = in.pixels + static_cast<size_t>(y) * in.width * ch;
    uint8_t* dst = out + static_cast<size_t>(y - row_begin) * out_stride;
    for (int x = x0; x < x1; ++x) {
      const int32_t* k = &bank.weights[static_cast<size_t>(x) * bank.taps];
      const uint8_t* s = src + static_cast<size_t>(bank.first[x]) * ch;
      const int n = bank.count[x];
      for (int c = 0; c < ch; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (int i = 0; i < n; ++i) acc += s[i * ch + c] * k[i];
        dst[(x - x0) * ch + c] = clip_fixed(acc);
      }
    }
  }
}

// The window [x0, x1) x [y0, y1) of PIL's resize of `image` to out_width x out_height, computed for the
// window alone (only the input rows and output columns it needs go through the horizontal pass).
Image8 resize_window(const ImageView& image, int out_width, int out_height, const Window& w) {
  const int ch = image.channels;
  const int width = w.x1 - w.x0;
  const int height = w.y1 - w.y0;
  const bool horizontal = out_width != image.width;
  const bool vertical = out_height != image.height;
  FilterBank rows;
  int row_begin = w.y0, row_end = w.y1;  // the input rows the window reads
  if (vertical) {
    rows = bilinear_filter_bank(image.height, out_height);
    row_begin = rows.first[w.y0];
    row_end = rows.first[w.y1 - 1] + rows.count[w.y1 - 1];
  }
  // Horizontal pass (or the input itself where the width stays): rows [row_begin, row_end).
  const size_t stride = static_cast<size_t>(width) * ch;
  std::vector<uint8_t> narrow(stride * (row_end - row_begin));
  if (horizontal) {
    const FilterBank columns = bilinear_filter_bank(image.width, out_width);
    if (ch == 1) {
      resample_row_window<1>(image, columns, row_begin, row_end, w.x0, w.x1, ch, narrow.data());
    } else {
      resample_row_window<0>(image, columns, row_begin, row_end, w.x0, w.x1, ch, narrow.data());
    }
  } else {
    for (int y = row_begin; y < row_end; ++y) {
      std::memcpy(&narrow[(y - row_begin) * stride], image.pixels + (static_cast<size_t>(y) * image.width + w.x0) * ch,
                  stride);
    }
  }
  if (!vertical) return {width, height, ch, std::move(narrow)};
  Image8 out{width, height, ch, std::vector<uint8_t>(stride * height)};
  for (int y = w.y0; y < w.y1; ++y) {
    const int32_t* k = &rows.weights[static_cast<size_t>(y) * rows.taps];
    const uint8_t* src = &narrow[static_cast<size_t>(rows.first[y] - row_begin) * stride];
    uint8_t* dst = &out.pixels[static_cast<size_t>(y - w.y0) * stride];
    const int n = rows.count[y];
    for (size_t x = 0; x < stride; ++x) {
      int32_t acc = 1 << (kPrecisionBits - 1);
      for (int i = 0; i < n; ++i) acc += src[i * stride + x] * k[i];
      dst[x] = clip_fixed(acc);
    }
  }
  return out;
}

// One sample from `region`, the window `w` of the resized image (resized_width wide).
void write_sample(const Image8& region, const Window& w, int resized_width, const CropPlan& plan, int crop,
                  const NormalizeTable& table, float* out) {
  const int ch = region.channels;
  for (int c = 0; c < 3; ++c) {
    const int src_c = ch == 1 ? 0 : c;  // grey -> RGB replicates, as convert('RGB') does
    float* plane = out + static_cast<size_t>(c) * crop * crop;
    for (int y = 0; y < crop; ++y) {
      const uint8_t* row = &region.pixels[static_cast<size_t>(plan.top + y - w.y0) * region.width * ch];
      for (int x = 0; x < crop; ++x) {
        // In the mirrored image, column j is column (width - 1 - j) of the original.
        const int sx = plan.mirrored ? resized_width - 1 - (plan.left + x) : plan.left + x;
        plane[static_cast<size_t>(y) * crop + x] = table[c][row[(sx - w.x0) * ch + src_c]];
      }
    }
  }
}

}  // namespace

// When downscaling by s > 1 the support is stretched to s input pixels each side, so every input
// pixel under an output pixel counts; each output's weights are normalized to sum to 1 before
// conversion to fixed point, and taps are rounded half away from zero (all weights are >= 0).
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

Image8 resize_like_pil(const ImageView& image, int out_width, int out_height) {
  return resize_window(image, out_width, out_height, {0, out_width, 0, out_height});
}

std::array<int, 2> resized_size(int width, int height, int size) {
  const int shorter = std::min(width, height);
  const int longer = std::max(width, height);
  // Python: int(size * long / short), a true division truncated.
  const int new_long = static_cast<int>(static_cast<double>(int64_t{size} * longer) / shorter);
  return width <= height ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

Result<SamplePlan> plan_samples(int width, int height, int channels, const PreprocessOptions& options) {
  CHEXRT_RETURN_IF_ERROR(validate(options));
  if (width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
    return invalid_argument("preprocess: malformed image (" + std::to_string(width) + " x " + std::to_string(height) +
                            " x " + std::to_string(channels) + ")");
  }
  const int crop = options.crop_size;
  SamplePlan plan;
  if (options.mode == ResizeMode::kResizeExact) {
    plan.resized_width = plan.resized_height = crop;
    plan.crops.push_back({0, 0, false});
    return plan;
  }
  // The longer side grows with the aspect ratio: a 1-pixel-high strip must not become an
  // image of billions of pixels.
  const int64_t shorter = std::min(width, height);
  const int64_t longer = std::max(width, height);
  if (static_cast<double>(options.resize_size) * options.resize_size * longer / shorter > kMaxImagePixels) {
    return unsupported("preprocess: a " + std::to_string(width) + " x " + std::to_string(height) +
                       " image resized to " + std::to_string(options.resize_size) +
                       " on its shorter side would be larger than " + std::to_string(kMaxImagePixels) + " pixels");
  }
  const auto [w, h] = resized_size(width, height, options.resize_size);
  plan.resized_width = w;
  plan.resized_height = h;
  const CropPlan center{round_half_even((w - crop) / 2.0), round_half_even((h - crop) / 2.0), false};
  if (options.mode == ResizeMode::kResizeCenterCrop) {
    plan.crops.push_back(center);
  } else {
    for (bool mirrored : {false, true}) {
      plan.crops.push_back({0, 0, mirrored});
      plan.crops.push_back({w - crop, 0, mirrored});
      plan.crops.push_back({0, h - crop, mirrored});
      plan.crops.push_back({w - crop, h - crop, mirrored});
      plan.crops.push_back({center.left, center.top, mirrored});
    }
  }
  return plan;
}

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

Status preprocess_image(const ImageView& image, const PreprocessOptions& options, float* out) {
  CHEXRT_ASSIGN_OR_RETURN(SamplePlan plan, plan_samples(image.width, image.height, image.channels, options));
  if (image.pixels == nullptr) return invalid_argument("preprocess: the image has no pixels");
  if (image.encoding == PixelEncoding::kPngFiltered) {
    // Unfiltered on the host into 8-bit samples, then as any 8-bit image.
    Image8 pixels{image.width, image.height, image.channels, {}};
    pixels.pixels.resize(image_bytes(view_of(pixels)));
    std::vector<uint8_t> rows;
    CHEXRT_RETURN_IF_ERROR(png_rows::to_eight_bit(image, rows, pixels.pixels.data()));
    return preprocess_image(view_of(pixels), options, out);
  }
  if (image.encoding == PixelEncoding::kJpeg) {
    CHEXRT_ASSIGN_OR_RETURN(const Image8 pixels, jpeg::decode_view(image));
    return preprocess_image(view_of(pixels), options, out);
  }
  // Only the part of the resized image that the crops show is computed (a centre crop of 224 from
  // 256 skips a quarter of the work); its values are those of the whole resize.
  const int crop = options.crop_size;
  Window w{plan.resized_width, 0, plan.resized_height, 0};
  for (const CropPlan& c : plan.crops) {
    const int left = c.mirrored ? plan.resized_width - c.left - crop : c.left;
    w.x0 = std::min(w.x0, left);
    w.x1 = std::max(w.x1, left + crop);
    w.y0 = std::min(w.y0, c.top);
    w.y1 = std::max(w.y1, c.top + crop);
  }
  const Image8 region = resize_window(image, plan.resized_width, plan.resized_height, w);
  const NormalizeTable table = normalize_table(options);
  const size_t sample_size = static_cast<size_t>(3) * crop * crop;
  for (size_t i = 0; i < plan.crops.size(); ++i) {
    write_sample(region, w, plan.resized_width, plan.crops[i], crop, table, out + i * sample_size);
  }
  return Status::ok_status();
}

Result<int64_t> check_image_batch(const Engine& engine, const std::vector<ImageView>& images,
                                  const PreprocessOptions& options) {
  CHEXRT_RETURN_IF_ERROR(validate(options));
  const int crop = options.crop_size;
  const std::vector<TensorInfo>& inputs = engine.inputs();
  if (inputs.size() != 1 || inputs[0].dtype != DataType::kFloat32 || inputs[0].dims.size() != 4 ||
      inputs[0].dims[1] != 3 || inputs[0].dims[2] != crop || inputs[0].dims[3] != crop) {
    return invalid_argument(
        "infer_images: the network's input must be one float32 [N, 3, " + std::to_string(crop) + ", " +
        std::to_string(crop) + "] (the crop size), not " +
        (inputs.size() == 1 ? dims_to_string(inputs[0].dims) : std::to_string(inputs.size()) + " inputs"));
  }
  const int64_t samples = static_cast<int64_t>(images.size()) * samples_per_image(options);
  if (images.empty() || samples > engine.max_batch()) {
    return invalid_argument("infer_images: " + std::to_string(images.size()) + " images of " +
                            std::to_string(samples_per_image(options)) + " samples each; the engine takes 1 to " +
                            std::to_string(engine.max_batch()) + " samples");
  }
  for (size_t i = 0; i < images.size(); ++i) {
    const ImageView& image = images[i];
    const bool has_data = image.pixels != nullptr && (!is_jpeg(image) || image.jpeg_size > 0);
    if (!has_data || image.width <= 0 || image.height <= 0 || (image.channels != 1 && image.channels != 3)) {
      return invalid_argument("infer_images: image " + std::to_string(i) + " is malformed (" +
                              std::to_string(image.width) + " x " + std::to_string(image.height) + " x " +
                              std::to_string(image.channels) +
                              (has_data         ? ")"
                               : is_jpeg(image) ? ", a JPEG view with no bytes)"
                                                : ", no pixels)"));
    }
    // Filtered PNG rows are checked here, whichever engine unfilters them, so that a bad filter
    // type is the same error on every engine and nothing has run when it is found.
    if (image.encoding == PixelEncoding::kPngFiltered) {
      const Status rows = png_rows::check(image);
      if (!rows.ok()) return rows.with_context("infer_images: image " + std::to_string(i));
    }
  }
  return samples;
}

}  // namespace preprocessing
}  // namespace chexrt
