// Reference Identity, Flatten, Reshape, Squeeze, Unsqueeze, Transpose, Concat, Gather, Shape
// over several element types.
#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

TEST(ReferenceCopyOps, KeepRowMajorDataForAnyType) {
  const HostTensor x = make_tensor<uint8_t>(DataType::kUInt8, {1, 2, 3}, {1, 2, 3, 4, 5, 6});
  const std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6};
  auto check = [&](const HostTensor& t, const Dims& dims) {
    EXPECT_EQ(t.dtype(), DataType::kUInt8);
    EXPECT_EQ(t.dims(), dims);
    EXPECT_EQ(values_of<uint8_t>(t), data);
  };
  check(run_op_ok("Identity", {x})[0], {1, 2, 3});
  check(run_op_ok("Flatten", {x}, {A::integer("axis", 2)})[0], {2, 3});
  check(run_op_ok("Reshape", {x, constant(i64({2}, {3, -1}))})[0], {3, 2});
  check(run_op_ok("Squeeze", {x, constant(i64({1}, {0}))})[0], {2, 3});
  check(run_op_ok("Unsqueeze", {x, constant(i64({2}, {-1, 1}))})[0], {1, 1, 2, 3, 1});
}

TEST(ReferenceTranspose, DefaultReversesAxes) {
  auto out = run_op_ok("Transpose", {iota_f32({2, 3})});
  expect_tensor_near(out[0], {3, 2}, {1, 4, 2, 5, 3, 6});
}

TEST(ReferenceTranspose, ThreeAxesInt8) {
  // perm [1, 2, 0]: y[j, k, i] = x[i, j, k] with x[i, j, k] = 12i + 4j + k.
  std::vector<int8_t> xv(24);
  for (int i = 0; i < 24; ++i) xv[i] = static_cast<int8_t>(i);
  auto out =
      run_op_ok("Transpose", {make_tensor<int8_t>(DataType::kInt8, {2, 3, 4}, xv)}, {A::integers("perm", {1, 2, 0})});
  ASSERT_EQ(out[0].dims(), (Dims{3, 4, 2}));
  std::vector<int8_t> expected;
  for (int j = 0; j < 3; ++j) {
    for (int k = 0; k < 4; ++k) {
      for (int i = 0; i < 2; ++i) expected.push_back(static_cast<int8_t>(12 * i + 4 * j + k));
    }
  }
  EXPECT_EQ(values_of<int8_t>(out[0]), expected);
}

TEST(ReferenceConcat, AlongInnerAndOuterAxes) {
  const HostTensor a = f32({2, 1}, {1, 2});
  const HostTensor b = f32({2, 2}, {3, 4, 5, 6});
  expect_tensor_near(run_op_ok("Concat", {a, b}, {A::integer("axis", 1)})[0], {2, 3}, {1, 3, 4, 2, 5, 6});
  expect_tensor_near(run_op_ok("Concat", {a, b}, {A::integer("axis", -1)})[0], {2, 3}, {1, 3, 4, 2, 5, 6});
  auto out = run_op_ok("Concat", {i64({1, 2}, {7, 8}), i64({2, 2}, {1, 2, 3, 4})}, {A::integer("axis", 0)});
  EXPECT_EQ(values_of<int64_t>(out[0]), (std::vector<int64_t>{7, 8, 1, 2, 3, 4}));
  out = run_op_ok("Concat",
                  {make_tensor<uint8_t>(DataType::kBool, {1}, {1}), make_tensor<uint8_t>(DataType::kBool, {2}, {0, 1})},
                  {A::integer("axis", 0)});
  EXPECT_EQ(out[0].dtype(), DataType::kBool);
  EXPECT_EQ(values_of<uint8_t>(out[0]), (std::vector<uint8_t>{1, 0, 1}));
}

TEST(ReferenceGather, AxisZeroWithNegativeIndices) {
  // Rows of [[1 2] [3 4] [5 6]] picked by [2, -3, -1] = rows 2, 0, 2.
  auto out = run_op_ok("Gather", {iota_f32({3, 2}), i64({3}, {2, -3, -1})});
  expect_tensor_near(out[0], {3, 2}, {5, 6, 1, 2, 5, 6});
}

TEST(ReferenceGather, InnerAxisWithMatrixOfInt32Indices) {
  // x [2, 3] = 1..6, axis 1, indices [[0 2] [1 1]] -> y[i, a, b] = x[i, idx[a, b]].
  const HostTensor idx = make_tensor<int32_t>(DataType::kInt32, {2, 2}, {0, 2, 1, 1});
  auto out = run_op_ok("Gather", {iota_f32({2, 3}), idx}, {A::integer("axis", 1)});
  expect_tensor_near(out[0], {2, 2, 2}, {1, 3, 2, 2, 4, 6, 5, 5});
}

TEST(ReferenceGather, OutOfRangeIndexIsAnError) {
  auto r = run_op("Gather", {iota_f32({3, 2}), i64({1}, {3})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("index 3"), std::string::npos) << r.status().message();
}

TEST(ReferenceShape, StartAndEnd) {
  const HostTensor x(DataType::kFloat16, {2, 3, 4, 5});
  EXPECT_EQ(values_of<int64_t>(run_op_ok("Shape", {x})[0]), (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(values_of<int64_t>(run_op_ok("Shape", {x}, {A::integer("start", 1), A::integer("end", -1)})[0]),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(values_of<int64_t>(run_op_ok("Shape", {x}, {A::integer("start", -10), A::integer("end", 10)})[0]),
            (std::vector<int64_t>{2, 3, 4, 5}));
}

}  // namespace
}  // namespace chexrt::test
