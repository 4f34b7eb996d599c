// Per-channel maps standing alone (a ChannelAffine or batch norm no consumer takes as its
// prologue, a ReLU, a sigmoid) and concats that are not in place, as channel copies: both on
// kernels/pointwise.cu's channel map. One tactic each.
#include "backends/cuda/steps/families.h"
#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {
namespace {

using ir::OpType;

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
    return check_cuda(
        launch_channel_map(ctx.ptr(x_), lx.ld, ctx.ptr(y_), ly.ld, ctx.batch * lx.h * lx.w, static_cast<int>(lx.c),
                           affine_.scale.as<float>(), affine_.shift.as<float>(), act_, is_fp16(plan_), ctx.stream),
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

}  // namespace

Status channel_map_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  auto step = std::make_unique<ChannelMapStep>(env.plan, env.graph.node(env.plan.steps[index].node));
  CHEXRT_RETURN_IF_ERROR(step->init(env.graph));
  out->steps.push_back(std::move(step));
  return Status::ok_status();
}

Status concat_copy_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  out->steps.push_back(std::make_unique<ConcatCopyStep>(env.plan, env.graph.node(env.plan.steps[index].node)));
  return Status::ok_status();
}

}  // namespace chexrt::cuda
