// Helpers for the reference-kernel tests: tensors from literals, one-node graphs built through
// NetworkDefinition (so shape inference canonicalizes attributes as in real use) and run by the
// reference executor, and element-by-element comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "chexrt/network.h"
#include "chexrt/tensor.h"
#include "reference_data.h"

namespace chexrt::test {

/// A tensor of `dtype` whose elements are `values`, stored as T (float16 as its bits).
template <class T>
HostTensor make_tensor(DataType dtype, Dims dims, const std::vector<T>& values) {
  HostTensor t(dtype, std::move(dims));
  EXPECT_EQ(static_cast<int64_t>(values.size()), t.numel()) << "literal does not fill the tensor";
  EXPECT_EQ(sizeof(T), dtype_size(dtype));
  if (!values.empty()) std::memcpy(t.raw(), values.data(), std::min(t.nbytes(), values.size() * sizeof(T)));
  return t;
}

inline HostTensor f32(Dims dims, const std::vector<float>& values) {
  return make_tensor(DataType::kFloat32, std::move(dims), values);
}
inline HostTensor i64(Dims dims, const std::vector<int64_t>& values) {
  return make_tensor(DataType::kInt64, std::move(dims), values);
}
/// 1, 2, 3, ... in row-major order.
HostTensor iota_f32(const Dims& dims, float first = 1.0f);
using chexrt::testing::random_uniform;

template <class T>
std::vector<T> values_of(const HostTensor& t) {
  std::vector<T> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.raw(), t.nbytes());
  return v;
}

/// One input of a one-node graph: a graph input (fed at run time), a constant (weights, and
/// shape-like inputs that shape inference must see), or an absent optional input.
struct OpInput {
  enum Kind { kInput, kConstant, kAbsent };
  OpInput(HostTensor t, Kind k = kInput) : tensor(std::move(t)), kind(k) {}  // NOLINT: implicit by design
  HostTensor tensor;
  Kind kind;
};
inline OpInput constant(HostTensor t) { return {std::move(t), OpInput::kConstant}; }
inline OpInput absent() { return {HostTensor(), OpInput::kAbsent}; }

/// Builds a graph of the single op with `inputs` and `attributes`, infers its shapes and runs it
/// with runtime::run_reference. Returns the node's outputs.
Result<std::vector<HostTensor>> run_op(const std::string& op, const std::vector<OpInput>& inputs,
                                       const std::vector<LayerAttribute>& attributes = {}, int num_outputs = 1);

/// run_op for tests that expect success; otherwise fails the test and returns empty [0] tensors.
std::vector<HostTensor> run_op_ok(const std::string& op, const std::vector<OpInput>& inputs,
                                  const std::vector<LayerAttribute>& attributes = {}, int num_outputs = 1);

/// Checks dims and every element: |actual - expected| <= abs_tol + rel_tol * |expected|.
void expect_tensor_near(const HostTensor& actual, const Dims& dims, const std::vector<double>& expected,
                        double abs_tol = 1e-6, double rel_tol = 1e-6);

}  // namespace chexrt::test
