#include "cpu_test_util.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "backends/backend.h"
#include "runtime/graph_executor.h"

namespace chexrt::cputest {

double range_relative_error(const HostTensor& got, const HostTensor& want) {
  EXPECT_EQ(got.dims(), want.dims());
  if (got.dims() != want.dims()) return INFINITY;
  const std::vector<double> a = got.to_doubles(), b = want.to_doubles();
  double diff = 0, range = 0;
  for (size_t i = 0; i < b.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return INFINITY;
    diff = std::max(diff, std::abs(a[i] - b[i]));
    range = std::max(range, std::abs(b[i]));
  }
  return range > 0 ? diff / range : diff;
}

double worst_error_vs_reference(const NetworkFactory& make, Precision precision, int64_t max_batch,
                                const std::vector<int64_t>& batches, std::string* layers) {
  NetworkDefinition net = make(max_batch);
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  if (!net.status().ok()) return INFINITY;
  BuildOptions options;
  options.device = Device::kCpu;
  options.precision = precision;
  options.max_batch = max_batch;
  options.threads = 2;
  auto engine = backends::make_cpu_backend()->build(net.graph(), options);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  if (!engine.ok()) return INFINITY;
  if (layers) *layers = (*engine)->describe_layers();

  double worst = 0;
  for (int64_t batch : batches) {
    NetworkDefinition ref_net = make(batch);
    std::vector<HostTensor> inputs;
    uint32_t seed = static_cast<uint32_t>(batch) * 7919u;
    for (int v : ref_net.graph().inputs()) {
      inputs.push_back(random_uniform(ref_net.graph().value(v).dims, seed++));
    }
    auto want = runtime::run_reference(ref_net.graph(), inputs);
    EXPECT_TRUE(want.ok()) << want.status().to_string();
    if (!want.ok()) return INFINITY;
    std::vector<HostTensor> got;
    const Status s = (*engine)->infer(inputs, &got);
    EXPECT_TRUE(s.ok()) << s.to_string();
    if (!s.ok()) return INFINITY;
    EXPECT_EQ(got.size(), want->size());
    if (got.size() != want->size()) return INFINITY;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, range_relative_error(got[i], (*want)[i]));
  }
  std::printf("  %s: worst error relative to the output range %.2e\n", precision_name(precision), worst);
  return worst;
}

}  // namespace chexrt::cputest
