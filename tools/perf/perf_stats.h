// The numbers `chexrt perf` reports: latency percentiles and the concurrency levels it sweeps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::perf {

/// The `p`-th percentile (0 < p <= 100) of `values` by the nearest-rank method: the smallest
/// value with at least p% of the values at or below it. 0 for no values.
double percentile(std::vector<double> values, double p);

struct LatencySummary {
  int64_t count = 0;
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
};
LatencySummary summarize(std::vector<double> values);

/// --concurrency: "A:B" doubles from A up to B (B itself last, whether or not a power of two
/// times A), "A:B:S" steps by S from A to B, "1,4,16" is a list. InvalidArgument naming the item
/// and the rule otherwise; every level is between 1 and 4096.
Result<std::vector<int>> parse_concurrency(const std::string& text);

}  // namespace chexrt::perf
