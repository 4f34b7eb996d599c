// The closed loop of `chexrt perf`: C workers, each with its own connection (keep-alive HTTP, or a
// gRPC channel), send requests back to back for a warm-up and then a measured window; /metrics
// (HTTP, whatever the protocol) is read at both ends of the window for the server's own queue and
// compute time per request.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chexrt/status.h"
#include "perf/perf_request.h"
#include "perf/perf_stats.h"

namespace chexrt::perf {

struct LoadOptions {
  Protocol protocol = Protocol::kHttp;
  /// HTTP: the server's base URL; gRPC: its host and port.
  Url url;
  /// Where the Prometheus page is read (its whole path in `prefix`); nothing:
  /// default_metrics_url(protocol, url).
  std::optional<Url> metrics_url;
  std::string model = "chexnet";
  Endpoint endpoint = Endpoint::kV2;
  /// Cycled through by every worker (each starts at its own offset); made for `protocol`
  /// (grpc_request() for gRPC).
  std::vector<RequestBody> requests;
  double warmup_s = 1;
  double duration_s = 5;
  double timeout_s = 60;  ///< per request (connect, send and receive)
  /// Called with one line of progress at a time (the command prints them to stderr).
  std::function<void(const std::string&)> progress;
};

/// What one concurrency level measured. Only requests that completed inside the window count.
struct LevelResult {
  int concurrency = 0;
  double window_s = 0;
  int64_t requests_ok = 0;  ///< 2xx with a well-formed answer
  int64_t images_ok = 0;
  /// Failed requests by cause: the HTTP status ("503"); no HTTP answer: "connect" (refused or
  /// not accepted in time), "send" (the connection broke or timed out while sending), "receive"
  /// (closed, reset or timed out before the whole answer), "transport" (anything else);
  /// "malformed" (a 2xx whose body is not the protocol's answer) or "image_error" (/v1/predict
  /// answered 200 but named an image it could not read). Over gRPC: the call's status code by
  /// name ("UNAVAILABLE", "NOT_FOUND", "DEADLINE_EXCEEDED", ...), or "malformed" (an OK answer
  /// without the outputs asked for, or with raw_output_contents that do not fit their shapes).
  std::map<std::string, int64_t> errors;
  LatencySummary latency_ms;  ///< of the successful requests
  /// Server side, per request over the window, from chexrt_queue_duration_seconds and
  /// chexrt_compute_duration_seconds (_sum/_count differences); nothing when /metrics did not
  /// answer or counted no request.
  std::optional<double> server_queue_ms;
  std::optional<double> server_compute_ms;

  double requests_per_s() const { return window_s > 0 ? requests_ok / window_s : 0; }
  double images_per_s() const { return window_s > 0 ? images_ok / window_s : 0; }
  int64_t error_count() const;
};

/// Unsupported, naming what to install, for gRPC where chexrt is built without it.
Status check_protocol(Protocol protocol);

/// GET /v2/health/ready (gRPC: ServerReady): Unavailable naming the address when the server
/// cannot be reached or is not ready, so that a sweep does not start against nothing;
/// Unsupported for gRPC where chexrt is built without it.
Status check_server_ready(const LoadOptions& options);

/// Runs one concurrency level: warm-up, then the measured window. Fails only when the options
/// are unusable (no requests, gRPC in a build without it); errors of single requests are
/// counted, never fatal.
Result<LevelResult> run_level(const LoadOptions& options, int concurrency);

/// Whether a 2xx answer to `request` is the protocol's answer: a v2 inference response (JSON,
/// or the binary extension's JSON header followed by exactly the outputs' binary_data_size
/// bytes) with outputs, or /v1/predict JSON with one result per image. "" when it is, else
/// "malformed" or "image_error".
std::string check_answer(Endpoint endpoint, const RequestBody& request, const std::string& body,
                         const std::string& header_length);

}  // namespace chexrt::perf
