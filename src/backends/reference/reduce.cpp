// ReduceMax, ReduceSum (axes as an attribute, keepdims) and Softmax (opset 13: along one axis).
#include <cmath>
#include <limits>
#include <vector>

#include "backends/reference/kernel_util.h"

namespace chexrt::reference {

namespace {

// The reduced axes per ONNX: the `axes` attribute (negative counts from the end); none given
// means every axis, unless noop_with_empty_axes is set, which makes the op a copy.
Result<std::vector<bool>> reduced_axes(const KernelCall& call, int64_t rank) {
  std::vector<int64_t> axes = call.attrs().get_ints("axes");
  std::vector<bool> reduced(static_cast<size_t>(rank), false);
  if (axes.empty() && call.attrs().get_int("noop_with_empty_axes", 0) == 0) reduced.assign(reduced.size(), true);
  for (int64_t a : axes) {
    const int64_t axis = a < 0 ? a + rank : a;
    if (axis < 0 || axis >= rank) return call.error("axis " + std::to_string(a) + " is out of range");
    reduced[axis] = true;
  }
  return reduced;
}

}  // namespace

Status run_reduce(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  const Dims& xd = x.dims();
  CHEXRT_ASSIGN_OR_RETURN(std::vector<bool> reduced, reduced_axes(call, x.rank()));
  // Each input element adds into the output element at its index with the reduced axes zeroed:
  // the output's strides (as if keepdims) with stride 0 on reduced axes.
  Dims kept = xd;
  for (size_t i = 0; i < xd.size(); ++i) {
    if (reduced[i]) kept[i] = 1;
  }
  if (num_elements(kept) != y.numel()) {
    return call.error("output " + dims_to_string(y.dims()) + " does not fit reducing " + dims_to_string(xd));
  }
  std::vector<int64_t> out_strides = row_major_strides(kept);
  for (size_t i = 0; i < xd.size(); ++i) {
    if (reduced[i]) out_strides[i] = 0;
  }
  const bool is_max = call.node.op == ir::OpType::kReduceMax;
  const bool ok = visit_arithmetic(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    // Floating sums accumulate in double; integer sums wrap in their own type.
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    // The maximum of nothing (a reduced axis of size 0) is the lowest value, -inf for floats.
    const Acc init = !is_max                                  ? Acc(0)
                     : std::numeric_limits<Acc>::has_infinity ? -std::numeric_limits<Acc>::infinity()
                                                              : std::numeric_limits<Acc>::lowest();
    std::vector<Acc> acc(static_cast<size_t>(y.numel()), init);
    const T* in = x.data<T>();
    for_each_offset<1>(xd, {out_strides}, [&](int64_t i, const std::array<int64_t, 1>& off) {
      Acc& a = acc[off[0]];
      const Acc v = static_cast<Acc>(in[i]);
      if (is_max)
        a = v > a ? v : a;
      else
        a = wrapping_add(a, v);
    });
    T* out = y.data<T>();
    for (size_t i = 0; i < acc.size(); ++i) out[i] = static_cast<T>(acc[i]);
  });
  return ok ? Status::ok_status() : call.unsupported_dtype(x.dtype());
}

// y = exp(x - max) / sum(exp(x - max)) along `axis`; subtracting the max keeps exp finite.
Status run_softmax(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  const Dims& xd = x.dims();
  int64_t axis = call.attrs().get_int("axis", -1);
  if (axis < 0) axis += x.rank();
  if (axis < 0 || axis >= x.rank()) return call.error("axis is out of range for " + dims_to_string(xd));
  if (call.out(0).numel() != x.numel()) return call.error("output size differs from the input's");
  const int64_t outer = num_elements(Dims(xd.begin(), xd.begin() + axis));
  const int64_t size = xd[axis];
  const int64_t inner = num_elements(Dims(xd.begin() + axis + 1, xd.end()));
  auto softmax = [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* out = call.out(0).data<T>();
    std::vector<double> e(static_cast<size_t>(size));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * size * inner + j;
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < size; ++k) max = std::max<double>(max, in[base + k * inner]);
        double sum = 0.0;
        for (int64_t k = 0; k < size; ++k) sum += e[k] = std::exp(in[base + k * inner] - max);
        for (int64_t k = 0; k < size; ++k) out[base + k * inner] = static_cast<T>(e[k] / sum);
      }
    }
  };
  if (x.dtype() == DataType::kFloat32)
    softmax(float{});
  else if (x.dtype() == DataType::kFloat64)
    softmax(double{});
  else
    return call.unsupported_dtype(x.dtype());
  return Status::ok_status();
}

}  // namespace chexrt::reference
