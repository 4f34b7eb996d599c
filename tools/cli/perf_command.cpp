// chexrt perf: a load client for `chexrt serve` (and any KServe v2 server), in the spirit of
// Triton's perf_analyzer. A closed loop per concurrency level: C workers, each on its own
// connection (keep-alive HTTP, or a gRPC channel), send requests back to back; the table shows
// throughput, latency percentiles, errors by HTTP status (gRPC: by status code), and the
// server's own queue and compute time per request from /metrics. The loop itself lives in
// tools/perf (chexrt_perf), where it is tested.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "app/image_batch.h"
#include "cli_options.h"
#include "commands.h"
#include "core/atomic_file.h"
#include "perf/perf_report.h"
#include "perf/perf_runner.h"
#include "table.h"

namespace chexrt::cli {

namespace {

constexpr const char* kDefaultHttpUrl = "http://127.0.0.1:8000";
constexpr const char* kDefaultGrpcTarget = "127.0.0.1:8001";

struct PerfCliOptions {
  std::string url;  ///< "": kDefaultHttpUrl or kDefaultGrpcTarget
  std::string metrics_url;
  std::string model = "chexnet";
  std::vector<std::string> images;
  std::string tensor;
  int batch = 1;
  std::string protocol = "http";
  std::string endpoint = "v2";
  bool heatmap = false;
  std::string concurrency = "1:64";
  double duration_s = 5;
  double warmup_s = 1;
  double timeout_s = 60;
  std::string json;
  std::string csv;
};

std::string optional_ms(const std::optional<double>& v) { return v ? format("%.3f", *v) : "-"; }

int run_perf(const PerfCliOptions& o) {
  // Everything the command line names is checked before the first request.
  const perf::Protocol protocol = o.protocol == "grpc" ? perf::Protocol::kGrpc : perf::Protocol::kHttp;
  Status supported = perf::check_protocol(protocol);
  if (!supported.ok()) return report_usage_error(supported);
  if (o.heatmap && o.endpoint != "predict") {
    return report_usage_error(invalid_argument("--heatmap asks /v1/predict for heat maps: give --endpoint predict"));
  }
  if (protocol == perf::Protocol::kGrpc && o.endpoint == "predict") {
    return report_usage_error(invalid_argument("--endpoint predict is HTTP only (/v1/predict); use --protocol http"));
  }
  const std::string url_text = !o.url.empty()                      ? o.url
                               : protocol == perf::Protocol::kGrpc ? kDefaultGrpcTarget
                                                                   : kDefaultHttpUrl;
  auto url = protocol == perf::Protocol::kGrpc ? perf::parse_grpc_target(url_text) : perf::parse_url(url_text);
  if (!url.ok()) return report_usage_error(url.status());
  perf::Url metrics_url = perf::default_metrics_url(protocol, *url);
  if (!o.metrics_url.empty()) {
    auto parsed = perf::parse_metrics_url(o.metrics_url);
    if (!parsed.ok()) return report_usage_error(parsed.status());
    metrics_url = *parsed;
  }
  auto levels = perf::parse_concurrency(o.concurrency);
  if (!levels.ok()) return report_usage_error(levels.status());
  if (o.duration_s <= 0) return report_usage_error(invalid_argument("--duration-s must be more than 0"));
  for (const auto& [flag, path] : {std::pair{"--json", o.json}, std::pair{"--csv", o.csv}}) {
    if (path.empty()) continue;
    Status s = check_output_file(flag, path);
    if (!s.ok()) return report_usage_error(s);
  }
  perf::LoadOptions load;
  load.protocol = protocol;
  load.url = *url;
  load.metrics_url = metrics_url;
  load.model = o.model;
  load.endpoint = o.endpoint == "predict" ? perf::Endpoint::kPredict : perf::Endpoint::kV2;
  load.warmup_s = o.warmup_s;
  load.duration_s = o.duration_s;
  load.timeout_s = o.timeout_s;
  load.progress = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  std::string input;
  if (!o.images.empty()) {
    auto paths = app::expand_image_paths(o.images);
    if (!paths.ok()) return report_usage_error(paths.status());
    if (paths->empty()) return report_usage_error(not_found("--images: no image files in the paths given"));
    auto files = perf::read_image_files(*paths);
    if (!files.ok()) return report_usage_error(files.status());
    load.requests = perf::image_requests(*files, o.batch, load.endpoint, o.model, protocol, o.heatmap);
    input = std::to_string(files->size()) + " image files, " + std::to_string(o.batch) + " per request, " +
            (load.endpoint == perf::Endpoint::kV2 ? "as the BYTES input image_bytes"
             : o.heatmap                          ? "to /v1/predict?heatmap=1"
                                                  : "to /v1/predict");
  } else {
    if (load.endpoint == perf::Endpoint::kPredict) {
      return report_usage_error(invalid_argument("--endpoint predict sends image files: give --images"));
    }
    auto tensor = perf::random_image_tensor(o.tensor.empty() ? "fp32" : o.tensor, o.batch);
    if (!tensor.ok()) return report_usage_error(tensor.status());
    std::string shape;
    for (int64_t d : tensor->shape) shape += (shape.empty() ? "" : ",") + std::to_string(d);
    input = (protocol == perf::Protocol::kGrpc ? "raw " : "binary ") + tensor->datatype + " tensor 'image' [" + shape +
            "] per request";
    load.requests = {protocol == perf::Protocol::kGrpc
                         ? perf::grpc_request({std::move(*tensor)}, "probabilities")
                         : perf::encode_v2_binary_request(o.model, {*tensor}, "probabilities")};
  }

  const std::string metrics_text =
      "http://" + metrics_url.host + ":" + std::to_string(metrics_url.port) + metrics_url.prefix;
  Status ready = perf::check_server_ready(load);
  if (!ready.ok()) return report_error(ready);

  std::vector<perf::LevelResult> rows;
  Table table({"concurrency", "req/s", "img/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "server queue ms",
               "server compute ms"});
  for (int concurrency : *levels) {
    std::fprintf(stderr, "perf: concurrency %d: %.3g s warm-up, %.3g s measured ...\n", concurrency, o.warmup_s,
                 o.duration_s);
    auto row = perf::run_level(load, concurrency);
    if (!row.ok()) return report_error(row.status());
    std::fprintf(stderr, "perf: concurrency %d: %.1f img/s, p99 %.3f ms, errors %s\n", concurrency, row->images_per_s(),
                 row->latency_ms.p99, perf::errors_text(*row).c_str());
    table.add_row({std::to_string(concurrency), format("%.1f", row->requests_per_s()),
                   format("%.1f", row->images_per_s()), format("%.3f", row->latency_ms.p50),
                   format("%.3f", row->latency_ms.p90), format("%.3f", row->latency_ms.p99),
                   format("%.3f", row->latency_ms.max), perf::errors_text(*row), optional_ms(row->server_queue_ms),
                   optional_ms(row->server_compute_ms)});
    rows.push_back(std::move(*row));
  }

  if (!o.json.empty()) {
    nlohmann::json doc = {{"url", url_text},
                          {"metrics_url", metrics_text},
                          {"model", o.model},
                          {"protocol", o.protocol},
                          {"endpoint", o.endpoint},
                          {"heatmap", o.heatmap},
                          {"input", input},
                          {"batch", o.batch},
                          {"warmup_s", o.warmup_s},
                          {"duration_s", o.duration_s},
                          {"rows", perf::rows_json(rows)}};
    Status s = core::write_file_atomically(o.json, doc.dump(1) + "\n");
    if (!s.ok()) return report_error(s);
  }
  if (!o.csv.empty()) {
    Status s = core::write_file_atomically(o.csv, perf::rows_csv(rows));
    if (!s.ok()) return report_error(s);
  }
  std::printf("%s%s model %s, %s; %.3g s per level after %.3g s warm-up (latency of successful requests)\n%s",
              protocol == perf::Protocol::kGrpc ? "grpc://" : "", url_text.c_str(), o.model.c_str(), input.c_str(),
              o.duration_s, o.warmup_s, table.to_string().c_str());
  int64_t succeeded = 0;
  for (const perf::LevelResult& r : rows) succeeded += r.requests_ok;
  if (succeeded == 0) {
    return report_error(unavailable("no request succeeded at any concurrency level (see the errors column)"));
  }
  return kExitOk;
}

}  // namespace

void register_perf_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<PerfCliOptions>();
  CLI::App* cmd = app.add_subcommand("perf", "Load a running server (chexrt serve, KServe v2) and measure it");
  cmd->add_option("--url", o->url,
                  std::string("The server: its base URL for http (plain HTTP; default ") + kDefaultHttpUrl +
                      "), host:port for grpc (default " + kDefaultGrpcTarget + ")");
  cmd->add_option("--metrics-url", o->metrics_url,
                  "The server's Prometheus page, read for its queue and compute times (default: <url>/metrics for "
                  "http; http://<host>:8000/metrics for grpc, chexrt serve's HTTP port beside its gRPC one)");
  cmd->add_option("--model", o->model, "Model name")->capture_default_str();
  auto* images = cmd->add_option("--images", o->images,
                                 "Image files or folders to send (PNG, JPEG, DICOM), each file read once and cycled");
  cmd->add_option("--tensor", o->tensor,
                  "Send a random binary tensor 'image' instead of files: fp32 or fp16 [batch,3,224,224] "
                  "(preprocessed), uint8 [batch,224,224] (grey pixels); the default without --images is fp32")
      ->check(CLI::IsMember({"fp32", "fp16", "uint8"}))
      ->excludes(images);
  cmd->add_option("--batch", o->batch, "Images per request")->capture_default_str()->check(positive_integer());
  cmd->add_option("--protocol", o->protocol,
                  "http: KServe v2 over HTTP/REST; grpc: KServe v2 over gRPC (ModelInfer with raw_input_contents; "
                  "tensors or --images, not --endpoint predict)")
      ->check(CLI::IsMember({"http", "grpc"}))
      ->capture_default_str();
  cmd->add_option("--endpoint", o->endpoint,
                  "v2: POST /v2/models/NAME/infer with the binary tensor data extension; predict: POST /v1/predict "
                  "with the files (one as the body, several as multipart/form-data)")
      ->check(CLI::IsMember({"v2", "predict"}))
      ->capture_default_str();
  cmd->add_flag("--heatmap", o->heatmap,
                "With --endpoint predict: ask each image's heat map (?heatmap=1); an answer without them counts as "
                "malformed");
  cmd->add_option("--concurrency", o->concurrency,
                  "Concurrent requests: A:B doubles from A to B, A:B:S steps by S, or a list 1,4,16")
      ->capture_default_str();
  cmd->add_option("--duration-s", o->duration_s, "Measured seconds per level")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--warmup-s", o->warmup_s, "Unmeasured seconds before each level's window")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--timeout-s", o->timeout_s,
                  "Per-request timeout (a request past it counts as a send or receive error)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--json", o->json, "Write the rows as JSON to this file");
  cmd->add_option("--csv", o->csv, "Write the rows as CSV to this file");
  cmd->callback([o, &exit_code] { exit_code = run_perf(*o); });
}

}  // namespace chexrt::cli
