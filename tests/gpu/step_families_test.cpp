// The CUDA backend's list of step families (no GPU needed): every kind of plan step has a
// family, names are unique, and the convolution families keep the order their candidates are
// timed in (the earlier of two equally fast tactics is kept, so the order decides engines).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

std::vector<std::string> family_names(StepKind kind) {
  std::vector<std::string> names;
  for (const StepFamily& f : step_families()) {
    if (f.kind == kind) names.push_back(f.name);
  }
  return names;
}

TEST(CudaStepFamilies, EveryStepKindHasAFamily) {
  for (StepKind kind : {StepKind::kInput, StepKind::kConv, StepKind::kChannelMap, StepKind::kPool, StepKind::kHead,
                        StepKind::kConcatCopy, StepKind::kOutput}) {
    EXPECT_FALSE(family_names(kind).empty()) << static_cast<int>(kind);
  }
  std::set<std::string> names;
  for (const StepFamily& f : step_families()) {
    EXPECT_TRUE(names.insert(f.name).second) << f.name;
    EXPECT_NE(f.candidates, nullptr) << f.name;
  }
}

TEST(CudaStepFamilies, ConvolutionFamiliesInTimingOrder) {
  // Kernels of the step alone first (chexrt's fp16, then fp32, then the libraries), then the
  // kernels that also do the next step's work.
  EXPECT_EQ(family_names(StepKind::kConv),
            (std::vector<std::string>{"conv_mma", "conv_wgmma", "conv1x1_resident", "conv3x3_resident", "conv_ffma",
                                      "conv_3xtf32", "conv_cudnn", "conv_cublaslt", "dense_layer", "stem_pool"}));
  EXPECT_EQ(family_names(StepKind::kPool), (std::vector<std::string>{"pool", "transition"}));
}

}  // namespace
}  // namespace chexrt::cuda
