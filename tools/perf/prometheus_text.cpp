#include "perf/prometheus_text.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace chexrt::perf {

namespace {

bool is_name_char(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// Parses one sample line; the message says what is wrong, without the line number.
Result<MetricSample> parse_line(const std::string& line) {
  MetricSample sample;
  size_t i = 0;
  while (i < line.size() && is_name_char(line[i], i == 0)) ++i;
  if (i == 0) return parse_error("expected a metric name");
  sample.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      while (i < line.size() && (line[i] == ' ' || line[i] == ',')) ++i;
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      const size_t start = i;
      while (i < line.size() && is_name_char(line[i], i == start)) ++i;
      if (i == start) return parse_error("expected a label name or '}'");
      const std::string label = line.substr(start, i - start);
      if (i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return parse_error("label '" + label + "' needs =\"value\"");
      }
      i += 2;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\' && i < line.size()) {
          const char e = line[i++];
          value.push_back(e == 'n' ? '\n' : e);  // \\ and \" stand for themselves
        } else {
          value.push_back(c);
        }
      }
      if (!closed) return parse_error("label '" + label + "': unterminated value");
      sample.labels[label] = value;
    }
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  const size_t start = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  const std::string value = line.substr(start, i - start);
  if (value.empty()) return parse_error("metric '" + sample.name + "' has no value");
  if (value == "+Inf") {
    sample.value = INFINITY;
  } else if (value == "-Inf") {
    sample.value = -INFINITY;
  } else if (value == "NaN") {
    sample.value = NAN;
  } else {
    char* end = nullptr;
    sample.value = std::strtod(value.c_str(), &end);
    if (*end != '\0') return parse_error("metric '" + sample.name + "': '" + value + "' is not a number");
  }
  // An optional timestamp may follow; nothing else may.
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i < line.size()) {
    char* end = nullptr;
    const std::string rest = line.substr(i);
    std::strtoll(rest.c_str(), &end, 10);
    if (end == rest.c_str() || *end != '\0')
      return parse_error("metric '" + sample.name + "': trailing '" + rest + "'");
  }
  return sample;
}

}  // namespace

Result<std::vector<MetricSample>> parse_prometheus_text(const std::string& text) {
  std::vector<MetricSample> samples;
  size_t begin = 0;
  int line_number = 0;
  while (begin < text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto sample = parse_line(line.substr(first));
    if (!sample.ok()) {
      return parse_error("metrics line " + std::to_string(line_number) + ": " + sample.status().message());
    }
    samples.push_back(std::move(*sample));
  }
  return samples;
}

std::optional<HistogramTotals> histogram_totals(const std::vector<MetricSample>& samples, const std::string& histogram,
                                                const std::map<std::string, std::string>& labels) {
  HistogramTotals totals;
  bool found = false;
  for (const MetricSample& s : samples) {
    const bool is_sum = s.name == histogram + "_sum";
    const bool is_count = s.name == histogram + "_count";
    if (!is_sum && !is_count) continue;
    bool match = true;
    for (const auto& [key, value] : labels) {
      const auto it = s.labels.find(key);
      match = match && it != s.labels.end() && it->second == value;
    }
    if (!match) continue;
    found = true;
    (is_sum ? totals.sum : totals.count) += s.value;
  }
  if (!found) return std::nullopt;
  return totals;
}

}  // namespace chexrt::perf
