// DenseNet's stem (the stride-2 convolution over its space-to-depth input, as a 4x4 stride-1
// one) and the 3x3 stride-2 max pool after it as one kernel (kernels/stem_pool_wgmma.cu): a
// tactic of the convolution's step that also does the pool's.
//
// Candidates, fp16 on compute capability 9.0, where the two steps are the stem: one CTA per
// image, or per band of half, a quarter, 8, 4, 2 or 1 pooled rows, each where stem_pool_fits()
// takes it.
#include <set>

#include "backends/cuda/kernels/stem_pool_wgmma.cuh"
#include "backends/cuda/steps/conv_common.h"
#include "backends/cuda/steps/families.h"
#include "ir/op_attributes.h"

namespace chexrt::cuda {
namespace {

using ir::OpType;

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
    if (node.op != OpType::kMaxPool || node.outputs.size() != 1) return false;
    const Result<ir::PoolAttributes> attrs = ir::pool_attributes(node);
    if (!attrs.ok() || attrs->kernel_shape != std::vector<int64_t>{3, 3} ||
        attrs->strides != std::vector<int64_t>{2, 2} || attrs->pads != std::vector<int64_t>{1, 1, 1, 1} ||
        attrs->dilations != std::vector<int64_t>{1, 1} || attrs->ceil_mode) {
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

}  // namespace

// The one-kernel stem and max pool for steps index and index + 1, when they take them (wgmma
// kernels need compute capability 9.0): one CTA per image, or per band of pooled rows.
Status stem_pool_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const auto& steps = env.plan.steps;
  // Cheap checks first: conv_problem copies the weights.
  if (!(env.device.major == 9 && env.device.minor == 0) || !is_fp16(env.plan) ||
      index + 1 >= static_cast<int>(steps.size()) || steps[index + 1].kind != StepKind::kPool ||
      steps[index].prologue >= 0) {
    return Status::ok_status();
  }
  CHEXRT_ASSIGN_OR_RETURN(ConvProblem p, conv_problem(env.graph, env.plan, steps[index], env.batch));
  if (!StemPoolStep::is_stem_pool(env.graph, env.plan, p, index, steps[index + 1])) {
    return Status::ok_status();
  }
  const int pooled_rows = p.out_h / 2;
  const int pool_y = env.graph.node(steps[index + 1].node).outputs[0];
  std::set<int> bands;
  for (int band : {pooled_rows, (pooled_rows + 1) / 2, (pooled_rows + 3) / 4, 8, 4, 2, 1}) {
    if (band > pooled_rows || !bands.insert(band).second) continue;
    auto step = std::make_unique<StemPoolStep>(env.plan, p, pool_y, band);
    if (!step->fits() || !out->wants(*step)) continue;
    CHEXRT_RETURN_IF_ERROR(step->init());
    out->steps.push_back(std::move(step));
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
