// chexrt serve's GPU side: a model served by a CUDA engine exports the memory gauges of its GPU
// in /metrics (read with cudaMemGetInfo when scraped).
#include <gtest/gtest.h>
#include <httplib.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>

#include "fake_engine.h"
#include "gpu_test_util.h"
#include "server/kserve_http.h"
#include "server/model_server.h"

namespace chexrt::server::testing {
namespace {

std::optional<double> metric_value(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

TEST(ServerGpu, MetricsHaveTheGpuMemoryGauges) {
  CHEXRT_SKIP_WITHOUT_GPU();
  BuildOptions build;
  build.device = Device::kCuda;
  build.max_batch = 4;
  auto engine = build_engine(tiny_chexnet(build.max_batch), build);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();

  MetricsRegistry registry;
  ModelServerOptions options;
  options.batcher.max_batch = build.max_batch;
  ModelServer model(options, registry);
  ModelInstances instances;
  instances.engines.push_back(std::move(engine).value());
  instances.gpus = {0};
  ASSERT_TRUE(model.start(std::move(instances)).ok());
  ASSERT_TRUE(model.runs_on_gpu()) << model.backend();
  HttpOptions http_options;
  http_options.port = 0;
  HttpServer http(model, &registry, http_options);
  ASSERT_TRUE(http.start().ok());

  httplib::Client client("127.0.0.1", http.port());
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const auto used = metric_value(res->body, "chexrt_gpu_memory_used_bytes{gpu=\"0\"}");
  const auto total = metric_value(res->body, "chexrt_gpu_memory_total_bytes{gpu=\"0\"}");
  ASSERT_TRUE(used && total) << res->body;
  EXPECT_GT(*total, 0);
  // The engine's weights and execution context are on the device.
  EXPECT_GT(*used, 0);
  EXPECT_LE(*used, *total);
  http.stop();
  model.shutdown();
}

}  // namespace
}  // namespace chexrt::server::testing
