// Max and average pooling with an optional BN (+ ReLU) prologue applied as the input is read
// (kernels/pool.cu). One tactic; transition.cpp offers the pool fused with the convolution
// after it.
#include "backends/cuda/kernels/pool.cuh"
#include "backends/cuda/steps/families.h"
#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {
namespace {

using ir::OpType;

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

}  // namespace

Status pool_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const StepDesc& desc = env.plan.steps[index];
  const ir::Node* prologue = desc.prologue >= 0 ? &env.graph.node(desc.prologue) : nullptr;
  auto step = std::make_unique<PoolStep>(env.plan, env.graph.node(desc.node), desc.reads[0]);
  CHEXRT_RETURN_IF_ERROR(step->init(env.graph, prologue));
  out->steps.push_back(std::move(step));
  return Status::ok_status();
}

}  // namespace chexrt::cuda
