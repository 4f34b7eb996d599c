#include "backends/cuda/steps.h"

#include <algorithm>
#include <mutex>
#include <set>

#include "backends/cuda/kernels/conv1x1_resident.cuh"
#include "backends/cuda/kernels/conv3x3_resident.cuh"
#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/conv_halo_wgmma.cuh"
#include "backends/cuda/kernels/conv_gemm_3xtf32.cuh"
#include "backends/cuda/kernels/conv_gemm_f32.cuh"
#include "backends/cuda/kernels/dense_layer_cluster.cuh"
#include "backends/cuda/kernels/head.cuh"
#include "backends/cuda/kernels/pointwise.cuh"
#include "backends/cuda/kernels/pool.cuh"
#include "backends/cuda/kernels/stem_pool_wgmma.cuh"

namespace chexrt::cuda {

void* RunContext::ptr(int value) const {
  const ValueLayout& l = plan->values[value];
  return arena + plan->buffers[l.buffer].offset + l.channel_offset * plan->elem_size;
}

namespace {

using ir::OpType;

constexpr size_t kAlign = 256;
size_t align_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

bool is_fp16(const ExecutionPlan& p) { return p.precision == Precision::kFp16; }
std::string prec(const ExecutionPlan& p) { return is_fp16(p) ? "f16" : "f32"; }

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

// Device copies of per-channel float parameters (uploaded once, shared by every context).
struct DeviceAffine {
  DeviceBuffer scale, shift;
  bool relu = false;
  bool present() const { return scale.get() != nullptr; }
  Status upload(const AffineParams& p, const std::string& what) {
    relu = p.relu;
    CHEXRT_RETURN_IF_ERROR(scale.upload(p.scale.data(), p.scale.size() * sizeof(float), what + " scale"));
    return shift.upload(p.shift.data(), p.shift.size() * sizeof(float), what + " shift");
  }
};

std::string prologue_suffix(const DeviceAffine& a) { return a.present() ? (a.relu ? "_affinerelu" : "_affine") : ""; }

// --- edges ---------------------------------------------------------------------------------

class InputStep : public Step {
 public:
  InputStep(const ExecutionPlan& plan, const ir::Graph& g, int value, int io)
      : plan_(plan), value_(value), io_(io), dims_(g.value(value).dims) {}
  std::string name() const override {
    return std::string("input_nchw_f32_to_nhwc") + (plan_.values[value_].space_to_depth == 2 ? "_s2d_" : "_") +
           prec(plan_) + "__direct";
  }
  std::string signature() const override { return "input " + layout_signature(plan_.values[value_]); }
  Status enqueue(const RunContext& ctx) const override {
    const ValueLayout& l = plan_.values[value_];
    if (l.space_to_depth == 2) {
      const Dims& d = dims_;
      return check_cuda(launch_nchw_f32_to_nhwc_s2d(ctx.inputs[io_], static_cast<int>(ctx.batch),
                                                    static_cast<int>(d[1]), static_cast<int>(d[2]),
                                                    static_cast<int>(d[3]), ctx.ptr(value_), l.ld,
                                                    static_cast<int>(l.c_stored), is_fp16(plan_), ctx.stream),
                        name());
    }
    return check_cuda(launch_nchw_f32_to_nhwc(ctx.inputs[io_], static_cast<int>(ctx.batch), static_cast<int>(l.c),
                                              static_cast<int>(l.h), static_cast<int>(l.w), ctx.ptr(value_), l.ld,
                                              static_cast<int>(l.c_stored), is_fp16(plan_), ctx.stream),
                      name());
  }

 private:
  const ExecutionPlan& plan_;
  int value_, io_;
  Dims dims_;  // NCHW, as the host gives it
};

class OutputStep : public Step {
 public:
  OutputStep(const ExecutionPlan& plan, int value, int io) : plan_(plan), value_(value), io_(io) {}
  std::string name() const override { return "output_nhwc_" + prec(plan_) + "_to_nchw_f32__direct"; }
  std::string signature() const override { return "output " + layout_signature(plan_.values[value_]); }
  Status enqueue(const RunContext& ctx) const override {
    const ValueLayout& l = plan_.values[value_];
    return check_cuda(launch_nhwc_to_nchw_f32(ctx.ptr(value_), l.ld, static_cast<int>(ctx.batch), static_cast<int>(l.c),
                                              static_cast<int>(l.h), static_cast<int>(l.w), ctx.outputs[io_],
                                              is_fp16(plan_), ctx.stream),
                      name());
  }

 private:
  const ExecutionPlan& plan_;
  int value_, io_;
};

// --- per-channel maps and copies -----------------------------------------------------------

class ChannelMapStep : public Step {
 public:
  ChannelMapStep(const ExecutionPlan& plan, const ir::Node& node) : plan_(plan), node_(node) {}
  Status init(const ir::Graph& g) {
    x_ = node_.inputs[0];
    y_ = node_.outputs[0];
    if (node_.op == OpType::kChannelAffine || node_.op == OpType::kBatchNormalization) {
      CHEXRT_ASSIGN_OR_RETURN(AffineParams p, affine_params(g, node_));
      CHEXRT_RETURN_IF_ERROR(affine_.upload(p, node_.name));
      act_ = p.relu ? Act::kRelu : Act::kNone;
      op_ = "channel_affine";
    } else if (node_.op == OpType::kRelu) {
      act_ = Act::kRelu;
      op_ = "relu";
    } else {
      act_ = Act::kSigmoid;
      op_ = "sigmoid";
    }
    return Status::ok_status();
  }
  std::string name() const override {
    return op_ + "_" + prec(plan_) + "_nhwc" + (op_ == "channel_affine" && act_ == Act::kRelu ? "_relu" : "") +
           "__direct";
  }
  std::string signature() const override {
    return "map " + layout_signature(plan_.values[x_]) + " -> " + layout_signature(plan_.values[y_]);
  }
  Status enqueue(const RunContext& ctx) const override {
    const ValueLayout& lx = plan_.values[x_];
    const ValueLayout& ly = plan_.values[y_];
    return check_cuda(launch_channel_map(ctx.ptr(x_), lx.ld, ctx.ptr(y_), ly.ld, ctx.batch * lx.h * lx.w,
                                         static_cast<int>(lx.c), affine_.scale.as<float>(), affine_.shift.as<float>(),
                                         act_, is_fp16(plan_), ctx.stream),
                      node_.name);
  }

 private:
  const ExecutionPlan& plan_;
  const ir::Node& node_;
  int x_ = -1, y_ = -1;
  DeviceAffine affine_;
  Act act_ = Act::kNone;
  std::string op_;
};

class ConcatCopyStep : public Step {
 public:
  ConcatCopyStep(const ExecutionPlan& plan, const ir::Node& node) : plan_(plan), node_(node) {}
  std::string name() const override { return "concat_" + prec(plan_) + "_nhwc__copy"; }
  std::string signature() const override { return "concat " + layout_signature(plan_.values[node_.outputs[0]]); }
  Status enqueue(const RunContext& ctx) const override {
    const int y = node_.outputs[0];
    const ValueLayout& ly = plan_.values[y];
    char* dst = static_cast<char*>(ctx.ptr(y));
    int64_t offset = 0;
    for (int x : node_.inputs) {
      const ValueLayout& lx = plan_.values[x];
      CHEXRT_RETURN_IF_ERROR(check_cuda(
          launch_channel_map(ctx.ptr(x), lx.ld, dst + offset * plan_.elem_size, ly.ld, ctx.batch * lx.h * lx.w,
                             static_cast<int>(lx.c), nullptr, nullptr, Act::kNone, is_fp16(plan_), ctx.stream),
          node_.name));
      offset += lx.c;
    }
    return Status::ok_status();
  }

 private:
  const ExecutionPlan& plan_;
  const ir::Node& node_;
};

// --- pooling and the head ------------------------------------------------------------------

class PoolStep : public Step {
 public:
  PoolStep(const ExecutionPlan& plan, const ir::Node& node, int x) : plan_(plan), node_(node), x_(x) {}
  Status init(const ir::Graph& g, const ir::Node* prologue) {
    if (prologue) {
      CHEXRT_ASSIGN_OR_RETURN(AffineParams p, affine_params(g, *prologue));
      CHEXRT_RETURN_IF_ERROR(affine_.upload(p, prologue->name));
    }
    const auto k = node_.attrs.get_ints("kernel_shape");
    const auto s = node_.attrs.get_ints("strides", {1, 1});
    const auto p = node_.attrs.get_ints("pads", {0, 0, 0, 0});
    args_.kernel_h = static_cast<int>(k[0]);
    args_.kernel_w = static_cast<int>(k[1]);
    args_.stride_h = static_cast<int>(s[0]);
    args_.stride_w = static_cast<int>(s[1]);
    args_.pad_h = static_cast<int>(p[0]);
    args_.pad_w = static_cast<int>(p[1]);
    args_.pad_h_end = static_cast<int>(p[2]);
    args_.pad_w_end = static_cast<int>(p[3]);
    args_.max = node_.op == OpType::kMaxPool;
    args_.count_include_pad = node_.attrs.get_int("count_include_pad", 0) != 0;
    return Status::ok_status();
  }
  std::string name() const override {
    std::string op = args_.max ? "maxpool" : "avgpool";
    op += std::to_string(args_.kernel_h) + "x" + std::to_string(args_.kernel_w);
    if (args_.stride_h != 1 || args_.stride_w != 1) op += "s" + std::to_string(args_.stride_h);
    return op + "_" + prec(plan_) + "_nhwc" + prologue_suffix(affine_) + "__direct";
  }
  std::string signature() const override {
    return "pool " + layout_signature(plan_.values[x_]) + " -> " + layout_signature(plan_.values[node_.outputs[0]]);
  }
  Status enqueue(const RunContext& ctx) const override {
    const ValueLayout& lx = plan_.values[x_];
    const ValueLayout& ly = plan_.values[node_.outputs[0]];
    PoolArgs a = args_;
    a.x = ctx.ptr(x_);
    a.x_ld = lx.ld;
    a.batch = static_cast<int>(ctx.batch);
    a.in_h = static_cast<int>(lx.h);
    a.in_w = static_cast<int>(lx.w);
    a.channels = static_cast<int>(lx.c);
    a.out_h = static_cast<int>(ly.h);
    a.out_w = static_cast<int>(ly.w);
    a.pro_scale = affine_.scale.as<float>();
    a.pro_shift = affine_.shift.as<float>();
    a.pro_act = affine_.relu ? Act::kRelu : Act::kNone;
    a.y = ctx.ptr(node_.outputs[0]);
    a.y_ld = ly.ld;
    return check_cuda(launch_pool2d(a, is_fp16(plan_), ctx.stream), node_.name);
  }

 private:
  const ExecutionPlan& plan_;
  const ir::Node& node_;
  int x_;
  DeviceAffine affine_;
  PoolArgs args_;
};

class HeadStep : public Step {
 public:
  HeadStep(const ExecutionPlan& plan, const ir::Node& node, int x) : plan_(plan), node_(node), x_(x) {}
  Status init(const ir::Graph& g, const ir::Node* prologue) {
    if (prologue) {
      CHEXRT_ASSIGN_OR_RETURN(AffineParams p, affine_params(g, *prologue));
      CHEXRT_RETURN_IF_ERROR(affine_.upload(p, prologue->name));
    }
    const int64_t channels = g.value(node_.inputs[0]).dims[1];
    std::vector<float> weight, bias;
    if (node_.op == OpType::kClassifierHead) {
      weight = constant_floats(g, node_.inputs[1]);
      bias = constant_floats(g, node_.inputs[2]);
      classes_ = static_cast<int>(g.value(node_.inputs[1]).dims[0]);
      act_ = act_from(node_.attrs.get_string("activation", ""));
      op_ = "classifier_head";
    } else if (node_.op == OpType::kGemm) {
      const Dims& b = g.value(node_.inputs[1]).dims;
      const std::vector<float> bw = constant_floats(g, node_.inputs[1]);
      const bool trans_b = node_.attrs.get_int("transB", 0) != 0;
      classes_ = static_cast<int>(trans_b ? b[0] : b[1]);
      weight.resize(static_cast<size_t>(classes_ * channels));
      // Stored as [classes][channels]: B^T when B is [channels][classes].
      for (int64_t k = 0; k < classes_; ++k) {
        for (int64_t c = 0; c < channels; ++c) weight[k * channels + c] = trans_b ? bw[k * channels + c] : bw[c * classes_ + k];
      }
      if (node_.inputs.size() > 2 && node_.inputs[2] != ir::kNoValue) bias = constant_floats(g, node_.inputs[2]);
      op_ = "fc";
    } else {
      op_ = "global_avgpool";
    }
    if (!weight.empty()) CHEXRT_RETURN_IF_ERROR(weight_.upload(weight.data(), weight.size() * sizeof(float), node_.name));
    if (!bias.empty()) CHEXRT_RETURN_IF_ERROR(bias_.upload(bias.data(), bias.size() * sizeof(float), node_.name));
    return Status::ok_status();
  }
  std::string name() const override {
    std::string n = op_ + "_" + prec(plan_) + prologue_suffix(affine_);
    if (act_ == Act::kSigmoid) n += "_sigmoid";
    if (act_ == Act::kRelu) n += "_relu";
    return n + "__fused";
  }
  std::string signature() const override {
    return "head " + layout_signature(plan_.values[x_]) + " k" + std::to_string(classes_);
  }
  Status enqueue(const RunContext& ctx) const override {
    const ValueLayout& lx = plan_.values[x_];
    HeadArgs a;
    a.x = ctx.ptr(x_);
    a.x_ld = lx.ld;
    a.x_fp16 = is_fp16(plan_);
    a.batch = static_cast<int>(ctx.batch);
    a.hw = static_cast<int>(lx.h * lx.w);
    a.channels = static_cast<int>(lx.c);
    a.pro_scale = affine_.scale.as<float>();
    a.pro_shift = affine_.shift.as<float>();
    a.pro_act = affine_.relu ? Act::kRelu : Act::kNone;
    a.weight = weight_.as<float>();
    a.bias = bias_.as<float>();
    a.classes = classes_;
    a.act = act_;
    a.y = ctx.ptr(node_.outputs[0]);
    a.y_fp16 = is_fp16(plan_);
    return check_cuda(launch_classifier_head(a, ctx.stream), node_.name);
  }

 private:
  const ExecutionPlan& plan_;
  const ir::Node& node_;
  int x_;
  DeviceAffine affine_;
  DeviceBuffer weight_, bias_;
  int classes_ = 0;
  Act act_ = Act::kNone;
  std::string op_;
};

// --- convolutions --------------------------------------------------------------------------

// What every convolution implementation needs to know, resolved from the graph and the plan.
struct ConvProblem {
  const ir::Node* node = nullptr;
  /// The batch of the optimization profile: the largest this step runs, and the one it is
  /// timed at (see CudaEngine).
  int64_t batch = 1;
  int x = -1, y = -1;  // x: the tensor read (the prologue's input when there is one)
  int in_h = 0, in_w = 0, in_c = 0, c_logical = 0;
  int kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, ph_end = 0, pw_end = 0, dh = 1, dw = 1;
  int out_h = 0, out_w = 0, out_c = 0;
  bool relu = false;
  std::vector<float> weight;  // [out_c][c_logical][kh][kw] as in the graph
  std::vector<float> bias;    // empty when none
  bool has_prologue = false;
  AffineParams prologue;
  std::string node_name;
  std::string op;  // what the graph asked for, e.g. "conv7x7s2" (also after a space-to-depth rewrite)

  bool pointwise() const {
    return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && ph_end == 0 && pw_end == 0;
  }
  std::string op_name() const { return op; }
  std::string fusion_suffix() const {
    std::string s;
    if (has_prologue) s += prologue.relu ? "_affinerelu" : "_affine";
    if (!bias.empty()) s += "_bias";
    if (relu) s += "_relu";
    return s;
  }
  // Weights as [out_c][k_pad] in (r, s, c) order over `channels` stored input channels.
  std::vector<float> packed_weight(int channels, int k_pad) const {
    std::vector<float> w(static_cast<size_t>(out_c) * k_pad, 0.f);
    for (int o = 0; o < out_c; ++o)
      for (int c = 0; c < c_logical; ++c)
        for (int r = 0; r < kh; ++r)
          for (int s = 0; s < kw; ++s) {
            w[static_cast<size_t>(o) * k_pad + (r * kw + s) * channels + c] =
                weight[((static_cast<size_t>(o) * c_logical + c) * kh + r) * kw + s];
          }
    return w;
  }
};

// The sliding-window geometry that every implicit-GEMM kernel's argument struct carries under
// the same field names (ConvGemmArgs, ConvGemmF32Args).
template <class Args>
void set_conv_geometry(const ConvProblem& p, int64_t batch, Args* a) {
  a->batch = static_cast<int>(batch);
  a->in_h = p.in_h;
  a->in_w = p.in_w;
  a->in_c = p.in_c;
  a->kernel_h = p.kh;
  a->kernel_w = p.kw;
  a->stride_h = p.sh;
  a->stride_w = p.sw;
  a->pad_h = p.ph;
  a->pad_w = p.pw;
  a->dil_h = p.dh;
  a->dil_w = p.dw;
  a->out_h = p.out_h;
  a->out_w = p.out_w;
  a->out_c = p.out_c;
}

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

Result<ConvProblem> conv_problem(const ir::Graph& g, const ExecutionPlan& plan, const StepDesc& desc,
                                 int64_t batch) {
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
  const auto k = node.attrs.get_ints("kernel_shape");
  const auto s = node.attrs.get_ints("strides", {1, 1});
  const auto pads = node.attrs.get_ints("pads", {0, 0, 0, 0});
  const auto d = node.attrs.get_ints("dilations", {1, 1});
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
  return "conv b" + std::to_string(p.batch) + " " + layout_signature(plan.values[p.x]) + " k" +
         std::to_string(p.kh) + "x" + std::to_string(p.kw) + "s" + std::to_string(p.sh) + "p" + std::to_string(p.ph) +
         "d" + std::to_string(p.dh) + " -> " + layout_signature(plan.values[p.y]);
}

// Shared by the library paths: a prologue (or a strided input) becomes a packed copy in
// scratch; an epilogue (bias, ReLU) or a strided output becomes a channel map from scratch.
class LibraryConvBase : public Step {
 protected:
  LibraryConvBase(const ExecutionPlan& plan, ConvProblem p) : plan_(plan), p_(std::move(p)) {}
  Status upload_common() {
    if (p_.has_prologue) CHEXRT_RETURN_IF_ERROR(prologue_.upload(p_.prologue, p_.node_name));
    if (!p_.bias.empty()) {
      CHEXRT_RETURN_IF_ERROR(bias_.upload(p_.bias.data(), p_.bias.size() * sizeof(float), p_.node_name + " bias"));
    }
    const ValueLayout& lx = plan_.values[p_.x];
    pack_input_ = p_.has_prologue || lx.ld != lx.c_stored;
    return Status::ok_status();
  }
  int64_t in_pixels(int64_t batch) const { return batch * p_.in_h * p_.in_w; }
  int64_t out_pixels(int64_t batch) const { return batch * p_.out_h * p_.out_w; }
  size_t packed_input_bytes() const {
    return pack_input_ ? align_up(in_pixels(p_.batch) * p_.in_c * plan_.elem_size) : 0;
  }
  // The input as the library reads it: the view itself, or a packed (and normalized) copy.
  Result<const void*> library_input(const RunContext& ctx) const {
    const ValueLayout& lx = plan_.values[p_.x];
    if (!pack_input_) return static_cast<const void*>(ctx.ptr(p_.x));
    CHEXRT_CUDA_TRY(launch_channel_map(ctx.ptr(p_.x), lx.ld, ctx.scratch, p_.in_c, in_pixels(ctx.batch), p_.in_c,
                                       prologue_.scale.as<float>(), prologue_.shift.as<float>(),
                                       prologue_.relu ? Act::kRelu : Act::kNone, is_fp16(plan_), ctx.stream),
                    p_.node_name + " prologue");
    return static_cast<const void*>(ctx.scratch);
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  DeviceAffine prologue_;
  DeviceBuffer bias_;
  bool pack_input_ = false;
};

// The fp16 tensor-core kernels' constants: weights packed [out_c][k_pad] over `channels` stored
// input channels, the fp32 bias (when there is one), and the prologue's scale and shift as fp16
// zero-padded to k_pad (when there is one).
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

// chexrt's tensor-core implicit GEMM (kernels/conv_gemm.cu), fp16 only.
class MmaConvStep : public Step {
 public:
  MmaConvStep(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, ConvGemmTile tile, int splits,
              bool cluster_reduce = false)
      : plan_(plan), p_(p), variant_(variant), tile_(tile), splits_(splits), cluster_reduce_(cluster_reduce) {
    const int k = p_.pointwise() ? p_.in_c : p_.kh * p_.kw * p_.in_c;
    k_pad_ = (k + 31) / 32 * 32;
  }
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant,
                         const ConvGemmTile& tile) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    if (!is_fp16(plan) || p.in_c % 8 != 0 || lx.ld % 8 != 0 || lx.channel_offset % 8 != 0 || ly.ld % 8 != 0 ||
        ly.channel_offset % 8 != 0 || p.out_c % tile.bn != 0) {
      return false;
    }
    switch (variant) {
      case ConvGemmVariant::kPointwise: return p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kPointwisePrologue:
        return p.pointwise() && p.has_prologue && p.prologue.relu;  // the kernel always applies ReLU
      case ConvGemmVariant::kGeneral: return !p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kHalo3x3:
        return !p.has_prologue && p.kh == 3 && p.kw == 3 && p.sh == 1 && p.sw == 1 && p.ph == 1 && p.pw == 1 &&
               p.ph_end == 1 && p.pw_end == 1 && p.dh == 1 && p.dw == 1 && p.in_c % 32 == 0 &&
               p.in_w <= tile.bm && p.out_h == p.in_h && p.out_w == p.in_w;
    }
    return false;
  }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p_, p_.in_c, k_pad_, &weight_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p_, &bias_));
    return upload_f16_prologue(p_, k_pad_, &scale_, &shift_);
  }
  std::string name() const override {
    return p_.op_name() + "_f16_nhwc" + p_.fusion_suffix() +
           (tile_.wgmma                             ? "__wgmma_halo_"
            : tile_.images > 0 || tile_.resident    ? "__mma_resident_"
            : variant_ == ConvGemmVariant::kHalo3x3 ? "__mma_halo_"
                                                    : "__mma_") +
           tile_.name() + "_" + std::to_string(tile_.warps_m * tile_.warps_n) + "w" +
           (splits_ > 1 ? (cluster_reduce_ ? "_clusterk" : "_splitk") + std::to_string(splits_) : "");
  }
  size_t scratch_bytes() const override { return align_up(conv_gemm_partial_bytes(args(p_.batch))); }
  /// Whether the tile's kernel computes this convolution (the wgmma kernels take fewer shapes
  /// than their variant).
  bool fits() const {
    if (variant_ == ConvGemmVariant::kHalo3x3 && (tile_.images > 0 || tile_.resident)) {
      return conv3x3_resident_fits(args(p_.batch), tile_);
    }
    if (tile_.resident) return conv1x1_resident_fits(args(p_.batch), tile_);
    return !tile_.wgmma || conv_halo_wgmma_fits(args(p_.batch), tile_);
  }

  /// K is split when the tiles alone would not fill the GPU: as many ways as it takes to give
  /// every multiprocessor a CTA, keeping at least two 32-wide K steps per split.
  static int split_count(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant,
                         const ConvGemmTile& tile, int sms) {
    if (variant == ConvGemmVariant::kHalo3x3 || tile.resident) return 1;
    const int64_t ctas = (p.batch * p.out_h * p.out_w + tile.bm - 1) / tile.bm * (p.out_c / tile.bn);
    const int k = p.pointwise() ? p.in_c : p.kh * p.kw * p.in_c;
    const int k_tiles = (k + 31) / 32;
    if (ctas >= sms) return 1;
    return static_cast<int>(std::min<int64_t>({(sms + ctas - 1) / ctas, k_tiles / 2, kMaxSplits}));
  }
  std::string signature() const override { return conv_signature(p_, plan_); }
  Status enqueue(const RunContext& ctx) const override {
    ConvGemmArgs a = args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(p_.x));
    a.y = static_cast<__half*>(ctx.ptr(p_.y));
    a.partial = static_cast<float*>(ctx.scratch);
    return check_cuda(launch_conv_gemm_f16(a, variant_, tile_, ctx.stream), p_.node_name);
  }

 private:
  ConvGemmArgs args(int64_t batch) const {
    const ValueLayout& lx = plan_.values[p_.x];
    const ValueLayout& ly = plan_.values[p_.y];
    ConvGemmArgs a;
    a.x_ld = lx.ld;
    set_conv_geometry(p_, batch, &a);
    a.weight = weight_.as<__half>();
    a.k_pad = k_pad_;
    a.pro_scale = scale_.as<__half>();
    a.pro_shift = shift_.as<__half>();
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y_ld = ly.ld;
    a.splits = splits_;
    a.cluster_reduce = cluster_reduce_;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  ConvGemmVariant variant_;
  ConvGemmTile tile_;
  int splits_ = 1;
  bool cluster_reduce_ = false;
  int k_pad_ = 0;
  DeviceBuffer weight_, bias_, scale_, shift_;
};

// A DenseNet dense layer (the 1x1 with its BN + ReLU prologue, then the 3x3) as one kernel on a
// thread-block cluster (kernels/dense_layer_cluster.cu): a tactic of the 1x1's step that also
// does the 3x3's. For small batches, where the two kernels' launch and drain cost more than
// their work.
class DenseLayerStep : public Step {
 public:
  /// `bands`: how many clusters share the profile's batch (whole images each, or bands of rows).
  DenseLayerStep(const ExecutionPlan& plan, ConvProblem conv1, ConvProblem conv2, int k_split, int bands)
      : plan_(plan), p1_(std::move(conv1)), p2_(std::move(conv2)), k_split_(k_split) {
    DenseLayerArgs a;
    a.batch = static_cast<int>(p1_.batch);
    a.height = p1_.in_h;
    set_dense_bands(bands, &a);
    band_rows_ = a.band_rows;
    band_images_ = a.band_images;
    k1_pad_ = (p1_.in_c + 31) / 32 * 32;
  }
  /// Whether conv1 -> conv2 is a dense layer the kernel computes: conv1 a 1x1 to 128 channels
  /// with a BN + ReLU prologue, read only by conv2, a 3x3 (stride 1, padding 1) to 32 channels,
  /// with a layout the kernel can address. (Whether a band shape fits: fits().)
  static bool is_dense_layer(const ir::Graph& g, const ExecutionPlan& plan, const ConvProblem& p1,
                             const ConvProblem& p2, int conv1_step, int conv2_node) {
    if (!is_fp16(plan) || !p1.pointwise() || !p1.has_prologue || !p1.prologue.relu || p1.out_c != kDenseMid ||
        p2.x != p1.y || p2.has_prologue || p2.kh != 3 || p2.kw != 3 || p2.sh != 1 || p2.sw != 1 || p2.ph != 1 ||
        p2.pw != 1 || p2.ph_end != 1 || p2.pw_end != 1 || p2.dh != 1 || p2.dw != 1 || p2.in_c != kDenseMid ||
        p2.c_logical != kDenseMid || p2.out_c != kDenseOut || p2.in_h != p1.out_h || p2.in_w != p1.out_w ||
        p2.out_h != p2.in_h || p2.out_w != p2.in_w) {
      return false;
    }
    if (g.is_graph_output(p1.y) || g.consumers()[p1.y] != std::vector<int>{conv2_node}) return false;
    const ValueLayout& lx = plan.values[p1.x];
    const ValueLayout& ly = plan.values[p2.y];
    if (lx.channel_offset % 8 != 0 || ly.channel_offset % 8 != 0) return false;
    // The kernel writes conv2's output during conv1's step: its buffer must already be live
    // there, or the memory planner may have given that memory to a value still in use.
    return plan.buffers[ly.buffer].first_step <= conv1_step;
  }
  /// Whether the kernel takes this step's bands at the profile's batch.
  bool fits() const {
    DenseLayerArgs a = shape_args(p1_.batch);
    a.k1_pad = k1_pad_;
    return dense_layer_cluster_fits(a);
  }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p1_, p1_.in_c, k1_pad_, &w1_));
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p2_, kDenseMid, 9 * kDenseMid, &w2_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p1_, &bias1_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p2_, &bias2_));
    return upload_f16_prologue(p1_, k1_pad_, &scale_, &shift_);
  }
  std::string name() const override {
    return "dense_layer_f16_nhwc" + p1_.fusion_suffix() + "_conv3x3" + p2_.fusion_suffix() + "__cluster" +
           std::to_string(kDenseCluster) + "_k" + std::to_string(k_split_) +
           (band_rows_ < p1_.in_h ? "_rows" + std::to_string(band_rows_) : "_images" + std::to_string(band_images_));
  }
  std::string signature() const override { return conv_signature(p1_, plan_) + " + " + conv_signature(p2_, plan_); }
  bool fuses_next() const override { return true; }
  Status enqueue(const RunContext& ctx) const override {
    DenseLayerArgs a = shape_args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(p1_.x));
    a.y = static_cast<__half*>(ctx.ptr(p2_.y));
    a.pro_scale = scale_.as<__half>();
    a.pro_shift = shift_.as<__half>();
    a.w1 = w1_.as<__half>();
    a.k1_pad = k1_pad_;
    a.bias1 = bias1_.as<float>();
    a.w2 = w2_.as<__half>();
    a.bias2 = bias2_.as<float>();
    return check_cuda(launch_dense_layer_cluster(a, k_split_, ctx.stream), p1_.node_name + " + " + p2_.node_name);
  }

 private:
  DenseLayerArgs shape_args(int64_t batch) const {
    DenseLayerArgs a;
    a.x_ld = plan_.values[p1_.x].ld;
    a.batch = static_cast<int>(batch);
    a.height = p1_.in_h;
    a.width = p1_.in_w;
    a.in_c = p1_.in_c;
    a.relu1 = p1_.relu;
    a.relu2 = p2_.relu;
    a.y_ld = plan_.values[p2_.y].ld;
    a.band_rows = band_rows_;
    a.band_images = band_images_;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p1_, p2_;
  int k_split_ = 16;
  int band_rows_ = 0, band_images_ = 0;
  int k1_pad_ = 0;
  DeviceBuffer w1_, w2_, bias1_, bias2_, scale_, shift_;
};

// DenseNet's stem (the stride-2 convolution over its space-to-depth input, as a 4x4 stride-1
// one) and the 3x3 stride-2 max pool after it as one kernel (kernels/stem_pool_wgmma.cu): a
// tactic of the convolution's step that also does the pool's.
class StemPoolStep : public Step {
 public:
  /// `pool_y`: the pool's output; `band`: pooled rows per CTA.
  StemPoolStep(const ExecutionPlan& plan, ConvProblem conv, int pool_y, int band)
      : plan_(plan), p_(std::move(conv)), pool_y_(pool_y), band_(band) {}
  /// Whether conv (step conv_step) and the pool step after it are a stem the kernel computes:
  /// a 4x4 stride-1 convolution with padding 2 before and 1 after from kStemCin stored channels
  /// to kStemCout, read only by a 3x3 stride-2 max pool with padding 1 to half its size.
  static bool is_stem_pool(const ir::Graph& g, const ExecutionPlan& plan, const ConvProblem& p, int conv_step,
                           const StepDesc& pool) {
    if (!is_fp16(plan) || p.has_prologue || p.kh != 4 || p.kw != 4 || p.sh != 1 || p.sw != 1 || p.ph != 2 ||
        p.pw != 2 || p.ph_end != 1 || p.pw_end != 1 || p.dh != 1 || p.dw != 1 || p.in_c != kStemCin ||
        p.out_c != kStemCout || p.out_h != p.in_h || p.out_w != p.in_w) {
      return false;
    }
    if (pool.kind != StepKind::kPool || pool.prologue >= 0 || pool.reads.empty() || pool.reads[0] != p.y) return false;
    const ir::Node& node = g.node(pool.node);
    if (node.op != OpType::kMaxPool || node.outputs.size() != 1 ||
        node.attrs.get_ints("kernel_shape") != std::vector<int64_t>{3, 3} ||
        node.attrs.get_ints("strides", {1, 1}) != std::vector<int64_t>{2, 2} ||
        node.attrs.get_ints("pads", {0, 0, 0, 0}) != std::vector<int64_t>{1, 1, 1, 1} ||
        node.attrs.get_ints("dilations", {1, 1}) != std::vector<int64_t>{1, 1} ||
        node.attrs.get_int("ceil_mode", 0) != 0) {
      return false;
    }
    if (g.is_graph_output(p.y) || g.consumers()[p.y] != std::vector<int>{pool.node}) return false;
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[node.outputs[0]];
    if (lx.channel_offset % 8 != 0 || ly.channel_offset % 8 != 0 || ly.h * 2 != p.out_h || ly.w * 2 != p.out_w) {
      return false;
    }
    // The kernel writes the pool's output during the convolution's step (make_plan keeps it
    // live from there).
    return plan.buffers[ly.buffer].first_step <= conv_step;
  }
  bool fits() const { return stem_pool_fits(args(p_.batch)); }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p_, kStemCin, kStemK, &weight_));
    return upload_bias(p_, &bias_);
  }
  std::string name() const override {
    return p_.op_name() + "_f16_nhwc" + p_.fusion_suffix() + "_maxpool3x3s2__wgmma_band" + std::to_string(band_);
  }
  std::string signature() const override {
    return conv_signature(p_, plan_) + " + maxpool -> " + layout_signature(plan_.values[pool_y_]);
  }
  bool fuses_next() const override { return true; }
  Status enqueue(const RunContext& ctx) const override {
    StemPoolArgs a = args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(p_.x));
    a.y = static_cast<__half*>(ctx.ptr(pool_y_));
    return check_cuda(launch_stem_pool_wgmma(a, ctx.stream), p_.node_name + " + max pool");
  }

 private:
  StemPoolArgs args(int64_t batch) const {
    StemPoolArgs a;
    a.x_ld = plan_.values[p_.x].ld;
    a.batch = static_cast<int>(batch);
    a.in_h = p_.in_h;
    a.in_w = p_.in_w;
    a.weight = weight_.as<__half>();
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y_ld = plan_.values[pool_y_].ld;
    a.band = band_;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  int pool_y_ = -1;
  int band_ = 1;
  DeviceBuffer weight_, bias_;
};

// DenseNet's transition (BN + ReLU, 2x2 stride-2 average pool, then the 1x1 convolution) as one
// kernel (kernels/conv1x1_resident.cu, ConvGemmArgs::pool2x2): a tactic of the pool's step that
// also does the convolution's. The pooled tensor is never written or read back.
class PoolConvStep : public Step {
 public:
  /// `x`: the pool's input; `prologue`: the pool's BN + ReLU; `conv`: the convolution of the
  /// pooled tensor.
  PoolConvStep(const ExecutionPlan& plan, int x, const AffineParams& prologue, ConvProblem conv,
               TileTable<ConvGemmTile, ConvGemmArgs>::Entry entry)
      : plan_(plan), x_(x), prologue_(prologue), p_(std::move(conv)), entry_(entry) {
    k_pad_ = (p_.in_c + 31) / 32 * 32;
  }
  /// Whether the pool step and the convolution step after it are a transition the kernel
  /// computes: a 2x2 stride-2 average pool without padding of BN + ReLU, read only by a 1x1
  /// convolution without prologue.
  static bool is_transition(const ir::Graph& g, const ExecutionPlan& plan, const StepDesc& pool, int pool_step,
                            const StepDesc& conv, const ConvProblem& p) {
    if (!is_fp16(plan) || pool.kind != StepKind::kPool || pool.prologue < 0 || pool.reads.empty() || !p.pointwise() ||
        p.has_prologue) {
      return false;
    }
    const ir::Node& node = g.node(pool.node);
    if (node.op != OpType::kAveragePool || node.outputs.size() != 1 || node.outputs[0] != p.x ||
        node.attrs.get_ints("kernel_shape") != std::vector<int64_t>{2, 2} ||
        node.attrs.get_ints("strides", {1, 1}) != std::vector<int64_t>{2, 2} ||
        node.attrs.get_ints("pads", {0, 0, 0, 0}) != std::vector<int64_t>{0, 0, 0, 0} ||
        node.attrs.get_int("ceil_mode", 0) != 0) {
      return false;
    }
    if (g.is_graph_output(p.x) || g.consumers()[p.x] != std::vector<int>{conv.node}) return false;
    const ValueLayout& lx = plan.values[pool.reads[0]];
    const ValueLayout& ly = plan.values[p.y];
    if (lx.h != 2 * p.in_h || lx.w != 2 * p.in_w || lx.c_stored != p.in_c || lx.ld % 8 != 0 ||
        lx.channel_offset % 8 != 0 || ly.ld % 8 != 0 || ly.channel_offset % 8 != 0) {
      return false;
    }
    // The kernel writes the convolution's output during the pool's step (make_plan keeps it
    // live from there).
    return plan.buffers[ly.buffer].first_step <= pool_step;
  }
  bool fits() const { return conv1x1_resident_fits(args(p_.batch), entry_.tile); }
  Status init() {
    CHEXRT_RETURN_IF_ERROR(upload_f16_weights(p_, p_.in_c, k_pad_, &weight_));
    CHEXRT_RETURN_IF_ERROR(upload_bias(p_, &bias_));
    // The pool's 1/4 in the prologue's scale and shift (exact: a power of two; ReLU commutes).
    ConvProblem quarter = p_;
    quarter.has_prologue = true;
    quarter.prologue = prologue_;
    for (float& v : quarter.prologue.scale) v *= 0.25f;
    for (float& v : quarter.prologue.shift) v *= 0.25f;
    return upload_f16_prologue(quarter, k_pad_, &scale_, &shift_);
  }
  std::string name() const override {
    return "avgpool2x2s2_f16_nhwc_affinerelu_" + p_.op_name() + p_.fusion_suffix() + "__mma_resident_" +
           entry_.tile.name() + "_" + std::to_string(entry_.tile.warps_m * entry_.tile.warps_n) + "w";
  }
  std::string signature() const override {
    return "avgpool2x2s2 " + layout_signature(plan_.values[x_]) + " + " + conv_signature(p_, plan_);
  }
  bool fuses_next() const override { return true; }
  Status enqueue(const RunContext& ctx) const override {
    ConvGemmArgs a = args(ctx.batch);
    a.x = static_cast<const __half*>(ctx.ptr(x_));
    a.y = static_cast<__half*>(ctx.ptr(p_.y));
    return check_cuda(entry_.launch(a, ctx.stream), p_.node_name + " with the pool before it");
  }

 private:
  ConvGemmArgs args(int64_t batch) const {
    ConvGemmArgs a;
    set_conv_geometry(p_, batch, &a);
    a.in_h = 2 * p_.in_h;
    a.in_w = 2 * p_.in_w;
    a.pool2x2 = true;
    a.x_ld = plan_.values[x_].ld;
    a.weight = weight_.as<__half>();
    a.k_pad = k_pad_;
    a.pro_scale = scale_.as<__half>();
    a.pro_shift = shift_.as<__half>();
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y_ld = plan_.values[p_.y].ld;
    return a;
  }

  const ExecutionPlan& plan_;
  int x_ = -1;
  AffineParams prologue_;
  ConvProblem p_;
  TileTable<ConvGemmTile, ConvGemmArgs>::Entry entry_;
  int k_pad_ = 0;
  DeviceBuffer weight_, bias_, scale_, shift_;
};

class FusedAwayStep : public Step {
 public:
  explicit FusedAwayStep(std::string by) : by_(std::move(by)) {}
  std::string name() const override { return "(inside " + by_ + ")"; }
  std::string signature() const override { return ""; }
  bool fused_away() const override { return true; }
  Status enqueue(const RunContext&) const override { return Status::ok_status(); }

 private:
  std::string by_;
};

// FFT and Winograd transform the data and lose digits (1e-5 to 1e-4 relative in fp32, more over
// a deep network): an fp32 engine, which must match the reference to 1e-4, keeps to the GEMM and
// direct algorithms.
bool exact_enough_for_fp32(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

// chexrt's FP32 implicit GEMMs, with the prologue fused, both accurate to fp32 (no TF32): FFMA
// (kernels/conv_gemm_f32.cu) and 3xTF32 on the tensor cores (kernels/conv_gemm_3xtf32.cu).
class F32ConvStepBase : public Step {
 public:
  std::string signature() const override { return conv_signature(p_, plan_); }

 protected:
  F32ConvStepBase(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant)
      : plan_(plan), p_(p), variant_(variant) {}
  static bool applicable_common(const ExecutionPlan& plan, const ConvProblem& p, ConvGemmVariant variant, int bn) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    if (is_fp16(plan) || p.in_c % 4 != 0 || lx.ld % 4 != 0 || lx.channel_offset % 4 != 0 || ly.ld % 4 != 0 ||
        ly.channel_offset % 4 != 0 || p.out_c % bn != 0) {
      return false;
    }
    switch (variant) {
      case ConvGemmVariant::kPointwise: return p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kPointwisePrologue: return p.pointwise() && p.has_prologue;
      case ConvGemmVariant::kGeneral: return !p.pointwise() && !p.has_prologue;
      case ConvGemmVariant::kHalo3x3: return false;
    }
    return false;
  }
  /// Uploads the weights ([out_c][k_pad], k_pad a multiple of 16), as they are or split into
  /// tf32 hi and lo parts, the bias and the prologue's scale and shift.
  Status init_weights(bool split) {
    const int k = p_.pointwise() ? p_.in_c : p_.kh * p_.kw * p_.in_c;
    k_pad_ = (k + 15) / 16 * 16;
    const std::vector<float> w = p_.packed_weight(p_.in_c, k_pad_);
    if (split) {
      std::vector<float> hi, lo;
      split_tf32(w, &hi, &lo);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(hi.data(), hi.size() * 4, p_.node_name + " weights"));
      CHEXRT_RETURN_IF_ERROR(weight_lo_.upload(lo.data(), lo.size() * 4, p_.node_name + " weights"));
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
    }
    if (!p_.bias.empty()) {
      CHEXRT_RETURN_IF_ERROR(bias_.upload(p_.bias.data(), p_.bias.size() * 4, p_.node_name + " bias"));
    }
    if (p_.has_prologue) {
      std::vector<float> scale(k_pad_, 0.f), shift(k_pad_, 0.f);
      std::copy(p_.prologue.scale.begin(), p_.prologue.scale.end(), scale.begin());
      std::copy(p_.prologue.shift.begin(), p_.prologue.shift.end(), shift.begin());
      CHEXRT_RETURN_IF_ERROR(scale_.upload(scale.data(), scale.size() * 4, p_.node_name + " prologue"));
      CHEXRT_RETURN_IF_ERROR(shift_.upload(shift.data(), shift.size() * 4, p_.node_name + " prologue"));
    }
    return Status::ok_status();
  }
  ConvGemmF32Args args(const RunContext& ctx) const {
    const ValueLayout& lx = plan_.values[p_.x];
    const ValueLayout& ly = plan_.values[p_.y];
    ConvGemmF32Args a;
    a.x = static_cast<const float*>(ctx.ptr(p_.x));
    a.x_ld = lx.ld;
    set_conv_geometry(p_, ctx.batch, &a);
    a.weight = weight_.as<float>();
    a.weight_lo = weight_lo_.as<float>();
    a.k_pad = k_pad_;
    a.pro_scale = scale_.as<float>();
    a.pro_shift = shift_.as<float>();
    a.pro_relu = p_.has_prologue && p_.prologue.relu;
    a.bias = bias_.as<float>();
    a.relu = p_.relu;
    a.y = static_cast<float*>(ctx.ptr(p_.y));
    a.y_ld = ly.ld;
    return a;
  }

  const ExecutionPlan& plan_;
  ConvProblem p_;
  ConvGemmVariant variant_;
  int k_pad_ = 0;
  DeviceBuffer weight_, weight_lo_, bias_, scale_, shift_;
};

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

const char* cudnn_algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM: return "implicit_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM: return "implicit_precomp_gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM: return "gemm";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT: return "direct";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT: return "fft";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING: return "fft_tiling";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD: return "winograd";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED: return "winograd_nonfused";
    default: return "unknown";
  }
}

// cuDNN's legacy convolution API (present in 9.x), NHWC, fp16 tensor ops with fp32 accumulation
// or fp32 with FMA math only (no TF32: cudnnSetConvolutionMathType(CUDNN_FMA_MATH)).
class CudnnConvStep : public LibraryConvBase {
 public:
  static constexpr size_t kMaxWorkspace = size_t(1) << 30;

  CudnnConvStep(const ExecutionPlan& plan, ConvProblem p, cudnnConvolutionFwdAlgo_t algo)
      : LibraryConvBase(plan, std::move(p)), algo_(algo), per_batch_(plan.max_batch + 1) {}
  ~CudnnConvStep() override {
    for (auto& b : per_batch_) {
      if (!b) continue;
      cudnnDestroyTensorDescriptor(b->x);
      cudnnDestroyTensorDescriptor(b->y);
    }
    if (w_desc_) cudnnDestroyFilterDescriptor(w_desc_);
    if (conv_desc_) cudnnDestroyConvolutionDescriptor(conv_desc_);
  }
  static bool applicable(const ConvProblem& p) { return p.ph == p.ph_end && p.pw == p.pw_end; }

  // The algorithms cuDNN's heuristics offer for this problem at the max batch.
  static Result<std::vector<cudnnConvolutionFwdAlgo_t>> algorithms(const ExecutionPlan& plan, const ConvProblem& p,
                                                                   cudnnHandle_t handle) {
    CudnnConvStep probe(plan, p, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
    CHEXRT_RETURN_IF_ERROR(probe.create_descriptors());
    CHEXRT_ASSIGN_OR_RETURN(Batch * b, probe.batch_descriptors(p.batch));
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int returned = 0;
    CHEXRT_CUDNN_TRY(cudnnGetConvolutionForwardAlgorithm_v7(handle, b->x, probe.w_desc_, probe.conv_desc_, b->y,
                                                            CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf),
                     p.node_name + ": cuDNN heuristics");
    std::vector<cudnnConvolutionFwdAlgo_t> algos;
    const cudnnMathType_t math = is_fp16(plan) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    for (int i = 0; i < returned; ++i) {
      if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
      if (!is_fp16(plan) && (perf[i].mathType != math || !exact_enough_for_fp32(perf[i].algo))) continue;
      if (std::find(algos.begin(), algos.end(), perf[i].algo) == algos.end()) algos.push_back(perf[i].algo);
    }
    return algos;
  }

  Status init(cudnnHandle_t handle) {
    handle_ = handle;
    CHEXRT_RETURN_IF_ERROR(upload_common());
    CHEXRT_RETURN_IF_ERROR(create_descriptors());
    const std::vector<float> w = p_.packed_weight(p_.in_c, p_.kh * p_.kw * p_.in_c);
    if (is_fp16(plan_)) {
      const std::vector<uint16_t> h = to_half(w);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(h.data(), h.size() * 2, p_.node_name + " weights"));
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
    }
    const ValueLayout& ly = plan_.values[p_.y];
    out_temp_ = ly.ld != ly.c;
    epilogue_ = out_temp_ || !p_.bias.empty() || p_.relu;
    return prepare(p_.batch);
  }
  std::string name() const override {
    return p_.op_name() + "_" + prec(plan_) + "_nhwc" + p_.fusion_suffix() + "__cudnn_" + cudnn_algo_name(algo_);
  }
  std::string signature() const override { return conv_signature(p_, plan_); }
  size_t scratch_bytes() const override {
    return packed_input_bytes() + (out_temp_ ? align_up(out_pixels(p_.batch) * p_.out_c * plan_.elem_size) : 0);
  }
  size_t workspace_bytes() const override { return per_batch_[p_.batch]->workspace; }

  Status prepare(int64_t batch) override {
    if (per_batch_[batch]) return Status::ok_status();
    CHEXRT_ASSIGN_OR_RETURN(Batch * b, batch_descriptors(batch));
    size_t bytes = 0;
    cudnnStatus_t s = cudnnGetConvolutionForwardWorkspaceSize(handle_, b->x, w_desc_, conv_desc_, b->y, algo_, &bytes);
    const size_t limit = batch == p_.batch ? kMaxWorkspace : per_batch_[p_.batch]->workspace;
    b->algo = algo_;
    if (s != CUDNN_STATUS_SUCCESS || bytes > limit) {
      // This algorithm does not take this batch within the workspace: ask the heuristics.
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int returned = 0;
      s = cudnnGetConvolutionForwardAlgorithm_v7(handle_, b->x, w_desc_, conv_desc_, b->y,
                                                 CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, perf);
      bool found = false;
      for (int i = 0; s == CUDNN_STATUS_SUCCESS && i < returned && !found; ++i) {
        if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > limit) continue;
        if (!is_fp16(plan_) && (perf[i].mathType != CUDNN_FMA_MATH || !exact_enough_for_fp32(perf[i].algo))) continue;
        b->algo = perf[i].algo;
        bytes = perf[i].memory;
        found = true;
      }
      if (!found) {
        return unsupported(p_.node_name + ": cuDNN has no algorithm for batch " + std::to_string(batch));
      }
    }
    b->workspace = bytes;
    return Status::ok_status();
  }

  Status enqueue(const RunContext& ctx) const override {
    const Batch& b = *per_batch_[ctx.batch];
    CHEXRT_ASSIGN_OR_RETURN(const void* x, library_input(ctx));
    const ValueLayout& ly = plan_.values[p_.y];
    void* conv_out = out_temp_ ? static_cast<char*>(ctx.scratch) + packed_input_bytes() : ctx.ptr(p_.y);
    const float alpha = 1.f, beta = 0.f;
    CHEXRT_CUDNN_TRY(cudnnSetStream(ctx.cudnn, ctx.stream), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnConvolutionForward(ctx.cudnn, &alpha, b.x, x, w_desc_, weight_.get(), conv_desc_, b.algo,
                                             ctx.workspace, ctx.workspace_bytes, &beta, b.y, conv_out),
                     p_.node_name + ": cudnnConvolutionForward");
    if (!epilogue_) return Status::ok_status();
    return check_cuda(launch_channel_map(conv_out, p_.out_c, ctx.ptr(p_.y), ly.ld, out_pixels(ctx.batch), p_.out_c,
                                         nullptr, bias_.as<float>(), p_.relu ? Act::kRelu : Act::kNone,
                                         is_fp16(plan_), ctx.stream),
                      p_.node_name + " epilogue");
  }

 private:
  struct Batch {
    cudnnTensorDescriptor_t x = nullptr, y = nullptr;
    cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    size_t workspace = 0;
  };

  cudnnDataType_t dtype() const { return is_fp16(plan_) ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }

  Status create_descriptors() {
    CHEXRT_CUDNN_TRY(cudnnCreateFilterDescriptor(&w_desc_), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnSetFilter4dDescriptor(w_desc_, dtype(), CUDNN_TENSOR_NHWC, p_.out_c, p_.in_c, p_.kh, p_.kw),
                     p_.node_name + ": filter descriptor");
    CHEXRT_CUDNN_TRY(cudnnCreateConvolutionDescriptor(&conv_desc_), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnSetConvolution2dDescriptor(conv_desc_, p_.ph, p_.pw, p_.sh, p_.sw, p_.dh, p_.dw,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
                     p_.node_name + ": convolution descriptor");
    CHEXRT_CUDNN_TRY(cudnnSetConvolutionMathType(conv_desc_, is_fp16(plan_) ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH),
                     p_.node_name + ": math type");
    return Status::ok_status();
  }

  Result<Batch*> batch_descriptors(int64_t batch) {
    auto b = std::make_unique<Batch>();
    CHEXRT_CUDNN_TRY(cudnnCreateTensorDescriptor(&b->x), p_.node_name);
    CHEXRT_CUDNN_TRY(cudnnCreateTensorDescriptor(&b->y), p_.node_name);
    per_batch_[batch] = std::move(b);
    Batch* raw = per_batch_[batch].get();
    const int n = static_cast<int>(batch);
    CHEXRT_CUDNN_TRY(cudnnSetTensor4dDescriptor(raw->x, CUDNN_TENSOR_NHWC, dtype(), n, p_.in_c, p_.in_h, p_.in_w),
                     p_.node_name + ": input descriptor");
    CHEXRT_CUDNN_TRY(cudnnSetTensor4dDescriptor(raw->y, CUDNN_TENSOR_NHWC, dtype(), n, p_.out_c, p_.out_h, p_.out_w),
                     p_.node_name + ": output descriptor");
    return raw;
  }

  cudnnHandle_t handle_ = nullptr;  // host-side queries only; owned by the engine
  cudnnConvolutionFwdAlgo_t algo_;
  cudnnFilterDescriptor_t w_desc_ = nullptr;
  cudnnConvolutionDescriptor_t conv_desc_ = nullptr;
  DeviceBuffer weight_;
  bool out_temp_ = false, epilogue_ = false;
  std::vector<std::unique_ptr<Batch>> per_batch_;
};

// A 1x1 convolution is the GEMM Y[P, O] = X[P, C] W[O, C]^T; cuBLASLt's column-major view of it
// is Y^T (O x P, ld y_ld) = op(W as C x O)^T (O x C) * X^T (C x P, ld x_ld), with the bias and
// ReLU in its epilogue. FP32 uses CUBLAS_COMPUTE_32F (no TF32), FP16 accumulates in fp32.
class CublasLtConvStep : public LibraryConvBase {
 public:
  static constexpr size_t kMaxWorkspace = size_t(32) << 20;

  CublasLtConvStep(const ExecutionPlan& plan, ConvProblem p)
      : LibraryConvBase(plan, std::move(p)), per_batch_(plan.max_batch + 1) {}
  ~CublasLtConvStep() override {
    for (auto& b : per_batch_) {
      if (!b) continue;
      cublasLtMatrixLayoutDestroy(b->x);
      cublasLtMatrixLayoutDestroy(b->y);
    }
    if (w_layout_) cublasLtMatrixLayoutDestroy(w_layout_);
    if (matmul_) cublasLtMatmulDescDestroy(matmul_);
  }
  static bool applicable(const ExecutionPlan& plan, const ConvProblem& p) {
    const ValueLayout& lx = plan.values[p.x];
    const ValueLayout& ly = plan.values[p.y];
    // 16-byte aligned columns keep cuBLASLt on its fast kernels.
    const int64_t v = 16 / plan.elem_size;
    return p.pointwise() && p.dh == 1 && p.dw == 1 && lx.ld % v == 0 && lx.channel_offset % v == 0 &&
           ly.ld % v == 0 && ly.channel_offset % v == 0 && p.in_c % v == 0;
  }
  Status init(cublasLtHandle_t handle) {
    handle_ = handle;
    CHEXRT_RETURN_IF_ERROR(upload_common());
    const std::vector<float> w = p_.packed_weight(p_.in_c, p_.in_c);
    if (is_fp16(plan_)) {
      const std::vector<uint16_t> h = to_half(w);
      CHEXRT_RETURN_IF_ERROR(weight_.upload(h.data(), h.size() * 2, p_.node_name + " weights"));
      if (!p_.bias.empty()) {
        const std::vector<uint16_t> hb = to_half(p_.bias);
        CHEXRT_RETURN_IF_ERROR(bias_d_.upload(hb.data(), hb.size() * 2, p_.node_name + " bias"));
      }
    } else {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(w.data(), w.size() * 4, p_.node_name + " weights"));
      if (!p_.bias.empty()) {
        CHEXRT_RETURN_IF_ERROR(bias_d_.upload(p_.bias.data(), p_.bias.size() * 4, p_.node_name + " bias"));
      }
    }
    const cudaDataType_t t = is_fp16(plan_) ? CUDA_R_16F : CUDA_R_32F;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescCreate(&matmul_, CUBLAS_COMPUTE_32F, CUDA_R_32F), p_.node_name);
    const cublasOperation_t trans = CUBLAS_OP_T, no_trans = CUBLAS_OP_N;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof(trans)),
                      p_.node_name);
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_TRANSB, &no_trans, sizeof(no_trans)),
                      p_.node_name);
    cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
    if (!p_.bias.empty()) epilogue = p_.relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
    else if (p_.relu) epilogue = CUBLASLT_EPILOGUE_RELU;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
                      p_.node_name);
    if (!p_.bias.empty()) {
      CHEXRT_CUBLAS_TRY(cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &t, sizeof(t)),
                        p_.node_name);
      const void* bias = bias_d_.get();
      CHEXRT_CUBLAS_TRY(
          cublasLtMatmulDescSetAttribute(matmul_, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
          p_.node_name);
    }
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&w_layout_, t, p_.in_c, p_.out_c, p_.in_c), p_.node_name);
    return prepare(p_.batch);
  }
  std::string name() const override {
    return p_.op_name() + "_" + prec(plan_) + "_nhwc" + p_.fusion_suffix() + "__cublaslt";
  }
  std::string signature() const override { return conv_signature(p_, plan_); }
  size_t scratch_bytes() const override { return packed_input_bytes(); }
  size_t workspace_bytes() const override { return kMaxWorkspace; }

  Status prepare(int64_t batch) override {
    if (per_batch_[batch]) return Status::ok_status();
    auto b = std::make_unique<Batch>();
    const cudaDataType_t t = is_fp16(plan_) ? CUDA_R_16F : CUDA_R_32F;
    const uint64_t pixels = static_cast<uint64_t>(out_pixels(batch));
    const int64_t x_ld = pack_input_ ? p_.in_c : plan_.values[p_.x].ld;
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&b->x, t, p_.in_c, pixels, x_ld), p_.node_name);
    CHEXRT_CUBLAS_TRY(cublasLtMatrixLayoutCreate(&b->y, t, p_.out_c, pixels, plan_.values[p_.y].ld), p_.node_name);
    cublasLtMatmulPreference_t pref = nullptr;
    CHEXRT_CUBLAS_TRY(cublasLtMatmulPreferenceCreate(&pref), p_.node_name);
    const size_t ws = kMaxWorkspace;
    cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, matmul_, w_layout_, b->x, b->y, b->y, pref, 1,
                                                            &result, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0) {
      cublasLtMatrixLayoutDestroy(b->x);
      cublasLtMatrixLayoutDestroy(b->y);
      return unsupported(p_.node_name + ": cuBLASLt has no algorithm for batch " + std::to_string(batch));
    }
    b->algo = result.algo;
    per_batch_[batch] = std::move(b);
    return Status::ok_status();
  }

  Status enqueue(const RunContext& ctx) const override {
    const Batch& b = *per_batch_[ctx.batch];
    CHEXRT_ASSIGN_OR_RETURN(const void* x, library_input(ctx));
    const float alpha = 1.f, beta = 0.f;
    void* y = ctx.ptr(p_.y);
    CHEXRT_CUBLAS_TRY(cublasLtMatmul(ctx.cublaslt, matmul_, &alpha, weight_.get(), w_layout_, x, b.x, &beta, y, b.y, y,
                                     b.y, &b.algo, ctx.workspace, ctx.workspace_bytes, ctx.stream),
                      p_.node_name + ": cublasLtMatmul");
    return Status::ok_status();
  }

 private:
  struct Batch {
    cublasLtMatrixLayout_t x = nullptr, y = nullptr;
    cublasLtMatmulAlgo_t algo{};
  };
  cublasLtHandle_t handle_ = nullptr;
  cublasLtMatmulDesc_t matmul_ = nullptr;
  cublasLtMatrixLayout_t w_layout_ = nullptr;
  DeviceBuffer weight_, bias_d_;
  std::vector<std::unique_ptr<Batch>> per_batch_;
};

Result<std::vector<std::unique_ptr<Step>>> conv_candidates(const StepFactoryEnv& env, const StepDesc& desc) {
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, desc, env.batch));
  std::vector<std::unique_ptr<Step>> out;
  std::string last_error;
  for (ConvGemmVariant v : {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue,
                            ConvGemmVariant::kGeneral, ConvGemmVariant::kHalo3x3}) {
    for (const ConvGemmTile& tile : conv_gemm_tiles(v)) {
      if (!MmaConvStep::applicable(env.plan, p, v, tile)) continue;
      // wgmma kernels are built for sm_90a, which runs on compute capability 9.0 alone.
      if (tile.wgmma && !(env.device.major == 9 && env.device.minor == 0)) continue;
      const int splits = MmaConvStep::split_count(env.plan, p, v, tile, env.device.multiProcessorCount);
      // Each tile whole, and split along K where the tiles alone leave multiprocessors idle: just
      // enough CTAs to fill them, and twice that (more loads in flight per multiprocessor).
      std::vector<int> split_counts = {1};
      if (splits > 1) split_counts.push_back(splits);
      const int k_tiles = ((p.pointwise() ? p.in_c : p.kh * p.kw * p.in_c) + 31) / 32;
      if (splits > 1 && 2 * splits <= std::min(k_tiles / 2, kMaxSplits)) split_counts.push_back(2 * splits);
      std::vector<int> cluster_counts;  // the same splits reduced inside a thread-block cluster
      for (int s : split_counts) {
        auto step = std::make_unique<MmaConvStep>(env.plan, p, v, tile, s);
        if (!step->fits()) continue;
        CHEXRT_RETURN_IF_ERROR(step->init());
        out.push_back(std::move(step));
        const int c = std::min(s, kMaxClusterSplits);
        if (c > 1 && env.device.major >= 9 &&
            std::find(cluster_counts.begin(), cluster_counts.end(), c) == cluster_counts.end()) {
          cluster_counts.push_back(c);
        }
      }
      for (int c : cluster_counts) {
        auto step = std::make_unique<MmaConvStep>(env.plan, p, v, tile, c, true);
        CHEXRT_RETURN_IF_ERROR(step->init());
        out.push_back(std::move(step));
      }
    }
  }
  for (ConvGemmVariant v :
       {ConvGemmVariant::kPointwise, ConvGemmVariant::kPointwisePrologue, ConvGemmVariant::kGeneral}) {
    for (const ConvGemmF32Tile& tile : conv_gemm_f32_tiles(v)) {
      if (!FfmaConvStep::applicable(env.plan, p, v, tile)) continue;
      auto step = std::make_unique<FfmaConvStep>(env.plan, p, v, tile);
      CHEXRT_RETURN_IF_ERROR(step->init());
      out.push_back(std::move(step));
    }
    for (const ConvGemmTile& tile : conv_gemm_3xtf32_tiles(v)) {
      if (!Tf32x3ConvStep::applicable(env.plan, p, v, tile)) continue;
      auto step = std::make_unique<Tf32x3ConvStep>(env.plan, p, v, tile);
      CHEXRT_RETURN_IF_ERROR(step->init());
      out.push_back(std::move(step));
    }
  }
  // Library candidates that fail to set up (an unsupported shape) are skipped, not fatal.
  if (CudnnConvStep::applicable(p)) {
    auto algos = CudnnConvStep::algorithms(env.plan, p, env.cudnn);
    if (algos.ok()) {
      for (cudnnConvolutionFwdAlgo_t algo : *algos) {
        auto step = std::make_unique<CudnnConvStep>(env.plan, p, algo);
        const Status s = step->init(env.cudnn);
        if (s.ok()) out.push_back(std::move(step));
        else last_error = s.message();
      }
    } else {
      last_error = algos.status().message();
    }
  }
  if (CublasLtConvStep::applicable(env.plan, p)) {
    auto step = std::make_unique<CublasLtConvStep>(env.plan, p);
    const Status s = step->init(env.cublaslt);
    if (s.ok()) out.push_back(std::move(step));
    else last_error = s.message();
  }
  if (out.empty()) return unsupported(p.node_name + ": no CUDA convolution kernel takes this shape (" + last_error + ")");
  return out;
}

// The dense-layer kernels for steps index and index + 1, when they take them on this GPU (thread-
// block clusters of 16 need compute capability 9.0).
Result<std::vector<std::unique_ptr<Step>>> dense_layer_candidates(const StepFactoryEnv& env, int index) {
  std::vector<std::unique_ptr<Step>> out;
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies both layers' weights.
  if (env.device.major < 9 || !is_fp16(env.plan) || index + 1 >= static_cast<int>(steps.size()) ||
      steps[index].prologue < 0 || steps[index + 1].kind != StepKind::kConv ||
      steps[index + 1].reads[0] != env.graph.node(steps[index].node).outputs[0]) {
    return out;
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p1, conv_problem(env.graph, env.plan, steps[index], env.batch));
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p2, conv_problem(env.graph, env.plan, steps[index + 1], env.batch));
  if (!DenseLayerStep::is_dense_layer(env.graph, env.plan, p1, p2, index, steps[index + 1].node)) return out;
  // One cluster for the whole batch, or 2 to 16 sharing it (smaller bands: less latency per
  // cluster and more multiprocessors at work, for mid rows computed twice).
  std::set<std::string> names;
  for (int bands : {1, 2, 4, 8, 16}) {
    for (int k_split : kDenseKSplits) {
      auto step = std::make_unique<DenseLayerStep>(env.plan, p1, p2, k_split, bands);
      if (!step->fits() || !names.insert(step->name()).second) continue;
      CHEXRT_RETURN_IF_ERROR(step->init());
      out.push_back(std::move(step));
    }
  }
  return out;
}

// The one-kernel stem and max pool for steps index and index + 1, when they take them (wgmma
// kernels need compute capability 9.0): one CTA per image, or per band of pooled rows.
Result<std::vector<std::unique_ptr<Step>>> stem_pool_candidates(const StepFactoryEnv& env, int index) {
  std::vector<std::unique_ptr<Step>> out;
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies the weights.
  if (!(env.device.major == 9 && env.device.minor == 0) || !is_fp16(env.plan) ||
      index + 1 >= static_cast<int>(steps.size()) || steps[index + 1].kind != StepKind::kPool ||
      steps[index].prologue >= 0) {
    return out;
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, steps[index], env.batch));
  if (!StemPoolStep::is_stem_pool(env.graph, env.plan, p, index, steps[index + 1])) return out;
  const int pooled_rows = p.out_h / 2;
  const int pool_y = env.graph.node(steps[index + 1].node).outputs[0];
  std::set<int> bands;
  for (int band : {pooled_rows, (pooled_rows + 1) / 2, (pooled_rows + 3) / 4, 8, 4, 2, 1}) {
    if (band > pooled_rows || !bands.insert(band).second) continue;
    auto step = std::make_unique<StemPoolStep>(env.plan, p, pool_y, band);
    if (!step->fits()) continue;
    CHEXRT_RETURN_IF_ERROR(step->init());
    out.push_back(std::move(step));
  }
  return out;
}

// The one-kernel transition for steps index (the pool) and index + 1 (the convolution), when
// they are one.
Result<std::vector<std::unique_ptr<Step>>> pool_conv_candidates(const StepFactoryEnv& env, int index) {
  std::vector<std::unique_ptr<Step>> out;
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies the weights.
  if (!is_fp16(env.plan) || index + 1 >= static_cast<int>(steps.size()) || steps[index + 1].kind != StepKind::kConv ||
      steps[index].prologue < 0 || steps[index + 1].prologue >= 0) {
    return out;
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, steps[index + 1], env.batch));
  if (!PoolConvStep::is_transition(env.graph, env.plan, steps[index], index, steps[index + 1], p)) return out;
  CHEXRT_ASSIGN_OR_RETURN(AffineParams prologue, affine_params(env.graph, env.graph.node(steps[index].prologue)));
  if (!prologue.relu) return out;  // the kernel's prologue always applies ReLU
  for (const auto& entry : avgpool_conv1x1_resident_entries()) {
    auto step = std::make_unique<PoolConvStep>(env.plan, steps[index].reads[0], prologue, p, entry);
    if (!step->fits()) continue;
    CHEXRT_RETURN_IF_ERROR(step->init());
    out.push_back(std::move(step));
  }
  return out;
}

}  // namespace

Result<std::vector<std::unique_ptr<Step>>> make_step_candidates(const StepFactoryEnv& env, int index) {
  const StepDesc& desc = env.plan.steps[index];
  std::vector<std::unique_ptr<Step>> out;
  const ir::Node* node = desc.node >= 0 ? &env.graph.node(desc.node) : nullptr;
  const ir::Node* prologue = desc.prologue >= 0 ? &env.graph.node(desc.prologue) : nullptr;
  switch (desc.kind) {
    case StepKind::kInput: out.push_back(std::make_unique<InputStep>(env.plan, env.graph, desc.writes[0], desc.io_index)); break;
    case StepKind::kOutput: out.push_back(std::make_unique<OutputStep>(env.plan, desc.reads[0], desc.io_index)); break;
    case StepKind::kChannelMap: {
      auto step = std::make_unique<ChannelMapStep>(env.plan, *node);
      CHEXRT_RETURN_IF_ERROR(step->init(env.graph));
      out.push_back(std::move(step));
      break;
    }
    case StepKind::kConcatCopy: out.push_back(std::make_unique<ConcatCopyStep>(env.plan, *node)); break;
    case StepKind::kPool: {
      auto step = std::make_unique<PoolStep>(env.plan, *node, desc.reads[0]);
      CHEXRT_RETURN_IF_ERROR(step->init(env.graph, prologue));
      out.push_back(std::move(step));
      CHEXRT_ASSIGN_OR_RETURN(auto fused, pool_conv_candidates(env, index));
      for (auto& f : fused) out.push_back(std::move(f));
      break;
    }
    case StepKind::kHead: {
      auto step = std::make_unique<HeadStep>(env.plan, *node, desc.reads[0]);
      CHEXRT_RETURN_IF_ERROR(step->init(env.graph, prologue));
      out.push_back(std::move(step));
      break;
    }
    case StepKind::kConv: {
      CHEXRT_ASSIGN_OR_RETURN(out, conv_candidates(env, desc));
      CHEXRT_ASSIGN_OR_RETURN(auto fused, dense_layer_candidates(env, index));
      for (auto& f : fused) out.push_back(std::move(f));
      CHEXRT_ASSIGN_OR_RETURN(auto stem, stem_pool_candidates(env, index));
      for (auto& f : stem) out.push_back(std::move(f));
      break;
    }
  }
  return out;
}

std::unique_ptr<Step> fused_away_step(const Step& fused) { return std::make_unique<FusedAwayStep>(fused.name()); }

bool is_fused_away_name(const std::string& tactic) { return tactic.rfind("(inside ", 0) == 0; }

}  // namespace chexrt::cuda
