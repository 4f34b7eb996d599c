// The persistent kernels with resident weights (kernels/conv1x1_resident.cu and the 3x3 of
// kernels/conv3x3_resident.cu): which layers the 1x1 takes (no GPU needed), and every tile of
// both against a float64 host reference with several tiles per CTA, so that their pipelines run
// across tiles. (The op tests in ops_test.cpp run them on DenseNet's layers too, but at their
// small batches every CTA gets one tile.)
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/kernels/conv1x1_resident.cuh"
#include "backends/cuda/kernels/conv3x3_resident.cuh"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

using Entries = std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry>;

ConvGemmArgs pointwise(int in_c, int out_c, int size, int batch) {
  ConvGemmArgs a;
  a.batch = batch;
  a.in_h = a.in_w = a.out_h = a.out_w = size;
  a.in_c = in_c;
  a.out_c = out_c;
  a.k_pad = (in_c + 31) / 32 * 32;
  a.x_ld = 1024;
  a.y_ld = out_c;
  return a;
}

// Blocks 1 and 2 (K up to 480) and the first two transitions fit; K = 1024 (the end of block 3)
// does not fit in shared memory, and only 1x1 layers of 128-channel multiples without split-K
// are taken.
TEST(Conv1x1Resident, TakesPointwiseLayersWhoseWeightsFit) {
  const Entries entries = conv1x1_resident_entries(ConvGemmVariant::kPointwisePrologue);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(conv1x1_resident_entries(ConvGemmVariant::kPointwise).size(), entries.size());
  EXPECT_TRUE(conv1x1_resident_entries(ConvGemmVariant::kHalo3x3).empty());
  int fit_block2 = 0;
  for (const auto& e : entries) {
    EXPECT_TRUE(conv1x1_resident_fits(pointwise(64, 128, 56, 256), e.tile)) << e.tile.name();
    fit_block2 += conv1x1_resident_fits(pointwise(480, 128, 28, 256), e.tile);
    EXPECT_FALSE(conv1x1_resident_fits(pointwise(1024, 512, 7, 256), e.tile)) << e.tile.name();
    EXPECT_FALSE(conv1x1_resident_fits(pointwise(64, 32, 56, 256), e.tile)) << e.tile.name();
    ConvGemmArgs three = pointwise(128, 128, 56, 256);
    three.kernel_h = three.kernel_w = 3;
    three.pad_h = three.pad_w = 1;
    EXPECT_FALSE(conv1x1_resident_fits(three, e.tile)) << e.tile.name();
    ConvGemmArgs split = pointwise(256, 128, 14, 256);
    split.splits = 2;
    EXPECT_FALSE(conv1x1_resident_fits(split, e.tile)) << e.tile.name();
    ConvGemmTile not_resident = e.tile;
    not_resident.resident = false;
    EXPECT_FALSE(conv1x1_resident_fits(pointwise(64, 128, 56, 256), not_resident));
  }
  EXPECT_GT(fit_block2, 0);
}

// The pooled kernel (transitions): an input of twice the output's size; transitions 1 and 2
// fit (K = 256 and 512), transition 3 (K = 1024) does not.
TEST(Conv1x1Resident, PooledKernelTakesTransitionsOneAndTwo) {
  const Entries entries = avgpool_conv1x1_resident_entries();
  ASSERT_FALSE(entries.empty());
  auto transition = [](int in_c, int out_c, int out_size) {
    ConvGemmArgs a = pointwise(in_c, out_c, out_size, 256);
    a.in_h = a.in_w = 2 * out_size;
    a.pool2x2 = true;
    return a;
  };
  int fit_t1 = 0, fit_t2 = 0;
  for (const auto& e : entries) {
    fit_t1 += conv1x1_resident_fits(transition(256, 128, 28), e.tile);
    fit_t2 += conv1x1_resident_fits(transition(512, 256, 14), e.tile);
    EXPECT_FALSE(conv1x1_resident_fits(transition(1024, 512, 7), e.tile)) << e.tile.name();
    ConvGemmArgs odd = transition(256, 128, 28);
    odd.in_h = 57;  // not twice the output
    EXPECT_FALSE(conv1x1_resident_fits(odd, e.tile)) << e.tile.name();
  }
  EXPECT_GT(fit_t1, 0);
  EXPECT_GT(fit_t2, 0);
}

template <class T>
struct DeviceArray {
  T* p = nullptr;
  explicit DeviceArray(const std::vector<T>& host) {
    EXPECT_EQ(cudaMalloc(&p, host.size() * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceArray() { cudaFree(p); }
  std::vector<T> download(size_t n) const {
    std::vector<T> host(n);
    EXPECT_EQ(cudaMemcpy(host.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }
};

constexpr float kGuard = -7.f;  // output channels a kernel must not write start as this

// Runs `e` on `args` (whose output, [pixels][args.y_ld], starts as kGuard) and checks the output
// against `ref` [pixels][channels]: relative L2 error under 2e-3 (the op tests' FP16 bound),
// every value finite, the channels past `channels` untouched.
void expect_matches(const TileTable<ConvGemmTile, ConvGemmArgs>::Entry& e, const ConvGemmArgs& args, int pixels,
                    const std::vector<double>& ref, int channels, const std::string& what) {
  const size_t elems = size_t(pixels) * args.y_ld;
  DeviceArray<__half> dy(std::vector<__half>(elems, __float2half(kGuard)));
  ConvGemmArgs a = args;
  a.y = dy.p;
  ASSERT_EQ(e.launch(a, nullptr), cudaSuccess) << what;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
  const std::vector<__half> y = dy.download(elems);
  double err = 0, norm = 0;
  int guards_changed = 0, not_finite = 0;
  for (int p = 0; p < pixels; ++p) {
    for (int o = 0; o < args.y_ld; ++o) {
      const float v = __half2float(y[size_t(p) * args.y_ld + o]);
      if (o >= channels) {
        guards_changed += v != kGuard;
        continue;
      }
      not_finite += !std::isfinite(v);
      const double r = ref[size_t(p) * channels + o];
      err += (v - r) * (v - r);
      norm += r * r;
    }
  }
  EXPECT_EQ(not_finite, 0) << what;
  EXPECT_EQ(guards_changed, 0) << what;
  EXPECT_LT(std::sqrt(err / norm), 2e-3) << what;
}

struct Case {
  int in_c, out_c, size, batch;
  bool prologue;
  bool pool = false;  // A: the 2x2 stride-2 average pool of the prologue's output (transitions)
};

// Y = relu(bias + W * A') with A' = relu(X * scale + shift) (prologue) or X, or (pool) the 2x2
// average of relu(X * scale + shift) over an input of twice the size, on a strided input whose
// channels past in_c are NaN (never read: a NaN there would reach every output) and a strided
// output whose channels past out_c must stay as they were.
void check_every_tile(const Case& c, int max_ctas) {
  const ConvGemmVariant variant = c.prologue ? ConvGemmVariant::kPointwisePrologue : ConvGemmVariant::kPointwise;
  const int pixels = c.batch * c.size * c.size;
  const int window = c.pool ? 2 : 1;
  const int in_size = window * c.size;
  const int in_pixels = c.batch * in_size * in_size;
  const int k_pad = (c.in_c + 31) / 32 * 32;
  const int x_ld = c.in_c + 24, y_ld = c.out_c + 8;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uniform(0.5f, 1.5f);
  const __half nan = __float2half(std::numeric_limits<float>::quiet_NaN());
  std::vector<__half> x(size_t(in_pixels) * x_ld, nan);
  for (int p = 0; p < in_pixels; ++p)
    for (int k = 0; k < c.in_c; ++k) x[size_t(p) * x_ld + k] = __float2half(normal(rng));
  std::vector<__half> w(size_t(c.out_c) * k_pad, __float2half(0.f)), scale(k_pad, __float2half(0.f)),
      shift(k_pad, __float2half(0.f));
  for (int o = 0; o < c.out_c; ++o)
    for (int k = 0; k < c.in_c; ++k) w[size_t(o) * k_pad + k] = __float2half(normal(rng) / std::sqrt(float(c.in_c)));
  for (int k = 0; k < c.in_c; ++k) {
    scale[k] = __float2half(uniform(rng));
    shift[k] = __float2half(normal(rng) * 0.3f);
  }
  std::vector<float> bias(c.out_c);
  for (float& b : bias) b = normal(rng) * 0.1f;

  // The float64 reference (fp16 inputs as the kernel reads them).
  std::vector<double> ref(size_t(pixels) * c.out_c);
  std::vector<double> a(c.in_c);
  for (int p = 0; p < pixels; ++p) {
    const int n = p / (c.size * c.size), oh = p / c.size % c.size, ow = p % c.size;
    for (int k = 0; k < c.in_c; ++k) {
      a[k] = 0;
      for (int dy = 0; dy < window; ++dy) {
        for (int dx = 0; dx < window; ++dx) {
          const size_t q = (size_t(n) * in_size + window * oh + dy) * in_size + window * ow + dx;
          const double v = __half2float(x[q * x_ld + k]);
          a[k] += c.prologue ? std::max(0.0, v * __half2float(scale[k]) + __half2float(shift[k])) : v;
        }
      }
      a[k] /= window * window;
    }
    for (int o = 0; o < c.out_c; ++o) {
      double s = bias[o];
      for (int k = 0; k < c.in_c; ++k) s += a[k] * __half2float(w[size_t(o) * k_pad + k]);
      ref[size_t(p) * c.out_c + o] = std::max(0.0, s);
    }
  }

  // The pooled kernel takes the prologue divided by the window's 4 pixels (as PoolConvStep does).
  std::vector<__half> scale_in = scale, shift_in = shift;
  for (int k = 0; k < k_pad; ++k) {
    scale_in[k] = __float2half(__half2float(scale[k]) / (window * window));
    shift_in[k] = __float2half(__half2float(shift[k]) / (window * window));
  }
  DeviceArray<__half> dx(x), dw(w), dscale(scale_in), dshift(shift_in);
  DeviceArray<float> dbias(bias);
  int fitted = 0;
  for (const auto& e : c.pool ? avgpool_conv1x1_resident_entries() : conv1x1_resident_entries(variant)) {
    ConvGemmArgs args = pointwise(c.in_c, c.out_c, c.size, c.batch);
    args.in_h = args.in_w = in_size;
    args.pool2x2 = c.pool;
    args.x = dx.p;
    args.x_ld = x_ld;
    args.weight = dw.p;
    args.k_pad = k_pad;
    args.pro_scale = dscale.p;
    args.pro_shift = dshift.p;
    args.bias = dbias.p;
    args.relu = true;
    args.y_ld = y_ld;
    args.max_ctas = max_ctas;
    if (!conv1x1_resident_fits(args, e.tile)) continue;
    ++fitted;
    expect_matches(e, args, pixels, ref, c.out_c, e.tile.name() + " max_ctas " + std::to_string(max_ctas));
  }
  EXPECT_GT(fitted, 0);
}

// 1200 pixels: 10 tiles of 128 (the last of 48 pixels) or 5 of 256, over 3 CTAs or a full GPU;
// the pooled kernel on 588 and 245 pooled pixels (tiles of 64 and 128).
TEST(Conv1x1Resident, EveryTileMatchesTheReferenceAcrossTiles) {
  CHEXRT_SKIP_WITHOUT_GPU();
  for (int max_ctas : {3, 0}) {
    check_every_tile({160, 128, 20, 3, true}, max_ctas);        // block 2's second layer, 5 K steps
    check_every_tile({72, 128, 20, 3, true}, max_ctas);         // K not a multiple of 32: zero-filled tail
    check_every_tile({256, 256, 20, 3, false}, max_ctas);       // two 128-channel slices, no prologue
    check_every_tile({256, 128, 14, 3, true, true}, max_ctas);  // transition 1's shape, pooled
    check_every_tile({512, 256, 7, 5, true, true}, max_ctas);   // transition 2's channels, two slices
  }
}

// DenseNet's 3x3 (128 -> 32 channels, padding 1, bias, ReLU) on a batch of size x size images,
// reading channels 0-127 of a 136-channel input (NaN past 128) and writing channels 0-31 of a
// 40-channel output (the rest must stay as they were).
void check_every_3x3_tile(int size, int batch, int max_ctas) {
  constexpr int kC = 128, kN = 32, kXld = 136, kYld = 40;
  const int pixels = batch * size * size;
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 1.f);
  const __half nan = __float2half(std::numeric_limits<float>::quiet_NaN());
  std::vector<__half> x(size_t(pixels) * kXld, nan);
  for (int p = 0; p < pixels; ++p)
    for (int c = 0; c < kC; ++c) x[size_t(p) * kXld + c] = __float2half(std::max(0.f, normal(rng)));
  std::vector<__half> w(size_t(kN) * 9 * kC);  // [n][(r * 3 + s) * 128 + c]
  for (__half& v : w) v = __float2half(normal(rng) / std::sqrt(9.f * kC));
  std::vector<float> bias(kN);
  for (float& b : bias) b = normal(rng) * 0.1f;

  std::vector<double> ref(size_t(pixels) * kN);
  for (int n = 0; n < batch; ++n) {
    for (int oh = 0; oh < size; ++oh) {
      for (int ow = 0; ow < size; ++ow) {
        const size_t p = (size_t(n) * size + oh) * size + ow;
        for (int o = 0; o < kN; ++o) {
          double s = bias[o];
          for (int r = 0; r < 3; ++r) {
            const int ih = oh + r - 1;
            if (ih < 0 || ih >= size) continue;
            for (int q = 0; q < 3; ++q) {
              const int iw = ow + q - 1;
              if (iw < 0 || iw >= size) continue;
              const __half* xp = &x[((size_t(n) * size + ih) * size + iw) * kXld];
              const __half* wp = &w[size_t(o) * 9 * kC + (r * 3 + q) * kC];
              for (int c = 0; c < kC; ++c) s += double(__half2float(xp[c])) * __half2float(wp[c]);
            }
          }
          ref[p * kN + o] = std::max(0.0, s);
        }
      }
    }
  }

  DeviceArray<__half> dx(x), dw(w);
  DeviceArray<float> dbias(bias);
  int fitted = 0;
  for (const auto& e : conv3x3_resident_entries()) {
    ConvGemmArgs args;
    args.x = dx.p;
    args.x_ld = kXld;
    args.batch = batch;
    args.in_h = args.in_w = args.out_h = args.out_w = size;
    args.in_c = kC;
    args.out_c = kN;
    args.kernel_h = args.kernel_w = 3;
    args.pad_h = args.pad_w = 1;
    args.weight = dw.p;
    args.k_pad = 9 * kC;
    args.bias = dbias.p;
    args.relu = true;
    args.y_ld = kYld;
    args.max_ctas = max_ctas;
    if (!conv3x3_resident_fits(args, e.tile)) continue;
    ++fitted;
    expect_matches(e, args, pixels, ref, kN,
                   e.tile.name() + (e.tile.resident ? " (bands)" : " (images)") + " size " + std::to_string(size) +
                       " max_ctas " + std::to_string(max_ctas));
  }
  EXPECT_GT(fitted, 0) << "size " << size;
}

// 56x56 and 28x28 in bands (the last band of each image shorter: 56 = 6 x 9 + 2, 28 = 18 + 10,
// 16 + 12, 3 x 9 + 1 ...), 14x14 and 7x7 in whole images, over 2 CTAs or a full GPU.
TEST(Conv3x3Resident, EveryTileMatchesTheReferenceAcrossTiles) {
  CHEXRT_SKIP_WITHOUT_GPU();
  for (int max_ctas : {2, 0}) {
    check_every_3x3_tile(56, 2, max_ctas);
    check_every_3x3_tile(28, 3, max_ctas);
    check_every_3x3_tile(14, 5, max_ctas);
    check_every_3x3_tile(7, 7, max_ctas);
  }
}

}  // namespace
}  // namespace chexrt::cuda
