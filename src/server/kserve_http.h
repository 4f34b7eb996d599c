// The HTTP/REST side of `chexrt serve`: KServe v2 (health, metadata, infer with JSON tensors and
// the binary tensor data extension), /metrics (Prometheus text), /v1/predict and /v1/info for
// people without tensor code, and the web page at /. A thin shell over an InferenceService:
// requests are parsed here, answered there, and Status codes become HTTP codes in one place
// (http_status()).
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/inference_service.h"
#include "server/metrics.h"

namespace httplib {
class Server;
}

namespace chexrt::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;  ///< 0: any free port (tests); port() says which
  size_t max_body_bytes = size_t{64} << 20;
  /// Connection threads: connections served at once (others wait their turn), each kept-alive
  /// connection holding its thread: at least the clients' concurrency (`serve --http-connections`).
  int connection_threads = 128;
  int read_timeout_s = 30;
  int keep_alive_max_count = 1000;
  /// One JSON line per request: "" none, "-" stdout, else a file (appended to).
  std::string access_log;
  /// The model /v1 answers for.
  std::string model_name = "chexnet";
};

/// StatusCode to HTTP: 400, 404, 503, 504, else 500.
int http_status(const Status& status);

class HttpServer {
 public:
  /// `metrics` may be null (no /metrics).
  HttpServer(InferenceService& service, MetricsRegistry* metrics, HttpOptions options);
  ~HttpServer();

  /// Binds the port and starts answering on a thread of its own.
  Status start();
  int port() const { return port_; }
  /// Stops: requests that arrive from now on are answered 503 ("shutting down", Retry-After) on
  /// connections that then close, so that clients learn of it before the port closes; once no
  /// request has come for 50 ms (at most 2 s), stops accepting connections, and returns when every
  /// request accepted is answered. Idempotent.
  void stop();

 private:
  void add_routes();
  void log_access(const std::string& line);

  InferenceService& service_;
  MetricsRegistry* metrics_;
  HttpOptions options_;
  std::unique_ptr<ModelMetrics> model_metrics_;  // requests refused before the service saw them
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> last_request_ns_{0};  // steady clock
  std::mutex log_mutex_;
  std::FILE* log_ = nullptr;
  bool own_log_ = false;
};

}  // namespace chexrt::server
