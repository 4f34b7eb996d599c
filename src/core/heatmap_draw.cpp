// Compiled with -ffp-contract=off (src/CMakeLists.txt): see heatmap_draw.h.
#include "core/heatmap_draw.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "chexrt/image_input.h"
#include "core/png_encode.h"

namespace chexrt::heatmap_draw {
namespace {

// Each channel a clamped tent: its peak at t = 3/4 (red), 1/2 (green), 1/4 (blue).
std::array<float, 3> jet(float t) {
  auto tent = [t](float peak) { return std::clamp(1.5f - std::abs(4.0f * (t - peak)), 0.0f, 1.0f); };
  return {tent(0.75f), tent(0.5f), tent(0.25f)};
}

}  // namespace

std::vector<Blend> blend_table(float max_alpha) {
  std::vector<Blend> blends(kBlendLevels + 1);
  for (int i = 0; i <= kBlendLevels; ++i) {
    const float t = static_cast<float>(i) / kBlendLevels;
    const float alpha = max_alpha * t;
    const std::array<float, 3> colour = jet(t);
    blends[i].keep = 1.0f - alpha;
    for (int c = 0; c < 3; ++c) blends[i].add[c] = alpha * colour[c];
  }
  return blends;
}

void activation_map(const float* features, const float* w, int64_t channels, int64_t plane, float* out) {
  std::fill(out, out + plane, 0.0f);
  for (int64_t c = 0; c < channels; ++c) {
    for (int64_t i = 0; i < plane; ++i) out[i] += w[c] * features[c * plane + i];
  }
}

template <class T>
void draw(const T* image, int width, int height, int channels, const float* map, int map_width, int map_height,
          double x0, double y0, double x1, double y1, const std::vector<Blend>& blends, uint8_t* out) {
  const size_t cells = static_cast<size_t>(map_width) * map_height;
  const auto [lo, hi] = std::minmax_element(map, map + cells);
  const float range = *hi - *lo;
  // Where each column and row samples the map is worked out once per column and per row, and
  // each map row is upsampled along x (and normalized) once; an output row then blends two.
  std::vector<Tap> columns(width);
  for (int x = 0; x < width; ++x) columns[x] = tap(x, x0, x1, map_width);
  std::vector<float> wide(static_cast<size_t>(map_height) * width, 0.0f);
  if (range > 0.0f) {
    for (int my = 0; my < map_height; ++my) {
      const float* m = map + static_cast<size_t>(my) * map_width;
      float* w = &wide[static_cast<size_t>(my) * width];
      for (int x = 0; x < width; ++x) w[x] = stretch(m[columns[x].i0], m[columns[x].i1], columns[x].a, *lo, range);
    }
  }
  std::vector<float> greys(width);
  for (int y = 0; y < height; ++y) {
    const Tap ty = tap(y, y0, y1, map_height);
    const T* in = image + static_cast<size_t>(y) * width * channels;
    for (int x = 0; x < width; ++x) greys[x] = grey(in + static_cast<size_t>(x) * channels, channels);
    uint8_t* p = out + static_cast<size_t>(y) * width * 3;
    if (!(range > 0.0f) || !ty.inside) {
      for (int x = 0; x < width; ++x) p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = to_byte(greys[x]);
      continue;
    }
    const float* top = &wide[static_cast<size_t>(ty.i0) * width];
    const float* bottom = &wide[static_cast<size_t>(ty.i1) * width];
    for (int x = 0; x < width; ++x) {
      if (!columns[x].inside) {
        p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = to_byte(greys[x]);
        continue;
      }
      const Blend& b = blends[level(top[x], bottom[x], ty.a)];
      for (int c = 0; c < 3; ++c) p[3 * x + c] = blend(b, greys[x], c);
    }
  }
}

template void draw<uint8_t>(const uint8_t*, int, int, int, const float*, int, int, double, double, double, double,
                            const std::vector<Blend>&, uint8_t*);
template void draw<float>(const float*, int, int, int, const float*, int, int, double, double, double, double,
                          const std::vector<Blend>&, uint8_t*);

Status check_requests(const HostTensor& features, const HostTensor& weights,
                      const std::vector<HeatmapRequest>& requests, float max_alpha) {
  const Dims& f = features.dims();
  if (features.dtype() != DataType::kFloat32 || f.size() != 4 || f[2] < 1 || f[3] < 1) {
    return invalid_argument("heat maps: the feature map must be float32 [N, C, h, w], not " +
                            std::string(dtype_name(features.dtype())) + " " + dims_to_string(f));
  }
  const Dims& w = weights.dims();
  if (weights.dtype() != DataType::kFloat32 || w.size() != 2 || w[1] != f[1]) {
    return invalid_argument("heat maps: the classifier weights must be float32 [classes, " + std::to_string(f[1]) +
                            "], not " + std::string(dtype_name(weights.dtype())) + " " + dims_to_string(w));
  }
  if (!(max_alpha >= 0.0f && max_alpha <= 1.0f)) {
    return invalid_argument("heat maps: the opacity " + std::to_string(max_alpha) + " is outside [0, 1]");
  }
  for (size_t k = 0; k < requests.size(); ++k) {
    const HeatmapRequest& r = requests[k];
    const std::string which = "heat map " + std::to_string(k) + ": ";
    const ImageView& im = r.image;
    if ((r.out == nullptr) == (r.png == nullptr)) return invalid_argument(which + "needs one output, pixels or PNG");
    if (im.pixels == nullptr || im.width <= 0 || im.height <= 0 || (im.channels != 1 && im.channels != 3) ||
        static_cast<int64_t>(im.width) * im.height > kMaxImagePixels) {
      return invalid_argument(which + "the image (" + std::to_string(im.width) + " x " + std::to_string(im.height) +
                              " x " + std::to_string(im.channels) + ") is missing or malformed");
    }
    if (!(r.x1 > r.x0) || !(r.y1 > r.y0)) return invalid_argument(which + "empty region");
    if (r.sample < 0 || r.sample >= f[0]) {
      return invalid_argument(which + "sample " + std::to_string(r.sample) + " outside [0, " + std::to_string(f[0]) +
                              ")");
    }
    if (r.class_index < 0 || r.class_index >= w[0]) {
      return invalid_argument(which + "class " + std::to_string(r.class_index) + " outside [0, " +
                              std::to_string(w[0]) + ")");
    }
  }
  return Status::ok_status();
}

Status draw_on_host(const HostTensor& features, const HostTensor& weights, const std::vector<HeatmapRequest>& requests,
                    float max_alpha) {
  CHEXRT_RETURN_IF_ERROR(check_requests(features, weights, requests, max_alpha));
  const Dims& f = features.dims();
  const int64_t channels = f[1];
  const int64_t plane = f[2] * f[3];
  const std::vector<Blend> blends = blend_table(max_alpha);
  std::vector<float> map(plane);
  std::vector<uint8_t> rgb;
  for (const HeatmapRequest& r : requests) {
    activation_map(features.data<float>() + r.sample * channels * plane,
                   weights.data<float>() + r.class_index * channels, channels, plane, map.data());
    if (r.png) rgb.resize(static_cast<size_t>(r.image.width) * r.image.height * 3);
    uint8_t* out = r.png ? rgb.data() : r.out;
    draw(r.image.pixels, r.image.width, r.image.height, r.image.channels, map.data(), static_cast<int>(f[3]),
         static_cast<int>(f[2]), r.x0, r.y0, r.x1, r.y1, blends, out);
    if (r.png) {
      CHEXRT_ASSIGN_OR_RETURN(*r.png, png_encode::encode_png(out, r.image.width, r.image.height, 3));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::heatmap_draw
