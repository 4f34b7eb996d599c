// A fake InferenceService for the server's adapter tests: model "sum" with outputs computed from
// the inputs, so that a test can check what the adapter sent and what it returned.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "server/inference_service.h"

namespace chexrt::server::fake {

inline double element(const Tensor& t, size_t i) {
  auto read = [&](auto v) {
    std::memcpy(&v, t.data.data() + i * sizeof(v), sizeof(v));
    return static_cast<double>(v);
  };
  switch (t.datatype) {
    case DataType::kBool:
    case DataType::kUint8:
      return read(uint8_t{});
    case DataType::kUint16:
      return read(uint16_t{});
    case DataType::kUint32:
      return read(uint32_t{});
    case DataType::kUint64:
      return read(uint64_t{});
    case DataType::kInt8:
      return read(int8_t{});
    case DataType::kInt16:
      return read(int16_t{});
    case DataType::kInt32:
      return read(int32_t{});
    case DataType::kInt64:
      return read(int64_t{});
    case DataType::kFp32:
      return read(float{});
    case DataType::kFp64:
      return read(double{});
    default:
      return 0;
  }
}

// Model "sum": outputs "sum" (FP32, the element-wise sum of every numeric input but FP16),
// "echo_<input>" (each input as received) and "parameters" (BYTES, "key=value" per parameter).
// It answers on its own thread; with hold(), it keeps requests until release().
class FakeService : public InferenceService {
 public:
  ~FakeService() override {
    release();
    for (std::thread& t : threads_) t.join();
  }

  bool live() const override { return live_; }
  bool ready() const override { return ready_; }
  ServerMetadata server_metadata() const override { return {"chexrt", "0.1.0", {"binary_tensor_data"}}; }
  Result<ModelMetadata> model_metadata(const std::string& name, const std::string& version) const override {
    if (!metadata_error_.ok()) return metadata_error_;
    if (name != "sum") return not_found("model '" + name + "' version '" + version + "'");
    ModelMetadata m;
    m.name = "sum";
    m.versions = {"1"};
    m.platform = "chexrt_fake";
    m.inputs = {{"a", DataType::kFp32, {-1, 3}}, {"files", DataType::kBytes, {-1}}};
    m.outputs = {{"sum", DataType::kFp32, {-1, 3}}};
    m.demo_model = true;
    return m;
  }
  Result<bool> model_ready(const std::string& name, const std::string& version) const override {
    if (name != "sum") return not_found("model '" + name + "'");
    return version.empty() || version == "1";
  }
  void infer_async(InferRequest request, std::function<void(Result<InferResponse>)> done) override {
    std::lock_guard<std::mutex> lock(mutex_);
    last_ = request;
    ++received_;
    changed_.notify_all();
    if (holding_) {
      held_.emplace_back(std::move(request), std::move(done));
      return;
    }
    if (answer_inline_) {
      // As a service does when its queue is full: done() before infer_async returns.
      done(answer(request));
      return;
    }
    threads_.emplace_back([this, request = std::move(request), done = std::move(done)] { done(answer(request)); });
  }

  std::atomic<bool> live_{true};
  std::atomic<bool> ready_{true};
  Status infer_error_;
  Status metadata_error_;
  bool answer_inline_ = false;

  void hold() {
    std::lock_guard<std::mutex> lock(mutex_);
    holding_ = true;
  }
  void release() {
    std::vector<std::pair<InferRequest, std::function<void(Result<InferResponse>)>>> held;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      holding_ = false;
      held.swap(held_);
    }
    for (auto& [request, done] : held) done(answer(request));
  }
  void wait_received(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return received_ >= n; });
  }
  InferRequest last() {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_;
  }

 private:
  Result<InferResponse> answer(const InferRequest& request) const {
    if (!infer_error_.ok()) return infer_error_;
    InferResponse response;
    response.model_name = request.model_name;
    response.model_version = "1";
    response.id = request.id;
    std::vector<Tensor> outputs;
    std::vector<float> sum;
    for (const Tensor& in : request.inputs) {
      if (in.datatype == DataType::kBytes || in.datatype == DataType::kFp16) continue;
      size_t n = in.data.size() / datatype_size(in.datatype);
      if (sum.empty()) {
        sum.assign(n, 0.0f);
        outputs.push_back({"sum", DataType::kFp32, in.shape, {}});
      }
      if (n != sum.size()) return invalid_argument("input '" + in.name + "' differs in size from the first");
      for (size_t i = 0; i < n; ++i) sum[i] += static_cast<float>(element(in, i));
    }
    if (!outputs.empty()) outputs[0].data.assign(reinterpret_cast<const char*>(sum.data()), sum.size() * sizeof(float));
    for (const Tensor& in : request.inputs) outputs.push_back({"echo_" + in.name, in.datatype, in.shape, in.data});
    Tensor parameters{"parameters", DataType::kBytes, {static_cast<int64_t>(request.parameters.size())}, {}};
    for (const auto& [key, value] : request.parameters) {
      std::string entry = key + "=" + value;
      uint32_t length = static_cast<uint32_t>(entry.size());
      parameters.data.append(reinterpret_cast<const char*>(&length), 4).append(entry);
    }
    outputs.push_back(std::move(parameters));
    if (request.requested_outputs.empty()) {
      response.outputs = std::move(outputs);
      return response;
    }
    for (const std::string& name : request.requested_outputs) {
      auto it = std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& t) { return t.name == name; });
      if (it == outputs.end()) return invalid_argument("unknown output '" + name + "'");
      response.outputs.push_back(*it);
    }
    return response;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  InferRequest last_;
  int received_ = 0;
  bool holding_ = false;
  std::vector<std::pair<InferRequest, std::function<void(Result<InferResponse>)>>> held_;
  std::vector<std::thread> threads_;
};

}  // namespace chexrt::server::fake
