// Shape inference for every op of ops.inc, one function each. Over 600 lines because it is one
// table of small rules; splitting it by op family would scatter the shared helpers.
#include "ir/shape_inference.h"

#include <algorithm>
#include <numeric>

namespace chexrt::ir {

namespace {

Status node_error(const Node& node, const std::string& message) {
  return invalid_argument(describe(node) + ": " + message);
}

// Normalizes a possibly negative axis for a tensor of `rank` dimensions.
Result<int64_t> normalize_axis(const Node& node, int64_t axis, int64_t rank, const char* what) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    return node_error(
        node, std::string(what) + " " + std::to_string(axis) + " is out of range for rank " + std::to_string(rank));
  }
  return a;
}

struct Ctx {
  Graph& g;
  Node& node;
  const Value& in(size_t i) const { return g.value(node.inputs[i]); }
  bool has_input(size_t i) const { return i < node.inputs.size() && node.inputs[i] != kNoValue; }
  void set_out(size_t i, DataType dtype, Dims dims) {
    Value& v = g.value(node.outputs[i]);
    v.dtype = dtype;
    v.dims = std::move(dims);
  }
};

Status require_inputs(const Ctx& c, size_t min_inputs, size_t max_inputs) {
  const size_t n = c.node.inputs.size();
  if (n < min_inputs || n > max_inputs) {
    return node_error(c.node, "expects " + std::to_string(min_inputs) +
                                  (max_inputs != min_inputs ? " to " + std::to_string(max_inputs) : "") +
                                  " inputs, got " + std::to_string(n));
  }
  for (size_t i = 0; i < min_inputs; ++i) {
    if (c.node.inputs[i] == kNoValue) return node_error(c.node, "required input " + std::to_string(i) + " is missing");
  }
  return Status::ok_status();
}

Status require_float(const Ctx& c, size_t i) {
  const DataType t = c.in(i).dtype;
  if (t != DataType::kFloat32 && t != DataType::kFloat16 && t != DataType::kFloat64) {
    return node_error(c.node, "input '" + c.in(i).name + "' must be floating point, is " + dtype_name(t));
  }
  return Status::ok_status();
}

// Reads a constant int64 input (shapes, axes), or fails naming it.
Result<std::vector<int64_t>> constant_ints(const Ctx& c, size_t i, const char* what) {
  const Value& v = c.in(i);
  if (!v.is_constant()) {
    return node_error(c.node, std::string(what) + " input '" + v.name +
                                  "' must be known when the engine is built (a constant or initializer)");
  }
  return v.constant.to_int64s();
}

// Resolves auto_pad and fills explicit kernel_shape/strides/dilations/pads for a sliding window.
Result<Dims> infer_window(Ctx& c, const Dims& x, const Dims& kernel, bool ceil_mode) {
  const size_t spatial = x.size() - 2;
  if (kernel.size() != spatial) {
    return node_error(c.node, "kernel_shape " + dims_to_string(kernel) + " does not fit input " + dims_to_string(x));
  }
  auto& a = c.node.attrs;
  std::vector<int64_t> strides = a.get_ints("strides", std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> dilations = a.get_ints("dilations", std::vector<int64_t>(spatial, 1));
  std::vector<int64_t> pads = a.get_ints("pads", std::vector<int64_t>(2 * spatial, 0));
  if (strides.size() != spatial || dilations.size() != spatial || pads.size() != 2 * spatial) {
    return node_error(c.node, "strides/dilations/pads do not match " + std::to_string(spatial) + " spatial dims");
  }
  const std::string auto_pad = a.get_string("auto_pad", "NOTSET");
  Dims out = {x[0], x[1]};
  for (size_t i = 0; i < spatial; ++i) {
    if (strides[i] < 1 || dilations[i] < 1 || kernel[i] < 1) {
      return node_error(c.node, "kernel, strides and dilations must be positive");
    }
    const int64_t extent = dilations[i] * (kernel[i] - 1) + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t o = (x[i + 2] + strides[i] - 1) / strides[i];
      const int64_t total = std::max<int64_t>(0, (o - 1) * strides[i] + extent - x[i + 2]);
      const int64_t small = total / 2;
      pads[i] = auto_pad == "SAME_UPPER" ? small : total - small;
      pads[i + spatial] = total - pads[i];
    } else if (auto_pad == "VALID") {
      pads[i] = pads[i + spatial] = 0;
    } else if (auto_pad != "NOTSET") {
      return node_error(c.node, "auto_pad '" + auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    }
    const int64_t o =
        window_output_size(x[i + 2], kernel[i], strides[i], dilations[i], pads[i], pads[i + spatial], ceil_mode);
    if (o < 1) return node_error(c.node, "window is larger than the padded input " + dims_to_string(x));
    out.push_back(o);
  }
  a.set("kernel_shape", kernel);
  a.set("strides", strides);
  a.set("dilations", dilations);
  a.set("pads", pads);
  a.erase("auto_pad");
  return out;
}

Status infer_conv(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 3));
  CHEXRT_RETURN_IF_ERROR(require_float(c, 0));
  const Dims& x = c.in(0).dims;
  const Dims& w = c.in(1).dims;
  if (x.size() < 3 || w.size() != x.size()) {
    return node_error(c.node, "input " + dims_to_string(x) + " and weight " + dims_to_string(w) + " ranks do not fit");
  }
  const int64_t group = c.node.attrs.get_int("group", 1);
  if (group < 1 || x[1] % group != 0 || w[0] % group != 0 || w[1] * group != x[1]) {
    return node_error(c.node, "weight " + dims_to_string(w) + " does not fit input " + dims_to_string(x) +
                                  " with group=" + std::to_string(group));
  }
  if (c.has_input(2) && c.in(2).dims != Dims{w[0]}) {
    return node_error(c.node, "bias " + dims_to_string(c.in(2).dims) + " should be [" + std::to_string(w[0]) + "]");
  }
  const Dims kernel_from_weight(w.begin() + 2, w.end());
  const Dims kernel = c.node.attrs.get_ints("kernel_shape", kernel_from_weight);
  if (kernel != kernel_from_weight) return node_error(c.node, "kernel_shape disagrees with the weight's shape");
  c.node.attrs.set("group", group);
  CHEXRT_ASSIGN_OR_RETURN(Dims out, infer_window(c, x, kernel, false));
  out[1] = w[0];
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_pool(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const Dims& x = c.in(0).dims;
  if (x.size() < 3) return node_error(c.node, "input " + dims_to_string(x) + " needs spatial dimensions");
  if (!c.node.attrs.has("kernel_shape")) return node_error(c.node, "attribute kernel_shape is required");
  const bool ceil_mode = c.node.attrs.get_int("ceil_mode", 0) != 0;
  CHEXRT_ASSIGN_OR_RETURN(Dims out, infer_window(c, x, c.node.attrs.get_ints("kernel_shape"), ceil_mode));
  c.set_out(0, c.in(0).dtype, out);
  if (c.node.outputs.size() > 1) c.set_out(1, DataType::kInt64, out);  // MaxPool's Indices
  return Status::ok_status();
}

Status infer_same_shape(Ctx& c, size_t max_inputs = 1) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, max_inputs));
  c.set_out(0, c.in(0).dtype, c.in(0).dims);
  return Status::ok_status();
}

Status infer_batchnorm(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 5, 5));
  CHEXRT_RETURN_IF_ERROR(require_float(c, 0));
  const Dims& x = c.in(0).dims;
  if (x.size() < 2) return node_error(c.node, "input " + dims_to_string(x) + " has no channel dimension");
  for (size_t i = 1; i < 5; ++i) {
    if (c.in(i).dims != Dims{x[1]}) {
      return node_error(c.node, "parameter '" + c.in(i).name + "' is " + dims_to_string(c.in(i).dims) + ", expected [" +
                                    std::to_string(x[1]) + "]");
    }
  }
  c.set_out(0, c.in(0).dtype, x);
  for (size_t i = 1; i < c.node.outputs.size(); ++i) c.set_out(i, c.in(0).dtype, {x[1]});
  return Status::ok_status();
}

Status infer_global_pool(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  Dims out = c.in(0).dims;
  if (out.size() < 3) return node_error(c.node, "input " + dims_to_string(out) + " needs spatial dimensions");
  std::fill(out.begin() + 2, out.end(), 1);
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_concat(Ctx& c) {
  if (c.node.inputs.empty()) return node_error(c.node, "needs at least one input");
  for (int in : c.node.inputs) {
    if (in == kNoValue) return node_error(c.node, "has an absent input");
  }
  const Dims& first = c.in(0).dims;
  CHEXRT_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(c.node, c.node.attrs.get_int("axis", 1),
                                                       static_cast<int64_t>(first.size()), "axis"));
  c.node.attrs.set("axis", axis);
  Dims out = first;
  out[axis] = 0;
  for (size_t i = 0; i < c.node.inputs.size(); ++i) {
    const Dims& d = c.in(i).dims;
    bool fits = d.size() == first.size() && c.in(i).dtype == c.in(0).dtype;
    for (size_t k = 0; fits && k < d.size(); ++k) fits = static_cast<int64_t>(k) == axis || d[k] == first[k];
    if (!fits) {
      return node_error(c.node, "input '" + c.in(i).name + "' " + dims_to_string(d) + " does not fit " +
                                    dims_to_string(first) + " along axis " + std::to_string(axis));
    }
    out[axis] += d[axis];
  }
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_gemm(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 3));
  const Dims& a = c.in(0).dims;
  const Dims& b = c.in(1).dims;
  if (a.size() != 2 || b.size() != 2) return node_error(c.node, "A and B must be matrices");
  const bool ta = c.node.attrs.get_int("transA", 0) != 0;
  const bool tb = c.node.attrs.get_int("transB", 0) != 0;
  const int64_t m = ta ? a[1] : a[0], k = ta ? a[0] : a[1];
  const int64_t kb = tb ? b[1] : b[0], n = tb ? b[0] : b[1];
  if (k != kb) {
    return node_error(c.node, "A " + dims_to_string(a) + " and B " + dims_to_string(b) + " inner sizes differ");
  }
  if (c.has_input(2)) {
    auto bc = broadcast_dims(c.in(2).dims, {m, n});
    if (!bc.ok() || *bc != Dims{m, n}) {
      return node_error(c.node, "C " + dims_to_string(c.in(2).dims) + " does not broadcast to [" + std::to_string(m) +
                                    ", " + std::to_string(n) + "]");
    }
  }
  c.set_out(0, c.in(0).dtype, {m, n});
  return Status::ok_status();
}

Status infer_matmul(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 2));
  Dims a = c.in(0).dims, b = c.in(1).dims;
  if (a.empty() || b.empty()) return node_error(c.node, "inputs must have rank >= 1");
  const bool a_vec = a.size() == 1, b_vec = b.size() == 1;
  if (a_vec) a.insert(a.begin(), 1);
  if (b_vec) b.push_back(1);
  if (a.back() != b[b.size() - 2]) {
    return node_error(c.node,
                      "inner sizes differ: " + dims_to_string(c.in(0).dims) + " x " + dims_to_string(c.in(1).dims));
  }
  CHEXRT_ASSIGN_OR_RETURN(Dims batch, broadcast_dims(Dims(a.begin(), a.end() - 2), Dims(b.begin(), b.end() - 2)));
  Dims out = batch;
  if (!a_vec) out.push_back(a[a.size() - 2]);
  if (!b_vec) out.push_back(b.back());
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_flatten(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const Dims& x = c.in(0).dims;
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = c.node.attrs.get_int("axis", 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) return node_error(c.node, "axis is out of range for " + dims_to_string(x));
  c.node.attrs.set("axis", axis);
  const int64_t outer = num_elements(Dims(x.begin(), x.begin() + axis));
  c.set_out(0, c.in(0).dtype, {outer, num_elements(x) / std::max<int64_t>(outer, 1)});
  if (outer == 0) c.set_out(0, c.in(0).dtype, {0, num_elements(Dims(x.begin() + axis, x.end()))});
  return Status::ok_status();
}

Status infer_reshape(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 2));
  const Dims& x = c.in(0).dims;
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, constant_ints(c, 1, "shape"));
  const bool allow_zero = c.node.attrs.get_int("allowzero", 0) != 0;
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0 && !allow_zero) {
      if (i >= x.size())
        return node_error(c.node, "shape copies dimension " + std::to_string(i) + " that the input lacks");
      shape[i] = x[i];
    }
    if (shape[i] == -1) {
      if (infer_at >= 0) return node_error(c.node, "shape has more than one -1");
      infer_at = static_cast<int>(i);
    } else if (shape[i] < 0) {
      return node_error(c.node, "shape has a negative dimension " + std::to_string(shape[i]));
    } else {
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || num_elements(x) % known != 0) {
      return node_error(c.node, "cannot infer the -1 in " + dims_to_string(shape) + " from " + dims_to_string(x));
    }
    shape[infer_at] = num_elements(x) / known;
  }
  if (num_elements(shape) != num_elements(x)) {
    return node_error(c.node, "cannot reshape " + dims_to_string(x) + " to " + dims_to_string(shape));
  }
  c.set_out(0, c.in(0).dtype, shape);
  return Status::ok_status();
}

Status infer_transpose(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const Dims& x = c.in(0).dims;
  std::vector<int64_t> perm(x.size());
  std::iota(perm.rbegin(), perm.rend(), 0);
  perm = c.node.attrs.get_ints("perm", perm);
  std::vector<bool> seen(x.size(), false);
  if (perm.size() != x.size()) return node_error(c.node, "perm " + dims_to_string(perm) + " does not match rank");
  Dims out(x.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] < 0 || perm[i] >= static_cast<int64_t>(x.size()) || seen[perm[i]]) {
      return node_error(c.node, "perm " + dims_to_string(perm) + " is not a permutation");
    }
    seen[perm[i]] = true;
    out[i] = x[perm[i]];
  }
  c.node.attrs.set("perm", perm);
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_softmax(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const int64_t rank = static_cast<int64_t>(c.in(0).dims.size());
  CHEXRT_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(c.node, c.node.attrs.get_int("axis", -1), rank, "axis"));
  c.node.attrs.set("axis", axis);
  c.set_out(0, c.in(0).dtype, c.in(0).dims);
  return Status::ok_status();
}

Status infer_binary(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 2));
  if (c.in(0).dtype != c.in(1).dtype) {
    return node_error(
        c.node, std::string("input types differ: ") + dtype_name(c.in(0).dtype) + " and " + dtype_name(c.in(1).dtype));
  }
  auto out = broadcast_dims(c.in(0).dims, c.in(1).dims);
  if (!out.ok()) return node_error(c.node, out.status().message());
  c.set_out(0, c.in(0).dtype, *out);
  return Status::ok_status();
}

// Reduce*, Unsqueeze and Squeeze take axes as an attribute (old opsets) or a second input.
Result<std::vector<int64_t>> axes_of(Ctx& c) {
  if (c.has_input(1)) {
    CHEXRT_ASSIGN_OR_RETURN(auto axes, constant_ints(c, 1, "axes"));
    c.node.inputs.resize(1);
    return axes;
  }
  return c.node.attrs.get_ints("axes");
}

Status infer_reduce(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 2));
  const Dims& x = c.in(0).dims;
  const int64_t rank = static_cast<int64_t>(x.size());
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(c));
  const bool keepdims = c.node.attrs.get_int("keepdims", 1) != 0;
  if (axes.empty() && c.node.attrs.get_int("noop_with_empty_axes", 0) == 0) {
    axes.resize(rank);
    std::iota(axes.begin(), axes.end(), 0);
  }
  std::vector<bool> reduced(rank, false);
  for (int64_t& a : axes) {
    CHEXRT_ASSIGN_OR_RETURN(a, normalize_axis(c.node, a, rank, "axis"));
    reduced[a] = true;
  }
  std::sort(axes.begin(), axes.end());
  c.node.attrs.set("axes", axes);
  c.node.attrs.set("keepdims", static_cast<int64_t>(keepdims));
  Dims out;
  for (int64_t i = 0; i < rank; ++i) {
    if (!reduced[i])
      out.push_back(x[i]);
    else if (keepdims)
      out.push_back(1);
  }
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_unsqueeze(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 2));
  const Dims& x = c.in(0).dims;
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(c));
  const int64_t rank = static_cast<int64_t>(x.size() + axes.size());
  std::vector<bool> inserted(rank, false);
  for (int64_t& a : axes) {
    CHEXRT_ASSIGN_OR_RETURN(a, normalize_axis(c.node, a, rank, "axis"));
    if (inserted[a]) return node_error(c.node, "axis " + std::to_string(a) + " repeats");
    inserted[a] = true;
  }
  c.node.attrs.set("axes", axes);
  Dims out;
  size_t k = 0;
  for (int64_t i = 0; i < rank; ++i) out.push_back(inserted[i] ? 1 : x[k++]);
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_squeeze(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 2));
  const Dims& x = c.in(0).dims;
  const int64_t rank = static_cast<int64_t>(x.size());
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> axes, axes_of(c));
  std::vector<bool> drop(rank, false);
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) drop[i] = x[i] == 1;
  }
  for (int64_t& a : axes) {
    CHEXRT_ASSIGN_OR_RETURN(a, normalize_axis(c.node, a, rank, "axis"));
    if (x[a] != 1)
      return node_error(c.node, "cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(x[a]));
    drop[a] = true;
  }
  std::vector<int64_t> all;
  Dims out;
  for (int64_t i = 0; i < rank; ++i) {
    if (drop[i])
      all.push_back(i);
    else
      out.push_back(x[i]);
  }
  c.node.attrs.set("axes", all);
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_shape_op(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const int64_t rank = static_cast<int64_t>(c.in(0).dims.size());
  int64_t start = c.node.attrs.get_int("start", 0), end = c.node.attrs.get_int("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  c.node.attrs.set("start", start);
  c.node.attrs.set("end", end);
  c.set_out(0, DataType::kInt64, {std::max<int64_t>(0, end - start)});
  return Status::ok_status();
}

Status infer_gather(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 2, 2));
  const Dims& x = c.in(0).dims;
  CHEXRT_ASSIGN_OR_RETURN(
      int64_t axis, normalize_axis(c.node, c.node.attrs.get_int("axis", 0), static_cast<int64_t>(x.size()), "axis"));
  c.node.attrs.set("axis", axis);
  Dims out(x.begin(), x.begin() + axis);
  const Dims& idx = c.in(1).dims;
  out.insert(out.end(), idx.begin(), idx.end());
  out.insert(out.end(), x.begin() + axis + 1, x.end());
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_cast(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const int64_t to = c.node.attrs.get_int("to", -1);
  if (to < 0 || to > static_cast<int64_t>(DataType::kFloat64))
    return node_error(c.node, "attribute 'to' is missing or invalid");
  c.set_out(0, static_cast<DataType>(to), c.in(0).dims);
  return Status::ok_status();
}

Status infer_constant_of_shape(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  CHEXRT_ASSIGN_OR_RETURN(std::vector<int64_t> shape, constant_ints(c, 0, "shape"));
  const int64_t dtype = c.node.attrs.get_int("dtype", static_cast<int64_t>(DataType::kFloat32));
  c.set_out(0, static_cast<DataType>(dtype), shape);
  return Status::ok_status();
}

Status infer_channel_affine(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 3, 3));
  const Dims& x = c.in(0).dims;
  if (x.size() < 2 || c.in(1).dims != Dims{x[1]} || c.in(2).dims != Dims{x[1]}) {
    return node_error(c.node, "scale and shift must be [C] for input " + dims_to_string(x));
  }
  c.set_out(0, c.in(0).dtype, x);
  return Status::ok_status();
}

// Pad with ONNX's opset-2 attributes: pads [begin_0.., end_0..] (negative crops), mode, value.
// Besides ONNX's "constant", "reflect" and "edge", mode "symmetric" mirrors including the edge
// (TensorFlow's MirrorPad SYMMETRIC).
Status infer_pad(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 1, 1));
  const Dims& x = c.in(0).dims;
  const std::vector<int64_t> pads = c.node.attrs.get_ints("pads", {});
  if (pads.size() != 2 * x.size()) {
    return node_error(c.node, "pads has " + std::to_string(pads.size()) + " values for rank " +
                                  std::to_string(x.size()) + " (needs " + std::to_string(2 * x.size()) + ")");
  }
  const std::string mode = c.node.attrs.get_string("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "symmetric") {
    return node_error(c.node, "mode '" + mode + "' is not constant, reflect, edge or symmetric");
  }
  Dims out = x;
  for (size_t i = 0; i < x.size(); ++i) {
    const int64_t begin = pads[i], end = pads[i + x.size()];
    // Mirrored padding reads inside the input: reflect needs pad < dim, symmetric pad <= dim.
    const int64_t limit = mode == "reflect" ? x[i] - 1 : mode == "symmetric" ? x[i] : INT64_MAX;
    if (mode != "constant" && (begin > limit || end > limit || begin < 0 || end < 0)) {
      return node_error(c.node, "mode " + mode + " cannot pad axis " + std::to_string(i) + " of size " +
                                    std::to_string(x[i]) + " by " + std::to_string(begin) + "," + std::to_string(end));
    }
    out[i] = x[i] + begin + end;
    if (out[i] < 0) return node_error(c.node, "pads crop axis " + std::to_string(i) + " below zero");
  }
  c.set_out(0, c.in(0).dtype, out);
  return Status::ok_status();
}

Status infer_classifier_head(Ctx& c) {
  CHEXRT_RETURN_IF_ERROR(require_inputs(c, 3, 3));
  const Dims& x = c.in(0).dims;
  const Dims& w = c.in(1).dims;
  if (x.size() != 4 || w.size() != 2 || w[1] != x[1] || c.in(2).dims != Dims{w[0]}) {
    return node_error(c.node, "weights " + dims_to_string(w) + " do not fit input " + dims_to_string(x));
  }
  c.set_out(0, c.in(0).dtype, {x[0], w[0]});
  return Status::ok_status();
}

}  // namespace

int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, int64_t pad_begin,
                           int64_t pad_end, bool ceil_mode) {
  const int64_t span = in + pad_begin + pad_end - dilation * (kernel - 1) - 1;
  if (span < 0) return 0;
  int64_t out = (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  // With ceil_mode the last window must still start inside the input or the left padding
  // (the rule PyTorch and ONNX's reference implementation follow).
  if (ceil_mode && (out - 1) * stride >= in + pad_begin) --out;
  return out;
}

Result<Dims> broadcast_dims(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return invalid_argument("shapes " + dims_to_string(a) + " and " + dims_to_string(b) + " do not broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Status infer_node_shapes(Graph& graph, int node_index) {
  Node& node = graph.node(node_index);
  Ctx c{graph, node};
  if (node.outputs.empty()) return node_error(node, "has no outputs");
  switch (node.op) {
    case OpType::kConv:
      return infer_conv(c);
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      return infer_pool(c);
    case OpType::kBatchNormalization:
      return infer_batchnorm(c);
    case OpType::kGlobalAveragePool:
      return infer_global_pool(c);
    case OpType::kIdentity:
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kExp:
    case OpType::kSqrt:
      return infer_same_shape(c);
    case OpType::kConcat:
      return infer_concat(c);
    case OpType::kGemm:
      return infer_gemm(c);
    case OpType::kMatMul:
      return infer_matmul(c);
    case OpType::kFlatten:
      return infer_flatten(c);
    case OpType::kReshape:
      return infer_reshape(c);
    case OpType::kTranspose:
      return infer_transpose(c);
    case OpType::kSoftmax:
      return infer_softmax(c);
    case OpType::kAdd:
    case OpType::kSub:
    case OpType::kMul:
    case OpType::kDiv:
    case OpType::kMax:
    case OpType::kMin:
      return infer_binary(c);
    case OpType::kPad:
      return infer_pad(c);
    case OpType::kReduceMax:
    case OpType::kReduceSum:
      return infer_reduce(c);
    case OpType::kShape:
      return infer_shape_op(c);
    case OpType::kGather:
      return infer_gather(c);
    case OpType::kUnsqueeze:
      return infer_unsqueeze(c);
    case OpType::kSqueeze:
      return infer_squeeze(c);
    case OpType::kCast:
      return infer_cast(c);
    case OpType::kConstantOfShape:
      return infer_constant_of_shape(c);
    case OpType::kChannelAffine:
      return infer_channel_affine(c);
    case OpType::kClassifierHead:
      return infer_classifier_head(c);
    case OpType::kCount:
      break;
  }
  return node_error(node, "has no shape inference");
}

Status infer_shapes(Graph& graph) {
  for (int n = 0; n < graph.num_nodes(); ++n) CHEXRT_RETURN_IF_ERROR(infer_node_shapes(graph, n));
  return Status::ok_status();
}

int64_t node_flops(const Graph& graph, int node_index) {
  const Node& node = graph.node(node_index);
  const Dims& out = graph.value(node.outputs[0]).dims;
  switch (node.op) {
    case OpType::kConv: {
      const Dims& w = graph.value(node.inputs[1]).dims;
      return 2 * num_elements(out) * num_elements(Dims(w.begin() + 1, w.end()));
    }
    case OpType::kGemm: {
      const Dims& a = graph.value(node.inputs[0]).dims;
      const int64_t k = node.attrs.get_int("transA", 0) ? a[0] : a[1];
      return 2 * num_elements(out) * k;
    }
    case OpType::kMatMul: {
      const Dims& a = graph.value(node.inputs[0]).dims;
      return 2 * num_elements(out) * a.back();
    }
    case OpType::kClassifierHead: {
      const Dims& x = graph.value(node.inputs[0]).dims;
      return num_elements(x) + 2 * num_elements(out) * x[1];
    }
    default:
      return 0;
  }
}

}  // namespace chexrt::ir
