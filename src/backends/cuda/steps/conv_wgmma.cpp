// Stride-1 convolutions on Hopper's wgmma (kernels/conv_halo_wgmma.cu, sm_90a), fp16 only.
//
// Candidates, on compute capability 9.0 alone: the kernel's 3x3 tiles for DenseNet's 3x3 layers
// (3x3 halo variant) and its 4x4 tiles for the stem over its space-to-depth input (general
// variant), each where conv_halo_wgmma_fits() takes the shape. No split-K.
#include "backends/cuda/kernels/conv_halo_wgmma.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

using Table = TileTable<ConvGemmTile, ConvGemmArgs>;
using Entry = Table::Entry;

class WgmmaConvStep : public F16ConvStep {
 public:
  WgmmaConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, const Entry& entry)
      : F16ConvStep(plan, p, variant, entry.tile, 1, false), launch_(entry.launch) {}
  std::string name() const override { return tactic_name("__wgmma_halo_"); }
  bool fits() const { return conv_halo_wgmma_fits(args(p_.batch), tile_); }

 protected:
  cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) const override { return launch_(a, stream); }

 private:
  Table::Launcher launch_;
};

}  // namespace

Status conv_wgmma_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  // wgmma kernels are built for sm_90a, which runs on compute capability 9.0 alone.
  if (!is_fp16(env.plan) || !(env.device.major == 9 && env.device.minor == 0)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (ConvGemmVariant v : {ConvGemmVariant::kGeneral, ConvGemmVariant::kHalo3x3}) {
    for (const Entry& entry : conv_halo_wgmma_entries(v)) {
      if (!WgmmaConvStep::applicable(env.plan, p, v, entry.tile)) continue;
      auto step = std::make_unique<WgmmaConvStep>(env.plan, p, v, entry);
      if (!step->fits() || !out->wants(*step)) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out->steps.push_back(std::move(step));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
