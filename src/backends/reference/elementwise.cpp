// Elementwise ops: Relu, Sigmoid, Exp, Sqrt; Add, Sub, Mul, Div, Max, Min with numpy (multidirectional)
// broadcasting; Cast between every chexrt element type, and ConstantOfShape, which casts one value.
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/reference/kernel_util.h"
#include "ir/shape_inference.h"

namespace chexrt::reference {

Status run_unary(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  if (y.numel() != x.numel()) return call.error("output size differs from the input's");
  const ir::OpType op = call.node.op;
  if (op != ir::OpType::kRelu && x.dtype() != DataType::kFloat32 && x.dtype() != DataType::kFloat64) {
    return call.unsupported_dtype(x.dtype());
  }
  const int64_t count = x.numel();
  const bool ok = visit_arithmetic(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* in = x.data<T>();
    T* out = y.data<T>();
    for (int64_t i = 0; i < count; ++i) {
      if (op == ir::OpType::kRelu) {
        out[i] = in[i] < T(0) ? T(0) : in[i];  // keeps NaN, like max(x, 0) in ONNX's reference
      } else if constexpr (std::is_floating_point_v<T>) {
        const double v = in[i];
        out[i] = static_cast<T>(op == ir::OpType::kSigmoid ? 1.0 / (1.0 + std::exp(-v))
                                : op == ir::OpType::kSqrt  ? std::sqrt(v)
                                                           : std::exp(v));
      }
    }
  });
  return ok ? Status::ok_status() : call.unsupported_dtype(x.dtype());
}

namespace {

template <class T>
bool has_zero(const HostTensor& t) {
  const T* p = t.data<T>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (p[i] == T(0)) return true;
  }
  return false;
}

template <class T>
T divide(T a, T b) {
  // Integer division truncates toward zero (C++ and ONNX runtimes agree); the one overflowing
  // case, lowest / -1, wraps like the other integer ops.
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    if (b == T(-1)) return wrapping_sub(T(0), a);
  }
  return static_cast<T>(a / b);
}

}  // namespace

Status run_binary(const KernelCall& call) {
  const HostTensor& a = call.in(0);
  const HostTensor& b = call.in(1);
  HostTensor& y = call.out(0);
  const ir::OpType op = call.node.op;
  auto dims = ir::broadcast_dims(a.dims(), b.dims());
  if (!dims.ok() || *dims != y.dims()) {
    return call.error(dims_to_string(a.dims()) + " and " + dims_to_string(b.dims()) + " do not broadcast to " +
                      dims_to_string(y.dims()));
  }
  const std::vector<int64_t> a_strides = broadcast_strides(a.dims(), y.dims());
  const std::vector<int64_t> b_strides = broadcast_strides(b.dims(), y.dims());
  Status status;
  const bool ok = visit_arithmetic(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_integral_v<T>) {
      if (op == ir::OpType::kDiv && has_zero<T>(b)) {
        status = call.error("integer division by zero");
        return;
      }
    }
    const T* ad = a.data<T>();
    const T* bd = b.data<T>();
    T* yd = y.data<T>();
    for_each_offset<2>(y.dims(), {a_strides, b_strides}, [&](int64_t i, const std::array<int64_t, 2>& off) {
      const T u = ad[off[0]], v = bd[off[1]];
      switch (op) {
        case ir::OpType::kAdd:
          yd[i] = wrapping_add(u, v);
          break;
        case ir::OpType::kSub:
          yd[i] = wrapping_sub(u, v);
          break;
        case ir::OpType::kMul:
          yd[i] = wrapping_mul(u, v);
          break;
        // NaN propagates, as in ONNX's Max/Min and TensorFlow's Maximum/Minimum.
        case ir::OpType::kMax:
          yd[i] = u != u ? u : (v != v || v > u) ? v : u;
          break;
        case ir::OpType::kMin:
          yd[i] = u != u ? u : (v != v || v < u) ? v : u;
          break;
        default:
          yd[i] = divide(u, v);
          break;
      }
    });
  });
  if (!ok) return call.unsupported_dtype(a.dtype());
  return status;
}

namespace {

// One element on its way through Cast: floating values as double, integers and bool as int64.
struct Scalar {
  bool is_float;
  double f;
  int64_t i;
};

Scalar load(const HostTensor& t, int64_t k) {
  switch (t.dtype()) {
    case DataType::kFloat32:
      return {true, t.data<float>()[k], 0};
    case DataType::kFloat16:
      return {true, half_to_float(t.data<uint16_t>()[k]), 0};
    case DataType::kFloat64:
      return {true, t.data<double>()[k], 0};
    case DataType::kInt64:
      return {false, 0.0, t.data<int64_t>()[k]};
    case DataType::kInt32:
      return {false, 0.0, t.data<int32_t>()[k]};
    case DataType::kInt8:
      return {false, 0.0, t.data<int8_t>()[k]};
    case DataType::kUInt8:
      return {false, 0.0, t.data<uint8_t>()[k]};
    case DataType::kBool:
      return {false, 0.0, t.data<uint8_t>()[k] != 0};
  }
  return {false, 0.0, 0};
}

// ONNX leaves float -> integer casts of NaN or out-of-range values undefined. Here they
// truncate toward zero, saturate at the int64 range (NaN -> 0), and then narrower integer types
// keep the low bits, as integer -> integer casts do.
int64_t float_to_int64(double f) {
  if (std::isnan(f)) return 0;
  if (f >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
  if (f < -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(f);
}

// double -> half with one rounding. Rounding to float first and then to half could round twice;
// rounding to float "to odd" (truncate, then set the last bit when inexact) avoids that because
// float has more than twice half's 11 significant bits plus 2 (Boldo & Melquiond, "Emulation of
// FMA and correctly rounded sums: proved algorithms using rounding to odd", IEEE TC 2008).
uint16_t double_to_half(double d) {
  float f = static_cast<float>(d);
  if (static_cast<double>(f) != d && !std::isnan(d)) {
    if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);  // truncate
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    bits |= 1u;
    std::memcpy(&f, &bits, 4);
  }
  return float_to_half(f);
}

void store(HostTensor& t, int64_t k, const Scalar& s) {
  const int64_t as_int = s.is_float ? float_to_int64(s.f) : s.i;
  switch (t.dtype()) {
    case DataType::kFloat32:
      t.data<float>()[k] = s.is_float ? static_cast<float>(s.f) : static_cast<float>(s.i);
      break;
    case DataType::kFloat16:
      t.data<uint16_t>()[k] = double_to_half(s.is_float ? s.f : static_cast<double>(s.i));
      break;
    case DataType::kFloat64:
      t.data<double>()[k] = s.is_float ? s.f : static_cast<double>(s.i);
      break;
    case DataType::kInt64:
      t.data<int64_t>()[k] = as_int;
      break;
    case DataType::kInt32:
      t.data<int32_t>()[k] = static_cast<int32_t>(as_int);
      break;
    case DataType::kInt8:
      t.data<int8_t>()[k] = static_cast<int8_t>(as_int);
      break;
    case DataType::kUInt8:
      t.data<uint8_t>()[k] = static_cast<uint8_t>(as_int);
      break;
    case DataType::kBool:
      t.data<uint8_t>()[k] = s.is_float ? s.f != 0.0 : s.i != 0;
      break;
  }
}

}  // namespace

Status run_cast(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  if (y.numel() != x.numel()) return call.error("output size differs from the input's");
  const int64_t to = call.attrs().get_int("to", -1);
  if (to != static_cast<int64_t>(y.dtype())) {
    return call.error(std::string("output is ") + dtype_name(y.dtype()) + " but attribute 'to' is " +
                      std::to_string(to));
  }
  for (int64_t k = 0; k < x.numel(); ++k) store(y, k, load(x, k));
  return Status::ok_status();
}

// Every element is attribute `value` (default 0) cast to the output type. `value` is a float;
// an int64 `value` is read exactly too, since a float cannot hold every int64.
Status run_constant_of_shape(const KernelCall& call) {
  HostTensor& y = call.out(0);
  if (y.dtype() != static_cast<DataType>(call.attrs().get_int("dtype", static_cast<int64_t>(DataType::kFloat32)))) {
    return call.error(std::string("output is ") + dtype_name(y.dtype()) + " but attribute 'dtype' says otherwise");
  }
  Scalar value{true, 0.0, 0};
  auto it = call.attrs().all().find("value");
  if (it != call.attrs().all().end()) {
    if (const auto* i = std::get_if<int64_t>(&it->second))
      value = {false, 0.0, *i};
    else
      value = {true, call.attrs().get_float("value", 0.0f), 0};
  }
  for (int64_t k = 0; k < y.numel(); ++k) store(y, k, value);
  return Status::ok_status();
}

}  // namespace chexrt::reference
