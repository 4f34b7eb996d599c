// The CUDA engine: an optimized graph laid out by plan.h, one chosen Step per plan step, and
// execution contexts that share the engine's weights. Each context owns a stream, an arena of
// activations, pinned host staging and one captured CUDA graph per batch size (made on first
// use), so several threads can run inferences at once (Engine::infer picks an idle context).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/plan.h"
#include "backends/cuda/steps.h"
#include "chexrt/builder.h"
#include "chexrt/engine.h"

namespace chexrt::cuda {

class ExecutionContext;

/// What the builder options do not say, mostly for tests and benchmarks.
struct CudaBuildSettings {
  /// Per graph node, the tactic to use instead of timing ("" or absent: time the candidates).
  std::vector<std::string> tactics;
  /// Keep only convolution tactics whose name contains this (when any does); e.g. "cudnn".
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
  std::string describe_layers() const override;
  std::vector<std::string> node_tactics() const override;
  Result<BenchmarkResult> benchmark(const BenchmarkOptions& options) override;

  /// Like infer(), choosing whether to replay a CUDA graph (infer() replays one unless
  /// CHEXRT_CUDA_GRAPHS=0).
  Status infer_with(const std::vector<HostTensor>& inputs, bool use_cuda_graph, std::vector<HostTensor>* outputs);

  const ExecutionPlan& plan() const { return plan_; }
  const std::vector<std::unique_ptr<Step>>& steps() const { return steps_; }
  size_t scratch_bytes() const { return scratch_bytes_; }
  size_t workspace_bytes() const { return workspace_bytes_; }

 private:
  CudaEngine() = default;
  Status prepare_batch(int64_t batch);
  Result<std::unique_ptr<ExecutionContext>> acquire(bool allow_extra);
  void release(std::unique_ptr<ExecutionContext> ctx);
  Result<int64_t> check_inputs(const std::vector<HostTensor>& inputs) const;

  ir::Graph graph_;  // the optimized graph; steps refer to its nodes
  ExecutionPlan plan_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::vector<TensorInfo> inputs_, outputs_;
  cudnnHandle_t cudnn_ = nullptr;        // host-side queries (Step::prepare)
  cublasLtHandle_t cublaslt_ = nullptr;  // idem
  size_t scratch_bytes_ = 0, workspace_bytes_ = 0;
  std::string device_name_;
  bool graphs_default_ = true;

  std::mutex prepare_mu_;
  std::vector<bool> prepared_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<ExecutionContext>> idle_;
  int live_contexts_ = 0;
  int max_contexts_ = 4;

  friend class ExecutionContext;
};

}  // namespace chexrt::cuda
