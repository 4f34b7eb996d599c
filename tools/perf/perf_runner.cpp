#include "perf/perf_runner.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "perf/perf_transport.h"
#include "perf/prometheus_text.h"

namespace chexrt::perf {

namespace {

using Clock = std::chrono::steady_clock;

// The histogram totals of one /metrics answer; nothing when it cannot be had.
struct Scrape {
  std::optional<HistogramTotals> queue;
  std::optional<HistogramTotals> compute;
  std::string problem;
};

Scrape scrape_metrics(httplib::Client& client, const Url& url, const LoadOptions& o) {
  Scrape s;
  const std::string where =
      "GET http://" + url.host + ":" + std::to_string(url.port) + (url.prefix.empty() ? "/" : url.prefix);
  auto res = client.Get(url.prefix.empty() ? "/" : url.prefix);
  if (!res) {
    s.problem = where + ": " + httplib::to_string(res.error());
    return s;
  }
  if (res->status != 200) {
    s.problem = where + " answered " + std::to_string(res->status);
    return s;
  }
  auto samples = parse_prometheus_text(res->body);
  if (!samples.ok()) {
    s.problem = where + ": " + samples.status().message();
    return s;
  }
  const std::map<std::string, std::string> labels = {{"model", o.model}};
  s.queue = histogram_totals(*samples, "chexrt_queue_duration_seconds", labels);
  s.compute = histogram_totals(*samples, "chexrt_compute_duration_seconds", labels);
  if (!s.queue || !s.compute) {
    s.problem = where + " has no chexrt_queue/compute_duration_seconds for model " + o.model;
  }
  return s;
}

std::optional<double> per_request_ms(const std::optional<HistogramTotals>& before,
                                     const std::optional<HistogramTotals>& after) {
  if (!before || !after || after->count <= before->count) return std::nullopt;
  return (after->sum - before->sum) / (after->count - before->count) * 1e3;
}

struct WorkerTally {
  std::vector<double> latencies_ms;
  int64_t images = 0;
  std::map<std::string, int64_t> errors;
};

void worker(const LoadOptions& o, const Transport& transport, size_t first_request, Clock::time_point window_start,
            Clock::time_point window_end, WorkerTally* tally) {
  std::unique_ptr<Connection> connection = transport.connect();
  size_t next = first_request;
  while (Clock::now() < window_end) {
    const size_t index = next++ % o.requests.size();
    const auto start = Clock::now();
    const std::string failure = connection->send(index);
    const auto end = Clock::now();
    if (end < window_start || end > window_end) continue;
    if (!failure.empty()) {
      ++tally->errors[failure];
      continue;
    }
    tally->latencies_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    tally->images += o.requests[index].images;
  }
}

}  // namespace

int64_t LevelResult::error_count() const {
  int64_t n = 0;
  for (const auto& [cause, count] : errors) n += count;
  return n;
}

std::string check_answer(Endpoint endpoint, const RequestBody& request, const std::string& body,
                         const std::string& header_length) {
  std::string json_text = body;
  if (!header_length.empty()) {
    char* end = nullptr;
    const unsigned long long length = std::strtoull(header_length.c_str(), &end, 10);
    if (*end != '\0' || length > body.size()) return "malformed";
    json_text = body.substr(0, static_cast<size_t>(length));
  }
  const nlohmann::json answer = nlohmann::json::parse(json_text, nullptr, false);
  if (!answer.is_object()) return "malformed";
  if (endpoint == Endpoint::kV2) {
    const auto outputs = answer.find("outputs");
    if (outputs == answer.end() || !outputs->is_array() || outputs->empty()) return "malformed";
    if (header_length.empty()) return "";
    // Binary outputs: their sizes must add up to what follows the header (none cut short).
    size_t binary_bytes = 0;
    for (const auto& output : *outputs) {
      if (!output.is_object()) return "malformed";
      const auto parameters = output.find("parameters");
      if (parameters == output.end() || !parameters->is_object()) continue;
      const auto size = parameters->find("binary_data_size");
      if (size == parameters->end()) continue;
      if (!size->is_number_unsigned()) return "malformed";
      binary_bytes += size->get<size_t>();
    }
    return binary_bytes == body.size() - json_text.size() ? "" : "malformed";
  }
  const auto results = answer.find("results");
  if (results == answer.end() || !results->is_array() || static_cast<int64_t>(results->size()) != request.images) {
    return "malformed";
  }
  for (const auto& result : *results) {
    if (!result.is_object()) return "malformed";
    if (result.contains("error")) return "image_error";
    if (request.heatmaps) {
      const auto maps = result.find("heatmaps");
      if (maps == result.end() || !maps->is_array() || maps->empty()) return "malformed";
    }
  }
  return "";
}

Result<std::unique_ptr<Transport>> make_transport(const LoadOptions& options) {
  if (options.protocol == Protocol::kGrpc) return make_grpc_transport(options);
  return make_http_transport(options);
}

Status check_protocol(Protocol protocol) {
  LoadOptions options;
  options.protocol = protocol;
  return make_transport(options).status();
}

Status check_server_ready(const LoadOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, make_transport(options));
  return transport->check_ready();
}

Result<LevelResult> run_level(const LoadOptions& o, int concurrency) {
  if (o.requests.empty()) return invalid_argument("no requests to send");
  if (concurrency < 1) return invalid_argument("concurrency must be 1 or more");
  CHEXRT_ASSIGN_OR_RETURN(std::unique_ptr<Transport> transport, make_transport(o));
  const auto say = [&o](const std::string& line) {
    if (o.progress) o.progress(line);
  };
  const auto start = Clock::now();
  const auto window_start =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s));
  const auto window_end =
      window_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));

  std::vector<WorkerTally> tallies(static_cast<size_t>(concurrency));
  std::vector<std::thread> workers;
  workers.reserve(tallies.size());
  for (size_t i = 0; i < tallies.size(); ++i) {
    workers.emplace_back(worker, std::cref(o), std::cref(*transport), i, window_start, window_end, &tallies[i]);
  }
  // The server's totals at both ends of the window, over a connection of their own.
  const Url metrics_url = o.metrics_url ? *o.metrics_url : default_metrics_url(o.protocol, o.url);
  auto metrics_client = make_http_client(metrics_url, o.timeout_s);
  std::this_thread::sleep_until(window_start);
  const Scrape before = scrape_metrics(*metrics_client, metrics_url, o);
  std::this_thread::sleep_until(window_end);
  const Scrape after = scrape_metrics(*metrics_client, metrics_url, o);
  for (std::thread& t : workers) t.join();
  const double window_s = std::chrono::duration<double>(window_end - window_start).count();

  LevelResult r;
  r.concurrency = concurrency;
  r.window_s = window_s;
  std::vector<double> latencies;
  for (WorkerTally& t : tallies) {
    latencies.insert(latencies.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    r.images_ok += t.images;
    for (const auto& [cause, count] : t.errors) r.errors[cause] += count;
  }
  r.requests_ok = static_cast<int64_t>(latencies.size());
  r.latency_ms = summarize(std::move(latencies));
  r.server_queue_ms = per_request_ms(before.queue, after.queue);
  r.server_compute_ms = per_request_ms(before.compute, after.compute);
  const std::string problem = !before.problem.empty() ? before.problem : after.problem;
  if (!problem.empty()) say("perf: server-side times not available: " + problem);
  return r;
}

}  // namespace chexrt::perf
