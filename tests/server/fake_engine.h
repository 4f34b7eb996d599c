// Engines for the server's tests: a fake whose output is a function of its input (so that each
// request can check it got its own rows), which records its batch sizes and can be held at a
// gate; and a small CheXNet-shaped network (input "image" [N, 3, 224, 224], 14 sigmoid outputs,
// GlobalAveragePool -> Flatten -> Gemm head for heat maps) that the reference backend runs in
// microseconds.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "chexrt/builder.h"
#include "chexrt/engine.h"
#include "chexrt/network.h"

namespace chexrt::server::testing {

/// Input [max_batch, width] float32; output [n, width]: 2 * input + 1, row by row.
class FakeEngine : public Engine {
 public:
  FakeEngine(int64_t max_batch, int64_t width, Dims input_tail = {})
      : max_batch_(max_batch),
        inputs_{
            {"x", chexrt::DataType::kFloat32, input_tail.empty() ? Dims{max_batch, width} : with_batch(input_tail)}},
        outputs_{{"y", chexrt::DataType::kFloat32, inputs_[0].dims}} {}

  std::string backend_name() const override { return "fake"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return max_batch_; }
  std::string describe_layers() const override { return ""; }
  bool accepts_fp16_inputs() const override { return accepts_fp16_; }

  Status infer(const std::vector<HostTensor>& in, std::vector<HostTensor>* out) override {
    const bool half = in[0].dtype() == chexrt::DataType::kFloat16;
    if (half && !accepts_fp16_) return invalid_argument("float16 input to an engine that takes float32 only");
    {
      std::unique_lock<std::mutex> lock(mutex_);
      batch_sizes_.push_back(in[0].dims()[0]);
      input_dtypes_.push_back(in[0].dtype());
      ++calls_started_;
      changed_.notify_all();
      changed_.wait(lock, [&] { return open_; });
    }
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
    if (fail_) return runtime_error("fake engine failure");
    if (in[0].dims()[0] > max_batch_) return invalid_argument("batch above the max");
    HostTensor y(chexrt::DataType::kFloat32, in[0].dims());
    for (int64_t i = 0; i < y.numel(); ++i) {
      const float x = half ? half_to_float(in[0].data<uint16_t>()[i]) : in[0].data<float>()[i];
      y.data<float>()[i] = 2 * x + 1;
    }
    out->assign({y});
    return Status::ok_status();
  }

  /// Holds every infer() call until open() (a closed gate).
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
  }
  void open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    changed_.notify_all();
  }
  /// Waits until `n` calls have started (running or held at the gate).
  void wait_for_calls(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return calls_started_ >= n; });
  }
  std::vector<int64_t> batch_sizes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return batch_sizes_;
  }
  /// The input's dtype of each call, in order.
  std::vector<chexrt::DataType> input_dtypes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return input_dtypes_;
  }
  void set_delay(std::chrono::microseconds d) { delay_ = d; }
  /// Takes float16 inputs as well (as GPU engines do).
  void set_accepts_fp16(bool accepts) { accepts_fp16_ = accepts; }
  void set_fail(bool fail) { fail_ = fail; }

 private:
  Dims with_batch(const Dims& tail) const {
    Dims d{max_batch_};
    d.insert(d.end(), tail.begin(), tail.end());
    return d;
  }

  int64_t max_batch_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  bool open_ = true;
  int calls_started_ = 0;
  std::vector<int64_t> batch_sizes_;
  std::vector<chexrt::DataType> input_dtypes_;
  std::chrono::microseconds delay_{0};
  bool accepts_fp16_ = false;
  bool fail_ = false;
};

/// A model with CheXNet's interface: "image" [max_batch, 3, 224, 224] -> 8x8 convolution with
/// stride 8 to 8 channels -> ReLU -> GlobalAveragePool -> Flatten -> Gemm to 14 -> Sigmoid
/// ("probabilities"). Weights from a fixed seed.
NetworkDefinition tiny_chexnet(int64_t max_batch);

/// An engine that sleeps before each call of the engine it wraps (a slow model, for overload).
class SlowEngine : public Engine {
 public:
  SlowEngine(std::unique_ptr<Engine> inner, std::chrono::microseconds delay)
      : inner_(std::move(inner)), delay_(delay) {}
  std::string backend_name() const override { return inner_->backend_name(); }
  const std::vector<TensorInfo>& inputs() const override { return inner_->inputs(); }
  const std::vector<TensorInfo>& outputs() const override { return inner_->outputs(); }
  int64_t max_batch() const override { return inner_->max_batch(); }
  std::string describe_layers() const override { return ""; }
  Status infer(const std::vector<HostTensor>& in, std::vector<HostTensor>* out) override {
    std::this_thread::sleep_for(delay_);
    return inner_->infer(in, out);
  }
  Status infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                      std::vector<HostTensor>* out) override {
    std::this_thread::sleep_for(delay_);
    return inner_->infer_images(images, options, out);
  }

 private:
  std::unique_ptr<Engine> inner_;
  std::chrono::microseconds delay_;
};

/// An engine that takes float16 inputs and PNG rows as GPU engines do (accepts_fp16_inputs(),
/// unfilters_png_on_device()), widening them for the engine it wraps (whose own infer_images
/// unfilters rows on the host), and counts the calls that came in float16 and the images that
/// came as PNG rows.
class Fp16InputEngine : public Engine {
 public:
  explicit Fp16InputEngine(std::unique_ptr<Engine> inner) : inner_(std::move(inner)) {}
  std::string backend_name() const override { return inner_->backend_name(); }
  const std::vector<TensorInfo>& inputs() const override { return inner_->inputs(); }
  const std::vector<TensorInfo>& outputs() const override { return inner_->outputs(); }
  int64_t max_batch() const override { return inner_->max_batch(); }
  std::string describe_layers() const override { return ""; }
  bool accepts_fp16_inputs() const override { return true; }
  bool unfilters_png_on_device() const override { return true; }
  Status infer(const std::vector<HostTensor>& in, std::vector<HostTensor>* out) override {
    if (in.size() != 1 || in[0].dtype() != chexrt::DataType::kFloat16) return inner_->infer(in, out);
    ++half_calls_;
    HostTensor wide(chexrt::DataType::kFloat32, in[0].dims());
    for (int64_t i = 0; i < wide.numel(); ++i) wide.data<float>()[i] = half_to_float(in[0].data<uint16_t>()[i]);
    return inner_->infer({wide}, out);
  }
  Status infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                      std::vector<HostTensor>* out) override {
    for (const ImageView& v : images) png_row_images_ += v.encoding == PixelEncoding::kPngFiltered ? 1 : 0;
    return inner_->infer_images(images, options, out);
  }
  int half_calls() const { return half_calls_; }
  int png_row_images() const { return png_row_images_; }

 private:
  std::unique_ptr<Engine> inner_;
  std::atomic<int> half_calls_{0};
  std::atomic<int> png_row_images_{0};
};

}  // namespace chexrt::server::testing
