// The runtime pieces of a CUDA engine: one Step per plan step, each an implementation (tactic)
// of its node(s). Convolutions have several candidates (chexrt's tensor-core kernels in a few
// tile shapes, cuDNN's algorithms, cuBLASLt for 1x1); the builder times them and keeps one.
// The Steps, one file per kernel family, and the list of families are in steps/.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/plan.h"

namespace chexrt::cuda {

/// What a step needs to enqueue its work: one execution context's memory and handles, and the
/// batch of this run.
struct RunContext {
  cudaStream_t stream = nullptr;
  cudnnHandle_t cudnn = nullptr;
  cublasLtHandle_t cublaslt = nullptr;
  char* arena = nullptr;
  void* scratch = nullptr;
  size_t scratch_bytes = 0;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  std::vector<float*> inputs;   ///< Device float32 NCHW staging, per graph input.
  std::vector<float*> outputs;  ///< Device float32 NCHW staging, per graph output.
  const ExecutionPlan* plan = nullptr;
  int64_t batch = 0;

  /// Device address of element (0, 0, 0, 0) of the value's view.
  void* ptr(int value) const;
};

class Step {
 public:
  virtual ~Step() = default;
  /// The kernel (tactic) name: what it does and how, e.g.
  /// "conv1x1_f16_nhwc_affinerelu_bias_relu__mma_128x128_8w". Stored in engine files.
  virtual std::string name() const = 0;
  /// The problem, for the timing cache: equal signatures and names time alike.
  virtual std::string signature() const = 0;
  /// Host-side set-up for one batch size (library descriptors, algorithm); never called while a
  /// stream is being captured, and at most once per batch size.
  virtual Status prepare(int64_t batch) { return Status::ok_status(); }
  /// Enqueues the work on ctx.stream. Must not synchronize (it may be captured in a graph).
  virtual Status enqueue(const RunContext& ctx) const = 0;
  /// Temporary device memory used within the step, at its profile's batch (StepFactoryEnv).
  virtual size_t scratch_bytes() const { return 0; }
  /// Library workspace, at its profile's batch.
  virtual size_t workspace_bytes() const { return 0; }
  /// True for a kernel that also does the next plan step's work (a fused pair of layers). The
  /// builder times it against the best pair and, when it wins, replaces the next step by a
  /// fused_away_step().
  virtual bool fuses_next() const { return false; }
  /// True for a step whose work the previous step's kernel does: it enqueues nothing.
  virtual bool fused_away() const { return false; }
};

/// The step that stands in for plan step `index` when the previous step's kernel (`fused`, whose
/// fuses_next() is true) does its work. Its name marks it in engine files and `chexrt inspect`.
std::unique_ptr<Step> fused_away_step(const Step& fused);
/// Whether a tactic name is one of fused_away_step()'s.
bool is_fused_away_name(const std::string& tactic);

struct StepFactoryEnv {
  const ir::Graph& graph;
  const ExecutionPlan& plan;
  cudnnHandle_t cudnn;
  cublasLtHandle_t cublaslt;
  const cudaDeviceProp& device;
  /// The optimization profile's batch: the candidates are shaped (split-K, library algorithms,
  /// scratch) and timed for it, and run batches up to it.
  int64_t batch;
};

/// Every implementation of plan step `index` that this GPU and these libraries can run, each
/// prepared for env.batch. Fails when there is none. With `wanted` (a tactic name: an engine
/// file's, or a forced one) only that candidate is set up, and the list may be empty: setting up
/// the others (weight uploads, library queries) is what makes offering them slow.
Result<std::vector<std::unique_ptr<Step>>> make_step_candidates(const StepFactoryEnv& env, int index,
                                                                const std::string& wanted = "");

}  // namespace chexrt::cuda
