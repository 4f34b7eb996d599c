// The gRPC adapter (src/server/kserve_grpc.h) against a fake InferenceService, through the client
// stub generated from grpc_service.proto, on an ephemeral port of 127.0.0.1.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "fake_inference_service.h"
#include "kserve_proto/grpc_service.grpc.pb.h"
#include "server/kserve_grpc.h"

namespace chexrt::server {
namespace {

namespace pb = ::inference;
using fake::FakeService;

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

std::string bytes_raw(std::initializer_list<std::string> elements) {
  std::string out;
  for (const std::string& e : elements) {
    uint32_t length = static_cast<uint32_t>(e.size());
    out.append(reinterpret_cast<const char*>(&length), 4).append(e);
  }
  return out;
}

std::vector<float> floats(const std::string& raw_bytes) {
  std::vector<float> out(raw_bytes.size() / sizeof(float));
  std::memcpy(out.data(), raw_bytes.data(), out.size() * sizeof(float));
  return out;
}

class GrpcTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(const GrpcOptions& options) {
    server_.reset();
    auto server = GrpcServer::start(service_, "127.0.0.1", 0, options);
    ASSERT_TRUE(server.ok()) << server.status().to_string();
    server_ = std::move(server).value();
    ASSERT_GT(server_->port(), 0);
    auto channel =
        grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = pb::GRPCInferenceService::NewStub(channel);
  }

  pb::ModelInferRequest::InferInputTensor* add_input(pb::ModelInferRequest& r, const std::string& name,
                                                     const std::string& datatype, std::vector<int64_t> shape) {
    auto* in = r.add_inputs();
    in->set_name(name);
    in->set_datatype(datatype);
    for (int64_t d : shape) in->add_shape(d);
    return in;
  }

  grpc::Status infer(const pb::ModelInferRequest& request, pb::ModelInferResponse& response) {
    grpc::ClientContext context;
    return stub_->ModelInfer(&context, request, &response);
  }

  // The status of a ModelInfer that must fail.
  grpc::Status infer_error(const pb::ModelInferRequest& request) {
    pb::ModelInferResponse response;
    grpc::Status status = infer(request, response);
    EXPECT_FALSE(status.ok());
    return status;
  }

  FakeService service_;
  std::unique_ptr<GrpcServer> server_;
  std::unique_ptr<pb::GRPCInferenceService::Stub> stub_;
};

TEST_F(GrpcTest, ServerLiveAndReadyFollowTheService) {
  for (bool state : {true, false}) {
    service_.live_ = state;
    service_.ready_ = !state;
    grpc::ClientContext live_context, ready_context;
    pb::ServerLiveResponse live;
    pb::ServerReadyResponse ready;
    ASSERT_TRUE(stub_->ServerLive(&live_context, {}, &live).ok());
    ASSERT_TRUE(stub_->ServerReady(&ready_context, {}, &ready).ok());
    EXPECT_EQ(live.live(), state);
    EXPECT_EQ(ready.ready(), !state);
  }
}

TEST_F(GrpcTest, ServerMetadata) {
  grpc::ClientContext context;
  pb::ServerMetadataResponse response;
  ASSERT_TRUE(stub_->ServerMetadata(&context, {}, &response).ok());
  EXPECT_EQ(response.name(), "chexrt");
  EXPECT_EQ(response.version(), "0.1.0");
  ASSERT_EQ(response.extensions_size(), 1);
  EXPECT_EQ(response.extensions(0), "binary_tensor_data");
}

TEST_F(GrpcTest, ModelMetadataFieldByField) {
  grpc::ClientContext context;
  pb::ModelMetadataRequest request;
  request.set_name("sum");
  pb::ModelMetadataResponse response;
  ASSERT_TRUE(stub_->ModelMetadata(&context, request, &response).ok());
  EXPECT_EQ(response.name(), "sum");
  ASSERT_EQ(response.versions_size(), 1);
  EXPECT_EQ(response.versions(0), "1");
  EXPECT_EQ(response.platform(), "chexrt_fake");
  ASSERT_EQ(response.inputs_size(), 2);
  EXPECT_EQ(response.inputs(0).name(), "a");
  EXPECT_EQ(response.inputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(response.inputs(0).shape().begin(), response.inputs(0).shape().end()),
            (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(response.inputs(1).name(), "files");
  EXPECT_EQ(response.inputs(1).datatype(), "BYTES");
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.outputs(0).name(), "sum");
  ASSERT_EQ(response.parameters().count("demo_model"), 1u);
  EXPECT_TRUE(response.parameters().at("demo_model").bool_param());
}

TEST_F(GrpcTest, UnknownModelIsNotFound) {
  grpc::ClientContext metadata_context, ready_context;
  pb::ModelMetadataRequest metadata_request;
  metadata_request.set_name("nope");
  metadata_request.set_version("3");
  pb::ModelMetadataResponse metadata;
  grpc::Status status = stub_->ModelMetadata(&metadata_context, metadata_request, &metadata);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "model 'nope' version '3'");

  pb::ModelReadyRequest ready_request;
  ready_request.set_name("nope");
  pb::ModelReadyResponse ready;
  EXPECT_EQ(stub_->ModelReady(&ready_context, ready_request, &ready).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcTest, ModelReadyPassesTheVersion) {
  for (auto [version, expected] : {std::pair{"", true}, {"1", true}, {"2", false}}) {
    grpc::ClientContext context;
    pb::ModelReadyRequest request;
    request.set_name("sum");
    request.set_version(version);
    pb::ModelReadyResponse response;
    ASSERT_TRUE(stub_->ModelReady(&context, request, &response).ok());
    EXPECT_EQ(response.ready(), expected) << version;
  }
}

TEST_F(GrpcTest, InferWithRawContents) {
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  request.set_model_version("1");
  request.set_id("request-42");
  add_input(request, "a", "FP32", {2, 3});
  add_input(request, "b", "INT32", {2, 3});
  add_input(request, "files", "BYTES", {2});
  request.add_raw_input_contents(raw<float>({0.5f, 1, 2, 3, 4, -5}));
  request.add_raw_input_contents(raw<int32_t>({1, 2, 3, 4, 5, 6}));
  request.add_raw_input_contents(bytes_raw({"\x89PNG", ""}));

  pb::ModelInferResponse response;
  grpc::Status status = infer(request, response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  // What the service received.
  InferRequest received = service_.last();
  EXPECT_EQ(received.model_name, "sum");
  EXPECT_EQ(received.model_version, "1");
  EXPECT_EQ(received.id, "request-42");
  ASSERT_EQ(received.inputs.size(), 3u);
  EXPECT_EQ(received.inputs[1].name, "b");
  EXPECT_EQ(received.inputs[1].datatype, DataType::kInt32);
  EXPECT_EQ(received.inputs[1].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(received.inputs[2].datatype, DataType::kBytes);
  EXPECT_EQ(received.inputs[2].data, bytes_raw({"\x89PNG", ""}));
  EXPECT_TRUE(received.requested_outputs.empty());
  EXPECT_EQ(received.timeout.count(), 0);

  // What came back.
  EXPECT_EQ(response.model_name(), "sum");
  EXPECT_EQ(response.model_version(), "1");
  EXPECT_EQ(response.id(), "request-42");
  ASSERT_EQ(response.outputs_size(), 5);
  ASSERT_EQ(response.raw_output_contents_size(), 5);
  EXPECT_EQ(response.outputs(0).name(), "sum");
  EXPECT_EQ(response.outputs(0).datatype(), "FP32");
  EXPECT_EQ(std::vector<int64_t>(response.outputs(0).shape().begin(), response.outputs(0).shape().end()),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(floats(response.raw_output_contents(0)), (std::vector<float>{1.5f, 3, 5, 7, 9, 1}));
  EXPECT_FALSE(response.outputs(0).has_contents());
  EXPECT_EQ(response.outputs(3).name(), "echo_files");
  EXPECT_EQ(response.outputs(3).datatype(), "BYTES");
  EXPECT_EQ(response.raw_output_contents(3), bytes_raw({"\x89PNG", ""}));
}

TEST_F(GrpcTest, InferWithTypedContentsOfEveryDatatype) {
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  auto c = [&](const std::string& name, const std::string& type) {
    return add_input(request, name, type, {2})->mutable_contents();
  };
  auto* b = c("bool", "BOOL");
  b->add_bool_contents(true), b->add_bool_contents(false);
  auto* u8 = c("u8", "UINT8");
  u8->add_uint_contents(255), u8->add_uint_contents(7);
  auto* u16 = c("u16", "UINT16");
  u16->add_uint_contents(65535), u16->add_uint_contents(1);
  auto* u32 = c("u32", "UINT32");
  u32->add_uint_contents(4000000000u), u32->add_uint_contents(2);
  auto* u64 = c("u64", "UINT64");
  u64->add_uint64_contents(1ull << 40), u64->add_uint64_contents(3);
  auto* i8 = c("i8", "INT8");
  i8->add_int_contents(-128), i8->add_int_contents(127);
  auto* i16 = c("i16", "INT16");
  i16->add_int_contents(-300), i16->add_int_contents(300);
  auto* i32 = c("i32", "INT32");
  i32->add_int_contents(-70000), i32->add_int_contents(5);
  auto* i64 = c("i64", "INT64");
  i64->add_int64_contents(-(1ll << 40)), i64->add_int64_contents(6);
  auto* f32 = c("f32", "FP32");
  f32->add_fp32_contents(0.25f), f32->add_fp32_contents(-1.5f);
  auto* f64 = c("f64", "FP64");
  f64->add_fp64_contents(1e300), f64->add_fp64_contents(-2.0);
  auto* s = c("s", "BYTES");
  s->add_bytes_contents("ab"), s->add_bytes_contents(std::string("\0z", 2));

  pb::ModelInferResponse response;
  grpc::Status status = infer(request, response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::vector<std::string> expected = {
      raw<uint8_t>({1, 0}),
      raw<uint8_t>({255, 7}),
      raw<uint16_t>({65535, 1}),
      raw<uint32_t>({4000000000u, 2}),
      raw<uint64_t>({1ull << 40, 3}),
      raw<int8_t>({-128, 127}),
      raw<int16_t>({-300, 300}),
      raw<int32_t>({-70000, 5}),
      raw<int64_t>({-(1ll << 40), 6}),
      raw<float>({0.25f, -1.5f}),
      raw<double>({1e300, -2.0}),
      bytes_raw({"ab", std::string("\0z", 2)}),
  };
  // outputs: sum, then one echo per input in order, then parameters.
  ASSERT_EQ(response.raw_output_contents_size(), static_cast<int>(expected.size()) + 2);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(response.outputs(i + 1).name(), "echo_" + request.inputs(i).name());
    EXPECT_EQ(response.outputs(i + 1).datatype(), request.inputs(i).datatype());
    EXPECT_EQ(response.raw_output_contents(i + 1), expected[i]) << request.inputs(i).name();
  }
  const double sum0 =
      1 + 255 + 65535 + 4000000000.0 + double(1ull << 40) - 128 - 300 - 70000 - double(1ll << 40) + 0.25 + 1e300;
  EXPECT_EQ(floats(response.raw_output_contents(0))[0], static_cast<float>(sum0));
}

TEST_F(GrpcTest, ParametersTimeoutDeadlineAndRequestedOutputs) {
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  auto& p = *request.mutable_parameters();
  p["mode"].set_string_param("tencrop");
  p["heatmap"].set_bool_param(true);
  p["count"].set_int64_param(-3);
  p["scale"].set_double_param(0.1);
  p["big"].set_uint64_param(18446744073709551615ull);
  p["timeout"].set_int64_param(250000);
  add_input(request, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(2);
  request.add_outputs()->set_name("parameters");
  request.add_outputs()->set_name("sum");

  pb::ModelInferResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(600));
  grpc::Status status = stub_->ModelInfer(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  InferRequest received = service_.last();
  EXPECT_EQ(received.parameters, (std::map<std::string, std::string>{{"mode", "tencrop"},
                                                                     {"heatmap", "true"},
                                                                     {"count", "-3"},
                                                                     {"scale", "0.1"},
                                                                     {"big", "18446744073709551615"}}));
  // The timeout parameter is shorter than the deadline.
  EXPECT_EQ(received.timeout, std::chrono::microseconds(250000));
  EXPECT_EQ(received.requested_outputs, (std::vector<std::string>{"parameters", "sum"}));
  ASSERT_EQ(response.outputs_size(), 2);
  EXPECT_EQ(response.outputs(0).name(), "parameters");
  EXPECT_EQ(response.raw_output_contents(0),
            bytes_raw({"big=18446744073709551615", "count=-3", "heatmap=true", "mode=tencrop", "scale=0.1"}));
  EXPECT_EQ(response.outputs(1).name(), "sum");
  EXPECT_EQ(floats(response.raw_output_contents(1)), std::vector<float>{2});

  // Without the parameter, the client's deadline (5 s away) becomes the timeout.
  request.mutable_parameters()->erase("timeout");
  grpc::ClientContext deadline_context;
  deadline_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  ASSERT_TRUE(stub_->ModelInfer(&deadline_context, request, &response).ok());
  received = service_.last();
  EXPECT_GT(received.timeout, std::chrono::seconds(3));
  // The grpc-timeout header carries the deadline rounded up (to a few significant digits).
  EXPECT_LE(received.timeout, std::chrono::milliseconds(5100));
}

TEST_F(GrpcTest, MalformedRequestsAreInvalidArgumentNamingTheField) {
  struct Case {
    const char* what;
    std::function<void(pb::ModelInferRequest&)> make;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"raw size",
       [&](auto& r) {
         add_input(r, "a", "FP32", {2, 3}), r.add_raw_input_contents(raw<float>({1, 2}));
       },
       "input 'a': raw_input_contents has 8 bytes but FP32 [2,3] needs 24"},
      {"raw count",
       [&](auto& r) {
         add_input(r, "a", "FP32", {1}), add_input(r, "b", "FP32", {1}), r.add_raw_input_contents(raw<float>({1}));
       },
       "raw_input_contents has 1 entries for 2 inputs"},
      {"raw and contents",
       [&](auto& r) {
         add_input(r, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
         r.add_raw_input_contents(raw<float>({1}));
       },
       "input 'a' has both contents and raw_input_contents"},
      {"wrong field", [&](auto& r) { add_input(r, "a", "INT32", {1})->mutable_contents()->add_fp32_contents(1); },
       "input 'a': datatype INT32 takes its elements in contents.int_contents, not contents.fp32_contents"},
      {"typed count", [&](auto& r) { add_input(r, "a", "FP32", {3})->mutable_contents()->add_fp32_contents(1); },
       "input 'a': contents.fp32_contents has 1 elements but shape [3] needs 3"},
      {"no data", [&](auto& r) { add_input(r, "a", "UINT8", {4}); }, "input 'a' has no data"},
      {"typed FP16", [&](auto& r) { add_input(r, "h", "FP16", {1})->mutable_contents()->add_fp32_contents(1); },
       "input 'h': FP16 has no typed contents field"},
      {"datatype", [&](auto& r) { add_input(r, "a", "fp32", {1}); }, "input 'a': unknown datatype 'fp32'"},
      {"negative dim",
       [&](auto& r) {
         add_input(r, "a", "FP32", {-1, 3});
       },
       "input 'a': shape [-1,3] has a negative"},
      {"int8 range", [&](auto& r) { add_input(r, "a", "INT8", {1})->mutable_contents()->add_int_contents(300); },
       "input 'a': element 300 is out of range"},
      {"bytes truncated",
       [&](auto& r) { add_input(r, "s", "BYTES", {1}), r.add_raw_input_contents(std::string("\5\0\0\0ab", 6)); },
       "input 's': BYTES element 0 says 5 bytes but only 2 follow"},
      {"bytes extra",
       [&](auto& r) {
         add_input(r, "s", "BYTES", {1}), r.add_raw_input_contents(bytes_raw({"ab", "c"}));
       },
       "input 's': BYTES contents hold 5 bytes beyond the 1 elements"},
      {"bytes short", [&](auto& r) { add_input(r, "s", "BYTES", {2}), r.add_raw_input_contents(bytes_raw({"ab"})); },
       "input 's': BYTES contents end before element 1 of 2"},
      {"timeout", [&](auto& r) { (*r.mutable_parameters())["timeout"].set_string_param("soon"); },
       "parameter 'timeout' must be a non-negative int64_param"},
  };
  for (const Case& c : cases) {
    pb::ModelInferRequest request;
    request.set_model_name("sum");
    c.make(request);
    grpc::Status status = infer_error(request);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_EQ(status.error_message().rfind(c.message, 0), 0u) << c.what << ": " << status.error_message();
  }
  // The server is still well after all of them.
  pb::ModelInferRequest good;
  good.set_model_name("sum");
  add_input(good, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(4);
  pb::ModelInferResponse response;
  ASSERT_TRUE(infer(good, response).ok());
  EXPECT_EQ(floats(response.raw_output_contents(0)), std::vector<float>{4});
}

TEST_F(GrpcTest, ServiceErrorsMapToGrpcCodes) {
  const std::vector<std::pair<Status, grpc::StatusCode>> cases = {
      {invalid_argument("input 'image': bad"), grpc::StatusCode::INVALID_ARGUMENT},
      {not_found("model 'x'"), grpc::StatusCode::NOT_FOUND},
      {unavailable("queue full"), grpc::StatusCode::UNAVAILABLE},
      {deadline_exceeded("timed out in queue"), grpc::StatusCode::DEADLINE_EXCEEDED},
      {runtime_error("CUDA failed"), grpc::StatusCode::INTERNAL},
      {parse_error("bad engine"), grpc::StatusCode::INTERNAL},
      {unsupported("op"), grpc::StatusCode::INTERNAL},
      {io_error("disk"), grpc::StatusCode::INTERNAL},
  };
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  add_input(request, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
  for (const auto& [error, code] : cases) {
    service_.infer_error_ = error;
    service_.metadata_error_ = error;
    for (bool inline_answer : {false, true}) {
      service_.answer_inline_ = inline_answer;
      grpc::Status status = infer_error(request);
      EXPECT_EQ(status.error_code(), code) << error.to_string();
      EXPECT_NE(status.error_message().find(error.message()), std::string::npos) << status.error_message();
    }
    grpc::ClientContext context;
    pb::ModelMetadataRequest metadata_request;
    metadata_request.set_name("sum");
    pb::ModelMetadataResponse metadata;
    EXPECT_EQ(stub_->ModelMetadata(&context, metadata_request, &metadata).error_code(), code) << error.to_string();
  }
}

TEST_F(GrpcTest, RequestsOverTheMessageLimitAreRefused) {
  GrpcOptions options;
  options.max_message_bytes = 1 << 20;
  start(options);
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  add_input(request, "a", "UINT8", {2 << 20});
  request.add_raw_input_contents(std::string(2 << 20, '\1'));
  EXPECT_EQ(infer_error(request).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Just under the limit passes.
  pb::ModelInferRequest small;
  small.set_model_name("sum");
  add_input(small, "a", "UINT8", {4});
  small.add_raw_input_contents(std::string(4, '\2'));
  small.add_outputs()->set_name("sum");
  pb::ModelInferResponse response;
  ASSERT_TRUE(infer(small, response).ok());
  EXPECT_EQ(floats(response.raw_output_contents(0)), (std::vector<float>{2, 2, 2, 2}));
}

TEST_F(GrpcTest, APortInUseIsAnError) {
  auto second = GrpcServer::start(service_, "127.0.0.1", server_->port());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(server_->port())), std::string::npos);
  auto bad = GrpcServer::start(service_, "127.0.0.1", 70000);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(GrpcTest, ShutdownAnswersTheRequestInFlight) {
  service_.hold();
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  request.set_id("in-flight");
  add_input(request, "a", "FP32", {2})->mutable_contents()->add_fp32_contents(1);
  request.mutable_inputs(0)->mutable_contents()->add_fp32_contents(2);
  pb::ModelInferResponse response;
  auto call = std::async(std::launch::async, [&] { return infer(request, response); });
  service_.wait_received(1);

  auto shutdown = std::async(std::launch::async, [&] { server_->shutdown(); });
  // shutdown() cannot return while the service still holds the request.
  EXPECT_EQ(shutdown.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  service_.release();
  grpc::Status status = call.get();
  shutdown.get();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.id(), "in-flight");
  EXPECT_EQ(floats(response.raw_output_contents(0)), (std::vector<float>{1, 2}));

  // Nothing listens any more.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  pb::ServerLiveResponse live;
  EXPECT_EQ(stub_->ServerLive(&context, {}, &live).error_code(), grpc::StatusCode::UNAVAILABLE);
  server_->shutdown();  // idempotent
}

TEST_F(GrpcTest, AClientThatGivesUpLeavesTheServerWell) {
  service_.hold();
  pb::ModelInferRequest request;
  request.set_model_name("sum");
  add_input(request, "a", "FP32", {1})->mutable_contents()->add_fp32_contents(1);
  pb::ModelInferResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  // The service holds the request, so the client's deadline passes first.
  EXPECT_EQ(stub_->ModelInfer(&context, request, &response).error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The answer to the abandoned call goes nowhere, and the next call is served.
  service_.release();
  ASSERT_TRUE(infer(request, response).ok());
  EXPECT_EQ(floats(response.raw_output_contents(0)), std::vector<float>{1});
}

TEST_F(GrpcTest, ManyConcurrentClients) {
  constexpr int kThreads = 8, kCalls = 25;
  std::vector<std::future<int>> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.push_back(std::async(std::launch::async, [&, t] {
      int good = 0;
      for (int i = 0; i < kCalls; ++i) {
        pb::ModelInferRequest request;
        request.set_model_name("sum");
        request.set_id(std::to_string(t) + "/" + std::to_string(i));
        add_input(request, "a", "INT32", {1});
        request.add_raw_input_contents(raw<int32_t>({t * 1000 + i}));
        request.add_outputs()->set_name("sum");
        pb::ModelInferResponse response;
        if (infer(request, response).ok() && response.id() == request.id() &&
            floats(response.raw_output_contents(0)) == std::vector<float>{float(t * 1000 + i)}) {
          ++good;
        }
      }
      return good;
    }));
  }
  for (auto& w : workers) EXPECT_EQ(w.get(), kCalls);
}

}  // namespace
}  // namespace chexrt::server

namespace chexrt::server {
namespace {

// Clients generated from the protocol's own definition (Triton's among them) find every field by
// its number: these are the numbers of the Open Inference Protocol's gRPC specification
// (inference_grpc.md), and Triton's for InferParameter's double and uint64.
TEST(GrpcProto, FieldNumbersAreTheProtocols) {
  const std::vector<std::pair<std::string, std::vector<std::pair<std::string, int>>>> spec = {
      {"ServerLiveResponse", {{"live", 1}}},
      {"ServerReadyResponse", {{"ready", 1}}},
      {"ModelReadyRequest", {{"name", 1}, {"version", 2}}},
      {"ModelReadyResponse", {{"ready", 1}}},
      {"ServerMetadataResponse", {{"name", 1}, {"version", 2}, {"extensions", 3}}},
      {"ModelMetadataRequest", {{"name", 1}, {"version", 2}}},
      {"ModelMetadataResponse", {{"name", 1}, {"versions", 2}, {"platform", 3}, {"inputs", 4}, {"outputs", 5}}},
      {"ModelMetadataResponse.TensorMetadata", {{"name", 1}, {"datatype", 2}, {"shape", 3}}},
      {"InferParameter",
       {{"bool_param", 1}, {"int64_param", 2}, {"string_param", 3}, {"double_param", 4}, {"uint64_param", 5}}},
      {"InferTensorContents",
       {{"bool_contents", 1},
        {"int_contents", 2},
        {"int64_contents", 3},
        {"uint_contents", 4},
        {"uint64_contents", 5},
        {"fp32_contents", 6},
        {"fp64_contents", 7},
        {"bytes_contents", 8}}},
      {"ModelInferRequest",
       {{"model_name", 1},
        {"model_version", 2},
        {"id", 3},
        {"parameters", 4},
        {"inputs", 5},
        {"outputs", 6},
        {"raw_input_contents", 7}}},
      {"ModelInferRequest.InferInputTensor",
       {{"name", 1}, {"datatype", 2}, {"shape", 3}, {"parameters", 4}, {"contents", 5}}},
      {"ModelInferRequest.InferRequestedOutputTensor", {{"name", 1}, {"parameters", 2}}},
      {"ModelInferResponse",
       {{"model_name", 1},
        {"model_version", 2},
        {"id", 3},
        {"parameters", 4},
        {"outputs", 5},
        {"raw_output_contents", 6}}},
      {"ModelInferResponse.InferOutputTensor",
       {{"name", 1}, {"datatype", 2}, {"shape", 3}, {"parameters", 4}, {"contents", 5}}},
  };
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  for (const auto& [message, fields] : spec) {
    const google::protobuf::Descriptor* d = pool->FindMessageTypeByName("inference." + message);
    ASSERT_NE(d, nullptr) << message;
    for (const auto& [field, number] : fields) {
      const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field);
      ASSERT_NE(f, nullptr) << message << "." << field;
      EXPECT_EQ(f->number(), number) << message << "." << field;
    }
  }
  const google::protobuf::ServiceDescriptor* service = pool->FindServiceByName("inference.GRPCInferenceService");
  ASSERT_NE(service, nullptr);
  for (const char* method :
       {"ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata", "ModelInfer"}) {
    EXPECT_NE(service->FindMethodByName(method), nullptr) << method;
  }
}

}  // namespace
}  // namespace chexrt::server
