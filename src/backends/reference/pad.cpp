// Pad (src/ir/shape_inference.cpp, infer_pad): each output element reads the input element its
// index maps to, or is the constant value. Index maps per axis, with n the axis size and i the
// position relative to the input's start:
//   reflect   -1 -> 1, n -> n-2    (the edge is not repeated; ONNX and TensorFlow REFLECT)
//   symmetric -1 -> 0, n -> n-1    (the edge is repeated; TensorFlow SYMMETRIC)
//   edge      -1 -> 0, n -> n-1, and every farther index to the edge too
#include <cstring>

#include "backends/reference/kernel_util.h"

namespace chexrt::reference {

namespace {

// The input index for output position `i` (already shifted by the begin pad), or -1 for the
// constant value.
int64_t source_index(int64_t i, int64_t n, const std::string& mode) {
  if (i >= 0 && i < n) return i;
  if (mode == "constant") return -1;
  if (mode == "edge") return i < 0 ? 0 : n - 1;
  if (mode == "reflect") return i < 0 ? -i : 2 * (n - 1) - i;
  return i < 0 ? -i - 1 : 2 * n - 1 - i;  // symmetric
}

// The constant value in the output's element type, as bytes.
std::vector<uint8_t> fill_bytes(DataType dtype, float value) {
  std::vector<uint8_t> bytes(dtype_size(dtype));
  auto put = [&](auto v) { std::memcpy(bytes.data(), &v, sizeof(v)); };
  switch (dtype) {
    case DataType::kFloat32:
      put(value);
      break;
    case DataType::kFloat16:
      put(float_to_half(value));
      break;
    case DataType::kFloat64:
      put(static_cast<double>(value));
      break;
    case DataType::kInt64:
      put(static_cast<int64_t>(value));
      break;
    case DataType::kInt32:
      put(static_cast<int32_t>(value));
      break;
    case DataType::kInt8:
      put(static_cast<int8_t>(value));
      break;
    case DataType::kUInt8:
    case DataType::kBool:
      put(static_cast<uint8_t>(value));
      break;
  }
  return bytes;
}

}  // namespace

Status run_pad(const KernelCall& call) {
  const HostTensor& x = call.in(0);
  HostTensor& y = call.out(0);
  const size_t rank = x.dims().size();
  const std::vector<int64_t> pads = call.attrs().get_ints("pads", {});
  const std::string mode = call.attrs().get_string("mode", "constant");
  if (pads.size() != 2 * rank || y.dims().size() != rank || y.dtype() != x.dtype()) {
    return call.error("pads " + dims_to_string(pads) + " do not fit " + dims_to_string(x.dims()));
  }
  for (size_t a = 0; a < rank; ++a) {
    if (y.dims()[a] != x.dims()[a] + pads[a] + pads[a + rank]) return call.error("output shape does not fit pads");
  }
  const size_t esize = dtype_size(x.dtype());
  const std::vector<uint8_t> fill = fill_bytes(x.dtype(), call.attrs().get_float("value", 0.0f));
  const std::vector<int64_t> x_strides = row_major_strides(x.dims());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  std::vector<int64_t> index(rank, 0);
  for (int64_t flat = 0; flat < y.numel(); ++flat) {
    int64_t offset = 0;
    bool inside = true;
    for (size_t a = 0; a < rank && inside; ++a) {
      const int64_t s = source_index(index[a] - pads[a], x.dims()[a], mode);
      inside = s >= 0;
      offset += s * x_strides[a];
    }
    std::memcpy(dst + flat * esize, inside ? src + offset * esize : fill.data(), esize);
    for (size_t a = rank; a-- > 0;) {
      if (++index[a] < y.dims()[a]) break;
      index[a] = 0;
    }
  }
  return Status::ok_status();
}

}  // namespace chexrt::reference
