// Operator types, generated from ops.inc.
//
// Fused ops (made by graph passes, never by importers):
//   Conv            may carry the extra attribute `activation` ("relu"): conv + bias + ReLU.
//   ChannelAffine   y = act(x * scale[c] + shift[c]) on NCHW; inputs (x, scale, shift),
//                   attribute `activation` ("" or "relu"). Batch norm in inference form.
//   ClassifierHead  y = sigmoid(W * mean_hw(x) + b); inputs (x NCHW, W [K, C], b [K]),
//                   attribute `activation` ("" or "sigmoid"): global pool + flatten + FC + act.
#pragma once

#include <optional>
#include <string>

namespace chexrt::ir {

enum class OpType : int {
#define X(name) k##name,
#include "ir/ops.inc"
#undef X
  kCount
};

const char* op_name(OpType op);
std::optional<OpType> op_from_name(const std::string& name);

}  // namespace chexrt::ir
