// ONNX MaxPool (with its optional Indices output), AveragePool and GlobalAveragePool, N-d.
//
// Windows are laid out once per node in a table: for each output position and kernel tap, the
// flat input position it reads (row-major over the spatial axes), kPadding when it falls in the
// explicit padding, or kBeyond when it falls past the padded input, which only ceil_mode's last
// windows do. Every (n, c) plane then walks the same table. Sums are accumulated in double.
#include <algorithm>
#include <limits>
#include <vector>

#include "backends/reference/kernel_util.h"
#include "ir/op_attributes.h"

namespace chexrt::reference {

namespace {

constexpr int64_t kPadding = -1;
constexpr int64_t kBeyond = -2;

struct WindowTable {
  int64_t out_positions = 0;
  int64_t taps = 0;
  std::vector<int64_t> input;  // [out_positions * taps]
};

Result<WindowTable> make_window_table(const KernelCall& call, const ir::PoolAttributes& attrs, const Dims& in_sp,
                                      const Dims& out_sp) {
  const size_t spatial = in_sp.size();
  const std::vector<int64_t>& kernel = attrs.kernel_shape;
  const std::vector<int64_t>& strides = attrs.strides;
  const std::vector<int64_t>& dilations = attrs.dilations;
  const std::vector<int64_t>& pads = attrs.pads;
  if (kernel.size() != spatial) {
    return call.error("kernel_shape " + dims_to_string(kernel) + " does not fit " + std::to_string(spatial) +
                      " spatial axes");
  }
  WindowTable table;
  table.out_positions = num_elements(out_sp);
  table.taps = num_elements(kernel);
  table.input.resize(static_cast<size_t>(table.out_positions * table.taps));
  const std::vector<int64_t> in_strides = row_major_strides(in_sp);
  for (int64_t o = 0; o < table.out_positions; ++o) {
    for (int64_t t = 0; t < table.taps; ++t) {
      int64_t index = 0, oo = o, tt = t;
      bool padding = false, beyond = false;
      for (size_t d = spatial; d-- > 0;) {
        const int64_t od = oo % out_sp[d], kd = tt % kernel[d];
        oo /= out_sp[d];
        tt /= kernel[d];
        const int64_t i = od * strides[d] - pads[d] + kd * dilations[d];
        if (i < -pads[d] || i >= in_sp[d] + pads[spatial + d])
          beyond = true;
        else if (i < 0 || i >= in_sp[d])
          padding = true;
        else
          index += i * in_strides[d];
      }
      table.input[o * table.taps + t] = beyond ? kBeyond : padding ? kPadding : index;
    }
  }
  return table;
}

// ONNX's Indices are flat over the whole input tensor, row-major (storage_order=0) or with the
// spatial axes in column-major order (storage_order=1): [n][c] then w, h reversed.
std::vector<int64_t> column_major_positions(const Dims& in_sp) {
  const int64_t plane = num_elements(in_sp);
  std::vector<int64_t> result(static_cast<size_t>(plane));
  for (int64_t p = 0; p < plane; ++p) {
    int64_t rest = p, col_major = 0, col_stride = 1;
    std::vector<int64_t> coord(in_sp.size());
    for (size_t d = in_sp.size(); d-- > 0;) {
      coord[d] = rest % in_sp[d];
      rest /= in_sp[d];
    }
    for (size_t d = 0; d < in_sp.size(); ++d) {
      col_major += coord[d] * col_stride;
      col_stride *= in_sp[d];
    }
    result[p] = col_major;
  }
  return result;
}

template <class T>
void max_pool(const KernelCall& call, const WindowTable& table, int64_t planes, int64_t in_plane,
              int64_t storage_order) {
  const T* x = call.in(0).data<T>();
  T* y = call.out(0).data<T>();
  int64_t* indices = call.num_outputs() > 1 ? call.out(1).data<int64_t>() : nullptr;
  std::vector<int64_t> col_major;
  if (indices != nullptr && storage_order == 1) {
    const Dims& xd = call.in(0).dims();
    col_major = column_major_positions(Dims(xd.begin() + 2, xd.end()));
  }
  // A window lying wholly in the padding (possible only when a pad reaches the kernel's size)
  // has no maximum; it gives the lowest value and index -1.
  const T lowest =
      std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  for (int64_t p = 0; p < planes; ++p) {
    const T* plane = x + p * in_plane;
    for (int64_t o = 0; o < table.out_positions; ++o) {
      T best = lowest;
      int64_t arg = -1;
      for (int64_t t = 0; t < table.taps; ++t) {
        const int64_t i = table.input[o * table.taps + t];
        // Strictly greater: the first maximum in window order wins, as in ONNX's reference.
        if (i >= 0 && (arg < 0 || plane[i] > best)) {
          best = plane[i];
          arg = i;
        }
      }
      y[p * table.out_positions + o] = best;
      if (indices != nullptr) {
        const int64_t within = arg < 0 || col_major.empty() ? arg : col_major[arg];
        indices[p * table.out_positions + o] = arg < 0 ? -1 : p * in_plane + within;
      }
    }
  }
}

template <class T>
void average_pool(const KernelCall& call, const WindowTable& table, int64_t planes, int64_t in_plane, bool count_pad) {
  // Divisor per output position: the taps inside the input, plus those in the explicit padding
  // when count_include_pad is set. Taps past the padded input (ceil_mode) never count.
  std::vector<double> divisor(static_cast<size_t>(table.out_positions), 0.0);
  for (int64_t o = 0; o < table.out_positions; ++o) {
    for (int64_t t = 0; t < table.taps; ++t) {
      const int64_t i = table.input[o * table.taps + t];
      if (i >= 0 || (count_pad && i == kPadding)) divisor[o] += 1.0;
    }
  }
  const T* x = call.in(0).data<T>();
  T* y = call.out(0).data<T>();
  for (int64_t p = 0; p < planes; ++p) {
    const T* plane = x + p * in_plane;
    for (int64_t o = 0; o < table.out_positions; ++o) {
      double sum = 0.0;
      for (int64_t t = 0; t < table.taps; ++t) {
        const int64_t i = table.input[o * table.taps + t];
        if (i >= 0) sum += static_cast<double>(plane[i]);
      }
      y[p * table.out_positions + o] = static_cast<T>(sum / divisor[o]);
    }
  }
}

}  // namespace

Status run_pool(const KernelCall& call) {
  const Dims& xd = call.in(0).dims();
  const Dims& yd = call.out(0).dims();
  if (xd.size() < 3 || yd.size() != xd.size() || yd[0] != xd[0] || yd[1] != xd[1]) {
    return call.error("input " + dims_to_string(xd) + " and output " + dims_to_string(yd) + " do not fit");
  }
  const Dims in_sp(xd.begin() + 2, xd.end()), out_sp(yd.begin() + 2, yd.end());
  CHEXRT_ASSIGN_OR_RETURN(const ir::PoolAttributes attrs, ir::pool_attributes(call.node));
  CHEXRT_ASSIGN_OR_RETURN(WindowTable table, make_window_table(call, attrs, in_sp, out_sp));
  const int64_t planes = xd[0] * xd[1], in_plane = num_elements(in_sp);
  const DataType t = call.in(0).dtype();
  if (call.node.op == ir::OpType::kMaxPool) {
    if (call.num_outputs() > 1 && (call.out(1).dtype() != DataType::kInt64 || call.out(1).dims() != yd)) {
      return call.error("Indices output must be i64 " + dims_to_string(yd));
    }
    const bool ok = visit_arithmetic(
        t, [&](auto tag) { max_pool<decltype(tag)>(call, table, planes, in_plane, attrs.storage_order); });
    return ok ? Status::ok_status() : call.unsupported_dtype(t);
  }
  if (t == DataType::kFloat32)
    average_pool<float>(call, table, planes, in_plane, attrs.count_include_pad);
  else if (t == DataType::kFloat64)
    average_pool<double>(call, table, planes, in_plane, attrs.count_include_pad);
  else
    return call.unsupported_dtype(t);
  return Status::ok_status();
}

Status run_global_average_pool(const KernelCall& call) {
  const Dims& xd = call.in(0).dims();
  if (xd.size() < 3) return call.error("input " + dims_to_string(xd) + " has no spatial axes");
  const int64_t planes = xd[0] * xd[1], plane = num_elements(Dims(xd.begin() + 2, xd.end()));
  const float* x = call.in(0).data<float>();
  float* y = call.out(0).data<float>();
  for (int64_t p = 0; p < planes; ++p) {
    double sum = 0.0;
    for (int64_t i = 0; i < plane; ++i) sum += x[p * plane + i];
    y[p] = static_cast<float>(sum / static_cast<double>(plane));
  }
  return Status::ok_status();
}

}  // namespace chexrt::reference
