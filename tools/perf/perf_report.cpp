#include "perf/perf_report.h"

#include <cstdio>

namespace chexrt::perf {

namespace {

std::string number(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

std::string join_errors(const LevelResult& row, const char* separator) {
  std::string text;
  for (const auto& [cause, count] : row.errors) {
    if (!text.empty()) text += separator;
    text += cause + ":" + std::to_string(count);
  }
  return text;
}

}  // namespace

std::string errors_text(const LevelResult& row) {
  const std::string text = join_errors(row, " ");
  return text.empty() ? "0" : text;
}

nlohmann::json rows_json(const std::vector<LevelResult>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const LevelResult& r : rows) {
    const auto optional = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); };
    out.push_back({{"concurrency", r.concurrency},
                   {"window_s", r.window_s},
                   {"requests", r.requests_ok},
                   {"images", r.images_ok},
                   {"requests_per_s", r.requests_per_s()},
                   {"images_per_s", r.images_per_s()},
                   {"latency_ms",
                    {{"mean", r.latency_ms.mean},
                     {"p50", r.latency_ms.p50},
                     {"p90", r.latency_ms.p90},
                     {"p99", r.latency_ms.p99},
                     {"max", r.latency_ms.max}}},
                   {"errors", r.errors},
                   {"server_queue_ms", optional(r.server_queue_ms)},
                   {"server_compute_ms", optional(r.server_compute_ms)}});
  }
  return out;
}

std::string rows_csv(const std::vector<LevelResult>& rows) {
  std::string csv =
      "concurrency,requests,images,requests_per_s,images_per_s,latency_mean_ms,latency_p50_ms,latency_p90_ms,"
      "latency_p99_ms,latency_max_ms,errors,server_queue_ms,server_compute_ms\n";
  for (const LevelResult& r : rows) {
    const auto optional = [](const std::optional<double>& v) { return v ? number(*v) : std::string(); };
    csv += std::to_string(r.concurrency) + "," + std::to_string(r.requests_ok) + "," + std::to_string(r.images_ok) +
           "," + number(r.requests_per_s()) + "," + number(r.images_per_s()) + "," + number(r.latency_ms.mean) + "," +
           number(r.latency_ms.p50) + "," + number(r.latency_ms.p90) + "," + number(r.latency_ms.p99) + "," +
           number(r.latency_ms.max) + "," + join_errors(r, ";") + "," + optional(r.server_queue_ms) + "," +
           optional(r.server_compute_ms) + "\n";
  }
  return csv;
}

}  // namespace chexrt::perf
