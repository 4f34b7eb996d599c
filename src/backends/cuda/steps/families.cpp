// The list of the CUDA backend's step families. A new kernel family is one file in this folder
// (its Step and its candidates function) and one line below.
//
// Within a step kind the order is the order candidates are offered and timed in, and the
// earlier of two equally fast tactics is kept: keep it when adding a line. The fused families
// (a kernel that also does the next step's work) come after the kernels of the step alone.
#include <algorithm>

#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {

// X(family, step kind): the family's candidates function is <family>_candidates, defined in the
// file named beside it.
#define CHEXRT_CUDA_STEP_FAMILIES(X)                                                         \
  X(input, kInput)            /* io.cpp: host float32 NCHW in */                             \
  X(output, kOutput)          /* io.cpp: host float32 NCHW out */                            \
  X(channel_map, kChannelMap) /* pointwise.cpp: a lone affine, ReLU or sigmoid */            \
  X(concat_copy, kConcatCopy) /* pointwise.cpp: a concat that is not in place */             \
  X(pool, kPool)              /* pool.cpp */                                                 \
  X(transition, kPool)        /* transition.cpp: + the 1x1 convolution after it, fused */    \
  X(head, kHead)              /* head.cpp */                                                 \
  X(conv_mma, kConv)          /* conv_mma.cpp: fp16 implicit GEMM, mma.sync */               \
  X(conv_wgmma, kConv)        /* conv_wgmma.cpp: fp16, wgmma, compute capability 9.0 */      \
  X(conv1x1_resident, kConv)  /* conv1x1_resident.cpp: fp16 1x1, weights in shared memory */ \
  X(conv3x3_resident, kConv)  /* conv3x3_resident.cpp: fp16 3x3, weights in shared memory */ \
  X(conv_ffma, kConv)         /* conv_ffma.cpp: fp32 implicit GEMM, FFMA */                  \
  X(conv_3xtf32, kConv)       /* conv_3xtf32.cpp: fp32 implicit GEMM, 3xTF32 tensor cores */ \
  X(conv_cudnn, kConv)        /* conv_cudnn.cpp: cuDNN's algorithms */                       \
  X(conv_cublaslt, kConv)     /* conv_cublaslt.cpp: 1x1 as a cuBLASLt matmul */              \
  X(dense_layer, kConv)       /* dense_layer.cpp: + the 3x3 after it, fused */               \
  X(stem_pool, kConv)         /* stem_pool.cpp: + the max pool after it, fused */

#define CHEXRT_DECLARE_FAMILY(family, kind) Status family##_candidates(const StepFactoryEnv&, int, StepCandidates*);
CHEXRT_CUDA_STEP_FAMILIES(CHEXRT_DECLARE_FAMILY)
#undef CHEXRT_DECLARE_FAMILY

const std::vector<StepFamily>& step_families() {
#define CHEXRT_FAMILY_ENTRY(family, kind) {#family, StepKind::kind, family##_candidates},
  static const std::vector<StepFamily> families = {CHEXRT_CUDA_STEP_FAMILIES(CHEXRT_FAMILY_ENTRY)};
#undef CHEXRT_FAMILY_ENTRY
  return families;
}

Result<std::vector<std::unique_ptr<Step>>> make_step_candidates(const StepFactoryEnv& env, int index,
                                                                const std::string& wanted) {
  const StepDesc& desc = env.plan.steps[index];
  StepCandidates out;
  out.wanted = wanted;
  for (const StepFamily& family : step_families()) {
    if (family.kind == desc.kind) CHEXRT_RETURN_IF_ERROR(family.candidates(env, index, &out));
  }
  if (!wanted.empty()) return std::move(out.steps);  // the caller says when it is not there
  // A fused kernel is timed against the best of this step and the next: it needs a kernel that
  // does this step alone.
  if (std::none_of(out.steps.begin(), out.steps.end(), [](const auto& s) { return !s->fuses_next(); })) {
    const std::string node = desc.node >= 0 ? env.graph.node(desc.node).name : "step " + std::to_string(index);
    const std::string what = desc.kind == StepKind::kConv ? "convolution kernel" : "kernel";
    return unsupported(node + ": no CUDA " + what + " takes this shape (" + out.skipped + ")");
  }
  return std::move(out.steps);
}

}  // namespace chexrt::cuda
