// DenseNet's transition (BN + ReLU, 2x2 stride-2 average pool, then the 1x1 convolution) as one
// kernel (kernels/conv1x1_resident.cu, ConvGemmArgs::pool2x2): a tactic of the pool's step that
// also does the convolution's. The pooled tensor is never written or read back.
//
// Candidates, fp16, where the two steps are a transition: the kernel's pooling tiles
// (avgpool_conv1x1_resident_entries()), each where conv1x1_resident_fits() takes the shape.
#include "backends/cuda/kernels/conv1x1_resident.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"

namespace chexrt::cuda {
namespace {

using ir::OpType;

class TransitionStep : public Step {
 public:
  /// `x`: the pool's input; `prologue`: the pool's BN + ReLU; `conv`: the convolution of the
  /// pooled tensor.
  TransitionStep(const ExecutionPlan& plan, int x, const AffineParams& prologue, ConvProblem conv,
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

}  // namespace

// The one-kernel transition for steps index (the pool) and index + 1 (the convolution), when
// they are one.
Status transition_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies the weights.
  if (!is_fp16(env.plan) || index + 1 >= static_cast<int>(steps.size()) || steps[index + 1].kind != StepKind::kConv ||
      steps[index].prologue < 0 || steps[index + 1].prologue >= 0) {
    return Status::ok_status();
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, steps[index + 1], env.batch));
  if (!TransitionStep::is_transition(env.graph, env.plan, steps[index], index, steps[index + 1], p)) {
    return Status::ok_status();
  }
  CHEXRT_ASSIGN_OR_RETURN(AffineParams prologue, affine_params(env.graph, env.graph.node(steps[index].prologue)));
  if (!prologue.relu) return Status::ok_status();  // the kernel's prologue always applies ReLU
  for (const auto& entry : avgpool_conv1x1_resident_entries()) {
    auto step = std::make_unique<TransitionStep>(env.plan, steps[index].reads[0], prologue, p, entry);
    if (!step->fits() || !out->wants(*step)) continue;
    CHEXRT_RETURN_IF_ERROR(step->init());
    out->steps.push_back(std::move(step));
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
