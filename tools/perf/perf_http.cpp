// The HTTP/REST transport of `chexrt perf`: one keep-alive cpp-httplib client per worker, the
// prepared bodies posted in place.
#include <httplib.h>

#include "perf/perf_transport.h"

namespace chexrt::perf {

namespace {

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

class HttpConnection final : public Connection {
 public:
  HttpConnection(const LoadOptions& o, const std::vector<std::pair<std::string, httplib::Headers>>& prepared)
      : o_(o), prepared_(prepared), client_(make_http_client(o.url, o.timeout_s)) {}

  std::string send(size_t index) override {
    const RequestBody& r = o_.requests[index];
    const std::string& body = r.body;
    // A content provider sends the prepared body in place (Post(body) would copy it).
    auto res = client_->Post(
        prepared_[index].first, prepared_[index].second, body.size(),
        [&body](size_t offset, size_t length, httplib::DataSink& sink) {
          sink.write(body.data() + offset, length);
          return true;
        },
        r.content_type);
    if (!res) return transport_failure(res.error());
    if (res->status < 200 || res->status > 299) return std::to_string(res->status);
    return check_answer(o_.endpoint, r, res->body, res->get_header_value("Inference-Header-Content-Length"));
  }

 private:
  const LoadOptions& o_;
  const std::vector<std::pair<std::string, httplib::Headers>>& prepared_;
  std::unique_ptr<httplib::Client> client_;
};

class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(const LoadOptions& o) : o_(o) {
    // Paths and headers made once, so that the workers only send.
    for (const RequestBody& r : o.requests) {
      prepared_.emplace_back(o.url.prefix + r.path, httplib::Headers(r.headers.begin(), r.headers.end()));
    }
  }

  std::unique_ptr<Connection> connect() const override { return std::make_unique<HttpConnection>(o_, prepared_); }

  Status check_ready() const override {
    auto client = make_http_client(o_.url, o_.timeout_s);
    const std::string where = "http://" + o_.url.host + ":" + std::to_string(o_.url.port) + o_.url.prefix;
    auto res = client->Get(o_.url.prefix + "/v2/health/ready");
    if (!res) return unavailable(where + ": cannot reach the server (" + httplib::to_string(res.error()) + ")");
    if (res->status != 200) {
      return unavailable(where + "/v2/health/ready answered " + std::to_string(res->status) +
                         ": the server is not ready");
    }
    return Status::ok_status();
  }

 private:
  const LoadOptions& o_;
  std::vector<std::pair<std::string, httplib::Headers>> prepared_;
};

}  // namespace

std::unique_ptr<httplib::Client> make_http_client(const Url& url, double timeout_s) {
  auto client = std::make_unique<httplib::Client>(url.host, url.port);
  const auto seconds = static_cast<time_t>(timeout_s);
  const auto micros = static_cast<time_t>((timeout_s - static_cast<double>(seconds)) * 1e6);
  client->set_connection_timeout(seconds, micros);
  client->set_read_timeout(seconds, micros);
  client->set_write_timeout(seconds, micros);
  client->set_keep_alive(true);
  // Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm holds the
  // body until the server's delayed ACK (about 40 ms on Linux) and every latency includes it.
  client->set_tcp_nodelay(true);
  return client;
}

std::unique_ptr<Transport> make_http_transport(const LoadOptions& options) {
  return std::make_unique<HttpTransport>(options);
}

}  // namespace chexrt::perf
