// KServe v2 over HTTP against the real server: health, metadata, and inference with JSON
// tensors, the binary tensor data extension, FP16, UINT8 pixels and BYTES files, each compared
// with the engine itself on the same input (bit for bit: the same reference backend).
#include <cmath>
#include <cstring>
#include <optional>
#include <random>

#include "app/image_io.h"
#include "backends/cuda/gpu_info.h"
#include "chexrt/tensor.h"
#include "server/model_server.h"
#include "server_fixture.h"

namespace chexrt::server::testing {
namespace {

using json = nlohmann::json;

std::vector<float> random_floats(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

std::vector<float> engine_probabilities(Engine& engine, const HostTensor& input) {
  std::vector<HostTensor> out;
  EXPECT_TRUE(engine.infer({input}, &out).ok());
  return std::vector<float>(out[0].data<float>(), out[0].data<float>() + out[0].numel());
}

// One image at a time (ten-crop samples of several images may not fit one engine batch).
std::vector<float> engine_probabilities(Engine& engine, const std::vector<ImageView>& images,
                                        ResizeMode mode = ResizeMode::kResizeCenterCrop) {
  PreprocessOptions p;
  p.mode = mode;
  const int samples = samples_per_image(p);
  std::vector<float> mean(images.size() * 14, 0.f);
  for (size_t i = 0; i < images.size(); ++i) {
    std::vector<HostTensor> out;
    Status s = engine.infer_images({images[i]}, p, &out);
    EXPECT_TRUE(s.ok()) << s.to_string();
    if (!s.ok()) return {};
    for (int k = 0; k < samples; ++k) {
      for (int f = 0; f < 14; ++f) mean[i * 14 + f] += out[0].data<float>()[k * 14 + f] / samples;
    }
  }
  return mean;
}

std::vector<float> json_floats(const json& data) {
  std::vector<float> v;
  for (const json& x : data) v.push_back(x.get<float>());
  return v;
}

std::string read_file(const std::string& path) {
  auto bytes = app::read_file_bytes(path);
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return std::string(bytes->begin(), bytes->end());
}

std::string bytes_element(const std::string& s) {
  const uint32_t n = static_cast<uint32_t>(s.size());
  std::string out(4, '\0');
  std::memcpy(out.data(), &n, 4);
  return out + s;
}

TEST_F(ServerTest, HealthAndMetadata) {
  auto live = client_->Get("/v2/health/live");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(parse_json(live->body)["live"], true);
  auto ready = client_->Get("/v2/health/ready");
  EXPECT_EQ(ready->status, 200);

  auto server = parse_json(client_->Get("/v2")->body);
  EXPECT_EQ(server["name"], "chexrt");
  EXPECT_NE(std::find(server["extensions"].begin(), server["extensions"].end(), "binary_tensor_data"),
            server["extensions"].end());

  for (const char* path : {"/v2/models/chexnet", "/v2/models/chexnet/versions/1"}) {
    auto res = client_->Get(path);
    ASSERT_EQ(res->status, 200) << path;
    const json m = parse_json(res->body);
    EXPECT_EQ(m["name"], "chexnet");
    EXPECT_EQ(m["versions"], json::array({"1"}));
    EXPECT_EQ(m["platform"], "chexrt_reference");
    EXPECT_EQ(m["parameters"]["demo_model"], true);
    ASSERT_EQ(m["inputs"].size(), 2u);
    EXPECT_EQ(m["inputs"][0], (json{{"name", "image"}, {"datatype", "FP32"}, {"shape", {-1, 3, 224, 224}}}));
    EXPECT_EQ(m["inputs"][1], (json{{"name", "image_bytes"}, {"datatype", "BYTES"}, {"shape", {-1}}}));
    EXPECT_EQ(m["outputs"], json::array({{{"name", "probabilities"}, {"datatype", "FP32"}, {"shape", {-1, 14}}}}));
  }
  auto model_ready = client_->Get("/v2/models/chexnet/ready");
  EXPECT_EQ(model_ready->status, 200);
  EXPECT_EQ(parse_json(model_ready->body)["ready"], true);

  auto other_version = client_->Get("/v2/models/chexnet/versions/7");
  EXPECT_EQ(other_version->status, 404);
  EXPECT_NE(parse_json(other_version->body)["error"].get<std::string>().find("version '7'"), std::string::npos);
  auto unknown = client_->Get("/v2/models/resnet");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(parse_json(unknown->body)["error"].get<std::string>().find("'resnet'"), std::string::npos);
  EXPECT_EQ(client_->Get("/v2/models/resnet/ready")->status, 404);
  EXPECT_EQ(client_->Get("/no/such/path")->status, 404);

  auto page = client_->Get("/");
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<html"), std::string::npos);
}

TEST_F(ServerTest, NotReadyUntilTheEngineIsThere) {
  MetricsRegistry registry;
  ModelServer pending(ModelServerOptions{}, registry);
  HttpOptions options;
  options.port = 0;
  HttpServer http(pending, &registry, options);
  ASSERT_TRUE(http.start().ok());
  httplib::Client c("127.0.0.1", http.port());
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  auto ready = c.Get("/v2/health/ready");
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ready->get_header_value("Retry-After"), "1");
  EXPECT_EQ(c.Get("/v2/models/chexnet/ready")->status, 503);
  EXPECT_EQ(c.Get("/v2/models/chexnet")->status, 200);  // metadata is known before the engine
  const json body = {{"inputs",
                      {{{"name", "image"},
                        {"datatype", "FP32"},
                        {"shape", {1, 3, 224, 224}},
                        {"data", std::vector<float>(3 * 224 * 224, 0.f)}}}}};
  auto infer = c.Post("/v2/models/chexnet/infer", body.dump(), "application/json");
  EXPECT_EQ(infer->status, 503);
  EXPECT_EQ(infer->get_header_value("Retry-After"), "1");
  EXPECT_NE(parse_json(infer->body)["error"].get<std::string>().find("not ready"), std::string::npos);
  http.stop();
}

TEST_F(ServerTest, JsonFp32InferEqualsTheEngine) {
  const std::vector<float> values = random_floats(2 * 3 * 224 * 224, 1);
  const json body = {
      {"id", "req-7"},
      {"inputs", {{{"name", "image"}, {"datatype", "FP32"}, {"shape", {2, 3, 224, 224}}, {"data", values}}}}};
  auto res = client_->Post("/v2/models/chexnet/infer", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  const json r = parse_json(res->body);
  EXPECT_EQ(r["model_name"], "chexnet");
  EXPECT_EQ(r["model_version"], "1");
  EXPECT_EQ(r["id"], "req-7");
  ASSERT_EQ(r["outputs"].size(), 1u);
  EXPECT_EQ(r["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(r["outputs"][0]["datatype"], "FP32");
  EXPECT_EQ(r["outputs"][0]["shape"], json::array({2, 14}));
  HostTensor input = HostTensor::from_floats(values, {2, 3, 224, 224});
  EXPECT_EQ(json_floats(r["outputs"][0]["data"]), engine_probabilities(*oracle_, input));
}

TEST_F(ServerTest, JsonFp16InferEqualsTheEngineOnTheHalfValues) {
  std::vector<float> values = random_floats(3 * 224 * 224, 2);
  for (float& v : values) v = half_to_float(float_to_half(v));
  const json body = {
      {"inputs", {{{"name", "image"}, {"datatype", "FP16"}, {"shape", {1, 3, 224, 224}}, {"data", values}}}}};
  auto res = client_->Post("/v2/models/chexnet/infer", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json_floats(parse_json(res->body)["outputs"][0]["data"]),
            engine_probabilities(*oracle_, HostTensor::from_floats(values, {1, 3, 224, 224})));
}

// An engine that takes float16 gets the FP16 tensors as they are (GPU engines upload half the
// bytes and widen on the device), binary or JSON, with the same answers.
TEST_F(ServerTest, Fp16TensorsReachAnEngineThatTakesThemUnwidened) {
  ModelServerOptions model;
  model.batcher.max_batch = kTestMaxBatch;
  model.decode_threads = 2;
  start(model, HttpOptions{}, std::chrono::microseconds(0), /*fp16_inputs=*/true);
  ASSERT_NE(fp16_engine_, nullptr);
  std::vector<float> values = random_floats(2 * 3 * 224 * 224, 4);
  std::string raw(values.size() * 2, '\0');
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = float_to_half(values[i]);
    values[i] = half_to_float(h);
    std::memcpy(&raw[2 * i], &h, 2);
  }
  const json header = {{"inputs",
                        {{{"name", "image"},
                          {"datatype", "FP16"},
                          {"shape", {2, 3, 224, 224}},
                          {"parameters", {{"binary_data_size", raw.size()}}}}}}};
  const std::string head = header.dump();
  httplib::Headers headers = {{"Inference-Header-Content-Length", std::to_string(head.size())}};
  auto res = client_->Post("/v2/models/chexnet/infer", headers, head + raw, "application/octet-stream");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json_floats(parse_json(res->body)["outputs"][0]["data"]),
            engine_probabilities(*oracle_, HostTensor::from_floats(values, {2, 3, 224, 224})));
  EXPECT_EQ(fp16_engine_->half_calls(), 1);
}

TEST_F(ServerTest, BinaryTensorDataRoundTrip) {
  const std::vector<float> values = random_floats(3 * 3 * 224 * 224, 3);
  const std::string raw(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
  for (bool all : {true, false}) {
    json header = {{"inputs",
                    {{{"name", "image"},
                      {"datatype", "FP32"},
                      {"shape", {3, 3, 224, 224}},
                      {"parameters", {{"binary_data_size", raw.size()}}}}}}};
    if (all) {
      header["parameters"] = {{"binary_data_output", true}};
    } else {
      header["outputs"] = {{{"name", "probabilities"}, {"parameters", {{"binary_data", true}}}}};
    }
    const std::string head = header.dump();
    httplib::Headers headers = {{"Inference-Header-Content-Length", std::to_string(head.size())}};
    // curl's default Content-Type for --data-binary must not matter (the body is far above 8 KiB).
    auto res = client_->Post("/v2/models/chexnet/infer", headers, head + raw,
                             all ? "application/octet-stream" : "application/x-www-form-urlencoded");
    ASSERT_EQ(res->status, 200) << res->body;
    ASSERT_TRUE(res->has_header("Inference-Header-Content-Length"));
    const size_t length = std::stoul(res->get_header_value("Inference-Header-Content-Length"));
    const json r = parse_json(res->body.substr(0, length));
    ASSERT_EQ(r["outputs"][0]["parameters"]["binary_data_size"], 3 * 14 * 4);
    EXPECT_FALSE(r["outputs"][0].contains("data"));
    ASSERT_EQ(res->body.size(), length + 3 * 14 * 4);
    std::vector<float> got(3 * 14);
    std::memcpy(got.data(), res->body.data() + length, got.size() * sizeof(float));
    EXPECT_EQ(got, engine_probabilities(*oracle_, HostTensor::from_floats(values, {3, 3, 224, 224})));
  }
}

TEST_F(ServerTest, Uint8PixelsArePreprocessedAsTheEngineDoes) {
  std::mt19937 rng(4);
  std::string grey(2 * 300 * 260, '\0'), rgb(240 * 250 * 3, '\0');
  for (char& c : grey) c = static_cast<char>(rng());
  for (char& c : rgb) c = static_cast<char>(rng());
  const std::string head_grey = json{{"inputs",
                                      {{{"name", "image"},
                                        {"datatype", "UINT8"},
                                        {"shape", {2, 300, 260}},
                                        {"parameters", {{"binary_data_size", grey.size()}}}}}}}
                                    .dump();
  auto res =
      client_->Post("/v2/models/chexnet/infer", {{"Inference-Header-Content-Length", std::to_string(head_grey.size())}},
                    head_grey + grey, "application/octet-stream");
  ASSERT_EQ(res->status, 200) << res->body;
  const auto* g = reinterpret_cast<const uint8_t*>(grey.data());
  EXPECT_EQ(json_floats(parse_json(res->body)["outputs"][0]["data"]),
            engine_probabilities(*oracle_, {ImageView{g, 260, 300, 1}, ImageView{g + 300 * 260, 260, 300, 1}}));

  // JSON data for UINT8, RGB layout.
  std::vector<int> rgb_values(rgb.begin(), rgb.end());
  for (int& v : rgb_values) v &= 255;
  const json body = {
      {"inputs", {{{"name", "image"}, {"datatype", "UINT8"}, {"shape", {1, 240, 250, 3}}, {"data", rgb_values}}}}};
  res = client_->Post("/v2/models/chexnet/infer", body.dump(), "application/json");
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json_floats(parse_json(res->body)["outputs"][0]["data"]),
            engine_probabilities(*oracle_, {ImageView{reinterpret_cast<const uint8_t*>(rgb.data()), 250, 240, 3}}));
}

TEST_F(ServerTest, BytesFilesAreDecodedAndPreprocessed) {
  const std::string png = read_file(std::string(CHEXRT_TEST_DATA_DIR) + "/cxr/formats/00012082_000_512.png");
  const std::string jpeg = read_file(std::string(CHEXRT_TEST_DATA_DIR) + "/cxr/formats/00008980_000_q90.jpg");
  const std::string data = bytes_element(png) + bytes_element(jpeg);
  auto a = app::decode_image8(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "png");
  auto b = app::decode_image8(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size(), "jpeg");
  ASSERT_TRUE(a.ok() && b.ok());
  for (const char* mode : {"crop", "tencrop"}) {
    const std::string head = json{{"parameters", {{"mode", mode}}},
                                  {"inputs",
                                   {{{"name", "image_bytes"},
                                     {"datatype", "BYTES"},
                                     {"shape", {2}},
                                     {"parameters", {{"binary_data_size", data.size()}}}}}},
                                  {"outputs", {{{"name", "probabilities"}}, {{"name", "image_size"}}}}}
                                 .dump();
    auto res =
        client_->Post("/v2/models/chexnet/infer", {{"Inference-Header-Content-Length", std::to_string(head.size())}},
                      head + data, "application/octet-stream");
    ASSERT_EQ(res->status, 200) << res->body;
    const json r = parse_json(res->body);
    const ResizeMode resize = std::string(mode) == "crop" ? ResizeMode::kResizeCenterCrop : ResizeMode::kTenCrop;
    EXPECT_EQ(json_floats(r["outputs"][0]["data"]), engine_probabilities(*oracle_, {view_of(*a), view_of(*b)}, resize))
        << mode;
    EXPECT_EQ(r["outputs"][1]["name"], "image_size");
    EXPECT_EQ(r["outputs"][1]["data"], json::array({a->width, a->height, b->width, b->height}));
  }
}

// The value of `series` (e.g. `name{gpu="0"}`) in Prometheus text; nothing when it is absent.
std::optional<double> metric_value(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + series.size() + 2, nullptr);
}

TEST_F(ServerTest, MetricsHaveNoGpuGaugesOffTheGpu) {
  auto res = client_->Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(metric_value(res->body, "chexrt_queue_depth{model=\"chexnet\"}")) << res->body;
  EXPECT_EQ(res->body.find("chexrt_gpu_memory"), std::string::npos) << res->body;
  EXPECT_FALSE(model_->runs_on_gpu());
}

// The reference engine under the CUDA backend's name: whether the gauges appear follows the
// engine's backend alone.
class NamedCudaEngine : public SlowEngine {
 public:
  using SlowEngine::SlowEngine;
  std::string backend_name() const override { return "segmented(cuda,reference)"; }
};

TEST(ServerMetrics, GpuGaugesFollowTheEnginesBackend) {
  ModelServerOptions options;
  options.batcher.max_batch = kTestMaxBatch;
  MetricsRegistry registry;
  {
    ModelServer model(options, registry);
    ModelInstances instances;
    instances.engines.push_back(
        std::make_shared<NamedCudaEngine>(build_test_model().engine, std::chrono::microseconds(0)));
    instances.gpus = {0, 0};  // two instances on GPU 0: one pair of gauges
    ASSERT_TRUE(model.start(std::move(instances)).ok());
    EXPECT_TRUE(model.runs_on_gpu());
    const std::string text = registry.prometheus_text();
    const auto used = metric_value(text, "chexrt_gpu_memory_used_bytes{gpu=\"0\"}");
    const auto total = metric_value(text, "chexrt_gpu_memory_total_bytes{gpu=\"0\"}");
    ASSERT_TRUE(used && total) << text;
    EXPECT_EQ(text.find("gpu=\"1\""), std::string::npos);
    if (cuda::gpu_count() == 0) {
      // Nothing to read here: the gauges say so rather than show a number.
      EXPECT_TRUE(std::isnan(*used) && std::isnan(*total)) << text;
    } else {
      EXPECT_GT(*total, 0);
      EXPECT_LE(*used, *total);
    }
    model.shutdown();
  }
  // The collector went with the model server: scraping after it is safe.
  EXPECT_NE(registry.prometheus_text().find("chexrt_gpu_memory_total_bytes"), std::string::npos);
}

}  // namespace
}  // namespace chexrt::server::testing
