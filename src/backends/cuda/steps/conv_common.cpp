#include "backends/cuda/steps/conv_common.h"

#include "ir/op_attributes.h"

#include <algorithm>

namespace chexrt::cuda {
namespace {

// A stride-2 convolution over a space-to-depth input (see ValueLayout::space_to_depth) as the
// stride-1 convolution it equals. Input row y = 2 oh - p + r of the original is row
// Y = oh - p' + r'' of the 2x2-blocked input at sub-row dy, with y = 2Y + dy, p' = ceil(p / 2):
// so r = 2 r'' + dy - 2 p' + p, and the new kernel has k' = ceil((k + 2 p' - p) / 2) rows whose
// taps outside 0 <= r < k get zero weights. Columns likewise.
Status to_space_to_depth(ConvProblem* p, const ValueLayout& lx) {
  const int c = p->c_logical / 4;
  const int ph2 = (p->ph + 1) / 2, pw2 = (p->pw + 1) / 2;
  const int kh2 = (p->kh + 2 * ph2 - p->ph + 1) / 2, kw2 = (p->kw + 2 * pw2 - p->pw + 1) / 2;
  const int ph2_end = p->out_h - 1 + kh2 - static_cast<int>(lx.h) - ph2;
  const int pw2_end = p->out_w - 1 + kw2 - static_cast<int>(lx.w) - pw2;
  if (p->sh != 2 || p->sw != 2 || p->dh != 1 || p->dw != 1 || ph2_end < 0 || pw2_end < 0) {
    return unsupported(p->node_name + ": space-to-depth needs an undilated stride-2 convolution");
  }
  std::vector<float> w(static_cast<size_t>(p->out_c) * 4 * c * kh2 * kw2, 0.f);
  for (int o = 0; o < p->out_c; ++o)
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx)
        for (int ch = 0; ch < c; ++ch)
          for (int r2 = 0; r2 < kh2; ++r2)
            for (int s2 = 0; s2 < kw2; ++s2) {
              const int r = 2 * r2 + dy - 2 * ph2 + p->ph;
              const int s = 2 * s2 + dx - 2 * pw2 + p->pw;
              if (r < 0 || r >= p->kh || s < 0 || s >= p->kw) continue;
              const int c2 = (dy * 2 + dx) * c + ch;
              w[((static_cast<size_t>(o) * 4 * c + c2) * kh2 + r2) * kw2 + s2] =
                  p->weight[((static_cast<size_t>(o) * c + ch) * p->kh + r) * p->kw + s];
            }
  p->weight = std::move(w);
  p->kh = kh2;
  p->kw = kw2;
  p->sh = p->sw = 1;
  p->ph = ph2;
  p->pw = pw2;
  p->ph_end = ph2_end;
  p->pw_end = pw2_end;
  p->op += "_s2d";
  return Status::ok_status();
}

}  // namespace

Result<ConvProblem> conv_problem(const ir::Graph& g, const ExecutionPlan& plan, const StepDesc& desc, int64_t batch) {
  ConvProblem p;
  p.batch = batch;
  const ir::Node& node = g.node(desc.node);
  p.node = &node;
  p.node_name = node.name;
  p.x = desc.reads[0];
  p.y = node.outputs[0];
  const ValueLayout& lx = plan.values[p.x];
  const ValueLayout& ly = plan.values[p.y];
  p.in_h = static_cast<int>(lx.h);
  p.in_w = static_cast<int>(lx.w);
  p.c_logical = static_cast<int>(lx.c);
  p.in_c = static_cast<int>(lx.c_stored);
  CHEXRT_ASSIGN_OR_RETURN(const ir::ConvAttributes attrs, ir::conv_attributes(node));
  if (attrs.num_spatial() != 2) return unsupported(node.name + ": the CUDA backend runs 2D convolutions only");
  const std::vector<int64_t>& k = attrs.kernel_shape;
  const std::vector<int64_t>& s = attrs.strides;
  const std::vector<int64_t>& pads = attrs.pads;
  const std::vector<int64_t>& d = attrs.dilations;
  p.kh = static_cast<int>(k[0]);
  p.kw = static_cast<int>(k[1]);
  p.sh = static_cast<int>(s[0]);
  p.sw = static_cast<int>(s[1]);
  p.ph = static_cast<int>(pads[0]);
  p.pw = static_cast<int>(pads[1]);
  p.ph_end = static_cast<int>(pads[2]);
  p.pw_end = static_cast<int>(pads[3]);
  p.dh = static_cast<int>(d[0]);
  p.dw = static_cast<int>(d[1]);
  p.out_h = static_cast<int>(ly.h);
  p.out_w = static_cast<int>(ly.w);
  p.out_c = static_cast<int>(ly.c);
  p.relu = node.attrs.get_string("activation", "") == "relu";
  p.weight = constant_floats(g, node.inputs[1]);
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) p.bias = constant_floats(g, node.inputs[2]);
  if (desc.prologue >= 0) {
    p.has_prologue = true;
    CHEXRT_ASSIGN_OR_RETURN(p.prologue, affine_params(g, g.node(desc.prologue)));
  }
  p.op = "conv" + std::to_string(p.kh) + "x" + std::to_string(p.kw);
  if (p.sh != 1 || p.sw != 1) p.op += "s" + std::to_string(p.sh);
  if (lx.space_to_depth == 2) CHEXRT_RETURN_IF_ERROR(to_space_to_depth(&p, lx));
  return p;
}

std::string conv_signature(const ConvProblem& p, const ExecutionPlan& plan) {
  return "conv b" + std::to_string(p.batch) + " " + layout_signature(plan.values[p.x]) + " k" + std::to_string(p.kh) +
         "x" + std::to_string(p.kw) + "s" + std::to_string(p.sh) + "p" + std::to_string(p.ph) + "d" +
         std::to_string(p.dh) + " -> " + layout_signature(plan.values[p.y]);
}

Status upload_f16_weights(const ConvProblem& p, int channels, int k_pad, DeviceBuffer* weight) {
  const std::vector<uint16_t> w = to_half(p.packed_weight(channels, k_pad));
  return weight->upload(w.data(), w.size() * 2, p.node_name + " weights");
}
Status upload_bias(const ConvProblem& p, DeviceBuffer* bias) {
  if (p.bias.empty()) return Status::ok_status();
  return bias->upload(p.bias.data(), p.bias.size() * sizeof(float), p.node_name + " bias");
}
Status upload_f16_prologue(const ConvProblem& p, int k_pad, DeviceBuffer* scale, DeviceBuffer* shift) {
  if (!p.has_prologue) return Status::ok_status();
  std::vector<float> s(k_pad, 0.f), t(k_pad, 0.f);
  std::copy(p.prologue.scale.begin(), p.prologue.scale.end(), s.begin());
  std::copy(p.prologue.shift.begin(), p.prologue.shift.end(), t.begin());
  const std::vector<uint16_t> hs = to_half(s), ht = to_half(t);
  CHEXRT_RETURN_IF_ERROR(scale->upload(hs.data(), hs.size() * 2, p.node_name + " prologue"));
  return shift->upload(ht.data(), ht.size() * 2, p.node_name + " prologue");
}

}  // namespace chexrt::cuda
