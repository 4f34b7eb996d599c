// Whole runs of chexrt perf's closed loop against a small in-process HTTP server that speaks just
// enough of chexrt serve's protocol: it checks every request's layout (answering 400 when it
// is wrong), answers 503 to every Nth request when told to, and counts the server-side times in
// /metrics exactly (1 ms queue and 2 ms compute per request) so that the client's arithmetic
// can be checked to the digit.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "perf/perf_report.h"
#include "perf/perf_runner.h"

namespace chexrt::perf {
namespace {

class FakeServer {
 public:
  explicit FakeServer(int fail_every = 0, bool malformed_predict = false)
      : fail_every_(fail_every), malformed_predict_(malformed_predict) {
    server_.Get("/v2/health/ready", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    server_.Post("/v2/models/chexnet/infer", [this](const httplib::Request& req, httplib::Response& res) {
      if (overloaded(res)) return;
      int64_t n = 0;
      const std::string problem = check_v2(req, &n);
      if (!problem.empty()) return bad_request(res, problem);
      const std::string header = nlohmann::json({{"model_name", "chexnet"},
                                                 {"outputs",
                                                  {{{"name", "probabilities"},
                                                    {"datatype", "FP32"},
                                                    {"shape", {n, 14}},
                                                    {"parameters", {{"binary_data_size", n * 14 * 4}}}}}}})
                                     .dump();
      res.set_header("Inference-Header-Content-Length", std::to_string(header.size()));
      res.set_content(header + std::string(static_cast<size_t>(n * 14 * 4), '\0'), "application/octet-stream");
      count_success();
    });
    server_.Post("/v1/predict", [this](const httplib::Request& req, httplib::Response& res) {
      if (overloaded(res)) return;
      nlohmann::json results = nlohmann::json::array();
      if (req.is_multipart_form_data()) {
        for (const auto& [field, file] : req.files) {
          if (file.content.empty()) return bad_request(res, file.filename + ": empty part");
          results.push_back({{"file", file.filename}, {"findings", nlohmann::json::array()}});
        }
      } else if (req.get_header_value("Content-Type") == "image/png" && !req.body.empty()) {
        results.push_back({{"file", ""}, {"findings", nlohmann::json::array()}});
      } else {
        return bad_request(res, "expected a PNG body");
      }
      images_seen_ += static_cast<int64_t>(results.size());
      res.set_content(
          malformed_predict_ ? std::string("{\"results\": 7}") : nlohmann::json({{"results", results}}).dump(),
          "application/json");
      count_success();
    });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mutex_);
      char text[1024];
      std::snprintf(text, sizeof(text),
                    "# TYPE chexrt_queue_duration_seconds histogram\n"
                    "chexrt_queue_duration_seconds_sum{model=\"chexnet\"} %.17g\n"
                    "chexrt_queue_duration_seconds_count{model=\"chexnet\"} %lld\n"
                    "chexrt_queue_duration_seconds_sum{model=\"other\"} 1000\n"
                    "chexrt_queue_duration_seconds_count{model=\"other\"} 1\n"
                    "chexrt_compute_duration_seconds_sum{model=\"chexnet\"} %.17g\n"
                    "chexrt_compute_duration_seconds_count{model=\"chexnet\"} %lld\n",
                    queue_sum_, static_cast<long long>(count_), compute_sum_, static_cast<long long>(count_));
      res.set_content(text, "text/plain; version=0.0.4");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeServer() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  int64_t images_seen() const { return images_seen_; }

 private:
  bool overloaded(httplib::Response& res) {
    if (fail_every_ > 0 && ++requests_ % fail_every_ == 0) {
      res.status = 503;
      res.set_header("Retry-After", "1");
      res.set_content("{\"error\": \"queue full\"}", "application/json");
      return true;
    }
    return false;
  }
  static void bad_request(httplib::Response& res, const std::string& problem) {
    res.status = 400;
    res.set_content(nlohmann::json({{"error", problem}}).dump(), "application/json");
  }
  // The binary tensor data extension as a server reads it; "" when the request is well formed.
  std::string check_v2(const httplib::Request& req, int64_t* batch) {
    const std::string length = req.get_header_value("Inference-Header-Content-Length");
    if (length.empty()) return "no Inference-Header-Content-Length";
    const size_t n = std::stoul(length);
    if (n > req.body.size()) return "header length past the body";
    const auto header = nlohmann::json::parse(req.body.substr(0, n), nullptr, false);
    if (!header.is_object() || !header.contains("inputs") || header["inputs"].size() != 1) return "bad header";
    const auto& input = header["inputs"][0];
    const size_t size = input["parameters"]["binary_data_size"].get<size_t>();
    if (n + size != req.body.size()) return "binary_data_size does not match the body";
    const std::vector<int64_t> shape = input["shape"].get<std::vector<int64_t>>();
    const std::string data = req.body.substr(n);
    const std::string type = input["datatype"];
    if (type == "BYTES") {
      if (input["name"] != "image_bytes" || shape.size() != 1) return "bad BYTES input";
      size_t at = 0;
      for (int64_t i = 0; i < shape[0]; ++i) {
        if (at + 4 > data.size()) return "BYTES element past the end";
        uint32_t len = 0;
        for (int b = 0; b < 4; ++b) len |= static_cast<uint32_t>(static_cast<uint8_t>(data[at + b])) << (8 * b);
        at += 4 + len;
      }
      if (at != data.size()) return "BYTES elements do not fill the data";
    } else {
      int64_t elements = 1;
      for (int64_t d : shape) elements *= d;
      const int64_t bytes = type == "FP32" ? 4 : type == "FP16" ? 2 : type == "UINT8" ? 1 : 0;
      if (input["name"] != "image" || bytes == 0) return "bad tensor input";
      if (static_cast<size_t>(elements * bytes) != data.size()) return "tensor size does not match its shape";
    }
    *batch = shape[0];
    return "";
  }
  void count_success() {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_sum_ += 0.001;
    compute_sum_ += 0.002;
    ++count_;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  const int fail_every_;
  const bool malformed_predict_;
  std::atomic<int64_t> requests_{0};
  std::atomic<int64_t> images_seen_{0};
  std::mutex mutex_;
  double queue_sum_ = 0, compute_sum_ = 0;
  int64_t count_ = 0;
};

LoadOptions options_for(const FakeServer& server, std::vector<RequestBody> requests, Endpoint endpoint) {
  LoadOptions o;
  o.url = {"127.0.0.1", server.port(), ""};
  o.endpoint = endpoint;
  o.requests = std::move(requests);
  o.warmup_s = 0.05;
  o.duration_s = 0.3;
  o.timeout_s = 10;
  return o;
}

void expect_ordered(const LatencySummary& l) {
  EXPECT_GT(l.p50, 0);
  EXPECT_LE(l.p50, l.p90);
  EXPECT_LE(l.p90, l.p99);
  EXPECT_LE(l.p99, l.max);
}

TEST(PerfRunner, BinaryTensorsAndServerTimes) {
  FakeServer server;
  auto tensor = random_image_tensor("fp16", 2);
  ASSERT_TRUE(tensor.ok());
  const LoadOptions o =
      options_for(server, {encode_v2_binary_request("chexnet", {*tensor}, "probabilities")}, Endpoint::kV2);
  ASSERT_TRUE(check_server_ready(o).ok());
  auto r = run_level(o, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->concurrency, 2);
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  EXPECT_GT(r->requests_ok, 0);
  EXPECT_EQ(r->images_ok, 2 * r->requests_ok);
  EXPECT_EQ(r->latency_ms.count, r->requests_ok);
  EXPECT_NEAR(r->requests_per_s(), r->requests_ok / 0.3, 1e-6);
  expect_ordered(r->latency_ms);
  ASSERT_TRUE(r->server_queue_ms && r->server_compute_ms);
  EXPECT_NEAR(*r->server_queue_ms, 1.0, 1e-6);
  EXPECT_NEAR(*r->server_compute_ms, 2.0, 1e-6);
}

TEST(PerfRunner, OverloadAnswersAreCountedByStatus) {
  FakeServer server(/*fail_every=*/3);
  auto tensor = random_image_tensor("uint8", 1);
  ASSERT_TRUE(tensor.ok());
  const int concurrency = 4;
  const LoadOptions o =
      options_for(server, {encode_v2_binary_request("chexnet", {*tensor}, "probabilities")}, Endpoint::kV2);
  auto r = run_level(o, concurrency);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->errors.size(), 1u) << errors_text(*r);
  const int64_t unavailable = r->errors.at("503");
  const int64_t total = unavailable + r->requests_ok;
  EXPECT_GT(r->requests_ok, 0);
  // Every third request the server saw was refused; the window cuts at most `concurrency`
  // requests in flight at each end out of that sequence.
  EXPECT_LE(std::abs(3 * unavailable - total), 3 * (2 * concurrency + 1)) << unavailable << " of " << total;
  EXPECT_EQ(errors_text(*r), "503:" + std::to_string(unavailable));
  // The rows as written to --json and --csv.
  const nlohmann::json rows = rows_json({*r});
  EXPECT_EQ(rows[0]["errors"]["503"], unavailable);
  EXPECT_EQ(rows[0]["requests"], r->requests_ok);
  EXPECT_NEAR(rows[0]["server_queue_ms"].get<double>(), 1.0, 1e-6);
  const std::string csv = rows_csv({*r});
  EXPECT_EQ(csv.substr(0, csv.find('\n')).find("concurrency,requests,images,"), 0u);
  EXPECT_NE(csv.find(",503:" + std::to_string(unavailable) + ","), std::string::npos) << csv;
}

TEST(PerfRunner, ImageFilesToBothEndpoints) {
  const std::vector<ImageFile> files = {{"a.png", "PNG-A"}, {"b.png", "PNG-BB"}, {"c.png", "PNG-CCC"}};
  for (Endpoint endpoint : {Endpoint::kV2, Endpoint::kPredict}) {
    for (int64_t batch : {1, 2}) {
      FakeServer server;
      const LoadOptions o = options_for(server, image_requests(files, batch, endpoint, "chexnet"), endpoint);
      auto r = run_level(o, 3);
      ASSERT_TRUE(r.ok());
      EXPECT_TRUE(r->errors.empty()) << errors_text(*r) << " batch " << batch;
      EXPECT_GT(r->requests_ok, 0);
      EXPECT_GE(r->images_ok, r->requests_ok);
      EXPECT_LE(r->images_ok, batch * r->requests_ok);
      if (endpoint == Endpoint::kPredict) {
        EXPECT_GE(server.images_seen(), r->images_ok);
      }
    }
  }
}

TEST(PerfRunner, MalformedAnswersAreErrors) {
  FakeServer server(0, /*malformed_predict=*/true);
  const std::vector<ImageFile> files = {{"a.png", "PNG"}};
  const LoadOptions o =
      options_for(server, image_requests(files, 1, Endpoint::kPredict, "chexnet"), Endpoint::kPredict);
  auto r = run_level(o, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requests_ok, 0);
  EXPECT_GT(r->errors["malformed"], 0);
}

TEST(PerfRunner, AnswerChecks) {
  const RequestBody two{"/v1/predict", "multipart/form-data", {}, "", 2};
  EXPECT_EQ(check_answer(Endpoint::kPredict, two, R"({"results": [{"findings": []}, {"findings": []}]})", ""), "");
  EXPECT_EQ(check_answer(Endpoint::kPredict, two, R"({"results": [{"findings": []}]})", ""), "malformed");
  EXPECT_EQ(check_answer(Endpoint::kPredict, two, R"({"results": [{"findings": []}, {"error": "x"}]})", ""),
            "image_error");
  // Heat maps asked: each result must carry them.
  RequestBody with_maps = two;
  with_maps.heatmaps = true;
  EXPECT_EQ(check_answer(Endpoint::kPredict, with_maps, R"({"results": [{"findings": []}, {"findings": []}]})", ""),
            "malformed");
  EXPECT_EQ(
      check_answer(Endpoint::kPredict, with_maps,
                   R"({"results": [{"heatmaps": [{"finding": "Mass"}]}, {"heatmaps": [{"finding": "Mass"}]}]})", ""),
      "");
  EXPECT_EQ(check_answer(Endpoint::kV2, two, R"({"outputs": [{"name": "p"}]})", ""), "");
  const std::string header = R"({"outputs": [{"name": "p", "parameters": {"binary_data_size": 2}}]})";
  const std::string length = std::to_string(header.size());
  EXPECT_EQ(check_answer(Endpoint::kV2, two, header + "\x01\x02", length), "");
  EXPECT_EQ(check_answer(Endpoint::kV2, two, header + "\x01", length), "malformed");          // cut short
  EXPECT_EQ(check_answer(Endpoint::kV2, two, header + "\x01\x02\x03", length), "malformed");  // too long
  EXPECT_EQ(check_answer(Endpoint::kV2, two, R"({"outputs": []})", ""), "malformed");
  EXPECT_EQ(check_answer(Endpoint::kV2, two, R"({"outputs": [1]})", "999"), "malformed");
  EXPECT_EQ(check_answer(Endpoint::kV2, two, "not json", ""), "malformed");
}

TEST(PerfRunner, UnreachableServerIsNamed) {
  int port = 0;
  {
    FakeServer gone;
    port = gone.port();
  }
  LoadOptions o;
  o.url = {"127.0.0.1", port, ""};
  o.timeout_s = 2;
  const Status s = check_server_ready(o);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos) << s.message();
  EXPECT_FALSE(run_level(LoadOptions{}, 1).ok());
}

}  // namespace
}  // namespace chexrt::perf
