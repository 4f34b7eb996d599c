#include "perf/perf_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace chexrt::perf {

namespace {

constexpr int kMaxConcurrency = 4096;

Result<int> parse_level(const std::string& text, const std::string& item) {
  size_t used = 0;
  long value = 0;
  try {
    value = std::stol(item, &used);
  } catch (...) {
    used = 0;
  }
  if (item.empty() || used != item.size() || value < 1 || value > kMaxConcurrency) {
    return invalid_argument("--concurrency " + text + ": '" + item + "' is not an integer from 1 to " +
                            std::to_string(kMaxConcurrency));
  }
  return static_cast<int>(value);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> items;
  size_t begin = 0;
  while (true) {
    const size_t end = text.find(separator, begin);
    items.push_back(text.substr(begin, end == std::string::npos ? std::string::npos : end - begin));
    if (end == std::string::npos) return items;
    begin = end + 1;
  }
}

}  // namespace

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(values.size()));
  const size_t index = static_cast<size_t>(std::max(1.0, rank)) - 1;
  return values[std::min(index, values.size() - 1)];
}

LatencySummary summarize(std::vector<double> values) {
  LatencySummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.count = static_cast<int64_t>(values.size());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  s.p50 = percentile(values, 50);
  s.p90 = percentile(values, 90);
  s.p99 = percentile(values, 99);
  s.max = values.back();
  return s;
}

Result<std::vector<int>> parse_concurrency(const std::string& text) {
  std::vector<int> levels;
  if (text.find(':') == std::string::npos) {
    for (const std::string& item : split(text, ',')) {
      CHEXRT_ASSIGN_OR_RETURN(int level, parse_level(text, item));
      levels.push_back(level);
    }
    return levels;
  }
  const std::vector<std::string> parts = split(text, ':');
  if (parts.size() > 3) return invalid_argument("--concurrency " + text + ": use A:B, A:B:STEP or a list A,B,C");
  CHEXRT_ASSIGN_OR_RETURN(int first, parse_level(text, parts[0]));
  CHEXRT_ASSIGN_OR_RETURN(int last, parse_level(text, parts[1]));
  if (last < first) return invalid_argument("--concurrency " + text + ": the end is below the start");
  if (parts.size() == 3) {
    CHEXRT_ASSIGN_OR_RETURN(int step, parse_level(text, parts[2]));
    for (int c = first; c <= last; c += step) levels.push_back(c);
    if (levels.back() != last) levels.push_back(last);
    return levels;
  }
  for (int c = first; c < last; c *= 2) levels.push_back(c);
  levels.push_back(last);
  return levels;
}

}  // namespace chexrt::perf
