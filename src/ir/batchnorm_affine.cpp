#include "ir/batchnorm_affine.h"

#include <cmath>
#include <string>

namespace chexrt::ir {

Result<ChannelAffineParams> batchnorm_affine(const Graph& graph, const Node& node) {
  if (node.op != OpType::kBatchNormalization || node.inputs.size() != 5) {
    return invalid_argument(describe(node) + " is not a batch norm with gamma, beta, mean and var");
  }
  std::vector<double> params[4];  // gamma, beta, mean, var
  for (size_t i = 0; i < 4; ++i) {
    const int v = node.inputs[i + 1];
    if (v == kNoValue || !graph.value(v).is_constant()) {
      return invalid_argument(describe(node) + ": parameter " + std::to_string(i + 1) + " is not a constant");
    }
    params[i] = graph.value(v).constant.to_doubles();
    if (params[i].size() != params[0].size()) {
      return invalid_argument(describe(node) + ": parameter " + std::to_string(i + 1) + " has " +
                              std::to_string(params[i].size()) + " values, gamma has " +
                              std::to_string(params[0].size()));
    }
  }
  const std::vector<double>& gamma = params[0];
  const std::vector<double>& beta = params[1];
  const std::vector<double>& mean = params[2];
  const std::vector<double>& var = params[3];
  const double eps = node.attrs.get_float("epsilon", 1e-5f);
  ChannelAffineParams a;
  a.scale.reserve(gamma.size());
  a.shift.reserve(gamma.size());
  for (size_t c = 0; c < gamma.size(); ++c) {
    const double s = gamma[c] / std::sqrt(var[c] + eps);
    a.scale.push_back(s);
    a.shift.push_back(beta[c] - mean[c] * s);
  }
  return a;
}

}  // namespace chexrt::ir
