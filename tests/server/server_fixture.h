// The real HTTP server in-process on an ephemeral port, serving the small CheXNet-shaped model
// (fake_engine.h) on the reference backend, with an identical engine to compute what the
// answers must be.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "app/cam_model.h"
#include "fake_engine.h"
#include "server/kserve_http.h"
#include "server/model_server.h"

namespace chexrt::server::testing {

constexpr int64_t kTestMaxBatch = 16;

struct TestModel {
  std::unique_ptr<Engine> engine;
  HostTensor cam_weights;
};

inline TestModel build_test_model() {
  NetworkDefinition net = tiny_chexnet(kTestMaxBatch);
  auto weights = app::attach_cam_features(net);
  EXPECT_TRUE(weights.ok()) << weights.status().to_string();
  BuildOptions options;
  options.device = Device::kReference;
  options.max_batch = kTestMaxBatch;
  auto engine = build_engine(std::move(net), options);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  return {std::move(engine).value(), *weights};
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelServerOptions model;
    model.batcher.max_batch = kTestMaxBatch;
    model.demo_model = true;
    model.decode_threads = 2;
    start(model, HttpOptions{});
  }
  void TearDown() override { stop(); }

  // `slow`: each engine call sleeps this long first (a slow model, for overload).
  // `fp16_inputs`: the engine takes float16 tensors as they are (as GPU engines do).
  void start(ModelServerOptions model_options, HttpOptions http_options,
             std::chrono::microseconds slow = std::chrono::microseconds(0), bool fp16_inputs = false) {
    stop();
    registry_ = std::make_unique<MetricsRegistry>();
    model_ = std::make_unique<ModelServer>(model_options, *registry_);
    TestModel served = build_test_model();
    oracle_ = build_test_model().engine;
    ModelInstances instances;
    instances.cam_weights = served.cam_weights;
    fp16_engine_ = nullptr;
    if (slow.count() > 0) {
      instances.engines.push_back(std::make_shared<SlowEngine>(std::move(served.engine), slow));
    } else if (fp16_inputs) {
      auto engine = std::make_shared<Fp16InputEngine>(std::move(served.engine));
      fp16_engine_ = engine.get();
      instances.engines.push_back(engine);
    } else {
      instances.engines.push_back(std::move(served.engine));
    }
    Status s = model_->start(std::move(instances));
    ASSERT_TRUE(s.ok()) << s.to_string();
    http_options.port = 0;
    http_ = std::make_unique<HttpServer>(*model_, registry_.get(), http_options);
    s = http_->start();
    ASSERT_TRUE(s.ok()) << s.to_string();
    client_ = client();
  }
  void stop() {
    if (http_) http_->stop();
    if (model_) model_->shutdown();
    client_.reset();
    http_.reset();
    model_.reset();
  }
  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", http_->port());
    c->set_read_timeout(30, 0);
    c->set_tcp_nodelay(true);  // headers and body go out apart: no delayed-ACK wait between
    return c;
  }

  std::unique_ptr<MetricsRegistry> registry_;
  std::unique_ptr<ModelServer> model_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<Engine> oracle_;
  Fp16InputEngine* fp16_engine_ = nullptr;  // the served engine, when started with fp16_inputs
  std::unique_ptr<httplib::Client> client_;
};

inline nlohmann::json parse_json(const std::string& text) { return nlohmann::json::parse(text, nullptr, false); }

}  // namespace chexrt::server::testing
