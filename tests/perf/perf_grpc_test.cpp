// chexrt perf over gRPC against the real server in-process: ModelServer with the small
// CheXNet-shaped model on the reference backend (tests/server/server_fixture.h), its gRPC endpoint
// and its HTTP one (for /metrics), each on an ephemeral port of 127.0.0.1.
#include <gtest/gtest.h>

#include "app/image_io.h"
#include "perf/perf_grpc.h"
#include "perf/perf_report.h"
#include "perf/perf_runner.h"
#include "server/kserve_grpc.h"
#include "server_fixture.h"

namespace chexrt::perf {
namespace {

class PerfGrpcTest : public server::testing::ServerTest {
 protected:
  void SetUp() override {
    ServerTest::SetUp();
    auto grpc = server::GrpcServer::start(*model_, "127.0.0.1", 0);
    ASSERT_TRUE(grpc.ok()) << grpc.status().to_string();
    grpc_ = std::move(grpc).value();
  }
  void TearDown() override {
    if (grpc_) grpc_->shutdown();
    ServerTest::TearDown();
  }

  LoadOptions options(std::vector<RequestBody> requests) const {
    LoadOptions o;
    o.protocol = Protocol::kGrpc;
    o.url = {"127.0.0.1", grpc_->port(), ""};
    o.metrics_url = Url{"127.0.0.1", http_->port(), "/metrics"};
    o.requests = std::move(requests);
    o.warmup_s = 0.1;
    o.duration_s = 0.5;
    o.timeout_s = 10;
    return o;
  }

  std::unique_ptr<server::GrpcServer> grpc_;
};

std::string read_data(const std::string& name) {
  auto bytes = app::read_file_bytes(std::string(CHEXRT_TEST_DATA_DIR) + "/" + name);
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return bytes.ok() ? std::string(bytes->begin(), bytes->end()) : std::string();
}

TEST_F(PerfGrpcTest, TensorsAtConcurrencyTwo) {
  for (const char* datatype : {"fp32", "fp16", "uint8"}) {
    auto tensor = random_image_tensor(datatype, 2);
    ASSERT_TRUE(tensor.ok());
    const LoadOptions o = options({grpc_request({*tensor}, "probabilities")});
    ASSERT_TRUE(check_server_ready(o).ok());
    auto r = run_level(o, 2);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->concurrency, 2);
    EXPECT_TRUE(r->errors.empty()) << datatype << ": " << errors_text(*r);
    EXPECT_GT(r->requests_ok, 0) << datatype;
    EXPECT_EQ(r->images_ok, 2 * r->requests_ok);
    EXPECT_GT(r->requests_per_s(), 0);
    EXPECT_GT(r->latency_ms.p50, 0);
    EXPECT_LE(r->latency_ms.p50, r->latency_ms.p99);
    // The server's own times come from its HTTP /metrics while the load goes over gRPC.
    ASSERT_TRUE(r->server_queue_ms && r->server_compute_ms) << datatype;
    EXPECT_GE(*r->server_queue_ms, 0);
    EXPECT_GT(*r->server_compute_ms, 0);
  }
}

TEST_F(PerfGrpcTest, ImageFilesAsBytes) {
  const std::vector<ImageFile> files = {{"a.png", read_data("cxr/formats/00012082_000_512.png")},
                                        {"b.jpg", read_data("cxr/formats/00008980_000_q90.jpg")}};
  const LoadOptions o = options(image_requests(files, 2, Endpoint::kV2, "chexnet", Protocol::kGrpc));
  auto r = run_level(o, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->errors.empty()) << errors_text(*r);
  EXPECT_GT(r->requests_ok, 0);
  EXPECT_EQ(r->images_ok, 2 * r->requests_ok);
}

TEST_F(PerfGrpcTest, WrongModelIsCountedNotFatal) {
  auto tensor = random_image_tensor("uint8", 1);
  ASSERT_TRUE(tensor.ok());
  LoadOptions o = options({grpc_request({*tensor}, "probabilities")});
  o.model = "no_such_model";
  o.duration_s = 0.3;
  auto r = run_level(o, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->requests_ok, 0);
  ASSERT_EQ(r->errors.size(), 1u) << errors_text(*r);
  EXPECT_GT(r->errors.at("NOT_FOUND"), 0);
  // The server counted them as failures; the times per request are those of no request.
  EXPECT_FALSE(r->server_compute_ms);
  EXPECT_EQ(rows_json({*r})[0]["errors"]["NOT_FOUND"], r->errors.at("NOT_FOUND"));
}

TEST_F(PerfGrpcTest, UnreachableServerIsNamed) {
  const int port = grpc_->port();
  grpc_->shutdown();
  grpc_.reset();
  LoadOptions o;
  o.protocol = Protocol::kGrpc;
  o.url = {"127.0.0.1", port, ""};
  o.timeout_s = 2;
  const Status s = check_server_ready(o);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("grpc://127.0.0.1:" + std::to_string(port)), std::string::npos) << s.message();
}

TEST(PerfGrpc, AnswerChecks) {
  const RequestBody two = grpc_request({BinaryTensor{"image", "FP32", {2, 1}, std::string(8, '\0')}}, "p");
  const inference::ModelInferRequest message = to_model_infer("m", two);
  EXPECT_EQ(message.model_name(), "m");
  ASSERT_EQ(message.inputs_size(), 1);
  EXPECT_EQ(message.inputs(0).datatype(), "FP32");
  EXPECT_EQ(message.raw_input_contents(0), two.inputs[0].data);
  ASSERT_EQ(message.outputs_size(), 1);
  EXPECT_EQ(message.outputs(0).name(), "p");

  inference::ModelInferResponse good;
  auto* out = good.add_outputs();
  out->set_name("p");
  out->set_datatype("FP32");
  out->add_shape(2);
  out->add_shape(14);
  good.add_raw_output_contents(std::string(2 * 14 * 4, '\0'));
  EXPECT_EQ(check_grpc_answer(two, good), "");

  inference::ModelInferResponse short_data = good;
  short_data.set_raw_output_contents(0, std::string(2 * 14 * 4 - 1, '\0'));
  EXPECT_EQ(check_grpc_answer(two, short_data), "malformed");
  inference::ModelInferResponse wrong_batch = good;
  wrong_batch.mutable_outputs(0)->set_shape(0, 1);
  wrong_batch.set_raw_output_contents(0, std::string(14 * 4, '\0'));
  EXPECT_EQ(check_grpc_answer(two, wrong_batch), "malformed");
  inference::ModelInferResponse other_output = good;
  other_output.mutable_outputs(0)->set_name("q");
  EXPECT_EQ(check_grpc_answer(two, other_output), "malformed");
  inference::ModelInferResponse no_raw = good;
  no_raw.clear_raw_output_contents();
  EXPECT_EQ(check_grpc_answer(two, no_raw), "malformed");
  EXPECT_EQ(check_grpc_answer(two, inference::ModelInferResponse()), "malformed");
  EXPECT_EQ(grpc_code_name(grpc::StatusCode::RESOURCE_EXHAUSTED), "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace chexrt::perf
