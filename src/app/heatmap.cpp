#include "app/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "app/findings.h"
#include "core/atomic_file.h"

namespace chexrt::app {
namespace {

// MATLAB's "jet": dark blue -> blue -> cyan -> yellow -> red -> dark red as t goes 0 -> 1,
// each channel a clamped tent: channel peak at t = 3/4 (red), 1/2 (green), 1/4 (blue).
std::array<float, 3> jet(float t) {
  auto tent = [t](float peak) { return std::clamp(1.5f - std::abs(4.0f * (t - peak)), 0.0f, 1.0f); };
  return {tent(0.75f), tent(0.5f), tent(0.25f)};
}

}  // namespace

Result<ActivationMap> class_activation_map(const HostTensor& features, const HostTensor& weights, int class_index) {
  Dims f = features.dims();
  if (f.size() == 4 && f[0] == 1) f.erase(f.begin());
  if (features.dtype() != DataType::kFloat32 || f.size() != 3) {
    return invalid_argument("CAM: features must be float32 [C, h, w] or [1, C, h, w], not " +
                            std::string(dtype_name(features.dtype())) + " " + dims_to_string(features.dims()));
  }
  const int64_t channels = f[0];
  if (weights.dtype() != DataType::kFloat32 || weights.rank() != 2 || weights.dims()[1] != channels) {
    return invalid_argument("CAM: weights must be float32 [classes, " + std::to_string(channels) + "], not " +
                            std::string(dtype_name(weights.dtype())) + " " + dims_to_string(weights.dims()));
  }
  if (class_index < 0 || class_index >= weights.dims()[0]) {
    return invalid_argument("CAM: class " + std::to_string(class_index) + " outside [0, " +
                            std::to_string(weights.dims()[0]) + ")");
  }
  ActivationMap map;
  map.height = static_cast<int>(f[1]);
  map.width = static_cast<int>(f[2]);
  const size_t plane = static_cast<size_t>(map.height) * map.width;
  map.values.assign(plane, 0.0f);
  const float* w = weights.data<float>() + class_index * channels;
  const float* feature = features.data<float>();
  for (int64_t c = 0; c < channels; ++c) {
    for (size_t i = 0; i < plane; ++i) map.values[i] += w[c] * feature[c * plane + i];
  }
  return map;
}

namespace {

// The X-ray's sample as a value in [0, 1]: float images hold it, 8-bit ones its grey level.
float unit(float v) { return v; }
float unit(uint8_t v) { return v * (1.0f / 255.0f); }

template <class AnyImage>
Result<Image8> render_any(const AnyImage& xray, const ActivationMap& map, const Region& region,
                          const HeatmapOptions& options) {
  if (xray.width <= 0 || xray.height <= 0 || (xray.channels != 1 && xray.channels != 3) ||
      xray.pixels.size() != static_cast<size_t>(xray.width) * xray.height * xray.channels) {
    return invalid_argument("heat map: malformed X-ray image");
  }
  if (map.width <= 0 || map.height <= 0 || map.values.size() != static_cast<size_t>(map.width) * map.height) {
    return invalid_argument("heat map: malformed activation map");
  }
  if (!(region.x1 > region.x0) || !(region.y1 > region.y0)) return invalid_argument("heat map: empty region");

  const auto [lo, hi] = std::minmax_element(map.values.begin(), map.values.end());
  const float range = *hi - *lo;
  Image8 out{xray.width, xray.height, 3, {}};
  out.pixels.resize(static_cast<size_t>(xray.width) * xray.height * 3);
  // The map is sampled bilinearly, with pixel centres at integer + 0.5 and edge values held
  // beyond the outermost centres. Where each column and row samples it is worked out once per
  // column and per row, not per pixel.
  struct Tap {
    bool inside = false;
    int i0 = 0, i1 = 0;
    float a = 0;
  };
  auto taps = [](int n, double r0, double r1, int map_size) {
    std::vector<Tap> t(n);
    for (int i = 0; i < n; ++i) {
      const double p = i + 0.5;
      t[i].inside = p >= r0 && p < r1;
      const float u = static_cast<float>((p - r0) / (r1 - r0) * map_size);
      const float f = std::clamp(u - 0.5f, 0.0f, static_cast<float>(map_size - 1));
      t[i].i0 = static_cast<int>(f);
      t[i].i1 = std::min(t[i].i0 + 1, map_size - 1);
      t[i].a = f - t[i].i0;
    }
    return t;
  };
  const std::vector<Tap> columns = taps(xray.width, region.x0, region.x1, map.width);
  const std::vector<Tap> rows = taps(xray.height, region.y0, region.y1, map.height);
  // Each map row upsampled along x once (normalized to [0, 1]); an output row then blends two of
  // them. The colour and opacity of a value come from a table of kLevels steps (1/4096: far
  // below the 1/255 an output byte resolves), so a pixel costs a lerp, a lookup and a blend.
  std::vector<float> wide(static_cast<size_t>(map.height) * xray.width, 0.0f);
  if (range > 0.0f) {
    for (int my = 0; my < map.height; ++my) {
      const float* m = &map.values[static_cast<size_t>(my) * map.width];
      float* w = &wide[static_cast<size_t>(my) * xray.width];
      for (int x = 0; x < xray.width; ++x) {
        const Tap& tx = columns[x];
        w[x] = (m[tx.i0] + tx.a * (m[tx.i1] - m[tx.i0]) - *lo) / range;
      }
    }
  }
  constexpr int kLevels = 4096;
  struct Blend {
    float keep;                // 1 - alpha: the X-ray's share
    std::array<float, 3> add;  // alpha * colour
  };
  std::vector<Blend> blends(kLevels + 1);
  for (int i = 0; i <= kLevels; ++i) {
    const float t = static_cast<float>(i) / kLevels;
    const float alpha = options.max_alpha * t;
    const std::array<float, 3> colour = jet(t);
    blends[i] = {1.0f - alpha, {alpha * colour[0], alpha * colour[1], alpha * colour[2]}};
  }
  auto to_byte = [](float v) { return static_cast<uint8_t>(std::clamp(v * 255.0f, 0.0f, 255.0f) + 0.5f); };
  std::vector<float> grey(xray.width);
  for (int y = 0; y < xray.height; ++y) {
    const Tap& ty = rows[y];
    // Luma (ITU-R 601, as PIL's convert('L')) of an RGB X-ray; the sample itself if grey.
    const auto* in = &xray.pixels[static_cast<size_t>(y) * xray.width * xray.channels];
    for (int x = 0; x < xray.width; ++x) {
      const auto* px = in + static_cast<size_t>(x) * xray.channels;
      grey[x] = xray.channels == 1 ? unit(px[0]) : 0.299f * unit(px[0]) + 0.587f * unit(px[1]) + 0.114f * unit(px[2]);
    }
    uint8_t* p = &out.pixels[static_cast<size_t>(y) * xray.width * 3];
    if (!(range > 0.0f) || !ty.inside) {
      for (int x = 0; x < xray.width; ++x) p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = to_byte(grey[x]);
      continue;
    }
    const float* top = &wide[static_cast<size_t>(ty.i0) * xray.width];
    const float* bottom = &wide[static_cast<size_t>(ty.i1) * xray.width];
    for (int x = 0; x < xray.width; ++x) {
      if (!columns[x].inside) {
        p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = to_byte(grey[x]);
        continue;
      }
      const float t = std::clamp(top[x] + ty.a * (bottom[x] - top[x]), 0.0f, 1.0f);
      const Blend& b = blends[static_cast<int>(t * kLevels + 0.5f)];
      for (int c = 0; c < 3; ++c) p[3 * x + c] = to_byte(b.keep * grey[x] + b.add[c]);
    }
  }
  return out;
}

}  // namespace

Result<Image8> render_heatmap(const Image& xray, const ActivationMap& map, const Region& region,
                              const HeatmapOptions& options) {
  return render_any(xray, map, region, options);
}

Result<Image8> render_heatmap(const Image8& xray, const ActivationMap& map, const Region& region,
                              const HeatmapOptions& options) {
  return render_any(xray, map, region, options);
}

namespace {

Status write_png(const std::string& path, const Image8& rgb) {
  // Fast compression: heat maps are written for every image of a run.
  Result<std::vector<uint8_t>> png = encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3, 1);
  if (!png.ok()) return png.status().with_context(path);
  return core::write_file_atomically(path, *png);
}

Status write_jpeg(const std::string& path, const Image8& rgb) {
  Result<std::vector<uint8_t>> jpeg = encode_jpeg(rgb.pixels.data(), rgb.width, rgb.height, 3, 90);
  if (!jpeg.ok()) return jpeg.status().with_context(path);
  return core::write_file_atomically(path, *jpeg);
}

}  // namespace

Status write_heatmap_png(const std::string& path, const Image& xray, const ActivationMap& map, const Region& region,
                         const HeatmapOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(Image8 rgb, render_heatmap(xray, map, region, options));
  return write_png(path, rgb);
}

Status write_heatmap_png(const std::string& path, const Image8& xray, const ActivationMap& map, const Region& region,
                         const HeatmapOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(Image8 rgb, render_heatmap(xray, map, region, options));
  return write_png(path, rgb);
}

Result<Image8> render_sample_heatmap(const HostTensor& features, int64_t sample, const HostTensor& weights,
                                     int class_index, const Image8& xray, const Region& crop_region) {
  const Dims& d = features.dims();
  if (features.dtype() != DataType::kFloat32 || d.size() != 4 || sample < 0 || sample >= d[0]) {
    return invalid_argument("heat map: feature map has an unexpected shape " + dims_to_string(d));
  }
  if (class_index < 0 || class_index >= kNumFindings) {
    return invalid_argument("heat map: class " + std::to_string(class_index) + " is not a finding");
  }
  HostTensor one(DataType::kFloat32, {d[1], d[2], d[3]});
  std::memcpy(one.raw(), features.data<float>() + sample * one.numel(), one.nbytes());
  CHEXRT_ASSIGN_OR_RETURN(ActivationMap map, class_activation_map(one, weights, class_index));
  return render_heatmap(xray, map, crop_region, {});
}

Status write_sample_heatmap(const HostTensor& features, int64_t sample, const HostTensor& weights, int class_index,
                            const Image8& xray, const Region& crop_region, const std::string& dir,
                            const std::string& image_path, std::string* written, ImageFormat format) {
  if (format != ImageFormat::kPng && format != ImageFormat::kJpeg) {
    return invalid_argument("heat map: written as PNG or JPEG only");
  }
  CHEXRT_ASSIGN_OR_RETURN(Image8 rgb, render_sample_heatmap(features, sample, weights, class_index, xray, crop_region));
  const bool jpeg = format == ImageFormat::kJpeg;
  const std::string name = std::filesystem::path(image_path).stem().string() + "." +
                           std::string(kFindingNames[class_index]) + (jpeg ? ".jpg" : ".png");
  *written = (std::filesystem::path(dir) / name).string();
  return jpeg ? write_jpeg(*written, rgb) : write_png(*written, rgb);
}

}  // namespace chexrt::app
