// Reference Relu/Sigmoid/Exp, Add/Sub/Mul/Div with broadcasting and integer wrap-around, Cast
// and ConstantOfShape.
#include <cmath>
#include <limits>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

TEST(ReferenceUnary, ReluSigmoidExp) {
  const HostTensor x = f32({4}, {-2, -0.5, 0, 1.5});
  expect_tensor_near(run_op_ok("Relu", {x})[0], {4}, {0, 0, 0, 1.5});
  std::vector<double> sig, ex;
  for (double v : {-2.0, -0.5, 0.0, 1.5}) {
    sig.push_back(1 / (1 + std::exp(-v)));
    ex.push_back(std::exp(v));
  }
  expect_tensor_near(run_op_ok("Sigmoid", {x})[0], {4}, sig);
  expect_tensor_near(run_op_ok("Exp", {x})[0], {4}, ex);
  EXPECT_FLOAT_EQ(values_of<float>(run_op_ok("Sigmoid", {f32({1}, {0})})[0])[0], 0.5f);
}

TEST(ReferenceUnary, ReluOnIntegers) {
  auto out = run_op_ok("Relu", {make_tensor<int32_t>(DataType::kInt32, {3}, {-5, 0, 7})});
  EXPECT_EQ(values_of<int32_t>(out[0]), (std::vector<int32_t>{0, 0, 7}));
}

TEST(ReferenceBinary, BroadcastBothWays) {
  // [2, 1, 3] + [4, 1] -> [2, 4, 3]: out[i, j, k] = a[i, 0, k] + b[j, 0].
  const HostTensor a = iota_f32({2, 1, 3});  // 1..6
  const HostTensor b = f32({4, 1}, {0, 10, 20, 30});
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      for (int k = 0; k < 3; ++k) expected.push_back(1 + i * 3 + k + 10 * j);
    }
  }
  expect_tensor_near(run_op_ok("Add", {a, b})[0], {2, 4, 3}, expected);
}

TEST(ReferenceBinary, ScalarAndRowOperands) {
  const HostTensor m = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_tensor_near(run_op_ok("Sub", {m, f32({3}, {1, 1, 1})})[0], {2, 3}, {0, 1, 2, 3, 4, 5});
  expect_tensor_near(run_op_ok("Mul", {f32({}, {2}), m})[0], {2, 3}, {2, 4, 6, 8, 10, 12});
  expect_tensor_near(run_op_ok("Div", {m, f32({2, 1}, {2, 4})})[0], {2, 3}, {0.5, 1, 1.5, 1, 1.25, 1.5});
}

TEST(ReferenceBinary, FloatDivisionByZeroIsInfinite) {
  auto out = run_op_ok("Div", {f32({2}, {1, -1}), f32({2}, {0, 0})});
  EXPECT_EQ(values_of<float>(out[0]),
            (std::vector<float>{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}));
}

TEST(ReferenceBinary, Uint8WrapsModulo256) {
  auto u8 = [](std::vector<uint8_t> v) { return make_tensor<uint8_t>(DataType::kUInt8, {2}, v); };
  // 250 + 10 = 260 -> 4; 3 - 5 = -2 -> 254; 16 * 20 = 320 -> 64; 7 / 2 = 3 (truncated).
  EXPECT_EQ(values_of<uint8_t>(run_op_ok("Add", {u8({250, 1}), u8({10, 2})})[0]), (std::vector<uint8_t>{4, 3}));
  EXPECT_EQ(values_of<uint8_t>(run_op_ok("Sub", {u8({3, 9}), u8({5, 4})})[0]), (std::vector<uint8_t>{254, 5}));
  EXPECT_EQ(values_of<uint8_t>(run_op_ok("Mul", {u8({16, 3}), u8({20, 5})})[0]), (std::vector<uint8_t>{64, 15}));
  EXPECT_EQ(values_of<uint8_t>(run_op_ok("Div", {u8({7, 255}), u8({2, 16})})[0]), (std::vector<uint8_t>{3, 15}));
}

TEST(ReferenceBinary, Int64AndInt32) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  auto out = run_op_ok("Add", {i64({2}, {max, -3}), i64({2}, {1, 5})});
  EXPECT_EQ(values_of<int64_t>(out[0]), (std::vector<int64_t>{min, 2}));
  // Integer division truncates toward zero.
  auto i32 = [](std::vector<int32_t> v) { return make_tensor<int32_t>(DataType::kInt32, {3}, v); };
  EXPECT_EQ(values_of<int32_t>(run_op_ok("Div", {i32({-7, 7, -8}), i32({2, -2, -4})})[0]),
            (std::vector<int32_t>{-3, -3, 2}));
}

TEST(ReferenceBinary, IntegerDivisionByZeroIsAnError) {
  auto r = run_op("Div", {i64({2}, {1, 2}), i64({2}, {1, 0})});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("division by zero"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("node"), std::string::npos) << r.status().message();
}

TEST(ReferenceCast, FloatToIntegersTruncateTowardZero) {
  const HostTensor x = f32({4}, {2.7f, -2.7f, 0.0f, 255.0f});
  auto cast_to = [&](DataType t) { return run_op_ok("Cast", {x}, {A::integer("to", static_cast<int64_t>(t))})[0]; };
  EXPECT_EQ(values_of<int64_t>(cast_to(DataType::kInt64)), (std::vector<int64_t>{2, -2, 0, 255}));
  EXPECT_EQ(values_of<int32_t>(cast_to(DataType::kInt32)), (std::vector<int32_t>{2, -2, 0, 255}));
  EXPECT_EQ(values_of<uint8_t>(cast_to(DataType::kUInt8)), (std::vector<uint8_t>{2, 254, 0, 255}));
  EXPECT_EQ(values_of<uint8_t>(cast_to(DataType::kBool)), (std::vector<uint8_t>{1, 1, 0, 1}));
  const HostTensor d = cast_to(DataType::kFloat64);
  EXPECT_EQ(values_of<double>(d), (std::vector<double>{2.7f, -2.7f, 0.0, 255.0}));
}

TEST(ReferenceCast, IntegersAndBool) {
  // int64 -> int8 keeps the low 8 bits: 300 -> 44, -129 -> 127.
  auto out = run_op_ok("Cast", {i64({3}, {300, -129, 5})}, {A::integer("to", static_cast<int64_t>(DataType::kInt8))});
  EXPECT_EQ(values_of<int8_t>(out[0]), (std::vector<int8_t>{44, 127, 5}));
  const HostTensor b = make_tensor<uint8_t>(DataType::kBool, {2}, {1, 0});
  out = run_op_ok("Cast", {b}, {A::integer("to", static_cast<int64_t>(DataType::kFloat32))});
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{1, 0}));
}

TEST(ReferenceCast, HalfPrecisionRoundsOnce) {
  // float -> half: 1/3 is 0x3555 (0.333251953125), 65519 still rounds to 65504 and 65520 to inf.
  auto out = run_op_ok("Cast", {f32({3}, {1.0f / 3, 65519.0f, 65520.0f})},
                       {A::integer("to", static_cast<int64_t>(DataType::kFloat16))});
  EXPECT_EQ(values_of<uint16_t>(out[0]), (std::vector<uint16_t>{0x3555, 0x7bff, 0x7c00}));
  // double -> half: 1 + 2^-11 + 2^-40 lies just above the midpoint of 1 (0x3c00) and
  // 1 + 2^-10 (0x3c01). Through float it would become the exact midpoint and round to even
  // (0x3c00); rounded once it is 0x3c01.
  const HostTensor d = make_tensor<double>(
      DataType::kFloat64, {2}, {1 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40), -(1 + std::ldexp(1.0, -11))});
  out = run_op_ok("Cast", {d}, {A::integer("to", static_cast<int64_t>(DataType::kFloat16))});
  EXPECT_EQ(values_of<uint16_t>(out[0]), (std::vector<uint16_t>{0x3c01, 0xbc00}));
  // half -> float is exact.
  out = run_op_ok("Cast", {make_tensor<uint16_t>(DataType::kFloat16, {2}, {0x3555, 0xc000})},
                  {A::integer("to", static_cast<int64_t>(DataType::kFloat32))});
  EXPECT_EQ(values_of<float>(out[0]), (std::vector<float>{0.333251953125f, -2.0f}));
}

TEST(ReferenceConstantOfShape, ValueAndDtype) {
  auto out = run_op_ok("ConstantOfShape", {constant(i64({2}, {2, 3}))});
  expect_tensor_near(out[0], {2, 3}, std::vector<double>(6, 0.0));
  out = run_op_ok("ConstantOfShape", {constant(i64({1}, {3}))},
                  {A::integer("dtype", static_cast<int64_t>(DataType::kInt64)), A::integer("value", 7)});
  EXPECT_EQ(values_of<int64_t>(out[0]), (std::vector<int64_t>{7, 7, 7}));
  out = run_op_ok("ConstantOfShape", {constant(i64({1}, {2}))},
                  {A::integer("dtype", static_cast<int64_t>(DataType::kFloat16)), A::real("value", 0.5f)});
  EXPECT_EQ(values_of<uint16_t>(out[0]), (std::vector<uint16_t>{0x3800, 0x3800}));
}

}  // namespace
}  // namespace chexrt::test
