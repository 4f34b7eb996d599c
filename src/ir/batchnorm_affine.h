// Batch norm in inference form as the per-channel affine map it is:
//
//   BN(x)[c] = gamma[c] * (x[c] - mean[c]) / sqrt(var[c] + eps) + beta[c]
//            = s[c] * x[c] + (beta[c] - mean[c] * s[c]),     s[c] = gamma[c] / sqrt(var[c] + eps)
//
// The graph pass that folds batch norms into convolutions and the backends that run the
// remaining ones (as ChannelAffine kernels or prologues) all take the scale and shift from here.
#pragma once

#include <vector>

#include "chexrt/status.h"
#include "ir/graph.h"

namespace chexrt::ir {

/// y[c] = scale[c] * x[c] + shift[c], in double: callers round once, to the precision they store.
struct ChannelAffineParams {
  std::vector<double> scale;
  std::vector<double> shift;
};

/// The affine form of a BatchNormalization node whose gamma, beta, mean and var are constants.
/// InvalidArgument naming the node when it is not one, or when a parameter is not a constant of
/// one value per channel.
Result<ChannelAffineParams> batchnorm_affine(const Graph& graph, const Node& node);

}  // namespace chexrt::ir
