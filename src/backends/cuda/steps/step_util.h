// What the step families of the CUDA backend share: the precision and layout helpers every
// tactic name and timing-cache signature is made of, and device copies of per-channel
// parameters.
#pragma once

#include <string>
#include <vector>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/kernels/pointwise.cuh"
#include "backends/cuda/plan.h"

namespace chexrt::cuda {

constexpr size_t kAlign = 256;
inline size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

inline bool is_fp16(const ExecutionPlan& p) { return p.precision == Precision::kFp16; }
/// The precision as tactic names spell it: "f16" or "f32".
inline std::string prec(const ExecutionPlan& p) { return is_fp16(p) ? "f16" : "f32"; }

std::vector<float> constant_floats(const ir::Graph& g, int value);

Act act_from(const std::string& name);

/// A value's view for timing-cache signatures: "HxWxC/ld+offset", the channel offset written
/// only when it is not a multiple of 8.
std::string layout_signature(const ValueLayout& l);

/// Device copies of per-channel float parameters (uploaded once, shared by every context).
struct DeviceAffine {
  DeviceBuffer scale, shift;
  bool relu = false;
  bool present() const { return scale.get() != nullptr; }
  Status upload(const AffineParams& p, const std::string& what);
};

/// "_affinerelu", "_affine" or "": a prologue in a tactic name.
std::string prologue_suffix(const DeviceAffine& a);

}  // namespace chexrt::cuda
