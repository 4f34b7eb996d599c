// Shared plumbing of the reference kernels (private to src/backends/reference): the view of one
// node's call, element-type dispatch and broadcast iteration. One .cpp file per op family
// implements the run_* functions declared at the bottom.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "chexrt/tensor.h"
#include "ir/graph.h"

namespace chexrt::reference {

/// One node's inputs and outputs, as run_node receives them.
struct KernelCall {
  const ir::Node& node;
  const std::vector<const HostTensor*>& inputs;
  const std::vector<HostTensor*>& outputs;

  const HostTensor& in(size_t i) const { return *inputs[i]; }
  /// Optional inputs may be absent (nullptr) or beyond the end of the list.
  const HostTensor* optional_in(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  HostTensor& out(size_t i) const { return *outputs[i]; }
  size_t num_outputs() const { return outputs.size(); }
  const ir::Attributes& attrs() const { return node.attrs; }
  /// An InvalidArgument status whose message names the node.
  Status error(const std::string& message) const;
  /// An Unsupported status for an element type this kernel does not handle.
  Status unsupported_dtype(DataType t) const;
};

/// Row-major strides (in elements) of a tensor with these dims.
std::vector<int64_t> row_major_strides(const Dims& dims);

/// Strides of a tensor of `dims` read as if it had the (broadcast) dims `out`: numpy rules, so
/// missing leading axes and axes of size 1 get stride 0.
std::vector<int64_t> broadcast_strides(const Dims& dims, const Dims& out);

/// Visits every index of `dims` in row-major order and calls f(flat_index, offsets), where
/// offsets[k] = sum over axes of index[axis] * strides[k][axis]. With broadcast strides this
/// walks several operands in step; with permuted strides it transposes.
template <size_t K, class F>
void for_each_offset(const Dims& dims, const std::array<std::vector<int64_t>, K>& strides, F&& f) {
  const int64_t total = num_elements(dims);
  if (total == 0) return;
  const size_t rank = dims.size();
  std::vector<int64_t> index(rank, 0);
  std::array<int64_t, K> offsets{};
  for (int64_t flat = 0; flat < total; ++flat) {
    f(flat, offsets);
    // Odometer step: bump the last axis, carrying into earlier ones.
    for (size_t axis = rank; axis-- > 0;) {
      ++index[axis];
      for (size_t k = 0; k < K; ++k) offsets[k] += strides[k][axis];
      if (index[axis] < dims[axis]) break;
      for (size_t k = 0; k < K; ++k) offsets[k] -= strides[k][axis] * dims[axis];
      index[axis] = 0;
    }
  }
}

/// Calls f(T{}) with T the arithmetic type of a float32/float64/int64/int32/int8/uint8 tensor;
/// returns false (without calling f) for float16 and bool, which have no arithmetic type here.
template <class F>
bool visit_arithmetic(DataType t, F&& f) {
  switch (t) {
    case DataType::kFloat32:
      f(float{});
      return true;
    case DataType::kFloat64:
      f(double{});
      return true;
    case DataType::kInt64:
      f(int64_t{});
      return true;
    case DataType::kInt32:
      f(int32_t{});
      return true;
    case DataType::kInt8:
      f(int8_t{});
      return true;
    case DataType::kUInt8:
      f(uint8_t{});
      return true;
    case DataType::kFloat16:
    case DataType::kBool:
      return false;
  }
  return false;
}

/// Integer arithmetic that wraps modulo 2^bits, as ONNX runtimes do for uint8 and int64 overflow
/// (signed overflow is undefined in C++, unsigned arithmetic is modular).
template <class T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <class T>
T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <class T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    // uint8/uint16 promote to int before multiplying; widen to unsigned 64 bits to keep the
    // product modular whatever T is.
    return static_cast<T>(static_cast<U>(static_cast<uint64_t>(static_cast<U>(a)) * static_cast<U>(b)));
  } else {
    return a * b;
  }
}

// Op families. Each checks its own attributes and element types and names the node in errors.
Status run_conv(const KernelCall& call);
Status run_pool(const KernelCall& call);  // MaxPool, AveragePool
Status run_global_average_pool(const KernelCall& call);
Status run_batch_norm(const KernelCall& call);
Status run_channel_affine(const KernelCall& call);
Status run_gemm(const KernelCall& call);
Status run_matmul(const KernelCall& call);
Status run_classifier_head(const KernelCall& call);
Status run_unary(const KernelCall& call);   // Relu, Sigmoid, Exp, Sqrt
Status run_binary(const KernelCall& call);  // Add, Sub, Mul, Div, Max, Min
Status run_pad(const KernelCall& call);
Status run_softmax(const KernelCall& call);
Status run_reduce(const KernelCall& call);  // ReduceMax, ReduceSum
Status run_cast(const KernelCall& call);
Status run_copy(const KernelCall& call);  // Identity, Flatten, Reshape, Squeeze, Unsqueeze
Status run_transpose(const KernelCall& call);
Status run_concat(const KernelCall& call);
Status run_gather(const KernelCall& call);
Status run_shape(const KernelCall& call);
Status run_constant_of_shape(const KernelCall& call);

}  // namespace chexrt::reference
