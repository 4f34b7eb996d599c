// Reference ReduceMax, ReduceSum (axes, keepdims, negative axes, noop_with_empty_axes) and Softmax.
#include <cmath>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

// x [2, 3, 2] = 1..12: x[i, j, k] = 1 + 6i + 2j + k.
TEST(ReferenceReduce, SumOverMiddleAxis) {
  // Sum over j: 3 + 6 * 3i + 2 * (0 + 1 + 2) + 3k = 9 + 18i + 3k.
  auto out = run_op_ok("ReduceSum", {iota_f32({2, 3, 2}), constant(i64({1}, {1}))}, {A::integer("keepdims", 1)});
  expect_tensor_near(out[0], {2, 1, 2}, {9, 12, 27, 30});
  out = run_op_ok("ReduceSum", {iota_f32({2, 3, 2}), constant(i64({1}, {-2}))}, {A::integer("keepdims", 0)});
  expect_tensor_near(out[0], {2, 2}, {9, 12, 27, 30});
}

TEST(ReferenceReduce, MaxOverSeveralAndAllAxes) {
  // Max over i and k (axes given as an attribute, opset < 18): max is at i = 1, k = 1: 8 + 2j.
  auto out = run_op_ok("ReduceMax", {iota_f32({2, 3, 2})}, {A::integers("axes", {0, -1}), A::integer("keepdims", 0)});
  expect_tensor_near(out[0], {3}, {8, 10, 12});
  out = run_op_ok("ReduceMax", {iota_f32({2, 3, 2})});  // no axes: every axis, keepdims default 1
  expect_tensor_near(out[0], {1, 1, 1}, {12});
  out = run_op_ok("ReduceSum", {iota_f32({2, 3, 2})}, {A::integer("keepdims", 0)});
  expect_tensor_near(out[0], {}, {78});
}

TEST(ReferenceReduce, EmptyAxesWithNoopIsACopy) {
  auto out =
      run_op_ok("ReduceSum", {iota_f32({2, 2}), constant(i64({0}, {}))}, {A::integer("noop_with_empty_axes", 1)});
  expect_tensor_near(out[0], {2, 2}, {1, 2, 3, 4});
}

TEST(ReferenceReduce, IntegerTypes) {
  auto out = run_op_ok("ReduceMax", {make_tensor<int32_t>(DataType::kInt32, {2, 2}, {-5, -7, 3, -1})},
                       {A::integers("axes", {1}), A::integer("keepdims", 0)});
  EXPECT_EQ(values_of<int32_t>(out[0]), (std::vector<int32_t>{-5, 3}));
  out =
      run_op_ok("ReduceSum", {make_tensor<uint8_t>(DataType::kUInt8, {3}, {200, 100, 1})}, {A::integer("keepdims", 0)});
  EXPECT_EQ(values_of<uint8_t>(out[0]), (std::vector<uint8_t>{45}));  // 301 mod 256
}

std::vector<double> softmax_of(const std::vector<double>& v) {
  double sum = 0.0;
  for (double x : v) sum += std::exp(x);
  std::vector<double> r;
  for (double x : v) r.push_back(std::exp(x) / sum);
  return r;
}

TEST(ReferenceSoftmax, AlongOneAxis) {
  // x [2, 3] = [[1 2 3] [4 5 6]]; axis 1 (and -1): each row; axis 0: each column.
  const std::vector<double> row = softmax_of({1, 2, 3});
  std::vector<double> expected = row;
  expected.insert(expected.end(), row.begin(), row.end());  // rows differ by a constant shift
  expect_tensor_near(run_op_ok("Softmax", {iota_f32({2, 3})}, {A::integer("axis", 1)})[0], {2, 3}, expected);
  expect_tensor_near(run_op_ok("Softmax", {iota_f32({2, 3})})[0], {2, 3}, expected);  // default axis -1
  const std::vector<double> col = softmax_of({1, 4});
  expect_tensor_near(run_op_ok("Softmax", {iota_f32({2, 3})}, {A::integer("axis", 0)})[0], {2, 3},
                     {col[0], col[0], col[0], col[1], col[1], col[1]});
}

TEST(ReferenceSoftmax, LargeInputsStayFinite) {
  // exp(1000) overflows; softmax([1000 1001]) = softmax([0 1]).
  const std::vector<double> expected = softmax_of({0, 1});
  expect_tensor_near(run_op_ok("Softmax", {f32({1, 2}, {1000, 1001})})[0], {1, 2}, expected);
}

}  // namespace
}  // namespace chexrt::test
