// chexrt bench: throughput and latency, trtexec-style. Prints a table (or --json) with median,
// p90 and p99 latency, input copy, compute and output copy times, and images per second.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "app/image_batch.h"
#include "app/pipeline.h"
#include "chexrt/builder.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "engine/engine_file.h"
#include "model_loading.h"
#include "runtime/backend_registry.h"
#include "table.h"

namespace chexrt::cli {

namespace {

struct BenchCliOptions {
  std::string model;
  std::string weights;
  std::string engine;
  std::string batches = "1,8";
  int iterations = 50;
  int warmup = 10;
  std::string device = "auto";
  std::string precision = "fp32";
  bool no_cuda_graphs = false;
  int streams = 1;
  int split = 1;
  bool per_layer = false;
  int threads = 0;
  std::string json;
  // Files to findings (--pipeline DIR), or its decoding stage alone (--decode-only).
  std::string pipeline;
  bool decode_only = false;
  std::string decode_threads = "0";
  std::string preprocess_on = "auto";
  std::string jpeg_decode_on = "host";
  std::string unfilter_on = "auto";
  bool first_call = false;
  std::string mode = "crop";
};

nlohmann::json stats_json(const app::PipelineStats& s) {
  return {{"images", s.files},
          {"failed", s.failed},
          {"wall_s", s.wall_s},
          {"images_per_second", s.images_per_second()},
          {"decode_threads", s.decode_threads},
          {"decode_busy_s", s.decode_s},
          {"engine_busy_s", s.infer_s},
          {"engine_waiting_s", s.wait_decode_s},
          {"postprocess_busy_s", s.postprocess_s},
          {"preprocess_on_device", s.preprocess_on_device},
          {"jpeg_on_device", s.jpeg_on_device},
          {"jpeg_host_retries", s.jpeg_host_retries},
          {"png_unfiltered_on_device", s.png_unfiltered_on_device},
          {"png_rows_files", s.png_rows_files},
          {"decoded_bytes_peak", s.decode_peak_bytes}};
}

// chexrt bench --pipeline DIR: files to findings through app::run_pipeline (or, with
// --decode-only, its decoding stage alone), once per batch size or decode thread count.
int bench_pipeline(const BenchCliOptions& o, const std::vector<std::string>& files, Engine* engine,
                   const std::vector<int64_t>& batches, const std::vector<int64_t>& thread_counts,
                   const app::PreprocessOptions& preprocess) {
  Table table({"batch", "threads", "images", "failed", "seconds", "img/s", "img/s per thread", "decode busy s",
               "engine busy s", "engine waiting s"});
  nlohmann::json rows = nlohmann::json::array();
  bool jpeg_on_device = false;
  const std::vector<int64_t> batch_list = engine ? batches : std::vector<int64_t>{0};
  for (int64_t batch : batch_list) {
    for (int64_t threads : thread_counts) {
      app::PipelineOptions options;
      options.preprocess = preprocess;
      options.decode_threads = static_cast<int>(threads);
      options.images_per_batch = std::max<int64_t>(1, batch);
      // Decoding alone preprocesses on the host unless told that the GPU will.
      options.preprocess_on_device = engine ? o.preprocess_on != "host" : o.preprocess_on == "device";
      options.jpeg_on_device = o.jpeg_decode_on == "device";
      options.unfilter_png_on_device = engine ? o.unfilter_on != "host" : o.unfilter_on == "device";
      std::fprintf(stderr, "bench: %zu files, %s, decode threads %lld ...\n", files.size(),
                   engine ? ("batch " + std::to_string(batch)).c_str() : "decoding only",
                   static_cast<long long>(threads));
      const app::ResultSink drop = [](app::FileResult&&) { return Status::ok_status(); };
      auto stats = engine ? app::run_pipeline(files, *engine, options, drop) : app::run_decode_only(files, options);
      if (!stats.ok()) return report_error(stats.status());
      const double per_thread = stats->decode_s > 0 ? (stats->files - stats->failed) / stats->decode_s : 0;
      table.add_row({engine ? std::to_string(batch) : "-", std::to_string(stats->decode_threads),
                     std::to_string(stats->files), std::to_string(stats->failed), format("%.3f", stats->wall_s),
                     format("%.1f", stats->images_per_second()), format("%.1f", per_thread),
                     format("%.2f", stats->decode_s), engine ? format("%.2f", stats->infer_s) : "-",
                     engine ? format("%.2f", stats->wait_decode_s) : "-"});
      jpeg_on_device = stats->jpeg_on_device;
      nlohmann::json row = stats_json(*stats);
      row["batch"] = batch;
      row["images_per_second_per_decode_thread"] = per_thread;
      rows.push_back(row);
    }
  }
  if (!o.json.empty()) {
    nlohmann::json doc = {{"pipeline", o.pipeline},
                          {"mode", o.mode},
                          {"backend", engine ? engine->backend_name() : "none (decoding only)"},
                          {"rows", rows}};
    Status s = core::write_file_atomically(o.json, doc.dump(1) + "\n");
    if (!s.ok()) return report_error(s);
  }
  std::printf("files to findings: %s, %s, mode %s, JPEGs decoded %s\n%s", o.pipeline.c_str(),
              engine                        ? engine->backend_name().c_str()
              : o.preprocess_on != "device" ? "decoding and preprocessing only"
              : o.unfilter_on == "device"   ? "PNG inflating (unfiltering and preprocessing left to the GPU) and other "
                                              "decoding only"
                                            : "decoding only (preprocessing left to the GPU)",
              o.mode.c_str(), jpeg_on_device ? (engine ? "on the GPU" : "later (read only)") : "on the CPU",
              table.to_string().c_str());
  return 0;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * (v.size() - 1) + 0.5));
  return v[i];
}

// chexrt bench --first-call: an engine just built or loaded runs each batch size for the first
// time, then --warmup and --iterations more; the first call's time against the median of the
// rest shows whether anything (kernel timing, primitives, library set-up) was left to run time.
int bench_first_call(const BenchCliOptions& o, Engine& engine, const std::vector<int64_t>& batches,
                     const std::string& precision) {
  Table table({"batch", "first call ms", "steady median ms", "first / steady"});
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t batch : batches) {
    const std::vector<HostTensor> inputs = random_inputs(engine, batch);
    std::vector<HostTensor> outputs;
    std::vector<double> ms;
    for (int i = 0; i < 1 + o.warmup + o.iterations; ++i) {
      const auto start = std::chrono::steady_clock::now();
      const Status s = engine.infer(inputs, &outputs);
      if (!s.ok()) return report_error(s);
      const double t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      if (i == 0 || i > o.warmup) ms.push_back(t);
    }
    const double first = ms[0];
    const double steady = percentile(std::vector<double>(ms.begin() + 1, ms.end()), 50);
    table.add_row({std::to_string(batch), format("%.3f", first), format("%.3f", steady),
                   format("%.2f", steady > 0 ? first / steady : 0)});
    rows.push_back({{"batch", batch}, {"first_call_ms", first}, {"steady_median_ms", steady}});
  }
  if (!o.json.empty()) {
    nlohmann::json doc = {{"backend", engine.backend_name()}, {"precision", precision}, {"first_call", rows}};
    Status s = core::write_file_atomically(o.json, doc.dump(1) + "\n");
    if (!s.ok()) return report_error(s);
  }
  std::printf("%s (%s): first call at each batch size (host clock, inputs copied in and out)\n%s",
              engine.backend_name().c_str(), precision.c_str(), table.to_string().c_str());
  return 0;
}

int run_bench(const BenchCliOptions& o) {
  // Everything the command line names is checked before anything is built or timed.
  auto batches = parse_integer_list("--batch", o.batches, 1);
  if (!batches.ok()) return report_usage_error(batches.status());
  const int64_t max_batch = *std::max_element(batches->begin(), batches->end());
  auto build_words = make_build_options(o.device, o.precision, max_batch, o.threads);
  if (!build_words.ok()) return report_usage_error(build_words.status());
  if (!o.json.empty()) {
    Status s = check_output_file("--json", o.json);
    if (!s.ok()) return report_usage_error(s);
  }
  std::vector<std::string> files;
  std::vector<int64_t> thread_counts;
  app::PreprocessOptions preprocess;
  if (!o.pipeline.empty() || o.decode_only) {
    if (o.pipeline.empty()) return report_usage_error(invalid_argument("--decode-only needs --pipeline DIR"));
    auto found = app::expand_image_paths({o.pipeline});
    if (!found.ok()) return report_usage_error(found.status());
    if (found->empty()) return report_usage_error(not_found(o.pipeline + ": no image files"));
    files = std::move(*found);
    auto counts = parse_integer_list("--decode-threads", o.decode_threads, 0);
    if (!counts.ok()) return report_usage_error(counts.status());
    thread_counts = std::move(*counts);
    auto mode = app::parse_resize_mode(o.mode);
    if (!mode.ok()) return report_usage_error(mode.status());
    preprocess.mode = *mode;
    if (o.decode_only) return bench_pipeline(o, files, nullptr, *batches, thread_counts, preprocess);
  }
  // The engine's max batch holds the largest batch's samples (ten per image with tencrop).
  const int64_t samples = files.empty() ? 1 : app::samples_per_image(preprocess);
  build_words->max_batch = max_batch * samples;

  std::unique_ptr<Engine> engine;
  std::string precision = o.precision;
  if (!o.engine.empty()) {
    auto loaded = load_engine(o.engine);
    if (!loaded.ok()) return report_error(loaded.status());
    engine = std::move(*loaded);
    // The engine's own precision, not --precision's default, labels the results.
    auto file = engine::read_engine_file(o.engine);
    if (!file.ok()) return report_error(file.status());
    precision = file->fingerprint.precision;
    if (max_batch * samples > engine->max_batch()) {
      return report_usage_error(invalid_argument("--batch " + o.batches + ": " + std::to_string(max_batch) +
                                                 " is larger than the engine's max batch " +
                                                 std::to_string(engine->max_batch()) + " (" + o.engine + ")"));
    }
  } else {
    const std::string model = o.model.empty() ? default_model_path() : o.model;
    auto network = load_network(model, max_batch * samples, o.weights);
    if (!network.ok()) return report_error(network.status());
    auto built = build_engine(std::move(*network), *build_words);
    if (!built.ok()) return report_error(built.status());
    engine = std::move(*built);
  }
  if (!files.empty()) return bench_pipeline(o, files, engine.get(), *batches, thread_counts, preprocess);
  if (o.first_call) return bench_first_call(o, *engine, *batches, precision);

  Table table({"batch", "median ms", "p90 ms", "p99 ms", "h2d ms", "compute ms", "d2h ms", "img/s"});
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t batch : *batches) {
    std::fprintf(stderr, "bench: %s batch %lld ...\n", engine->backend_name().c_str(), static_cast<long long>(batch));
    BenchmarkOptions options;
    options.batch = batch;
    options.iterations = o.iterations;
    options.warmup = o.warmup;
    options.cuda.use_graphs = !o.no_cuda_graphs;
    options.cuda.streams = o.streams;
    options.cuda.split = o.split;
    options.per_layer = o.per_layer;
    auto result = engine->benchmark(options);
    if (!result.ok()) return report_error(result.status());
    const double median = percentile(result->latency_ms, 50);
    const double compute = percentile(result->compute_ms, 50);
    table.add_row({std::to_string(batch), format("%.3f", median), format("%.3f", percentile(result->latency_ms, 90)),
                   format("%.3f", percentile(result->latency_ms, 99)), format("%.3f", result->h2d_ms),
                   format("%.3f", compute), format("%.3f", result->d2h_ms), format("%.1f", result->throughput)});
    nlohmann::json row = {{"batch", batch},
                          {"latency_median_ms", median},
                          {"latency_p90_ms", percentile(result->latency_ms, 90)},
                          {"latency_p99_ms", percentile(result->latency_ms, 99)},
                          {"h2d_ms", result->h2d_ms},
                          {"compute_median_ms", compute},
                          {"d2h_ms", result->d2h_ms},
                          {"images_per_second", result->throughput},
                          {"notes", result->notes}};
    if (!result->layers.empty()) {
      Table layers({"layer", "kernel", "ms", "share"});
      double total = 0;
      for (const auto& l : result->layers) total += l.ms;
      nlohmann::json layer_rows = nlohmann::json::array();
      for (const auto& l : result->layers) {
        layers.add_row({l.name, l.kernel, format("%.4f", l.ms), format("%.1f%%", total > 0 ? 100 * l.ms / total : 0)});
        layer_rows.push_back({{"name", l.name}, {"kernel", l.kernel}, {"ms", l.ms}});
      }
      row["layers"] = layer_rows;
      if (o.json.empty())
        std::printf("per-layer profile, batch %lld:\n%s\n", static_cast<long long>(batch), layers.to_string().c_str());
    }
    rows.push_back(row);
  }
  if (!o.json.empty()) {
    nlohmann::json doc = {{"backend", engine->backend_name()}, {"precision", precision}, {"rows", rows}};
    Status s = core::write_file_atomically(o.json, doc.dump(1) + "\n");
    if (!s.ok()) return report_error(s);
  }
  std::printf("%s (%s), %d iterations after %d warm-up%s\n%s", engine->backend_name().c_str(), precision.c_str(),
              o.iterations, o.warmup,
              o.split > 1
                  ? (", each batch as " + std::to_string(o.split) + " concurrent sub-batches (compute only)").c_str()
                  : "",
              table.to_string().c_str());
  return 0;
}

}  // namespace

void register_bench_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure throughput and latency of a model or engine");
  auto* model =
      cmd->add_option("--model", o->model, "Model: ONNX, or a Caffe .prototxt with --weights (default: the demo model)")
          ->check(CLI::ExistingFile);
  add_weights_option(cmd, &o->weights)->needs(model);
  cmd->add_option("--engine", o->engine, "Engine file made by `chexrt build`")
      ->check(CLI::ExistingFile)
      ->excludes(model);
  cmd->add_option("--batch", o->batches, "Comma-separated batch sizes")->capture_default_str();
  cmd->add_option("--iterations", o->iterations, "Timed iterations per batch size")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--warmup", o->warmup, "Untimed iterations first")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_option("--device", o->device, backends::device_help())->capture_default_str();
  cmd->add_option("--precision", o->precision, backends::precision_help())->capture_default_str();
  cmd->add_option("--threads", o->threads, "CPU threads (0: all cores)")
      ->capture_default_str()
      ->check(non_negative_integer());
  cmd->add_flag("--first-call", o->first_call,
                "Time each batch size's first inference on the engine just built or loaded, against its steady "
                "state (nothing may be left to run time)");
  cmd->add_flag("--no-cuda-graphs", o->no_cuda_graphs, "Launch kernels one by one instead of replaying a CUDA graph");
  cmd->add_option("--streams", o->streams, "Concurrent execution contexts (CUDA)")
      ->capture_default_str()
      ->check(positive_integer());
  cmd->add_option("--split", o->split,
                  "Run each batch as this many equal sub-batches at once, one execution context each, and time the "
                  "whole; compute only, inputs already on the GPU (CUDA)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--per-layer", o->per_layer, "Print a per-layer profile");
  cmd->add_option("--pipeline", o->pipeline,
                  "Measure files to findings on the X-rays in this folder (decoding, preprocessing, engine, "
                  "findings) instead of the engine alone; --batch gives the images per engine call");
  cmd->add_flag("--decode-only", o->decode_only, "With --pipeline: time reading, decoding and preprocessing alone");
  cmd->add_option("--decode-threads", o->decode_threads,
                  "With --pipeline: comma-separated decode thread counts to measure (0: one per core)")
      ->capture_default_str();
  cmd->add_option("--mode", o->mode, "With --pipeline: crop, exact or tencrop")->capture_default_str();
  cmd->add_option("--preprocess-on", o->preprocess_on,
                  "With --pipeline: auto (on the GPU when the engine runs there; on the host with --decode-only), "
                  "host, or device (with --decode-only: time decoding alone, as when the GPU preprocesses)")
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->capture_default_str();
  cmd->add_option("--jpeg-decode-on", o->jpeg_decode_on,
                  "With --pipeline: host (libjpeg), or device (through nvJPEG when the engine preprocesses on the "
                  "GPU and nvJPEG loads; with --decode-only and --preprocess-on device: JPEGs only read, as when the "
                  "GPU decodes them)")
      ->check(CLI::IsMember({"host", "device"}))
      ->capture_default_str();
  cmd->add_option("--unfilter-on", o->unfilter_on,
                  "With --pipeline: where PNG rows are unfiltered when the GPU preprocesses: auto (on the GPU when "
                  "the engine can; on the host with --decode-only), host, or device (with --decode-only and "
                  "--preprocess-on device: time decoding as when the GPU unfilters, PNGs inflated only)")
      ->check(CLI::IsMember({"auto", "host", "device"}))
      ->capture_default_str();
  cmd->add_option("--json", o->json, "Write the results as JSON to this file");
  cmd->callback([o, &exit_code] { exit_code = run_bench(*o); });
}

}  // namespace chexrt::cli
