// Batch-norm folding. In inference form a batch norm is a per-channel affine map
// (src/ir/batchnorm_affine.h):
//
//   BN(y)[c] = s[c] * y[c] + (beta[c] - mean[c] * s[c]),     s[c] = gamma[c] / sqrt(var[c] + eps)
//
// After a convolution y[oc] = sum(W[oc] * x) + b[oc] it folds into the convolution's weights:
//
//   W'[oc, ...] = W[oc, ...] * s[oc]
//   b'[oc]      = (b[oc] - mean[oc]) * s[oc] + beta[oc]
//
// (ref: Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
// Integer-Arithmetic-Only Inference", section 3.2). A batch norm that follows anything else
// (in DenseNet: the Concat at the start of each layer) becomes ChannelAffine(x, s, beta - mean*s).
// The arithmetic is done in double and rounded once to float.
#include <optional>

#include "ir/batchnorm_affine.h"
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "fold_batchnorm";

using ir::ChannelAffineParams;

// The affine form of a batch norm, or nothing when it is not a foldable inference-form batch
// norm: training mode, the optional running-statistics outputs, or parameters that are not
// float32 constants.
std::optional<ChannelAffineParams> foldable_affine(const ir::Graph& graph, const ir::Node& node) {
  if (node.op != ir::OpType::kBatchNormalization || node.outputs.size() != 1 || node.inputs.size() != 5 ||
      node.attrs.get_int("training_mode", 0) != 0) {
    return std::nullopt;
  }
  for (size_t i = 1; i < 5; ++i) {
    if (detail::constant_floats(graph, node.inputs[i]) == nullptr) return std::nullopt;
  }
  Result<ChannelAffineParams> a = ir::batchnorm_affine(graph, node);
  if (!a.ok()) return std::nullopt;
  return std::move(a).value();
}

// The batch norm that is the only reader of a Conv's output and folds into it, or -1.
int foldable_batchnorm(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers, int conv) {
  const ir::Node& c = graph.node(conv);
  // A fused activation sits between the conv and the batch norm and does not commute with it.
  if (c.attrs.get_string("activation", "") != "" || c.outputs.size() != 1) return -1;
  if (detail::constant_floats(graph, c.inputs[1]) == nullptr) return -1;
  if (c.inputs.size() > 2 && c.inputs[2] != ir::kNoValue && detail::constant_floats(graph, c.inputs[2]) == nullptr) {
    return -1;
  }
  const int bn = detail::sole_consumer(graph, consumers, c.outputs[0]);
  if (bn < 0 || graph.node(bn).inputs[0] != c.outputs[0]) return -1;
  return foldable_affine(graph, graph.node(bn)) ? bn : -1;
}

Status fold_into_conv(ir::Graph& graph, int conv, const ChannelAffineParams& a) {
  const ir::Node& c = graph.node(conv);
  const HostTensor& w = graph.value(c.inputs[1]).constant;
  const int64_t out_channels = w.dims()[0];
  const int64_t per_channel = w.numel() / out_channels;
  HostTensor folded_w(DataType::kFloat32, w.dims());
  for (int64_t oc = 0; oc < out_channels; ++oc) {
    for (int64_t i = 0; i < per_channel; ++i) {
      const int64_t k = oc * per_channel + i;
      folded_w.data<float>()[k] = static_cast<float>(w.data<float>()[k] * a.scale[oc]);
    }
  }
  const float* b = c.inputs.size() > 2 ? detail::constant_floats(graph, c.inputs[2]) : nullptr;
  HostTensor folded_b(DataType::kFloat32, {out_channels});
  for (int64_t oc = 0; oc < out_channels; ++oc) {
    // (b - mean) * s + beta == b * s + (beta - mean * s)
    folded_b.data<float>()[oc] = static_cast<float>((b ? b[oc] : 0.0) * a.scale[oc] + a.shift[oc]);
  }
  const std::string name = c.name;
  CHEXRT_RETURN_IF_ERROR(detail::set_constant_input(graph, conv, 1, std::move(folded_w), name + ".weight"));
  return detail::set_constant_input(graph, conv, 2, std::move(folded_b), name + ".bias");
}

}  // namespace

Result<int> fold_batchnorm(ir::Graph& graph, std::vector<std::string>* log) {
  std::vector<bool> dead(graph.num_nodes(), false);
  const std::vector<std::vector<int>> consumers = graph.consumers();
  int changes = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (graph.node(n).op != ir::OpType::kConv) continue;
    // After a fold the conv writes the batch norm's output, whose reader may be another one.
    for (int bn = foldable_batchnorm(graph, consumers, n); bn >= 0; bn = foldable_batchnorm(graph, consumers, n)) {
      CHEXRT_RETURN_IF_ERROR(fold_into_conv(graph, n, *foldable_affine(graph, graph.node(bn))));
      detail::absorb_successor(graph, n, bn);
      dead[bn] = true;
      ++changes;
      detail::log_change(log, kPass, graph.node(n).name + "+" + graph.node(bn).name);
    }
  }
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (dead[n]) continue;
    const std::optional<ChannelAffineParams> a = foldable_affine(graph, graph.node(n));
    if (!a) continue;
    const std::string name = graph.node(n).name;
    const int64_t channels = static_cast<int64_t>(a->scale.size());
    CHEXRT_ASSIGN_OR_RETURN(int scale, detail::add_float_constant(graph, name + ".scale", a->scale, {channels}));
    CHEXRT_ASSIGN_OR_RETURN(int shift, detail::add_float_constant(graph, name + ".shift", a->shift, {channels}));
    graph.rewrite_node(n, ir::OpType::kChannelAffine, {graph.node(n).inputs[0], scale, shift}, {});
    ++changes;
    detail::log_change(log, kPass, name + " -> ChannelAffine");
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, dead, kPass));
  return changes;
}

}  // namespace chexrt::passes
