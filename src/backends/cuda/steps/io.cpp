// The network's edges: host float32 NCHW staging to the NHWC activation (space-to-depth for the
// stem's input, see ValueLayout::space_to_depth) and back (kernels/pointwise.cu). One tactic
// each.
#include "backends/cuda/steps/families.h"
#include "backends/cuda/steps/step_util.h"

namespace chexrt::cuda {
namespace {

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
      return check_cuda(
          launch_nchw_f32_to_nhwc_s2d(ctx.inputs[io_], static_cast<int>(ctx.batch), static_cast<int>(d[1]),
                                      static_cast<int>(d[2]), static_cast<int>(d[3]), ctx.ptr(value_), l.ld,
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

}  // namespace

Status input_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const StepDesc& desc = env.plan.steps[index];
  out->steps.push_back(std::make_unique<InputStep>(env.plan, env.graph, desc.writes[0], desc.io_index));
  return Status::ok_status();
}

Status output_candidates(const StepFactoryEnv& env, int index, StepCandidates* out) {
  const StepDesc& desc = env.plan.steps[index];
  out->steps.push_back(std::make_unique<OutputStep>(env.plan, desc.reads[0], desc.io_index));
  return Status::ok_status();
}

}  // namespace chexrt::cuda
