#include "server/inference_service.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace chexrt::server {
namespace {

constexpr DataType kAll[] = {DataType::kBool, DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
                             DataType::kInt8, DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kFp16,
                             DataType::kFp32, DataType::kFp64,  DataType::kBytes};

TEST(DataType, NamesAndSizesAreTheProtocols) {
  // KServe v2's "Tensor Data Types" table.
  const std::vector<std::pair<std::string, size_t>> expected = {
      {"BOOL", 1},  {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8}, {"INT8", 1}, {"INT16", 2},
      {"INT32", 4}, {"INT64", 8}, {"FP16", 2},   {"FP32", 4},   {"FP64", 8},   {"BYTES", 0}};
  ASSERT_EQ(std::size(kAll), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(datatype_name(kAll[i]), expected[i].first);
    EXPECT_EQ(datatype_size(kAll[i]), expected[i].second) << expected[i].first;
  }
}

TEST(DataType, ParseReadsBackEveryName) {
  for (DataType type : kAll) {
    Result<DataType> parsed = parse_datatype(datatype_name(type));
    ASSERT_TRUE(parsed.ok()) << datatype_name(type) << ": " << parsed.status().to_string();
    EXPECT_EQ(parsed.value(), type);
  }
}

TEST(DataType, ParseRefusesUnknownAndWrongCaseNames) {
  for (const char* name : {"fp32", "FLOAT", "", "UINT8 "}) {
    Result<DataType> parsed = parse_datatype(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("'" + std::string(name) + "'"), std::string::npos)
        << parsed.status().message();
  }
}

// Answers with the request's id and one output holding the number of inputs, on its own thread
// or, for `sync`, before infer_async returns (as a service does when its queue is full).
class CountingService : public InferenceService {
 public:
  explicit CountingService(bool sync, Status error = Status::ok_status()) : sync_(sync), error_(std::move(error)) {}
  ~CountingService() override {
    for (std::thread& t : threads_) t.join();
  }
  bool live() const override { return true; }
  bool ready() const override { return true; }
  ServerMetadata server_metadata() const override { return {}; }
  Result<ModelMetadata> model_metadata(const std::string&, const std::string&) const override {
    return ModelMetadata{};
  }
  Result<bool> model_ready(const std::string&, const std::string&) const override { return true; }
  void infer_async(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    auto answer = [this, request = std::move(request), done = std::move(done)]() {
      if (!error_.ok()) return done(error_);
      InferResponse response;
      response.id = request.id;
      response.outputs.push_back(
          {"count", DataType::kUint8, {1}, std::string(1, static_cast<char>(request.inputs.size()))});
      done(std::move(response));
    };
    if (sync_) {
      answer();
    } else {
      threads_.emplace_back(std::move(answer));
    }
  }

 private:
  bool sync_;
  Status error_;
  std::vector<std::thread> threads_;
};

TEST(InferenceService, InferWaitsForTheAnswerFromAnotherThread) {
  for (bool sync : {false, true}) {
    CountingService service(sync);
    InferRequest request;
    request.id = "r7";
    request.inputs.resize(3);
    Result<InferResponse> response = service.infer(request);
    ASSERT_TRUE(response.ok()) << response.status().to_string();
    EXPECT_EQ(response->id, "r7");
    ASSERT_EQ(response->outputs.size(), 1u);
    EXPECT_EQ(response->outputs[0].data, std::string(1, '\3'));
  }
}

TEST(InferenceService, InferReturnsTheServicesError) {
  CountingService service(false, unavailable("queue full"));
  Result<InferResponse> response = service.infer(InferRequest{});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(response.status().message(), "queue full");
}

}  // namespace
}  // namespace chexrt::server
