// DenseNet's 3x3 layers (128 -> 32 channels) with the weights resident in shared memory on
// persistent CTAs (kernels/conv3x3_resident.cu), fp16 only.
//
// Candidates: the kernel's tiles of whole images (14x14 and 7x7 layers) and of bands of rows
// (28x28 and 56x56), for the 3x3 halo variant, each where conv3x3_resident_fits() takes the
// shape. No split-K.
#include "backends/cuda/kernels/conv3x3_resident.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

using Table = TileTable<ConvGemmTile, ConvGemmArgs>;
using Entry = Table::Entry;

class Conv3x3ResidentStep : public F16ConvStep {
 public:
  Conv3x3ResidentStep(const ExecutionPlan& plan, const ConvProblem& p, const Entry& entry)
      : F16ConvStep(plan, p, ConvGemmVariant::kHalo3x3, entry.tile, 1, false), launch_(entry.launch) {}
  std::string name() const override { return tactic_name("__mma_resident_"); }
  bool fits() const { return conv3x3_resident_fits(args(p_.batch), tile_); }

 protected:
  cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) const override { return launch_(a, stream); }

 private:
  Table::Launcher launch_;
};

}  // namespace

Status conv3x3_resident_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  if (!is_fp16(env.plan)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (const Entry& entry : conv3x3_resident_entries()) {
    if (!Conv3x3ResidentStep::applicable(env.plan, p, ConvGemmVariant::kHalo3x3, entry.tile)) continue;
    auto step = std::make_unique<Conv3x3ResidentStep>(env.plan, p, entry);
    if (!step->fits() || !out->wants(*step)) continue;
    CHEXRT_RETURN_IF_ERROR(step->init());
    out->steps.push_back(std::move(step));
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
