// `chexrt perf`'s results as JSON and CSV (the command writes them with
// core::write_file_atomically) and the errors column of its table.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "perf/perf_runner.h"

namespace chexrt::perf {

/// "503:12 receive:1", or "0" when there were none.
std::string errors_text(const LevelResult& row);

/// One object per level: concurrency, requests, images, requests_per_s, images_per_s,
/// latency_ms {mean,p50,p90,p99,max}, errors {"503": n, ...}, server_queue_ms and
/// server_compute_ms (null when /metrics gave none).
nlohmann::json rows_json(const std::vector<LevelResult>& rows);

/// A header line and one line per level, the same fields as rows_json with the errors as
/// "503:12;receive:1" and empty server times when there are none.
std::string rows_csv(const std::vector<LevelResult>& rows);

}  // namespace chexrt::perf
