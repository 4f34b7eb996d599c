#include "server/kserve_http.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <regex>

#include <sys/socket.h>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "server/kserve_json.h"
#include "server/v1_api.h"
#include "server/web/web_page.h"

namespace chexrt::server {

namespace {

using Clock = std::chrono::steady_clock;

// Set when a request's first line has been read; the access log, written on the same thread
// once the answer is sent, reads it.
thread_local Clock::time_point t_request_start;
// Body bytes read by a handler that reads through a content reader (req.body stays empty).
thread_local size_t t_bytes_in = 0;

const char* const kModelPath = R"(/v2/models/([^/]+)(?:/versions/([^/]+))?)";

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const int ms =
      static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return text;
}

std::string version_of(const httplib::Request& req) { return req.matches.size() > 2 ? req.matches[2].str() : ""; }

// A header's value as a byte count; nothing when absent.
Result<std::optional<size_t>> size_header(const httplib::Request& req, const char* name) {
  if (!req.has_header(name)) return std::optional<size_t>();
  const std::string text = req.get_header_value(name);
  size_t value = 0;
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
    return invalid_argument(std::string(name) + " header must be a byte count, not '" + text + "'");
  }
  value = std::stoull(text);
  return std::optional<size_t>(value);
}

}  // namespace

void note_request_bytes(size_t bytes) { t_bytes_in = bytes; }

int http_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

void send_error(httplib::Response& res, const Status& status) {
  res.status = http_status(status);
  if (res.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_json(status.message()), "application/json");
}

HttpServer::HttpServer(InferenceService& service, MetricsRegistry* metrics, HttpOptions options)
    : service_(service), metrics_(metrics), options_(std::move(options)) {
  if (metrics_) model_metrics_ = std::make_unique<ModelMetrics>(*metrics_, options_.model_name);
}

HttpServer::~HttpServer() {
  stop();
  if (own_log_ && log_) std::fclose(log_);
}

Status HttpServer::start() {
  if (!options_.access_log.empty()) {
    if (options_.access_log == "-") {
      log_ = stdout;
    } else {
      log_ = std::fopen(options_.access_log.c_str(), "a");
      if (!log_) return io_error("--access-log: cannot open '" + options_.access_log + "' for appending");
      own_log_ = true;
    }
  }
  server_ = std::make_unique<httplib::Server>();
  const int threads = std::max(1, options_.connection_threads);
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  server_->set_payload_max_length(options_.max_body_bytes);
  // Headers and body go out in separate writes: without this, Nagle's algorithm holds the body
  // until the client's delayed ACK (40 ms per request on a kept-alive connection).
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.read_timeout_s, 0);
  server_->set_keep_alive_max_count(static_cast<size_t>(std::max(1, options_.keep_alive_max_count)));
  // cpp-httplib listens with a backlog of 5 (compiled into Debian's library): a burst of
  // connections beyond it has its SYNs dropped and retried a second later, which added 1 s to the
  // first request of most of 64 clients connecting at once. The listening socket is noted when
  // created and listened on again with the system's largest backlog (Linux then takes the new one).
  auto listening = std::make_shared<int>(-1);
  server_->set_socket_options([listening](socket_t sock) {
    httplib::default_socket_options(sock);
    *listening = sock;
  });
  add_routes();
  if (options_.port == 0) {
    port_ = server_->bind_to_any_port(options_.host);
    if (port_ <= 0) return io_error("cannot listen on " + options_.host + " (any port)");
  } else {
    if (!server_->bind_to_port(options_.host, options_.port)) {
      return io_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                      " (in use, or not an address of this machine)");
    }
    port_ = options_.port;
  }
  if (*listening >= 0) ::listen(*listening, SOMAXCONN);
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // stop() only takes effect once the server runs.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return Status::ok_status();
}

void HttpServer::stop() {
  if (!server_) return;
  draining_ = true;
  const auto now_ns = [] { return Clock::now().time_since_epoch().count(); };
  const int64_t quiet_ns = 50'000'000, give_up = now_ns() + 2'000'000'000;
  while (server_->is_running() && now_ns() < give_up && now_ns() - last_request_ns_.load() < quiet_ns) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server_->stop();  // closes the listening socket; the pool answers what it accepted, then joins
  if (thread_.joinable()) thread_.join();
}

void HttpServer::log_access(const std::string& line) {
  std::lock_guard<std::mutex> lock(log_mutex_);
  std::fwrite(line.data(), 1, line.size(), log_);
  std::fflush(log_);
}

void HttpServer::add_routes() {
  httplib::Server& s = *server_;
  const size_t max_body = options_.max_body_bytes;
  s.set_pre_routing_handler([this, max_body](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    t_bytes_in = 0;
    last_request_ns_ = t_request_start.time_since_epoch().count();
    if (draining_) {
      res.set_header("Connection", "close");
      send_error(res, unavailable("the server is shutting down"));
      return httplib::Server::HandlerResponse::Handled;
    }
    // A body announced over the limit is refused before any of it is read (httplib would read
    // and discard it all first); the connection closes, since the body was never read.
    if (req.has_header("Content-Length") &&
        std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > max_body) {
      res.status = 413;
      res.set_header("Connection", "close");
      res.set_content(error_json("the request body is over the limit of " + std::to_string(max_body) + " bytes"),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  s.set_error_handler(
      httplib::Server::HandlerWithResponse([max_body](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Handled;
        std::string message;
        if (res.status == 413) {
          message = "the request body is over the limit of " + std::to_string(max_body) + " bytes";
        } else if (res.status == 404) {
          message = "no such endpoint: " + req.method + " " + req.path;
        } else {
          message = "HTTP status " + std::to_string(res.status) + " for " + req.method + " " + req.path;
        }
        res.set_content(error_json(message), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, runtime_error("internal error while answering the request"));
  });
  if (log_) {
    s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t_request_start).count();
      const nlohmann::json line = {{"time", utc_now()},
                                   {"remote", req.remote_addr},
                                   {"method", req.method},
                                   {"path", req.path},
                                   {"status", res.status},
                                   {"bytes_in", std::max(req.body.size(), t_bytes_in)},
                                   {"bytes_out", res.body.size()},
                                   {"duration_ms", std::round(ms * 1000) / 1000}};
      log_access(line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    });
  }

  InferenceService& service = service_;
  s.Get("/v2/health/live", [&service](const httplib::Request&, httplib::Response& res) {
    const bool live = service.live();
    res.status = live ? 200 : 503;
    res.set_content(nlohmann::json{{"live", live}}.dump(), "application/json");
  });
  s.Get("/v2/health/ready", [&service](const httplib::Request&, httplib::Response& res) {
    const bool ready = service.ready();
    res.status = ready ? 200 : 503;
    if (!ready) res.set_header("Retry-After", "1");
    res.set_content(nlohmann::json{{"ready", ready}}.dump(), "application/json");
  });
  s.Get("/v2", [&service](const httplib::Request&, httplib::Response& res) {
    res.set_content(server_metadata_json(service.server_metadata()), "application/json");
  });
  s.Get(kModelPath, [&service](const httplib::Request& req, httplib::Response& res) {
    auto metadata = service.model_metadata(req.matches[1].str(), version_of(req));
    if (!metadata.ok()) return send_error(res, metadata.status());
    res.set_content(model_metadata_json(*metadata), "application/json");
  });
  s.Get(std::string(kModelPath) + "/ready", [&service](const httplib::Request& req, httplib::Response& res) {
    auto ready = service.model_ready(req.matches[1].str(), version_of(req));
    if (!ready.ok()) return send_error(res, ready.status());
    res.status = *ready ? 200 : 503;
    if (!*ready) res.set_header("Retry-After", "1");
    res.set_content(nlohmann::json{{"name", req.matches[1].str()}, {"ready", *ready}}.dump(), "application/json");
  });
  ModelMetrics* counted = model_metrics_.get();
  // Read through a content reader: httplib parses a body sent as
  // application/x-www-form-urlencoded (curl's default) into parameters and refuses it beyond 8 KiB.
  s.Post(std::string(kModelPath) + "/infer",
         [&service, counted, max_body](const httplib::Request& req, httplib::Response& res,
                                       const httplib::ContentReader& reader) {
           // An unknown model is 404 whatever the body holds.
           auto model = service.model_metadata(req.matches[1].str(), version_of(req));
           if (!model.ok()) return send_error(res, model.status());
           std::string body;
           // One allocation for the announced body (at most the limit, checked before routing)
           // instead of a doubling string's copies.
           if (req.has_header("Content-Length")) {
             body.reserve(std::min<size_t>(max_body,
                                           std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10)));
           }
           bool over_limit = false;
           const bool read = reader([&](const char* data, size_t size) {
             if (body.size() + size > max_body) {
               over_limit = true;
               return false;
             }
             body.append(data, size);
             return true;
           });
           t_bytes_in = body.size();
           if (over_limit) {
             res.status = 413;
             res.set_content(error_json("the request body is over the limit of " + std::to_string(max_body) + " bytes"),
                             "application/json");
             return;
           }
           if (!read) return send_error(res, invalid_argument("the request body could not be read"));
           auto header_length = size_header(req, "Inference-Header-Content-Length");
           OutputEncoding encoding;
           auto request = header_length.ok() ? parse_infer_request(std::move(body), *header_length, &encoding)
                                             : Result<InferRequest>(header_length.status());
           if (!request.ok()) {
             if (counted) counted->fail(FailureReason::kInvalidArgument);
             return send_error(res, request.status());
           }
           request->model_name = req.matches[1].str();
           request->model_version = version_of(req);
           auto response = service.infer(std::move(request).value());
           if (!response.ok()) return send_error(res, response.status());
           EncodedResponse encoded = encode_infer_response(*response, encoding);
           if (encoded.header_length) {
             res.set_header("Inference-Header-Content-Length", std::to_string(*encoded.header_length));
             res.set_content(std::move(encoded.body), "application/octet-stream");
           } else {
             res.set_content(std::move(encoded.body), "application/json");
           }
         });
  if (metrics_) {
    MetricsRegistry* metrics = metrics_;
    s.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics->prometheus_text(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    const std::string_view page = index_html();
    res.set_content(page.data(), page.size(), "text/html; charset=utf-8");
  });
  register_v1_routes(s, service_, options_);
}

}  // namespace chexrt::server
