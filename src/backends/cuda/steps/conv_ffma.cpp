// chexrt's FP32 implicit GEMM on the FP32 units, FFMA only (kernels/conv_gemm_f32.cu): exact to
// fp32 rounding, with the BN (+ ReLU) prologue of 1x1 convolutions fused.
//
// Candidates: every tile conv_gemm_f32.cu compiles for the variant that takes the convolution
// (1x1, 1x1 with a prologue, general). No split-K.
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

class FfmaConvStep : public F32ConvStepBase {
 public:
  FfmaConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, ConvGemmF32Tile tile)
      : F32ConvStepBase(plan, p, variant), tile_(tile) {}
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant,
                         const ConvGemmF32Tile& tile) {
    return applicable_common(plan, p, variant, tile.bn);
  }
  Status init() { return init_weights(false); }
  std::string name() const override {
    return p_.op_name() + "_f32_nhwc" + p_.fusion_suffix() + "__ffma_" + tile_.name();
  }
  Status enqueue(const RunContext& ctx) const override {
    return check_cuda(launch_conv_gemm_f32(args(ctx), variant_, tile_, ctx.stream), p_.node_name);
  }

 private:
  ConvGemmF32Tile tile_;
};

}  // namespace

Status conv_ffma_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  if (is_fp16(env.plan)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (ConvGemmVariant v :
       {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue, ConvGemmVariant::kGeneral}) {
    for (const ConvGemmF32Tile& tile : conv_gemm_f32_tiles(v)) {
      if (!FfmaConvStep::applicable(env.plan, p, v, tile)) continue;
      auto step = std::make_unique<FfmaConvStep>(env.plan, p, v, tile);
      if (!out->wants(*step)) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out->steps.push_back(std::move(step));
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
