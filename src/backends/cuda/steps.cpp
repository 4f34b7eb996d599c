// The Step interface's shared pieces. The steps themselves, one file per kernel family, and the
// list of families are in steps/.
#include "backends/cuda/steps.h"

namespace chexrt::cuda {

void* RunContext::ptr(int value) const {
  const ValueLayout& l = plan->values[value];
  return arena + plan->buffers[l.buffer].offset + l.channel_offset * plan->elem_size;
}

namespace {

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

}  // namespace

std::unique_ptr<Step> fused_away_step(const Step& fused) { return std::make_unique<FusedAwayStep>(fused.name()); }

bool is_fused_away_name(const std::string& tactic) { return tactic.rfind("(inside ", 0) == 0; }

}  // namespace chexrt::cuda
