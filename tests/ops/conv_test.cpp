// Reference Conv: hand-computed cases for each attribute, and DenseNet-121's convolution shapes
// against the textbook definition evaluated in the test at sampled output positions.
#include <array>
#include <cmath>
#include <random>

#include "op_test_util.h"

namespace chexrt::test {
namespace {

using A = LayerAttribute;

TEST(ReferenceConv, ValidWindowSumsNeighbours) {
  // x = [[1 2 3] [4 5 6] [7 8 9]], 2x2 kernel of ones: each output is a 2x2 block sum.
  auto out = run_op_ok("Conv", {iota_f32({1, 1, 3, 3}), constant(f32({1, 1, 2, 2}, {1, 1, 1, 1}))});
  expect_tensor_near(out[0], {1, 1, 2, 2}, {12, 16, 24, 28});
}

TEST(ReferenceConv, PaddingAndStrideSkipOutsideTaps) {
  // pads 1, stride 2: windows cover rows/cols {-1,0} and {1,2}; the padding contributes nothing.
  //   (0,0): x00 = 1    (0,1): x01 + x02 = 5    (1,0): x10 + x20 = 11    (1,1): 5+6+8+9 = 28
  auto out = run_op_ok("Conv", {iota_f32({1, 1, 3, 3}), constant(f32({1, 1, 2, 2}, {1, 1, 1, 1}))},
                       {A::integers("strides", {2, 2}), A::integers("pads", {1, 1, 1, 1})});
  expect_tensor_near(out[0], {1, 1, 2, 2}, {1, 5, 11, 28});
}

TEST(ReferenceConv, AsymmetricPadsAndSameUpper) {
  // 1-D, x = [1 2 3 4], w = [1 10], pads (begin 0, end 1): y[i] = x[i] + 10 x[i+1], x[4] = 0.
  auto out = run_op_ok("Conv", {iota_f32({1, 1, 4}), constant(f32({1, 1, 2}, {1, 10}))}, {A::integers("pads", {0, 1})});
  expect_tensor_near(out[0], {1, 1, 4}, {21, 32, 43, 4});
  // SAME_UPPER with an even kernel puts the extra pad at the end: the same result.
  out = run_op_ok("Conv", {iota_f32({1, 1, 4}), constant(f32({1, 1, 2}, {1, 10}))},
                  {A::string("auto_pad", "SAME_UPPER")});
  expect_tensor_near(out[0], {1, 1, 4}, {21, 32, 43, 4});
}

TEST(ReferenceConv, Dilation1d) {
  // dilation 2: y[i] = x[i] * 1 + x[i + 2] * 10 over x = [1 2 3 4 5].
  auto out =
      run_op_ok("Conv", {iota_f32({1, 1, 5}), constant(f32({1, 1, 2}, {1, 10}))}, {A::integers("dilations", {2})});
  expect_tensor_near(out[0], {1, 1, 3}, {31, 42, 53});
}

TEST(ReferenceConv, GroupsKeepChannelsApart) {
  // Two groups of one channel: channel 0 (all 1) scaled by 3, channel 1 (all 2) by 5.
  auto out = run_op_ok("Conv", {f32({1, 2, 1, 2}, {1, 1, 2, 2}), constant(f32({2, 1, 1, 1}, {3, 5}))},
                       {A::integer("group", 2)});
  expect_tensor_near(out[0], {1, 2, 1, 2}, {3, 3, 10, 10});
}

TEST(ReferenceConv, BiasAndFusedRelu) {
  // y = -x + 2 on x = [1 2 3 4] gives [1 0 -1 -2]; the fused relu clamps the negatives.
  const std::vector<OpInput> in = {iota_f32({1, 1, 2, 2}), constant(f32({1, 1, 1, 1}, {-1})), constant(f32({1}, {2}))};
  expect_tensor_near(run_op_ok("Conv", in)[0], {1, 1, 2, 2}, {1, 0, -1, -2});
  expect_tensor_near(run_op_ok("Conv", in, {A::string("activation", "relu")})[0], {1, 1, 2, 2}, {1, 0, 0, 0});
}

TEST(ReferenceConv, Conv3d) {
  // A 2x2x2 kernel of ones over x = 1..8 (one window) sums to 36; with pad 1 at the start of
  // the depth axis only, the first window covers depths {-1, 0}: slice 0 alone, 1+2+3+4 = 10.
  const OpInput w = constant(f32({1, 1, 2, 2, 2}, std::vector<float>(8, 1.0f)));
  expect_tensor_near(run_op_ok("Conv", {iota_f32({1, 1, 2, 2, 2}), w})[0], {1, 1, 1, 1, 1}, {36});
  expect_tensor_near(run_op_ok("Conv", {iota_f32({1, 1, 2, 2, 2}), w}, {A::integers("pads", {1, 0, 0, 0, 0, 0})})[0],
                     {1, 1, 2, 1, 1}, {10, 36});
}

TEST(ReferenceConv, UnknownActivationIsRefused) {
  auto r =
      run_op("Conv", {iota_f32({1, 1, 2, 2}), constant(f32({1, 1, 1, 1}, {1}))}, {A::string("activation", "tanh")});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("node"), std::string::npos) << r.status().message();
}

// The definition of a 2-D ONNX convolution at one output position, in double, written per
// output element (unlike the kernel, which sweeps rows). Also returns sum |w * x| for the
// tolerance.
struct Conv2dCase {
  Dims x, w;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads;  // pads: top, left, bottom, right
};

double conv2d_at(const Conv2dCase& c, const HostTensor& x, const HostTensor& w, const HostTensor& b, int64_t n,
                 int64_t m, int64_t oh, int64_t ow, double* magnitude) {
  const int64_t channels = c.x[1], height = c.x[2], width = c.x[3];
  const int64_t cg_count = c.w[1], kh_count = c.w[2], kw_count = c.w[3];
  const int64_t g = m / (c.w[0] / c.group);
  double sum = b.data<float>()[m];
  *magnitude = std::fabs(sum);
  for (int64_t cg = 0; cg < cg_count; ++cg) {
    for (int64_t kh = 0; kh < kh_count; ++kh) {
      for (int64_t kw = 0; kw < kw_count; ++kw) {
        const int64_t ih = oh * c.strides[0] - c.pads[0] + kh * c.dilations[0];
        const int64_t iw = ow * c.strides[1] - c.pads[1] + kw * c.dilations[1];
        if (ih < 0 || ih >= height || iw < 0 || iw >= width) continue;
        const int64_t ic = g * cg_count + cg;
        const double term = static_cast<double>(x.data<float>()[((n * channels + ic) * height + ih) * width + iw]) *
                            w.data<float>()[((m * cg_count + cg) * kh_count + kh) * kw_count + kw];
        sum += term;
        *magnitude += std::fabs(term);
      }
    }
  }
  return sum;
}

// Runs the kernel on random data and checks the borders (every output row and column 0 and
// last, where padding matters) and `samples` random positions against conv2d_at.
void check_against_definition(const Conv2dCase& c, int samples) {
  const HostTensor x = random_uniform(c.x, 1);
  const HostTensor w = random_uniform(c.w, 2, -0.2f, 0.2f);
  const HostTensor b = random_uniform({c.w[0]}, 3);
  auto out = run_op_ok("Conv", {x, constant(w), constant(b)},
                       {A::integer("group", c.group), A::integers("strides", c.strides),
                        A::integers("dilations", c.dilations), A::integers("pads", c.pads)});
  const HostTensor& y = out[0];
  ASSERT_EQ(y.rank(), 4);
  const int64_t batch = y.dims()[0], m_count = y.dims()[1], oh_count = y.dims()[2], ow_count = y.dims()[3];
  std::vector<std::array<int64_t, 4>> positions;
  std::mt19937 gen(4);
  auto pick = [&](int64_t size) { return static_cast<int64_t>(gen() % static_cast<uint32_t>(size)); };
  for (int64_t i = 0; i < oh_count; ++i) {
    positions.push_back({pick(batch), pick(m_count), i, 0});
    positions.push_back({pick(batch), pick(m_count), i, ow_count - 1});
  }
  for (int64_t j = 0; j < ow_count; ++j) {
    positions.push_back({pick(batch), pick(m_count), 0, j});
    positions.push_back({pick(batch), pick(m_count), oh_count - 1, j});
  }
  for (int s = 0; s < samples; ++s) positions.push_back({pick(batch), pick(m_count), pick(oh_count), pick(ow_count)});
  for (const auto& [n, m, oh, ow] : positions) {
    double magnitude = 0.0;
    const double expected = conv2d_at(c, x, w, b, n, m, oh, ow, &magnitude);
    const double got = y.data<float>()[((n * m_count + m) * oh_count + oh) * ow_count + ow];
    // The kernel rounds a double sum to float once: half an ulp, far below 1e-6 of the terms.
    ASSERT_NEAR(got, expected, 1e-6 * magnitude + 1e-12) << "at n=" << n << " m=" << m << " oh=" << oh << " ow=" << ow;
  }
}

TEST(ReferenceConv, GroupedStridedDilatedAsymmetricMatchesDefinition) {
  check_against_definition({{2, 4, 9, 8}, {6, 2, 3, 2}, 2, {2, 1}, {1, 2}, {1, 0, 2, 1}}, 300);
  // Depthwise, dilated along the rows, strided along the columns.
  check_against_definition({{1, 3, 10, 11}, {3, 1, 2, 3}, 3, {1, 3}, {3, 1}, {2, 1, 0, 2}}, 300);
}

TEST(ReferenceConv, DenseNetStemConv7x7Stride2) {
  check_against_definition({{1, 3, 224, 224}, {64, 3, 7, 7}, 1, {2, 2}, {1, 1}, {3, 3, 3, 3}}, 400);
}

TEST(ReferenceConv, DenseNetBottleneck1x1) {
  // Dense block 1, layer 5: 256 -> 128 channels at 56x56 (batch 2).
  check_against_definition({{2, 256, 56, 56}, {128, 256, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}}, 400);
}

TEST(ReferenceConv, DenseNetGrowth3x3) {
  // Every dense layer's second conv: 128 -> 32 channels, 3x3, pad 1, here at 28x28 and 7x7.
  check_against_definition({{2, 128, 28, 28}, {32, 128, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 400);
  check_against_definition({{2, 128, 7, 7}, {32, 128, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}}, 100);
}

TEST(ReferenceConv, DenseNetTransition1x1) {
  // Transition 3: 1024 -> 512 channels at 14x14.
  check_against_definition({{1, 1024, 14, 14}, {512, 1024, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}}, 400);
}

}  // namespace
}  // namespace chexrt::test
