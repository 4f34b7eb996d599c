// The classifier head: global average pool of an optional BN (+ ReLU) prologue, then the fully
// connected layer and its activation, as one kernel (kernels/head.cu); also a lone global
// average pool or Gemm. One tactic.
#include "backends/cuda/kernels/head.cuh"
#include "backends/cuda/steps/families.h"
#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {
namespace {

using ir::OpType;

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
        for (int64_t c = 0; c < channels; ++c) {
          weight[k * channels + c] = trans_b ? bw[k * channels + c] : bw[c * classes_ + k];
        }
      }
      if (node_.inputs.size() > 2 && node_.inputs[2] != ir::kNoValue) bias = constant_floats(g, node_.inputs[2]);
      op_ = "fc";
    } else {
      op_ = "global_avgpool";
    }
    if (!weight.empty()) {
      CHEXRT_RETURN_IF_ERROR(weight_.upload(weight.data(), weight.size() * sizeof(float), node_.name));
    }
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

}  // namespace

Status head_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const StepDesc& desc = env.plan.steps[index];
  const ir::Node* prologue = desc.prologue >= 0 ? &env.graph.node(desc.prologue) : nullptr;
  auto step = std::make_unique<HeadStep>(env.plan, env.graph.node(desc.node), desc.reads[0]);
  CHEXRT_RETURN_IF_ERROR(step->init(env.graph, prologue));
  out->steps.push_back(std::move(step));
  return Status::ok_status();
}

}  // namespace chexrt::cuda
