#include "ir/op_attributes.h"

#include <algorithm>
#include <string>

namespace chexrt::ir {

namespace {

Status field_error(const Node& node, const char* field, const std::string& message) {
  return invalid_argument(describe(node) + ": attribute " + field + " " + message);
}

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
}

// A list attribute of `count` values (default: `count` copies of `fallback`), each >= `minimum`.
Result<std::vector<int64_t>> window_field(const Node& node, const char* field, size_t count, int64_t fallback,
                                          int64_t minimum) {
  std::vector<int64_t> v = node.attrs.get_ints(field, std::vector<int64_t>(count, fallback));
  if (v.size() != count) {
    return field_error(node, field,
                       "has " + std::to_string(v.size()) + " values, expected " + std::to_string(count) +
                           " for kernel_shape " + dims_to_string(node.attrs.get_ints("kernel_shape")));
  }
  for (int64_t e : v) {
    if (e < minimum) {
      return field_error(node, field, "value " + std::to_string(e) + " is less than " + std::to_string(minimum));
    }
  }
  return v;
}

Status read_window(const Node& node, WindowAttributes* w) {
  w->kernel_shape = node.attrs.get_ints("kernel_shape");
  if (w->kernel_shape.empty()) return field_error(node, "kernel_shape", "is missing");
  for (int64_t k : w->kernel_shape) {
    if (k < 1) return field_error(node, "kernel_shape", "value " + std::to_string(k) + " is less than 1");
  }
  const size_t spatial = w->kernel_shape.size();
  CHEXRT_ASSIGN_OR_RETURN(w->strides, window_field(node, "strides", spatial, 1, 1));
  CHEXRT_ASSIGN_OR_RETURN(w->dilations, window_field(node, "dilations", spatial, 1, 1));
  CHEXRT_ASSIGN_OR_RETURN(w->pads, window_field(node, "pads", 2 * spatial, 0, 0));
  return Status::ok_status();
}

Result<bool> flag(const Node& node, const char* field) {
  const int64_t v = node.attrs.get_int(field, 0);
  if (v != 0 && v != 1) return field_error(node, field, "must be 0 or 1, not " + std::to_string(v));
  return v == 1;
}

}  // namespace

bool WindowAttributes::is_pointwise() const {
  return all_equal(kernel_shape, 1) && all_equal(strides, 1) && all_equal(pads, 0);
}

Result<ConvAttributes> conv_attributes(const Node& node) {
  if (node.op != OpType::kConv) return invalid_argument(describe(node) + " is not a Conv");
  ConvAttributes a;
  CHEXRT_RETURN_IF_ERROR(read_window(node, &a));
  a.group = node.attrs.get_int("group", 1);
  if (a.group < 1) return field_error(node, "group", "value " + std::to_string(a.group) + " is less than 1");
  return a;
}

Result<PoolAttributes> pool_attributes(const Node& node) {
  if (node.op != OpType::kMaxPool && node.op != OpType::kAveragePool) {
    return invalid_argument(describe(node) + " is not a MaxPool or AveragePool");
  }
  PoolAttributes a;
  CHEXRT_RETURN_IF_ERROR(read_window(node, &a));
  a.average = node.op == OpType::kAveragePool;
  CHEXRT_ASSIGN_OR_RETURN(a.ceil_mode, flag(node, "ceil_mode"));
  CHEXRT_ASSIGN_OR_RETURN(a.count_include_pad, flag(node, "count_include_pad"));
  CHEXRT_ASSIGN_OR_RETURN(bool column_major, flag(node, "storage_order"));
  a.storage_order = column_major ? 1 : 0;
  return a;
}

}  // namespace chexrt::ir
