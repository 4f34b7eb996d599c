// The arithmetic of class activation heat maps (chexrt/heatmap.h), the one description of it:
// the host path (app/heatmap.cpp and Engine::draw_heatmaps' default, through draw() below) and
// the CUDA backend's kernels (kernels/heatmap.cu) both run the per-pixel functions of this
// header. Neither side fuses a multiply and an add (heatmap_draw.cpp is compiled with
// -ffp-contract=off, heatmap.cu with nvcc's --fmad=false) and both sum the activation map's
// channels in the same order, so every operation rounds alike and both draw the same bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "chexrt/heatmap.h"
#include "chexrt/status.h"
#include "chexrt/tensor.h"
#include "core/host_device.h"

namespace chexrt::heatmap_draw {

/// The colour and opacity of a normalized map value t in [0, 1] come from a table of
/// kBlendLevels + 1 steps (1/4096: far below the 1/255 an output byte resolves), so that a pixel
/// costs a lerp, a lookup and a blend.
inline constexpr int kBlendLevels = 4096;

/// One step of the table: out = keep * grey + add[c], with keep = 1 - alpha and add = alpha * colour.
struct Blend {
  float keep = 1;
  float add[3] = {0, 0, 0};
};

/// The table for opacity `max_alpha` at t = 1 (falling linearly to 0 at t = 0) and MATLAB's
/// "jet" colours (dark blue -> blue -> cyan -> yellow -> red -> dark red as t goes 0 -> 1).
std::vector<Blend> blend_table(float max_alpha);

/// Where pixel i of one axis samples a map of `map_size` cells drawn over [r0, r1) of that
/// axis: bilinearly, with pixel and cell centres at integer + 0.5 and edge values held beyond
/// the outermost centres. `inside` is false for pixels outside [r0, r1).
struct Tap {
  int inside = 0;
  int i0 = 0, i1 = 0;
  float a = 0;
};

CHEXRT_HOST_DEVICE inline Tap tap(int i, double r0, double r1, int map_size) {
  Tap t;
  const double p = i + 0.5;
  t.inside = p >= r0 && p < r1;
  const float u = static_cast<float>((p - r0) / (r1 - r0) * map_size);
  const float v = u - 0.5f;
  const float hi = static_cast<float>(map_size - 1);
  const float f = v < 0.0f ? 0.0f : (hi < v ? hi : v);
  t.i0 = static_cast<int>(f);
  t.i1 = t.i0 + 1 < map_size ? t.i0 + 1 : map_size - 1;
  t.a = f - static_cast<float>(t.i0);
  return t;
}

/// A sample as a value in [0, 1]: float images hold it, 8-bit ones its grey level.
CHEXRT_HOST_DEVICE inline float unit(float v) { return v; }
CHEXRT_HOST_DEVICE inline float unit(uint8_t v) { return v * (1.0f / 255.0f); }

/// The X-ray's grey value at pixel `px`: the sample itself, or the luma (ITU-R 601, as PIL's
/// convert('L')) of an RGB pixel.
template <class T>
CHEXRT_HOST_DEVICE inline float grey(const T* px, int channels) {
  return channels == 1 ? unit(px[0]) : 0.299f * unit(px[0]) + 0.587f * unit(px[1]) + 0.114f * unit(px[2]);
}

/// The map between cells m0 and m1 at fraction a, min-max normalized (lo, range = max - min).
CHEXRT_HOST_DEVICE inline float stretch(float m0, float m1, float a, float lo, float range) {
  return (m0 + a * (m1 - m0) - lo) / range;
}

/// The blend table's step for the value between two stretched map rows at fraction a.
CHEXRT_HOST_DEVICE inline int level(float top, float bottom, float a) {
  const float v = top + a * (bottom - top);
  const float t = v < 0.0f ? 0.0f : (1.0f < v ? 1.0f : v);
  return static_cast<int>(t * kBlendLevels + 0.5f);
}

/// A value in [0, 1] as a byte, rounded.
CHEXRT_HOST_DEVICE inline uint8_t to_byte(float v) {
  const float s = v * 255.0f;
  return static_cast<uint8_t>((s < 0.0f ? 0.0f : (255.0f < s ? 255.0f : s)) + 0.5f);
}

/// Channel c of a pixel of grey value `grey` under the colour of step `b`.
CHEXRT_HOST_DEVICE inline uint8_t blend(const Blend& b, float grey, int c) { return to_byte(b.keep * grey + b.add[c]); }

/// The class activation map of one sample: out[i] = sum over c of w[c] * features[c * plane + i],
/// summed in channel order from 0 (the kernels sum in the same order).
void activation_map(const float* features, const float* w, int64_t channels, int64_t plane, float* out);

/// The heat map over an image of `width` x `height` pixels of `channels` samples (T: uint8_t or
/// float in [0, 1]) into `out` (RGB): `map` [map_height, map_width] min-max normalized,
/// upsampled onto [x0, x1) x [y0, y1), coloured and blended by `blends` (blend_table()); the
/// plain X-ray in grey outside that region, and everywhere when the map is flat.
template <class T>
void draw(const T* image, int width, int height, int channels, const float* map, int map_width, int map_height,
          double x0, double y0, double x1, double y1, const std::vector<Blend>& blends, uint8_t* out);

/// InvalidArgument naming what is wrong: features float32 [N, C, h, w], weights float32
/// [classes, C], max_alpha in [0, 1], and per request an image of 1 or 3 channels within
/// kMaxImagePixels, a non-empty region, a sample and a class in range and one output.
Status check_requests(const HostTensor& features, const HostTensor& weights,
                      const std::vector<HeatmapRequest>& requests, float max_alpha);

/// Engine::draw_heatmaps on the host (PNGs through core/png_encode.h's encoder).
Status draw_on_host(const HostTensor& features, const HostTensor& weights, const std::vector<HeatmapRequest>& requests,
                    float max_alpha);

}  // namespace chexrt::heatmap_draw
