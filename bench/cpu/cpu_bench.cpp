// cpu_bench: chexrt's CPU engine on an ONNX model, timed the way bench/cpu/ort_bench.js and
// bench/cpu/torch_bench.py time their peers (same batches, warm-up, iterations and median), so
// that bench/cpu/compare_ort.sh can put the three side by side. Prints one JSON object per batch:
//   {"runtime": "chexrt", "precision": "fp32", "threads": 2, "batch": 1, "median_ms": ..., ...}
// With --layers, also a per-layer profile (median per step) on stderr.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"

namespace {

using namespace chexrt;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

int fail(const Status& s) {
  std::fprintf(stderr, "cpu_bench: %s\n", s.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"chexrt CPU engine benchmark"};
  std::string model, precision_text = "fp32", batches_text = "1,8";
  int threads = 0, iterations = 30, warmup = 5;
  bool layers = false;
  app.add_option("--model", model, "ONNX model")->required();
  app.add_option("--precision", precision_text, "fp32 or bf16");
  app.add_option("--batches", batches_text, "comma-separated batch sizes");
  app.add_option("--threads", threads, "CPU threads (0: every core)");
  app.add_option("--iterations", iterations, "timed runs per batch");
  app.add_option("--warmup", warmup, "untimed runs first");
  app.add_flag("--layers", layers, "print a per-layer profile to stderr");
  CLI11_PARSE(app, argc, argv);

  std::vector<int64_t> batches;
  std::stringstream list(batches_text);
  for (std::string item; std::getline(list, item, ',');) batches.push_back(std::stoll(item));
  const int64_t max_batch = *std::max_element(batches.begin(), batches.end());

  auto precision = parse_precision(precision_text);
  if (!precision.ok()) return fail(precision.status());
  OnnxImportOptions import_options;
  import_options.batch_size = max_batch;
  auto network = parse_onnx_file(model, import_options);
  if (!network.ok()) return fail(network.status());
  BuildOptions options;
  options.device = Device::kCpu;
  options.precision = *precision;
  options.max_batch = max_batch;
  options.threads = threads;
  const auto build_start = std::chrono::steady_clock::now();
  auto engine = build_engine(std::move(*network), options);
  if (!engine.ok()) return fail(engine.status());
  const double build_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - build_start).count();

  for (int64_t batch : batches) {
    BenchmarkOptions bench;
    bench.batch = batch;
    bench.iterations = iterations;
    bench.warmup = warmup;
    bench.per_layer = layers;
    auto result = (*engine)->benchmark(bench);
    if (!result.ok()) return fail(result.status());
    const double ms = median(result->latency_ms);
    nlohmann::json row = {{"runtime", "chexrt"},      {"precision", precision_text},
                          {"threads", threads},       {"batch", batch},
                          {"median_ms", ms},          {"images_per_s", batch * 1000.0 / ms},
                          {"iterations", iterations}, {"build_s", build_s},
                          {"notes", result->notes}};
    std::printf("%s\n", row.dump().c_str());
    std::fflush(stdout);
    if (layers) {
      double total = 0;
      for (const auto& l : result->layers) total += l.ms;
      std::fprintf(stderr, "per-layer medians, batch %lld (sum %.3f ms):\n", static_cast<long long>(batch), total);
      for (const auto& l : result->layers) {
        std::fprintf(stderr, "  %8.4f ms %5.1f%%  %-60s %s\n", l.ms, 100 * l.ms / total, l.name.c_str(),
                     l.kernel.c_str());
      }
    }
  }
  return 0;
}
