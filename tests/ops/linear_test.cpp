// Reference Gemm, MatMul (numpy semantics) and the fused ClassifierHead.
#include <cmath>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

// A = [[1 2 3] [4 5 6]], B = [[1 0] [0 1] [1 1]]:  A B = [[4 5] [10 11]].
HostTensor mat_a() { return f32({2, 3}, {1, 2, 3, 4, 5, 6}); }
HostTensor mat_b() { return f32({3, 2}, {1, 0, 0, 1, 1, 1}); }

TEST(ReferenceGemm, AlphaBetaAndRowBroadcastC) {
  // 2 * A B + 0.5 * [1 -1] on every row.
  auto out = run_op_ok("Gemm", {mat_a(), constant(mat_b()), constant(f32({2}, {1, -1}))},
                       {A::real("alpha", 2.0f), A::real("beta", 0.5f)});
  expect_tensor_near(out[0], {2, 2}, {8.5, 9.5, 20.5, 21.5});
}

TEST(ReferenceGemm, TransposedOperands) {
  // A^T and B^T stored, transA = transB = 1: the same product.
  auto out = run_op_ok("Gemm", {f32({3, 2}, {1, 4, 2, 5, 3, 6}), constant(f32({2, 3}, {1, 0, 1, 0, 1, 1}))},
                       {A::integer("transA", 1), A::integer("transB", 1)});
  expect_tensor_near(out[0], {2, 2}, {4, 5, 10, 11});
}

TEST(ReferenceGemm, ColumnAndScalarC) {
  auto out = run_op_ok("Gemm", {mat_a(), constant(mat_b()), constant(f32({2, 1}, {1, 2}))});
  expect_tensor_near(out[0], {2, 2}, {5, 6, 12, 13});
  out = run_op_ok("Gemm", {mat_a(), constant(mat_b()), constant(f32({}, {3}))});
  expect_tensor_near(out[0], {2, 2}, {7, 8, 13, 14});
}

TEST(ReferenceMatMul, MatrixAndVectorOperands) {
  expect_tensor_near(run_op_ok("MatMul", {mat_a(), mat_b()})[0], {2, 2}, {4, 5, 10, 11});
  // [1 2 3] B = [4 5];  A [1 1 1] = [6 15];  [1 2 3] . [4 5 6] = 32 (a scalar).
  expect_tensor_near(run_op_ok("MatMul", {f32({3}, {1, 2, 3}), mat_b()})[0], {2}, {4, 5});
  expect_tensor_near(run_op_ok("MatMul", {mat_a(), f32({3}, {1, 1, 1})})[0], {2}, {6, 15});
  expect_tensor_near(run_op_ok("MatMul", {f32({3}, {1, 2, 3}), f32({3}, {4, 5, 6})})[0], {}, {32});
}

TEST(ReferenceMatMul, BatchAxesBroadcast) {
  // a [2, 1, 2, 3] x b [3, 3, 2] -> [2, 3, 2, 2]: out[i, j] = a[i, 0] b[j].
  const HostTensor a = random_uniform({2, 1, 2, 3}, 11);
  const HostTensor b = random_uniform({3, 3, 2}, 12);
  auto out = run_op_ok("MatMul", {a, b});
  std::vector<double> expected;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int m = 0; m < 2; ++m) {
        for (int n = 0; n < 2; ++n) {
          double sum = 0.0;
          for (int k = 0; k < 3; ++k) {
            sum += static_cast<double>(a.data<float>()[(i * 2 + m) * 3 + k]) * b.data<float>()[(j * 3 + k) * 2 + n];
          }
          expected.push_back(sum);
        }
      }
    }
  }
  expect_tensor_near(out[0], {2, 3, 2, 2}, expected);
}

TEST(ReferenceClassifierHead, PoolLinearSigmoid) {
  // Channel means 2.5 and 6.5; W = [[1 0] [0 1] [1 -1]], b = [0 -6 4]: logits 2.5, 0.5, 0.
  const std::vector<OpInput> in = {iota_f32({1, 2, 2, 2}), constant(f32({3, 2}, {1, 0, 0, 1, 1, -1})),
                                   constant(f32({3}, {0, -6, 4}))};
  expect_tensor_near(run_op_ok("ClassifierHead", in)[0], {1, 3}, {2.5, 0.5, 0});
  auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
  expect_tensor_near(run_op_ok("ClassifierHead", in, {A::string("activation", "sigmoid")})[0], {1, 3},
                     {sigmoid(2.5), sigmoid(0.5), 0.5});
}

}  // namespace
}  // namespace chexrt::test
