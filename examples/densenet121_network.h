// DenseNet-121 with CheXNet's head (Linear(1024, 14) + Sigmoid), built layer by layer through
// chexrt's NetworkDefinition, with torchvision's state-dict names for the weights.
// Architecture: Huang et al., "Densely Connected Convolutional Networks", CVPR 2017; CheXNet:
// Rajpurkar et al., 2017. Growth rate 32, bottleneck 4 x 32, blocks of 6, 12, 24, 16 layers.
#pragma once

#include <functional>
#include <string>

#include "chexrt/network.h"

namespace chexrt::examples {

/// Returns the weight stored under a torchvision key such as "features.conv0.weight".
using WeightLookup = std::function<Result<HostTensor>(const std::string& key)>;

/// Input "image" [batch, 3, 224, 224], output "probabilities" [batch, 14].
Result<NetworkDefinition> build_densenet121_chexnet(const WeightLookup& weights, int64_t batch);

}  // namespace chexrt::examples
