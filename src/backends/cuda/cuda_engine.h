// The CUDA engine: an optimized graph laid out by plan.h, and per optimization profile one
// chosen Step per plan step; execution contexts share the engine's steps and weights. Each
// context owns a stream, an arena of activations, pinned host staging and one captured CUDA
// graph per batch size (made on first use), so several threads can run inferences at once
// (Engine::infer picks an idle context). The engine lives on one GPU (BuildOptions::gpu): every
// call that reaches the device makes it the calling thread's current device for its duration
// (DeviceScope), so any thread may call it.
//
// Optimization profiles (TensorRT's, with one batch range each): the builder times the kernels
// at every batch of builder::optimization_profiles(min, opt, max) and batch b runs the steps of the
// smallest of them >= b, so batch 1 runs kernels chosen at batch 1 (split-K, small tiles) and
// batch 256 kernels chosen at 256, from one engine. Everything is decided while the engine is
// built (or loaded from a file that stores every profile's tactics): the tactics of each
// profile, every batch size's library set-up (Step::prepare) and one execution context, which
// runs every batch size once (CUDA loads a module at a kernel's first launch). A
// running engine never times a kernel; a batch size's CUDA graph is captured the second time it
// runs (the first runs the steps directly, so that the first call costs no capture).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/heatmap_renderer.h"
#include "backends/cuda/plan.h"
#include "backends/cuda/steps.h"
#include "builder/timing_cache.h"
#include "chexrt/builder.h"
#include "chexrt/engine.h"

namespace chexrt::cuda {

class ExecutionContext;

/// What the builder options do not say, mostly for tests and benchmarks.
struct CudaBuildSettings {
  /// Per graph node, the tactics to use instead of timing, as builder::join_profile_tactics writes them
  /// ("" or absent: time the candidates); engine files store these.
  std::vector<std::string> tactics;
  /// Keep only convolution and pool tactics whose name contains this (when any does); e.g.
  /// "cudnn". (A pool's tactics are its kernel and the one-kernel transition.)
  std::string tactic_filter;
  /// Timing cache file ("" = none).
  std::string timing_cache;
};

/// Reads CHEXRT_CUDA_TACTIC and CHEXRT_TIMING_CACHE.
CudaBuildSettings settings_from_environment();

class CudaEngine final : public Engine {
 public:
  static Result<std::unique_ptr<CudaEngine>> build(const ir::Graph& graph, const BuildOptions& options,
                                                   const CudaBuildSettings& settings);
  ~CudaEngine() override;

  /// The tactics this GPU offers for each node of `graph` (empty for nodes without a kernel of
  /// their own), without timing them: what tests and benchmarks iterate over.
  static Result<std::vector<std::vector<std::string>>> candidate_tactics(const ir::Graph& graph,
                                                                         const BuildOptions& options);

  std::string backend_name() const override { return "cuda"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return plan_.max_batch; }
  Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) override;
  /// Copies each part into the pinned upload buffer itself: no gathered copy on the host.
  Status infer_concatenated(const std::vector<HostTensor>& parts, std::vector<HostTensor>* outputs) override;
  /// Uploads the 8-bit pixels or filtered PNG rows (or decodes JPEG views, JpegDecoder), unfilters
  /// the rows and preprocesses on the GPU (ImagePreprocessor).
  Status infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                      std::vector<HostTensor>* outputs) override;
  bool preprocesses_on_device() const override { return true; }
  /// Where nvJPEG loads (JpegDecoder::available): JPEG views are decoded on the GPU.
  bool decodes_jpeg_on_device() const override;
  bool unfilters_png_on_device() const override { return true; }
  bool accepts_fp16_inputs() const override { return true; }
  /// Draws on the GPU (HeatmapRenderer), and encodes PNGs there, one renderer per concurrent caller.
  Status draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                       const std::vector<HeatmapRequest>& requests, float max_alpha = kDefaultHeatmapAlpha) override;
  bool draws_heatmaps_on_device() const override { return true; }
  /// Each profile's layers: the largest in full, the others where they differ from it.
  std::string describe_layers() const override;
  std::vector<std::string> node_tactics() const override;
  /// Times the batch with the steps of its profile.
  Result<BenchmarkResult> benchmark(const BenchmarkOptions& options) override;

  /// Like infer(), choosing whether to replay a CUDA graph (infer() replays one unless
  /// CHEXRT_CUDA_GRAPHS=0).
  Status infer_with(const std::vector<HostTensor>& inputs, bool use_cuda_graph, std::vector<HostTensor>* outputs);

  /// The tactic of each node in the profile that runs `batch`.
  Result<std::vector<std::string>> tactics_for_batch(int64_t batch);

  const ExecutionPlan& plan() const { return plan_; }

 private:
  /// The steps chosen for batches up to `batch`, timed at `batch`. Immutable once made.
  struct Profile {
    int64_t batch = 0;
    std::vector<Step*> steps;                       // one per plan step, owned by steps_
    size_t scratch_bytes = 0, workspace_bytes = 0;  // the most its steps need
  };

  CudaEngine() = default;
  /// The profile that runs `batch` (all are made and prepared by build()).
  Result<const Profile*> prepare_batch(int64_t batch);
  /// Chooses the steps of profile `batch` (prepare_mu_ held): `forced` tactics per node where
  /// given, else the fastest candidate on this GPU.
  Result<const Profile*> tune_profile(int64_t batch, const std::vector<std::string>& forced);
  std::vector<std::string> profile_tactics(const Profile& profile) const;
  /// An idle context, or a new one; either way with the memory `profile` needs.
  Result<std::unique_ptr<ExecutionContext>> acquire(bool allow_extra, const Profile& profile);
  Result<std::unique_ptr<ExecutionContext>> benchmark_context(const Profile& profile, int64_t batch, unsigned seed);
  /// benchmark() with BenchmarkOptions::split > 1.
  Result<BenchmarkResult> benchmark_split(const BenchmarkOptions& options);
  void release(std::unique_ptr<ExecutionContext> ctx);
  Result<int64_t> check_inputs(const std::vector<HostTensor>& inputs) const;

  ir::Graph graph_;  // the optimized graph; steps refer to its nodes
  ExecutionPlan plan_;
  BuildOptions options_;
  CudaBuildSettings settings_;
  cudaDeviceProp device_{};
  builder::TimingCache cache_;
  std::vector<std::unique_ptr<Step>> steps_;        // the steps of every profile (shared where equal)
  std::vector<std::unique_ptr<Profile>> profiles_;  // from the largest batch down, as timed
  const Profile* max_profile_ = nullptr;            // profiles_[0]
  std::vector<TensorInfo> inputs_, outputs_;
  int gpu_ = 0;                          // the device ordinal: BuildOptions::gpu
  cudnnHandle_t cudnn_ = nullptr;        // host-side queries (Step::prepare)
  cublasLtHandle_t cublaslt_ = nullptr;  // idem
  std::string device_name_;
  bool graphs_default_ = true;

  // Guards steps_ and profiles_ while build() times profiles.
  std::mutex prepare_mu_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<ExecutionContext>> idle_;
  int live_contexts_ = 0;
  int max_contexts_ = 4;

  std::mutex renderers_mu_;
  std::vector<std::unique_ptr<HeatmapRenderer>> idle_renderers_;

  friend class ExecutionContext;
};

}  // namespace chexrt::cuda
