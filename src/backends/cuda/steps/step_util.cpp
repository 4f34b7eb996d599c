#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {

std::vector<float> constant_floats(const ir::Graph& g, int value) {
  const std::vector<double> d = g.value(value).constant.to_doubles();
  return std::vector<float>(d.begin(), d.end());
}

Act act_from(const std::string& name) {
  if (name == "relu") return Act::kRelu;
  if (name == "sigmoid") return Act::kSigmoid;
  return Act::kNone;
}

std::string layout_signature(const ValueLayout& l) {
  return std::to_string(l.h) + "x" + std::to_string(l.w) + "x" + std::to_string(l.c) + "/" + std::to_string(l.ld) +
         "+" + std::to_string(l.channel_offset % 8 == 0 ? 0 : l.channel_offset);
}

Status DeviceAffine::upload(const AffineParams& p, const std::string& what) {
  relu = p.relu;
  CHEXRT_RETURN_IF_ERROR(scale.upload(p.scale.data(), p.scale.size() * sizeof(float), what + " scale"));
  return shift.upload(p.shift.data(), p.shift.size() * sizeof(float), what + " shift");
}

std::string prologue_suffix(const DeviceAffine& a) { return a.present() ? (a.relu ? "_affinerelu" : "_affine") : ""; }

}  // namespace chexrt::cuda
