// Heat maps from the CLI: exposing the last feature map of a CheXNet graph, and drawing the
// class activation map of one image over its X-ray.
#pragma once

#include <string>

#include "app/image_io.h"
#include "app/preprocess.h"
#include "chexrt/network.h"

namespace chexrt::cli {

/// Marks the input of the network's global average pooling (the final feature map after the
/// last ReLU) as an extra output named "cam_features", and returns the classifier weights
/// [num_classes, C] that the pooled features feed.
Result<HostTensor> attach_cam_features(NetworkDefinition& network);

/// Draws sample `sample` of `features` [N, C, h, w] as a heat map of class `class_index` over
/// `image`, on `crop_region` of it (where the model's crop came from), and writes
/// `<dir>/<image stem>.<finding>.png`; its path goes to `written`.
Status write_heatmap(const HostTensor& features, int64_t sample, const HostTensor& weights, int class_index,
                     const app::Image& image, const app::Region& crop_region, const std::string& dir,
                     const std::string& image_path, std::string* written);

}  // namespace chexrt::cli
