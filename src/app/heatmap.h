// Class activation maps (Zhou et al., "Learning Deep Features for Discriminative
// Localization", CVPR 2016), as CheXNet draws them: for a network that ends in global average
// pooling and a linear classifier, the evidence for class k at each position of the last
// feature map F [C, h, w] is
//     CAM_k(y, x) = sum_c W[k, c] * F[c, y, x]
// (the classifier bias and the 1/(h*w) of the pooling only shift and scale it, and the map is
// min-max normalized for display anyway).
#pragma once

#include <string>
#include <vector>

#include "app/image_io.h"
#include "app/preprocess.h"
#include "chexrt/engine.h"
#include "chexrt/heatmap.h"
#include "chexrt/tensor.h"

namespace chexrt::app {

struct ActivationMap {
  int width = 0;
  int height = 0;
  std::vector<float> values;  ///< row-major, height * width
};

/// `features`: float32 [C, h, w] or [1, C, h, w] (the feature map after the final ReLU);
/// `weights`: float32 [num_classes, C] (the classifier's weight matrix).
Result<ActivationMap> class_activation_map(const HostTensor& features, const HostTensor& weights, int class_index);

struct HeatmapOptions {
  /// Opacity of the colour where the map is at its maximum; it falls linearly to 0 where the
  /// map is at its minimum, so regions without evidence keep the radiograph unobscured.
  float max_alpha = kDefaultHeatmapAlpha;
};

/// RGB image of the X-ray's size: the X-ray in grey with the min-max normalized map,
/// bilinearly upsampled onto `region` (see crop_region()) and coloured blue -> red ("jet"),
/// blended over it. Pixels outside `region` are the plain X-ray. The arithmetic is
/// core/heatmap_draw.h's, which Engine::draw_heatmaps runs too (on the GPU for CUDA engines):
/// the same bytes.
Result<Image8> render_heatmap(const Image& xray, const ActivationMap& map, const Region& region,
                              const HeatmapOptions& options);
Result<Image8> render_heatmap(const Image8& xray, const ActivationMap& map, const Region& region,
                              const HeatmapOptions& options);

/// render_heatmap() written as a PNG, atomically.
Status write_heatmap_png(const std::string& path, const Image& xray, const ActivationMap& map, const Region& region,
                         const HeatmapOptions& options);
Status write_heatmap_png(const std::string& path, const Image8& xray, const ActivationMap& map, const Region& region,
                         const HeatmapOptions& options);

/// The heat map of sample `sample` of `features` ([N, C, h, w], the engine's feature-map
/// output) for class `class_index`, drawn over `xray` on `crop_region` of it (where the model's
/// crop came from; heatmap_base() gives both).
Result<Image8> render_sample_heatmap(const HostTensor& features, int64_t sample, const HostTensor& weights,
                                     int class_index, const Image8& xray, const Region& crop_region);

/// render_sample_heatmap() drawn by `engine` (Engine::draw_heatmaps: on its device where it
/// draws there, the same bytes as the host), or on the host here when `engine` is null.
Result<Image8> draw_sample_heatmap(Engine* engine, const HostTensor& features, int64_t sample,
                                   const HostTensor& weights, int class_index, const Image8& xray,
                                   const Region& crop_region);

/// draw_sample_heatmap() as a PNG file: drawn and encoded by `engine` (a request with a PNG
/// output: on its device where it draws there, so that only the compressed bytes come back), or,
/// when `engine` is null, drawn here and encoded by encode_png() at level 1.
Result<std::vector<uint8_t>> sample_heatmap_png(Engine* engine, const HostTensor& features, int64_t sample,
                                                const HostTensor& weights, int class_index, const Image8& xray,
                                                const Region& crop_region);

/// A drawn heat map (class `class_index`, of the image at `image_path`) written atomically as
/// `<dir>/<image stem>.<finding>.png` (PNG, level 1) or `.jpg` (`format` kJpeg, quality 90); the
/// path goes to `written`.
Status write_heatmap_file(const Image8& rgb, int class_index, const std::string& dir, const std::string& image_path,
                          std::string* written, ImageFormat format = ImageFormat::kPng);
/// A heat map already encoded as PNG, written atomically where write_heatmap_file() writes one.
Status write_heatmap_png_file(const std::vector<uint8_t>& png, int class_index, const std::string& dir,
                              const std::string& image_path, std::string* written);

}  // namespace chexrt::app
