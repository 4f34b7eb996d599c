#include "app/heatmap.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "app/findings.h"
#include "core/atomic_file.h"
#include "core/heatmap_draw.h"

namespace chexrt::app {

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
  heatmap_draw::activation_map(features.data<float>(), weights.data<float>() + class_index * channels, channels,
                               static_cast<int64_t>(plane), map.values.data());
  return map;
}

namespace {

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

  Image8 out{xray.width, xray.height, 3, {}};
  out.pixels.resize(static_cast<size_t>(xray.width) * xray.height * 3);
  heatmap_draw::draw(xray.pixels.data(), xray.width, xray.height, xray.channels, map.values.data(), map.width,
                     map.height, region.x0, region.y0, region.x1, region.y1,
                     heatmap_draw::blend_table(options.max_alpha), out.pixels.data());
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

namespace {

HeatmapRequest sample_request(int64_t sample, int class_index, const Image8& xray, const Region& crop_region) {
  HeatmapRequest request;
  request.image = view_of(xray);
  request.x0 = crop_region.x0, request.y0 = crop_region.y0;
  request.x1 = crop_region.x1, request.y1 = crop_region.y1;
  request.sample = sample;
  request.class_index = class_index;
  return request;
}

}  // namespace

Result<Image8> draw_sample_heatmap(Engine* engine, const HostTensor& features, int64_t sample,
                                   const HostTensor& weights, int class_index, const Image8& xray,
                                   const Region& crop_region) {
  if (!engine) return render_sample_heatmap(features, sample, weights, class_index, xray, crop_region);
  Image8 rgb{xray.width, xray.height, 3, std::vector<uint8_t>(static_cast<size_t>(xray.width) * xray.height * 3)};
  HeatmapRequest request = sample_request(sample, class_index, xray, crop_region);
  request.out = rgb.pixels.data();
  CHEXRT_RETURN_IF_ERROR(engine->draw_heatmaps(features, weights, {request}));
  return rgb;
}

Result<std::vector<uint8_t>> sample_heatmap_png(Engine* engine, const HostTensor& features, int64_t sample,
                                                const HostTensor& weights, int class_index, const Image8& xray,
                                                const Region& crop_region) {
  if (!engine) {
    CHEXRT_ASSIGN_OR_RETURN(Image8 rgb,
                            render_sample_heatmap(features, sample, weights, class_index, xray, crop_region));
    return encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3, 1);
  }
  std::vector<uint8_t> png;
  HeatmapRequest request = sample_request(sample, class_index, xray, crop_region);
  request.png = &png;
  CHEXRT_RETURN_IF_ERROR(engine->draw_heatmaps(features, weights, {request}));
  return png;
}

namespace {

// `<dir>/<image stem>.<finding>.<extension>`.
Result<std::string> heatmap_path(int class_index, const std::string& dir, const std::string& image_path,
                                 const char* extension) {
  if (class_index < 0 || class_index >= kNumFindings) {
    return invalid_argument("heat map: class " + std::to_string(class_index) + " is not a finding");
  }
  const std::string name =
      std::filesystem::path(image_path).stem().string() + "." + std::string(kFindingNames[class_index]) + extension;
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

Status write_heatmap_file(const Image8& rgb, int class_index, const std::string& dir, const std::string& image_path,
                          std::string* written, ImageFormat format) {
  if (format != ImageFormat::kPng && format != ImageFormat::kJpeg) {
    return invalid_argument("heat map: written as PNG or JPEG only");
  }
  const bool jpeg = format == ImageFormat::kJpeg;
  CHEXRT_ASSIGN_OR_RETURN(*written, heatmap_path(class_index, dir, image_path, jpeg ? ".jpg" : ".png"));
  return jpeg ? write_jpeg(*written, rgb) : write_png(*written, rgb);
}

Status write_heatmap_png_file(const std::vector<uint8_t>& png, int class_index, const std::string& dir,
                              const std::string& image_path, std::string* written) {
  CHEXRT_ASSIGN_OR_RETURN(*written, heatmap_path(class_index, dir, image_path, ".png"));
  return core::write_file_atomically(*written, png);
}

}  // namespace chexrt::app
