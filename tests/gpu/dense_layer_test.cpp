// The fused dense-layer kernel (src/backends/cuda/kernels/dense_layer_f16.cuh) against a float64
// host reference, on the first and last layer of each DenseNet-121 dense block (input channels,
// image size, block-buffer width), in place in a block buffer as the engine runs it.
//
// Tolerance: relative L2 error 2e-3, as for every FP16 kernel (ops_test.cpp): x, the weights
// and h are rounded to fp16 and the prologue to fp16 arithmetic, sums are fp32; a wrong tap,
// border or band gives errors of order 1. Channels outside the layer's slice must come back
// bit for bit.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "backends/cuda/kernels/dense_layer_f16.cuh"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

struct LayerShape {
  int size, in_c, ld;
  bool bias3 = false;  // the kernel's optional 3x3 bias + ReLU, off in DenseNet
};

std::string shape_name(const testing::TestParamInfo<LayerShape>& info) {
  const LayerShape& s = info.param;
  return std::to_string(s.size) + "x" + std::to_string(s.size) + "_c" + std::to_string(s.in_c) + "_ld" +
         std::to_string(s.ld) + (s.bias3 ? "_bias_relu" : "");
}

std::vector<__half> to_half(const std::vector<float>& v) {
  std::vector<__half> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = __float2half_rn(v[i]);
  return h;
}

template <class T>
T* upload(const std::vector<T>& v) {
  T* d = nullptr;
  EXPECT_EQ(cudaMalloc(&d, v.size() * sizeof(T)), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  return d;
}

class DenseLayerKernel : public testing::TestWithParam<LayerShape> {};

TEST_P(DenseLayerKernel, MatchesFloat64Reference) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const LayerShape s = GetParam();
  const int n = 2, hw = s.size, c = s.in_c, ld = s.ld;
  const int k_pad1 = (c + 31) / 32 * 32;
  const long long pixels = static_cast<long long>(n) * hw * hw;
  std::mt19937 rng(41 + c);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);

  // Rounded to fp16 once, so that the reference sees the kernel's inputs.
  auto round16 = [](float v) { return __half2float(__float2half_rn(v)); };
  std::vector<float> buffer(pixels * ld), scale(k_pad1, 0.f), shift(k_pad1, 0.f), w1(size_t(kDenseMid) * k_pad1, 0.f),
      bias1(kDenseMid), w3(size_t(kDenseOut) * 9 * kDenseMid), bias3(kDenseOut);
  for (float& v : buffer) v = round16(normal(rng));
  for (int i = 0; i < c; ++i) {
    scale[i] = round16(0.5f + uniform(rng));
    shift[i] = round16(0.6f * uniform(rng) - 0.3f);
  }
  const float he1 = std::sqrt(2.f / c), he3 = std::sqrt(2.f / (9 * kDenseMid));
  for (int j = 0; j < kDenseMid; ++j) {
    for (int i = 0; i < c; ++i) w1[size_t(j) * k_pad1 + i] = round16(he1 * normal(rng));
    bias1[j] = 0.4f * uniform(rng) - 0.2f;
  }
  for (float& v : w3) v = round16(he3 * normal(rng));
  for (float& v : bias3) v = 0.4f * uniform(rng) - 0.2f;

  std::vector<__half> buffer_h = to_half(buffer);
  __half* d_buffer = upload(buffer_h);
  __half* d_scale = upload(to_half(scale));
  __half* d_shift = upload(to_half(shift));
  __half* d_w1 = upload(to_half(w1));
  __half* d_w3 = upload(to_half(w3));
  float* d_bias1 = upload(bias1);
  float* d_bias3 = upload(bias3);

  DenseLayerArgs args;
  args.x = d_buffer;
  args.x_ld = ld;
  args.batch = n;
  args.height = args.width = hw;
  args.in_c = c;
  args.pro_scale = d_scale;
  args.pro_shift = d_shift;
  args.w1 = d_w1;
  args.k_pad1 = k_pad1;
  args.bias1 = d_bias1;
  args.w3 = d_w3;
  args.bias3 = s.bias3 ? d_bias3 : nullptr;
  args.relu3 = s.bias3;
  args.y = d_buffer + c;
  args.y_ld = ld;
  ASSERT_EQ(launch_dense_layer_f16(args, nullptr), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  std::vector<__half> out(buffer_h.size());
  ASSERT_EQ(cudaMemcpy(out.data(), d_buffer, out.size() * sizeof(__half), cudaMemcpyDeviceToHost), cudaSuccess);
  for (void* p : {static_cast<void*>(d_buffer), static_cast<void*>(d_scale), static_cast<void*>(d_shift),
                  static_cast<void*>(d_w1), static_cast<void*>(d_w3), static_cast<void*>(d_bias1),
                  static_cast<void*>(d_bias3)}) {
    cudaFree(p);
  }

  // h = max(bias1 + w1 . max(x * scale + shift, 0), 0), in float64.
  std::vector<double> h(pixels * kDenseMid);
  std::vector<double> a(c);
  for (long long p = 0; p < pixels; ++p) {
    for (int i = 0; i < c; ++i) a[i] = std::max(double(buffer[p * ld + i]) * scale[i] + shift[i], 0.0);
    for (int j = 0; j < kDenseMid; ++j) {
      double sum = bias1[j];
      const float* w = &w1[size_t(j) * k_pad1];
      for (int i = 0; i < c; ++i) sum += a[i] * w[i];
      h[p * kDenseMid + j] = std::max(sum, 0.0);
    }
  }
  double err2 = 0, ref2 = 0, max_abs = 0;
  size_t untouched_mismatches = 0;
  for (int img = 0; img < n; ++img) {
    for (int y = 0; y < hw; ++y) {
      for (int x = 0; x < hw; ++x) {
        const long long p = (static_cast<long long>(img) * hw + y) * hw + x;
        for (int o = 0; o < kDenseOut; ++o) {
          double sum = s.bias3 ? bias3[o] : 0.0;
          for (int r = 0; r < 3; ++r) {
            const int yy = y + r - 1;
            if (yy < 0 || yy >= hw) continue;
            for (int q = 0; q < 3; ++q) {
              const int xx = x + q - 1;
              if (xx < 0 || xx >= hw) continue;
              const double* hp = &h[((static_cast<long long>(img) * hw + yy) * hw + xx) * kDenseMid];
              const float* w = &w3[(size_t(o) * 9 + r * 3 + q) * kDenseMid];
              for (int j = 0; j < kDenseMid; ++j) sum += hp[j] * w[j];
            }
          }
          if (s.bias3) sum = std::max(sum, 0.0);
          const double got = __half2float(out[p * ld + c + o]);
          ASSERT_TRUE(std::isfinite(got)) << "pixel " << p << " channel " << o;
          err2 += (got - sum) * (got - sum);
          ref2 += sum * sum;
          max_abs = std::max(max_abs, std::abs(got - sum));
        }
        for (int ch = 0; ch < ld; ++ch) {
          if (ch >= c && ch < c + kDenseOut) continue;
          const __half before = buffer_h[p * ld + ch], after = out[p * ld + ch];
          untouched_mismatches += std::memcmp(&before, &after, sizeof(__half)) != 0;
        }
      }
    }
  }
  const double rel_l2 = std::sqrt(err2 / ref2);
  EXPECT_LT(rel_l2, 2e-3) << "max |diff| " << max_abs;
  EXPECT_EQ(untouched_mismatches, 0u) << "channels outside the layer's slice changed";
  std::printf("dense layer %dx%d c%d: rel L2 %.3g, max |diff| %.3g\n", hw, hw, c, rel_l2, max_abs);
}

// First and last layer of each dense block of DenseNet-121 (blocks of 6, 12, 24, 16 layers).
INSTANTIATE_TEST_SUITE_P(DenseNetBlocks, DenseLayerKernel,
                         testing::Values(LayerShape{56, 64, 256}, LayerShape{56, 224, 256}, LayerShape{28, 128, 512},
                                         LayerShape{28, 480, 512}, LayerShape{14, 256, 1024},
                                         LayerShape{14, 992, 1024}, LayerShape{7, 512, 1024},
                                         LayerShape{7, 992, 1024}, LayerShape{7, 96, 128, true}),
                         shape_name);

TEST(DenseLayerKernelBands, EveryDenseNetSizeHasABand) {
  // Band rows: 56x56 -> 4 (bordered 6 x 58 = 348 pixels for 224 outputs), 28 -> 7, 14 -> 14, 7 -> 7.
  EXPECT_EQ(dense_layer_band(56, 56), 4);
  EXPECT_EQ(dense_layer_band(28, 28), 7);
  EXPECT_EQ(dense_layer_band(14, 14), 14);
  EXPECT_EQ(dense_layer_band(7, 7), 7);
  EXPECT_LE(dense_layer_smem_bytes(56, 56), size_t(227 * 1024));
  EXPECT_EQ(dense_layer_band(5, 300), 0);  // a row wider than a band holds
}

}  // namespace
}  // namespace chexrt::cuda
