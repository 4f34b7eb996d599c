#include "caffe_test_util.h"

#include <algorithm>
#include <cmath>

#include "runtime/graph_executor.h"

namespace chexrt::caffetest {

std::string data_dir() { return std::string(CHEXRT_SOURCE_DIR) + "/tests/data/caffe"; }

double range_relative_error(const HostTensor& got, const HostTensor& want) {
  const std::vector<double> g = got.to_doubles(), w = want.to_doubles();
  if (g.size() != w.size()) return INFINITY;
  double worst = 0, range = 1e-30;
  for (size_t i = 0; i < g.size(); ++i) {
    if (!std::isfinite(g[i])) return INFINITY;
    worst = std::max(worst, std::abs(g[i] - w[i]));
    range = std::max(range, std::abs(w[i]));
  }
  return worst / range;
}

Result<std::vector<HostTensor>> run_reference(const NetworkDefinition& net, const std::vector<HostTensor>& inputs) {
  return runtime::run_reference(net.graph(), inputs);
}

Result<std::vector<HostTensor>> run_engine(NetworkDefinition net, Device device,
                                           const std::vector<HostTensor>& inputs) {
  BuildOptions options;
  options.device = device;
  options.max_batch = inputs.at(0).dims().at(0);
  CHEXRT_ASSIGN_OR_RETURN(auto engine, build_engine(std::move(net), options));
  std::vector<HostTensor> outputs;
  CHEXRT_RETURN_IF_ERROR(engine->infer(inputs, &outputs));
  return outputs;
}

}  // namespace chexrt::caffetest
