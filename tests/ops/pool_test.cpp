// Reference MaxPool, AveragePool and GlobalAveragePool: hand-computed windows for padding,
// ceil_mode, dilations, count_include_pad, Indices in both storage orders, uint8, 1-d and 3-d,
// and DenseNet-121's pooling shapes against the definition at every output.
#include <algorithm>
#include <cmath>
#include <limits>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

// x = 1..16 as a 4x4 image:  1  2  3  4 /  5  6  7  8 /  9 10 11 12 / 13 14 15 16
TEST(ReferenceMaxPool, Windows2x2WithIndices) {
  auto out = run_op_ok("MaxPool", {iota_f32({1, 1, 4, 4})},
                       {A::integers("kernel_shape", {2, 2}), A::integers("strides", {2, 2})}, 2);
  expect_tensor_near(out[0], {1, 1, 2, 2}, {6, 8, 14, 16});
  EXPECT_EQ(out[1].dtype(), DataType::kInt64);
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{5, 7, 13, 15}));
}

TEST(ReferenceMaxPool, ColumnMajorIndicesCountThePlaneOffset) {
  // Channel 1 is channel 0 + 16. Maxima sit at (h, w) = (1,1), (1,3), (3,1), (3,3); with
  // storage_order=1 the index within a plane is w * H + h: 5, 13, 7, 15, plus 16 per plane.
  auto out = run_op_ok(
      "MaxPool", {iota_f32({1, 2, 4, 4})},
      {A::integers("kernel_shape", {2, 2}), A::integers("strides", {2, 2}), A::integer("storage_order", 1)}, 2);
  expect_tensor_near(out[0], {1, 2, 2, 2}, {6, 8, 14, 16, 22, 24, 30, 32});
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{5, 13, 7, 15, 21, 29, 23, 31}));
}

TEST(ReferenceMaxPool, CeilModeAddsClippedWindows) {
  // kernel 3, stride 2: floor mode gives one window; ceil mode adds windows starting at row or
  // column 2 that hang over the edge: max of rows/cols {0..2} x {0..2} = 11, {0..2} x {2,3} = 12,
  // {2,3} x {0..2} = 15, {2,3} x {2,3} = 16.
  const std::vector<A> attrs = {A::integers("kernel_shape", {3, 3}), A::integers("strides", {2, 2})};
  expect_tensor_near(run_op_ok("MaxPool", {iota_f32({1, 1, 4, 4})}, attrs)[0], {1, 1, 1, 1}, {11});
  std::vector<A> ceil = attrs;
  ceil.push_back(A::integer("ceil_mode", 1));
  expect_tensor_near(run_op_ok("MaxPool", {iota_f32({1, 1, 4, 4})}, ceil)[0], {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(ReferenceMaxPool, DilatedWindows) {
  // kernel 2 with dilation 2 reads (h, w) and (h + 2, w + 2): window (0,0) = {1, 3, 9, 11}.
  auto out = run_op_ok("MaxPool", {iota_f32({1, 1, 4, 4})},
                       {A::integers("kernel_shape", {2, 2}), A::integers("dilations", {2, 2})});
  expect_tensor_near(out[0], {1, 1, 2, 2}, {11, 12, 15, 16});
}

TEST(ReferenceMaxPool, PaddingIsNotAZero) {
  // All inputs negative: a padded border must still give the largest real value, not 0.
  auto out = run_op_ok("MaxPool", {f32({1, 1, 2, 2}, {-4, -3, -2, -1})},
                       {A::integers("kernel_shape", {2, 2}), A::integers("pads", {1, 1, 1, 1})}, 2);
  expect_tensor_near(out[0], {1, 1, 3, 3}, {-4, -3, -3, -2, -1, -1, -2, -1, -1});
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{0, 1, 1, 2, 3, 3, 2, 3, 3}));
}

TEST(ReferenceMaxPool, Uint8) {
  const HostTensor x = make_tensor<uint8_t>(DataType::kUInt8, {1, 1, 3, 3}, {0, 200, 7, 255, 1, 2, 9, 8, 250});
  auto out = run_op_ok("MaxPool", {x}, {A::integers("kernel_shape", {2, 2})});
  ASSERT_EQ(out[0].dtype(), DataType::kUInt8);
  EXPECT_EQ(values_of<uint8_t>(out[0]), (std::vector<uint8_t>{255, 200, 255, 250}));
}

TEST(ReferenceMaxPool, FirstMaximumWinsTies) {
  auto out = run_op_ok("MaxPool", {f32({1, 1, 1, 4}, {3, 3, 3, 3})}, {A::integers("kernel_shape", {1, 4})}, 2);
  EXPECT_EQ(values_of<int64_t>(out[1]), (std::vector<int64_t>{0}));
}

TEST(ReferenceAveragePool, CountIncludePad) {
  // 3x3 windows, pads 1, over 1..9 as 3x3. Corner (0,0) sees 1, 2, 4, 5 (sum 12) and 5 padding
  // cells: average 3 excluding the padding, 12/9 including it. Centre: 45/9 = 5 either way.
  const std::vector<A> attrs = {A::integers("kernel_shape", {3, 3}), A::integers("pads", {1, 1, 1, 1})};
  auto out = run_op_ok("AveragePool", {iota_f32({1, 1, 3, 3})}, attrs);
  expect_tensor_near(out[0], {1, 1, 3, 3}, {3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7});
  std::vector<A> include = attrs;
  include.push_back(A::integer("count_include_pad", 1));
  out = run_op_ok("AveragePool", {iota_f32({1, 1, 3, 3})}, include);
  expect_tensor_near(out[0], {1, 1, 3, 3},
                     {12.0 / 9, 21.0 / 9, 16.0 / 9, 27.0 / 9, 45.0 / 9, 33.0 / 9, 24.0 / 9, 39.0 / 9, 28.0 / 9});
}

TEST(ReferenceAveragePool, CeilModeDividesByCellsInsideThePaddedInput) {
  // kernel 3, stride 2, ceil mode, over 1..16 as 4x4. Windows past the edge average what they
  // cover: {1,2,3,5,6,7,9,10,11} = 6, {3,4,7,8,11,12} = 7.5, {9,10,11,13,14,15} = 12,
  // {11,12,15,16} = 13.5. With no explicit pads, count_include_pad changes nothing.
  for (int64_t include : {0, 1}) {
    auto out = run_op_ok("AveragePool", {iota_f32({1, 1, 4, 4})},
                         {A::integers("kernel_shape", {3, 3}), A::integers("strides", {2, 2}),
                          A::integer("ceil_mode", 1), A::integer("count_include_pad", include)});
    expect_tensor_near(out[0], {1, 1, 2, 2}, {6, 7.5, 12, 13.5});
  }
}

TEST(ReferenceAveragePool, CeilModeWithPadsCountsOnlyThePaddedExtent) {
  // 1-d: x = 1..4, kernel 3, stride 2, pads 1, ceil mode: 3 windows starting at -1, 1, 3.
  // The last covers {3 (x=4), 4 (pad), 5 (past the padding)}: including padding it averages
  // 4 over 2 cells (PyTorch's rule), excluding it 4 over 1. First: {pad, 1, 2}.
  const std::vector<A> attrs = {A::integers("kernel_shape", {3}), A::integers("strides", {2}),
                                A::integers("pads", {1, 1}), A::integer("ceil_mode", 1)};
  expect_tensor_near(run_op_ok("AveragePool", {iota_f32({1, 1, 4})}, attrs)[0], {1, 1, 3}, {1.5, 3, 4});
  std::vector<A> include = attrs;
  include.push_back(A::integer("count_include_pad", 1));
  expect_tensor_near(run_op_ok("AveragePool", {iota_f32({1, 1, 4})}, include)[0], {1, 1, 3}, {1, 3, 2});
}

TEST(ReferenceAveragePool, OneAndThreeDimensions) {
  expect_tensor_near(run_op_ok("AveragePool", {iota_f32({1, 1, 5})},
                               {A::integers("kernel_shape", {2}), A::integers("strides", {2})})[0],
                     {1, 1, 2}, {1.5, 3.5});
  expect_tensor_near(run_op_ok("AveragePool", {iota_f32({1, 1, 2, 2, 2})}, {A::integers("kernel_shape", {2, 2, 2})})[0],
                     {1, 1, 1, 1, 1}, {4.5});
}

TEST(ReferenceGlobalAveragePool, MeanPerChannel) {
  // Channel 0 = 1..4 (mean 2.5), channel 1 = 5..8 (6.5); batch 2 continues 9..16.
  auto out = run_op_ok("GlobalAveragePool", {iota_f32({2, 2, 2, 2})});
  expect_tensor_near(out[0], {2, 2, 1, 1}, {2.5, 6.5, 10.5, 14.5});
}

// Definition of a 2-D pool at every output: max, or average over the taps inside the input.
void check_pool_against_definition(const std::string& op, const Dims& x_dims, int64_t k, int64_t s, int64_t p) {
  const HostTensor x = random_uniform(x_dims, 7);
  auto out = run_op_ok(
      op, {x},
      {A::integers("kernel_shape", {k, k}), A::integers("strides", {s, s}), A::integers("pads", {p, p, p, p})});
  const HostTensor& y = out[0];
  ASSERT_EQ(y.rank(), 4);
  const int64_t planes = x_dims[0] * x_dims[1], h = x_dims[2], w = x_dims[3];
  const int64_t oh_count = y.dims()[2], ow_count = y.dims()[3];
  EXPECT_EQ(oh_count, (h + 2 * p - k) / s + 1);
  for (int64_t pl = 0; pl < planes; ++pl) {
    for (int64_t oh = 0; oh < oh_count; ++oh) {
      for (int64_t ow = 0; ow < ow_count; ++ow) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
        int count = 0;
        for (int64_t ih = oh * s - p; ih < oh * s - p + k; ++ih) {
          for (int64_t iw = ow * s - p; iw < ow * s - p + k; ++iw) {
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const double v = x.data<float>()[(pl * h + ih) * w + iw];
            best = std::max(best, v);
            sum += v;
            ++count;
          }
        }
        const double expected = op == "MaxPool" ? best : sum / count;
        const double got = y.data<float>()[(pl * oh_count + oh) * ow_count + ow];
        ASSERT_NEAR(got, expected, 1e-6) << "plane " << pl << " at " << oh << ", " << ow;
      }
    }
  }
}

TEST(ReferencePool, DenseNetStemMaxPool) { check_pool_against_definition("MaxPool", {1, 64, 112, 112}, 3, 2, 1); }

TEST(ReferencePool, DenseNetTransitionAveragePool) {
  check_pool_against_definition("AveragePool", {2, 128, 56, 56}, 2, 2, 0);
  check_pool_against_definition("AveragePool", {1, 512, 14, 14}, 2, 2, 0);
}

}  // namespace
}  // namespace chexrt::test
