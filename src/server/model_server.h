// The InferenceService behind both transports: one model, its engine instances and the dynamic
// batcher. It turns KServe requests into batcher work (float tensors as they are, 8-bit pixels
// and encoded files as images that the engine preprocesses; files are decoded on a pool of
// threads first) and the engine's outputs into findings, and, for images, heat maps on request.
//
// The model takes ONE input per request:
//   "image"       FP32 or FP16 [N, 3, 224, 224] (already preprocessed), or
//                 UINT8 [N, H, W] (grey) or [N, H, W, 3] (RGB) pixels, preprocessed here;
//   "image_bytes" BYTES [N]: PNG, JPEG or DICOM files.
// Outputs: "probabilities" FP32 [N, 14]; for image inputs also, when asked for by name,
// "image_size" INT32 [N, 2] (width, height), and with the request parameter "heatmap"
// ("1": each image's top finding, a finding's name, or "all") "heatmap_png" BYTES [N, k] and
// "heatmap_finding" BYTES [N, k]. Request parameter "mode": crop (default), exact or tencrop.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "server/dynamic_batcher.h"
#include "server/inference_service.h"
#include "server/metrics.h"

namespace chexrt::server {

struct ModelServerOptions {
  std::string name = "chexnet";
  std::string version = "1";
  /// The untrained demo model serves: said in the metadata and every /v1 answer.
  bool demo_model = false;
  BatcherOptions batcher;
  /// Applied to requests without their own timeout; 0: none.
  std::chrono::milliseconds default_timeout{0};
  int decode_threads = 0;  ///< threads decoding "image_bytes" files; 0: one per core
  int resize_size = 256;   ///< the shorter side before the crop (PreprocessOptions)
  int heatmap_max_side = 1024;
};

/// The engines of one model: one entry per batcher worker (entries may share an engine whose
/// infer() is thread-safe), the classifier weights [14, C] when every engine gives the last
/// feature map as its second output (app/cam_model.h), for heat maps, and where they run.
struct ModelInstances {
  std::vector<std::shared_ptr<Engine>> engines;
  HostTensor cam_weights;
  /// The GPUs (device ordinals) that CUDA engines run on, for the GPU memory gauges of
  /// /metrics; empty: GPU 0. Not used when the engines do not run on CUDA.
  std::vector<int> gpus;
};

/// What the demo model's answers carry (contract of /v1/predict).
extern const char* const kDemoModelWarning;

class ModelServer : public InferenceService {
 public:
  ModelServer(ModelServerOptions options, MetricsRegistry& metrics);
  ~ModelServer() override;

  /// Takes the engines and becomes ready. InvalidArgument when they do not fit the options.
  Status start(ModelInstances instances);
  /// Not ready any more: refuses new requests (Unavailable), answers every accepted one, joins
  /// the threads. Idempotent.
  void shutdown();

  const ModelServerOptions& options() const { return options_; }
  /// "reference", "cpu-onednn", "cuda"; empty before start().
  std::string backend() const;
  /// Whether the engines run on CUDA (wholly, or a segmented engine in part): then /metrics has
  /// the memory gauges of their GPUs.
  bool runs_on_gpu() const;
  bool heatmaps_available() const;

  bool live() const override { return true; }
  bool ready() const override { return ready_.load(); }
  ServerMetadata server_metadata() const override;
  Result<ModelMetadata> model_metadata(const std::string& name, const std::string& version) const override;
  Result<bool> model_ready(const std::string& name, const std::string& version) const override;
  void infer_async(InferRequest request, std::function<void(Result<InferResponse>)> done) override;

 private:
  class DecodePool;
  struct Job;
  Status check_model(const std::string& name, const std::string& version) const;
  Status prepare(const InferRequest& request, Job* job) const;
  void decode_and_submit(const std::shared_ptr<Job>& job);
  void submit(const std::shared_ptr<Job>& job);
  void finish(const std::shared_ptr<Job>& job, Result<BatchOutcome> outcome);

  ModelServerOptions options_;
  MetricsRegistry& registry_;
  ModelMetrics metrics_;
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  ModelInstances instances_;
  Dims input_dims_;           // [max batch, 3, crop, crop]
  bool fp16_inputs_ = false;  // every instance accepts_fp16_inputs(): FP16 tensors are not widened here
  std::unique_ptr<DynamicBatcher> batcher_;
  std::unique_ptr<DecodePool> decoders_;
  int gpu_gauges_ = -1;  // the collector of the GPU memory gauges, when there is one
};

}  // namespace chexrt::server
