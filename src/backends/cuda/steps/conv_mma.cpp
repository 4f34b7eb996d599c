// chexrt's tensor-core implicit GEMM on mma.sync (kernels/conv_gemm.cu), fp16 only.
//
// Candidates: every tile conv_gemm.cu compiles for the variant that takes the convolution
// (1x1, 1x1 with the BN + ReLU prologue, general; and 3x3 halo for DenseNet's 3x3 layers),
// each tile whole and, where its CTAs alone leave multiprocessors idle, split along K (the
// partial sums added by a second kernel, or inside a thread-block cluster on compute
// capability 9.0 and later).
#include <algorithm>

#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

class MmaConvStep : public F16ConvStep {
 public:
  MmaConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, ConvGemmTile tile, int splits,
              bool cluster_reduce = false)
      : F16ConvStep(plan, p, variant, tile, splits, cluster_reduce) {}
  std::string name() const override {
    return tactic_name(variant_ == ConvGemmVariant::kHalo3x3 ? "__mma_halo_" : "__mma_");
  }

  /// K is split when the tiles alone would not fill the GPU: as many ways as it takes to give
  /// every multiprocessor a CTA, keeping at least two 32-wide K steps per split.
  static int split_count(const ConvProblem& p, ConvGemmVariant variant, const ConvGemmTile& tile, int sms) {
    if (variant == ConvGemmVariant::kHalo3x3) return 1;
    const int64_t ctas = (p.batch * p.out_h * p.out_w + tile.bm - 1) / tile.bm * (p.out_c / tile.bn);
    const int k = p.pointwise() ? p.in_c : p.kh * p.kw * p.in_c;
    const int k_tiles = (k + 31) / 32;
    if (ctas >= sms) return 1;
    return static_cast<int>(std::min<int64_t>({(sms + ctas - 1) / ctas, k_tiles / 2, kMaxSplits}));
  }

 protected:
  cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) const override {
    return launch_conv_gemm_f16(a, variant_, tile_, stream);
  }
};

}  // namespace

Status conv_mma_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  if (!is_fp16(env.plan)) return Status::ok_status();
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, env.plan.steps[index], env.batch));
  for (ConvGemmVariant v : {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue, ConvGemmVariant::kGeneral,
                            ConvGemmVariant::kHalo3x3}) {
    for (const ConvGemmTile& tile : conv_gemm_tiles(v)) {
      if (!MmaConvStep::applicable(env.plan, p, v, tile)) continue;
      const int splits = MmaConvStep::split_count(p, v, tile, env.device.multiProcessorCount);
      // Each tile whole, and split along K where the tiles alone leave multiprocessors idle: just
      // enough CTAs to fill them, and twice that (more loads in flight per multiprocessor).
      std::vector<int> split_counts = {1};
      if (splits > 1) split_counts.push_back(splits);
      const int k_tiles = ((p.pointwise() ? p.in_c : p.kh * p.kw * p.in_c) + 31) / 32;
      if (splits > 1 && 2 * splits <= std::min(k_tiles / 2, kMaxSplits)) split_counts.push_back(2 * splits);
      std::vector<int> cluster_counts;  // the same splits reduced inside a thread-block cluster
      for (int s : split_counts) {
        auto step = std::make_unique<MmaConvStep>(env.plan, p, v, tile, s);
        if (out->wants(*step)) {
          CHEXRT_RETURN_IF_ERROR(step->init());
          out->steps.push_back(std::move(step));
        }
        const int c = std::min(s, kMaxClusterSplits);
        if (c > 1 && env.device.major >= 9 &&
            std::find(cluster_counts.begin(), cluster_counts.end(), c) == cluster_counts.end()) {
          cluster_counts.push_back(c);
        }
      }
      for (int c : cluster_counts) {
        auto step = std::make_unique<MmaConvStep>(env.plan, p, v, tile, c, true);
        if (!out->wants(*step)) continue;
        CHEXRT_RETURN_IF_ERROR(step->init());
        out->steps.push_back(std::move(step));
      }
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
