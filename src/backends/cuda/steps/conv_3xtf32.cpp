// chexrt's FP32 implicit GEMM on the tensor cores with 3xTF32 split precision
// (kernels/conv_gemm_3xtf32.cu): accurate to fp32 where TF32 alone is not, with the BN (+ ReLU)
// prologue of 1x1 convolutions fused.
//
// Candidates: every tile conv_gemm_3xtf32.cu compiles for the variant that takes the
// convolution (1x1, 1x1 with a prologue, general). No split-K.
#include "backends/cuda/kernels/conv_gemm_3xtf32.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

class Tf32x3ConvStep : public F32ConvStepBase {
 public:
  Tf32x3ConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, ConvGemmTile tile)
      : F32ConvStepBase(plan, p, variant), tile_(tile) {}
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant,
                         const ConvGemmTile& tile) {
    return applicable_common(plan, p, variant, tile.bn);
  }
  Status init() { return init_weights(true); }
  std::string name() const override {
    return p_.op_name() + "_f32_nhwc" + p_.fusion_suffix() + "__3xtf32_" + tile_.name() + "_" +
           std::to_string(tile_.warps_m * tile_.warps_n) + "w";
  }
  Status enqueue(const RunContext& ctx) const override {
    return check_cuda(launch_conv_gemm_3xtf32(args(ctx), variant_, tile_, ctx.stream), p_.node_name);
  }

 private:
  ConvGemmTile tile_;
};

}  // namespace

Status conv_3xtf32_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  if (is_fp16(env.plan)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (ConvGemmVariant v :
       {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue, ConvGemmVariant::kGeneral}) {
    for (const ConvGemmTile& tile : conv_gemm_3xtf32_tiles(v)) {
      if (!Tf32x3ConvStep::applicable(env.plan, p, v, tile)) continue;
      auto step = std::make_unique<Tf32x3ConvStep>(env.plan, p, v, tile);
      if (!out->wants(*step)) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out->steps.push_back(std::move(step));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
