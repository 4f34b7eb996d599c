// Reading the Prometheus text exposition format (what GET /metrics answers), enough for `chexrt
// perf` to take a histogram's _sum and _count before and after a run.
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::perf {

/// One line: name{labels} value.
struct MetricSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// Every sample of `text` (comments and blank lines skipped); ParseError naming the line number
/// and what is wrong with it otherwise.
Result<std::vector<MetricSample>> parse_prometheus_text(const std::string& text);

struct HistogramTotals {
  double sum = 0;
  double count = 0;
};

/// `histogram`_sum and _count added over the samples whose labels include every pair of
/// `labels` (e.g. {"model", "chexnet"}); nothing when neither is present.
std::optional<HistogramTotals> histogram_totals(const std::vector<MetricSample>& samples, const std::string& histogram,
                                                const std::map<std::string, std::string>& labels);

}  // namespace chexrt::perf
