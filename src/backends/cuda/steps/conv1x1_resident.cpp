// 1x1 convolutions with the weights resident in shared memory on persistent CTAs
// (kernels/conv1x1_resident.cu), fp16 only: DenseNet's bottleneck 1x1s after their BN + ReLU,
// and 1x1s without a prologue.
//
// Candidates: the kernel's tiles for the 1x1 variant that takes the convolution, each where
// conv1x1_resident_fits() takes the shape (128-channel output slices, weights and pipeline
// within shared memory). No split-K.
#include "backends/cuda/kernels/conv1x1_resident.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

using Table = TileTable<ConvGemmTile, ConvGemmArgs>;
using Entry = Table::Entry;

class Conv1x1ResidentStep : public F16ConvStep {
 public:
  Conv1x1ResidentStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, const Entry& entry)
      : F16ConvStep(plan, p, variant, entry.tile, 1, false), launch_(entry.launch) {}
  std::string name() const override { return tactic_name("__mma_resident_"); }
  bool fits() const { return conv1x1_resident_fits(args(p_.batch), tile_); }

 protected:
  cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) const override { return launch_(a, stream); }

 private:
  Table::Launcher launch_;
};

}  // namespace

Status conv1x1_resident_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  if (!is_fp16(env.plan)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (ConvGemmVariant v : {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue}) {
    for (const Entry& entry : conv1x1_resident_entries(v)) {
      if (!Conv1x1ResidentStep::applicable(env.plan, p, v, entry.tile)) continue;
      auto step = std::make_unique<Conv1x1ResidentStep>(env.plan, p, v, entry);
      if (!step->fits() || !out->wants(*step)) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out->steps.push_back(std::move(step));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
