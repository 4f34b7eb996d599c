#include "ir/ops.h"

#include <array>

namespace chexrt::ir {

namespace {
constexpr std::array kOpNames = {
#define X(name) #name,
#include "ir/ops.inc"
#undef X
};
static_assert(kOpNames.size() == static_cast<size_t>(OpType::kCount), "ops.inc and the op name table disagree");
}  // namespace

const char* op_name(OpType op) {
  const auto i = static_cast<size_t>(op);
  return i < kOpNames.size() ? kOpNames[i] : "?";
}

std::optional<OpType> op_from_name(const std::string& name) {
  for (size_t i = 0; i < kOpNames.size(); ++i) {
    if (name == kOpNames[i]) return static_cast<OpType>(i);
  }
  return std::nullopt;
}

}  // namespace chexrt::ir
