// Class activation heat maps (Zhou et al., "Learning Deep Features for Discriminative
// Localization", CVPR 2016) drawn by an engine, as CheXNet shows them: the classifier row of a
// class weighs the channels of the last feature map, the map is min-max normalized, bilinearly
// upsampled onto the part of the X-ray the model saw, coloured blue -> red ("jet") and blended
// over the X-ray in grey. Engine::draw_heatmaps() takes these requests; engines on a GPU draw
// there, the others on the host, with the same arithmetic (core/heatmap_draw.h) and so the same
// bytes.
#pragma once

#include <cstdint>
#include <vector>

#include "chexrt/image_input.h"

namespace chexrt {

/// One heat map to draw.
struct HeatmapRequest {
  /// The X-ray it is drawn over, 8-bit grey or RGB; the heat map has its size.
  ImageView image;
  /// Where the model's (centre) crop lies in `image`, in its pixels; x1 and y1 exclusive, may be
  /// fractional. Pixels outside it are the plain X-ray.
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  /// The row (dim 0) of the feature map, and the classifier row (the class).
  int64_t sample = 0;
  int class_index = 0;
  /// Where the heat map goes, one of the two: `out`, image.width * image.height * 3 bytes, gets
  /// it as pixels (RGB, row-major); `png` gets it encoded as a PNG file (8-bit RGB, Up-filtered
  /// rows deflated in independent segments: the same bytes on every engine). Engines that draw on
  /// a device encode there too, and only the compressed bytes come back (about a third of the
  /// pixels' for an X-ray's heat map).
  uint8_t* out = nullptr;
  std::vector<uint8_t>* png = nullptr;
};

/// Opacity of the colour where the map is at its maximum; it falls linearly to 0 where the map is
/// at its minimum, so regions without evidence keep the radiograph unobscured.
inline constexpr float kDefaultHeatmapAlpha = 0.6f;

}  // namespace chexrt
