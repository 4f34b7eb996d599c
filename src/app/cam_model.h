// The graph surgery behind class activation maps (app/heatmap.h): exposing the last feature map
// of a CheXNet graph as an output, and taking the classifier weights that weigh its channels.
#pragma once

#include "chexrt/network.h"

namespace chexrt::app {

/// Marks the input of the network's global average pooling (the final feature map after the
/// last ReLU) as an extra output named "cam_features", and returns the classifier weights
/// [num_classes, C] that the pooled features feed.
Result<HostTensor> attach_cam_features(NetworkDefinition& network);

}  // namespace chexrt::app
