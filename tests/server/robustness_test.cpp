// The server under abuse and load: bad requests are answered 400/404/413 naming the field and
// leave it healthy; clients that disconnect mid-request leak nothing that stops it; a small
// queue under overload answers every request 200 or 503 (with Retry-After), none lost; stopping
// under load answers every request it accepted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "server_fixture.h"

namespace chexrt::server::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A small valid request: one 8x8 grey image as UINT8.
std::string small_request() {
  return json{{"inputs",
               {{{"name", "image"}, {"datatype", "UINT8"}, {"shape", {1, 8, 8}}, {"data", std::vector<int>(64, 100)}}}}}
      .dump();
}

std::string error_of(const httplib::Result& res) {
  const json j = parse_json(res->body);
  return j.contains("error") ? j["error"].get<std::string>() : "(no error field) " + res->body;
}

double metric(const MetricsRegistry& registry, const std::string& series) {
  const std::string text = registry.prometheus_text();
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

void expect_healthy(httplib::Client& c) {
  auto ready = c.Get("/v2/health/ready");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  auto infer = c.Post("/v2/models/chexnet/infer", small_request(), "application/json");
  ASSERT_TRUE(infer);
  EXPECT_EQ(infer->status, 200) << infer->body;
}

TEST_F(ServerTest, BadRequestsAre400NamingTheField) {
  struct Case {
    std::string body;
    std::string names;  // what the error message must contain
  };
  const json good_input = {
      {"name", "image"}, {"datatype", "UINT8"}, {"shape", {1, 8, 8}}, {"data", std::vector<int>(64, 1)}};
  auto with = [&](const std::string& key, const json& value) {
    json input = good_input;
    input[key] = value;
    return json{{"inputs", {input}}}.dump();
  };
  const std::vector<Case> cases = {
      {"{\"inputs\": [", "not valid JSON"},
      {"[1, 2]", "JSON object"},
      {"{}", "inputs"},
      {with("datatype", "INT64"), "datatype"},
      {with("datatype", "FP33"), "inputs[0].datatype"},
      {with("shape", {1, 8}), "shape"},
      {with("shape", {1, 8, 8, 2}), "shape"},
      {with("name", "pixels"), "inputs[0].name"},
      {with("data", std::vector<int>(63, 1)), "inputs[0].data"},
      {with("data", std::vector<int>(64, 300)), "inputs[0].data[0]"},
      {with("data", "abc"), "inputs[0].data"},
      {json{{"inputs",
             {{{"name", "image"},
               {"datatype", "FP32"},
               {"shape", {1, 3, 100, 100}},
               {"data", std::vector<float>(30000, 0.f)}}}}}
           .dump(),
       "shape"},
      {json{{"inputs", {good_input, good_input}}}.dump(), "exactly one input"},
      {json{{"inputs", {good_input}}, {"parameters", {{"mode", "zoom"}}}}.dump(), "parameters.mode"},
      {json{{"inputs", {good_input}}, {"outputs", {{{"name", "logits"}}}}}.dump(), "outputs"},
      {json{{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {"not an image"}}}}}}
           .dump(),
       "not an image"},
      {json{{"inputs", {{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {2}}, {"data", {"a"}}}}}}.dump(),
       "inputs[0].data"},
  };
  for (const Case& c : cases) {
    auto res = client_->Post("/v2/models/chexnet/infer", c.body, "application/json");
    ASSERT_TRUE(res) << c.body.substr(0, 100);
    EXPECT_EQ(res->status, 400) << c.body.substr(0, 100);
    EXPECT_NE(error_of(res).find(c.names), std::string::npos) << error_of(res) << " should name " << c.names;
  }
  // Binary extension: sizes that do not add up.
  const std::string head = json{{"inputs",
                                 {{{"name", "image"},
                                   {"datatype", "UINT8"},
                                   {"shape", {1, 8, 8}},
                                   {"parameters", {{"binary_data_size", 64}}}}}}}
                               .dump();
  auto res =
      client_->Post("/v2/models/chexnet/infer", {{"Inference-Header-Content-Length", std::to_string(head.size())}},
                    head + std::string(10, '\1'), "application/octet-stream");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_of(res).find("binary_data_size"), std::string::npos) << error_of(res);
  res = client_->Post("/v2/models/chexnet/infer", {{"Inference-Header-Content-Length", "12abc"}}, head,
                      "application/octet-stream");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_of(res).find("Inference-Header-Content-Length"), std::string::npos);
  res = client_->Post("/v2/models/chexnet/infer", {{"Inference-Header-Content-Length", "999999"}}, head,
                      "application/octet-stream");
  EXPECT_EQ(res->status, 400);

  auto unknown = client_->Post("/v2/models/densenet/infer", small_request(), "application/json");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(error_of(unknown).find("'densenet'"), std::string::npos);
  EXPECT_EQ(client_->Post("/v2/models/chexnet/versions/3/infer", small_request(), "application/json")->status, 404);
  expect_healthy(*client_);
  EXPECT_GE(metric(*registry_, "chexrt_request_failure_total{model=\"chexnet\",reason=\"invalid_argument\"}"), 5);
}

// Sends `request` on a new connection and returns the server's answer.
std::string raw_exchange(int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
    answer.append(buffer, static_cast<size_t>(n));
    // Whole once the headers and Content-Length bytes of body are in.
    const size_t end = answer.find("\r\n\r\n");
    const size_t length = answer.find("Content-Length: ");
    if (end != std::string::npos && length != std::string::npos &&
        answer.size() >= end + 4 + std::stoul(answer.substr(length + 16))) {
      break;
    }
  }
  close(fd);
  return answer;
}

TEST_F(ServerTest, BodiesOverTheLimitAre413) {
  ModelServerOptions model;
  model.batcher.max_batch = kTestMaxBatch;
  HttpOptions http;
  http.max_body_bytes = 1 << 20;
  start(model, http);
  // The headers announce a body over the limit: the answer comes before any of it is sent.
  for (const std::string type : {"application/json", "multipart/form-data; boundary=xyz", "image/png"}) {
    for (const char* path : {"/v2/models/chexnet/infer", "/v1/predict"}) {
      const std::string answer =
          raw_exchange(http_->port(), std::string("POST ") + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: " + type +
                                          "\r\nContent-Length: 1048577\r\n\r\n");
      EXPECT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << path << " " << type << ": " << answer;
      EXPECT_NE(answer.find("limit of 1048576 bytes"), std::string::npos) << answer;
    }
  }
  // At the limit is fine (and an unreadable image, so 400).
  auto res = client()->Post("/v1/predict", std::string(1 << 20, 'x'), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  expect_healthy(*client());
}

// Opens a connection, sends `bytes` and closes it without reading.
void send_and_hang_up(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  if (!bytes.empty()) {
    EXPECT_EQ(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
  }
  close(fd);
}

TEST_F(ServerTest, ClientsThatHangUpMidRequestLeaveItHealthy) {
  const std::string body = small_request();
  for (int i = 0; i < 10; ++i) {
    send_and_hang_up(http_->port(), "");                                                       // connect only
    send_and_hang_up(http_->port(), "POST /v2/models/chexnet/infer HTTP/1.1\r\nHost: x\r\n");  // half a header
    send_and_hang_up(http_->port(),
                     "POST /v2/models/chexnet/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                         body.substr(0, 40));  // half a body
    send_and_hang_up(http_->port(), "POST /v2/models/chexnet/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                                        std::to_string(body.size()) + "\r\n\r\n" + body);  // whole, unread answer
  }
  expect_healthy(*client_);
}

TEST_F(ServerTest, SlowClientsDoNotHoldUpOthers) {
  // Four clients trickle a request a byte every 20 ms; the others are answered meanwhile.
  const std::string request =
      "POST /v2/models/chexnet/infer HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(small_request().size()) +
      "\r\n\r\n" + small_request();
  std::atomic<bool> done{false};
  std::atomic<int> slow_finished{0};
  std::vector<std::thread> slow;
  for (int i = 0; i < 4; ++i) {
    slow.emplace_back([&] {
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(http_->port()));
      inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
        for (size_t k = 0; k < request.size() && !done; ++k) {
          send(fd, &request[k], 1, MSG_NOSIGNAL);
          std::this_thread::sleep_for(20ms);
        }
        if (!done) ++slow_finished;
      }
      close(fd);
    });
  }
  std::this_thread::sleep_for(100ms);
  for (int i = 0; i < 20; ++i) {
    auto res = client_->Post("/v2/models/chexnet/infer", small_request(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
  }
  // All answered while the slow clients were still sending (each takes several seconds).
  EXPECT_EQ(slow_finished.load(), 0);
  done = true;
  for (auto& t : slow) t.join();
}

TEST_F(ServerTest, ManyRequestsInARow) {
  httplib::Client c("127.0.0.1", http_->port());
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true);  // the client writes headers and body apart: no delayed-ACK wait between
  const std::string body = small_request();
  int ok = 0;
  for (int i = 0; i < 1000; ++i) {
    auto res = i % 2 ? c.Get("/v2/health/ready") : c.Post("/v2/models/chexnet/infer", body, "application/json");
    ok += res && res->status == 200;
  }
  EXPECT_EQ(ok, 1000);
  EXPECT_EQ(metric(*registry_, "chexrt_request_success_total{model=\"chexnet\"}"), 500);
  expect_healthy(*client_);
}

TEST_F(ServerTest, RequestTimeoutIs504) {
  ModelServerOptions model;
  model.batcher.max_batch = 1;
  start(model, HttpOptions{}, 300ms);
  std::thread first(
      [&] { EXPECT_EQ(client()->Post("/v2/models/chexnet/infer", small_request(), "application/json")->status, 200); });
  std::this_thread::sleep_for(100ms);  // the first holds the engine for 300 ms
  json late = parse_json(small_request());
  late["parameters"] = {{"timeout", 1000}};  // microseconds
  auto res = client_->Post("/v2/models/chexnet/infer", late.dump(), "application/json");
  first.join();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504) << res->body;
  EXPECT_NE(error_of(res).find("timeout"), std::string::npos);
  EXPECT_EQ(metric(*registry_, "chexrt_request_failure_total{model=\"chexnet\",reason=\"timeout\"}"), 1);
  late["parameters"] = {{"timeout", "soon"}};
  res = client_->Post("/v2/models/chexnet/infer", late.dump(), "application/json");
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(error_of(res).find("parameters.timeout"), std::string::npos);
}

// Clients in a closed loop, each request on its own connection; counts what came back.
struct LoadResult {
  std::atomic<int> ok{0}, busy{0}, other{0}, refused{0}, lost{0};
  std::atomic<int> busy_without_retry_after{0};
};

// `stop_when_busy`: the client stops at its first 503 (as one would on "shutting down").
void load(int port, const std::atomic<bool>& running, LoadResult& result, int max_requests,
          bool stop_when_busy = false) {
  const std::string body = small_request();
  for (int i = 0; i < max_requests && running; ++i) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    c.set_tcp_nodelay(true);
    auto res = c.Post("/v2/models/chexnet/infer", body, "application/json");
    if (!res) {
      // Refused connections happen once the server stops listening; anything else is a request
      // that was accepted and never answered.
      (res.error() == httplib::Error::Connection ? result.refused : result.lost)++;
      if (res.error() == httplib::Error::Connection) std::this_thread::sleep_for(1ms);
      continue;
    }
    if (res->status == 200) {
      ++result.ok;
    } else if (res->status == 503) {
      ++result.busy;
      if (res->get_header_value("Retry-After").empty()) ++result.busy_without_retry_after;
      if (stop_when_busy) return;
    } else {
      ++result.other;
    }
  }
}

TEST_F(ServerTest, OverloadWithASmallQueueAnswers200Or503AndNothingIsLost) {
  ModelServerOptions model;
  model.batcher.max_batch = 1;
  model.batcher.max_queue = 2;
  start(model, HttpOptions{}, 5ms);
  LoadResult result;
  std::atomic<bool> running{true};
  std::vector<std::thread> clients;
  constexpr int kClients = 12, kEach = 15;
  for (int i = 0; i < kClients; ++i) clients.emplace_back([&] { load(http_->port(), running, result, kEach); });
  for (auto& t : clients) t.join();
  EXPECT_EQ(result.ok + result.busy, kClients * kEach);
  EXPECT_GT(result.ok.load(), 0);
  EXPECT_GT(result.busy.load(), 0);  // 12 clients, 1 running + 2 queued: some must be turned away
  EXPECT_EQ(result.busy_without_retry_after.load(), 0);
  EXPECT_EQ(result.other.load(), 0);
  EXPECT_EQ(result.lost.load() + result.refused.load(), 0);
  EXPECT_EQ(metric(*registry_, "chexrt_request_success_total{model=\"chexnet\"}"), result.ok.load());
  EXPECT_EQ(metric(*registry_, "chexrt_request_failure_total{model=\"chexnet\",reason=\"queue_full\"}"),
            result.busy.load());
  EXPECT_EQ(metric(*registry_, "chexrt_queue_depth{model=\"chexnet\"}"), 0);
  // Still ready, and answering at once.
  expect_healthy(*client_);
}

TEST_F(ServerTest, StoppingUnderLoadAnswersEveryAcceptedRequest) {
  ModelServerOptions model;
  model.batcher.max_batch = 4;
  model.batcher.max_queue = 64;
  start(model, HttpOptions{}, 2ms);
  LoadResult result;
  std::atomic<bool> running{true};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i) clients.emplace_back([&] { load(http_->port(), running, result, 1000000, true); });
  std::this_thread::sleep_for(300ms);
  http_->stop();  // as on SIGTERM: new requests 503, then stop accepting, answer what was accepted
  model_->shutdown();
  running = false;
  for (auto& t : clients) t.join();
  EXPECT_GT(result.ok.load(), 0);
  // Clients were told (503) or, once the port closed, refused; none lost a request.
  EXPECT_GT(result.busy.load(), 0);
  EXPECT_EQ(result.busy_without_retry_after.load(), 0);
  EXPECT_EQ(result.lost.load(), 0);
  EXPECT_EQ(result.other.load(), 0);
  EXPECT_EQ(metric(*registry_, "chexrt_request_success_total{model=\"chexnet\"}"), result.ok.load());
}

}  // namespace
}  // namespace chexrt::server::testing
