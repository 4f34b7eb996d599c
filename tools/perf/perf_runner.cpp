#include "perf/perf_runner.h"

#include <atomic>
#include <chrono>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "perf/prometheus_text.h"

namespace chexrt::perf {

namespace {

using Clock = std::chrono::steady_clock;

std::unique_ptr<httplib::Client> make_client(const LoadOptions& o) {
  auto client = std::make_unique<httplib::Client>(o.url.host, o.url.port);
  const auto seconds = static_cast<time_t>(o.timeout_s);
  const auto micros = static_cast<time_t>((o.timeout_s - static_cast<double>(seconds)) * 1e6);
  client->set_connection_timeout(seconds, micros);
  client->set_read_timeout(seconds, micros);
  client->set_write_timeout(seconds, micros);
  client->set_keep_alive(true);
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the
  // body until the server's delayed ACK (about 40 ms on Linux) and every latency includes it.
  client->set_tcp_nodelay(true);
  return client;
}

// The histogram totals of one /metrics answer; nothing when it cannot be had.
struct Scrape {
  std::optional<HistogramTotals> queue;
  std::optional<HistogramTotals> compute;
  std::string problem;
};

Scrape scrape_metrics(httplib::Client& client, const LoadOptions& o) {
  Scrape s;
  auto res = client.Get(o.url.prefix + "/metrics");
  if (!res) {
    s.problem = "GET /metrics: " + httplib::to_string(res.error());
    return s;
  }
  if (res->status != 200) {
    s.problem = "GET /metrics answered " + std::to_string(res->status);
    return s;
  }
  auto samples = parse_prometheus_text(res->body);
  if (!samples.ok()) {
    s.problem = "GET /metrics: " + samples.status().message();
    return s;
  }
  const std::map<std::string, std::string> labels = {{"model", o.model}};
  s.queue = histogram_totals(*samples, "chexrt_queue_duration_seconds", labels);
  s.compute = histogram_totals(*samples, "chexrt_compute_duration_seconds", labels);
  if (!s.queue || !s.compute) s.problem = "/metrics has no chexrt_queue/compute_duration_seconds for this model";
  return s;
}

std::optional<double> per_request_ms(const std::optional<HistogramTotals>& before,
                                     const std::optional<HistogramTotals>& after) {
  if (!before || !after || after->count <= before->count) return std::nullopt;
  return (after->sum - before->sum) / (after->count - before->count) * 1e3;
}

// The error key of a request that got no HTTP answer.
std::string transport_failure(httplib::Error error) {
  switch (error) {
    case httplib::Error::Connection:
    case httplib::Error::ConnectionTimeout:
      return "connect";  // refused, or not accepted in time
    case httplib::Error::Write:
      return "send";  // the connection broke (or timed out) while the request went out
    case httplib::Error::Read:
      return "receive";  // closed, reset or timed out before a whole answer came
    default:
      return "transport";
  }
}

struct WorkerTally {
  std::vector<double> latencies_ms;
  int64_t images = 0;
  std::map<std::string, int64_t> errors;
};

void worker(const LoadOptions& o, size_t first_request, Clock::time_point window_start, Clock::time_point window_end,
            WorkerTally* tally) {
  auto client = make_client(o);
  // Paths and headers made once, so that the loop only sends.
  std::vector<std::pair<std::string, httplib::Headers>> prepared;
  for (const RequestBody& r : o.requests) {
    prepared.emplace_back(o.url.prefix + r.path, httplib::Headers(r.headers.begin(), r.headers.end()));
  }
  size_t next = first_request;
  while (Clock::now() < window_end) {
    const size_t index = next++ % o.requests.size();
    const RequestBody& r = o.requests[index];
    const std::string& body = r.body;
    const auto start = Clock::now();
    // A content provider sends the prepared body in place (Post(body) would copy it).
    auto res = client->Post(
        prepared[index].first, prepared[index].second, body.size(),
        [&body](size_t offset, size_t length, httplib::DataSink& sink) {
          sink.write(body.data() + offset, length);
          return true;
        },
        r.content_type);
    const auto end = Clock::now();
    if (end < window_start || end > window_end) continue;
    std::string failure;
    if (!res) {
      failure = transport_failure(res.error());
    } else if (res->status < 200 || res->status > 299) {
      failure = std::to_string(res->status);
    } else {
      failure = check_answer(o.endpoint, r, res->body, res->get_header_value("Inference-Header-Content-Length"));
    }
    if (!failure.empty()) {
      ++tally->errors[failure];
      continue;
    }
    tally->latencies_ms.push_back(std::chrono::duration<double, std::milli>(end - start).count());
    tally->images += r.images;
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
  }
  return "";
}

Status check_server_ready(const LoadOptions& options) {
  auto client = make_client(options);
  const std::string where = "http://" + options.url.host + ":" + std::to_string(options.url.port) + options.url.prefix;
  auto res = client->Get(options.url.prefix + "/v2/health/ready");
  if (!res) return unavailable(where + ": cannot reach the server (" + httplib::to_string(res.error()) + ")");
  if (res->status != 200) {
    return unavailable(where + "/v2/health/ready answered " + std::to_string(res->status) +
                       ": the server is not ready");
  }
  return Status::ok_status();
}

Result<LevelResult> run_level(const LoadOptions& o, int concurrency) {
  if (o.requests.empty()) return invalid_argument("no requests to send");
  if (concurrency < 1) return invalid_argument("concurrency must be 1 or more");
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
    workers.emplace_back(worker, std::cref(o), i, window_start, window_end, &tallies[i]);
  }
  // The server's totals at both ends of the window, over a connection of their own.
  auto metrics_client = make_client(o);
  std::this_thread::sleep_until(window_start);
  const Scrape before = scrape_metrics(*metrics_client, o);
  std::this_thread::sleep_until(window_end);
  const Scrape after = scrape_metrics(*metrics_client, o);
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
