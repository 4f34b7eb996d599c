// Heat maps from the CLI: exposing the last feature map of a CheXNet graph as an output.
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

}  // namespace chexrt::cli
