// dense_layer_bench: every dense layer of DenseNet-121 at one batch size, FP16, run as the pair
// of kernels the engine uses today (1x1 with the BN + ReLU prologue into a 128-channel buffer,
// then the 3x3 halo kernel into the block buffer; the best tile of each, as the engine's timing
// would pick among chexrt's own kernels) and as the fused kernel (kernels/dense_layer_f16.cuh).
// Times are medians of CUDA-event-timed launches; weights are random (they do not change the
// speed). Also checks that both write the same slice (max |difference|).
//
//   dense_layer_bench [--batch 256] [--iterations 50]
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/dense_layer_f16.cuh"

namespace chexrt::cuda {
namespace {

#define BENCH_CHECK(call)                                                                        \
  do {                                                                                           \
    const cudaError_t e_ = (call);                                                               \
    if (e_ != cudaSuccess) {                                                                     \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                                              \
    }                                                                                            \
  } while (0)

template <class Launch>
float median_ms(Launch launch, int iterations) {
  cudaEvent_t start, stop;
  BENCH_CHECK(cudaEventCreate(&start));
  BENCH_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < 5; ++i) BENCH_CHECK(launch());
  std::vector<float> ms(iterations);
  for (int i = 0; i < iterations; ++i) {
    BENCH_CHECK(cudaEventRecord(start));
    BENCH_CHECK(launch());
    BENCH_CHECK(cudaEventRecord(stop));
    BENCH_CHECK(cudaEventSynchronize(stop));
    BENCH_CHECK(cudaEventElapsedTime(&ms[i], start, stop));
  }
  BENCH_CHECK(cudaEventDestroy(start));
  BENCH_CHECK(cudaEventDestroy(stop));
  std::nth_element(ms.begin(), ms.begin() + iterations / 2, ms.end());
  return ms[iterations / 2];
}

__half* random_half(size_t count, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.f, stddev);
  std::vector<__half> h(count);
  for (auto& v : h) v = __float2half_rn(normal(rng));
  __half* d = nullptr;
  BENCH_CHECK(cudaMalloc(&d, count * sizeof(__half)));
  BENCH_CHECK(cudaMemcpy(d, h.data(), count * sizeof(__half), cudaMemcpyHostToDevice));
  return d;
}

float* constant_float(size_t count, float value) {
  std::vector<float> h(count, value);
  float* d = nullptr;
  BENCH_CHECK(cudaMalloc(&d, count * sizeof(float)));
  BENCH_CHECK(cudaMemcpy(d, h.data(), count * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}

int run(int batch, int iterations) {
  cudaDeviceProp prop;
  BENCH_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("dense_layer_bench: %s, batch %d, median of %d\n", prop.name, batch, iterations);
  std::mt19937 rng(7);
  struct Block {
    int size, first_c, layers;
  };
  const Block blocks[] = {{56, 64, 6}, {28, 128, 12}, {14, 256, 24}, {7, 512, 16}};
  double total_pair = 0, total_fused = 0, total_best = 0;
  for (const Block& b : blocks) {
    const int ld = b.first_c + 32 * b.layers;
    const long long pixels = static_cast<long long>(batch) * b.size * b.size;
    __half* buffer = random_half(pixels * ld, 1.f, rng);
    __half* copy = nullptr;  // the fused kernel's output, to compare with the pair's
    BENCH_CHECK(cudaMalloc(&copy, pixels * ld * sizeof(__half)));
    __half* mid = nullptr;
    BENCH_CHECK(cudaMalloc(&mid, pixels * kDenseMid * sizeof(__half)));
    const int k_pad_max = (ld + 31) / 32 * 32;
    __half* scale = random_half(k_pad_max, 0.3f, rng);
    __half* shift = random_half(k_pad_max, 0.3f, rng);
    __half* w1 = random_half(size_t(kDenseMid) * k_pad_max, 0.1f, rng);
    __half* w3 = random_half(size_t(kDenseOut) * 9 * kDenseMid, 0.04f, rng);
    float* bias1 = constant_float(kDenseMid, 0.05f);
    double block_pair = 0, block_fused = 0, block_best = 0;
    for (int layer = 0; layer < b.layers; ++layer) {
      const int c = b.first_c + 32 * layer;
      const int k_pad1 = (c + 31) / 32 * 32;
      ConvGemmArgs one;
      one.x = buffer;
      one.x_ld = ld;
      one.batch = batch;
      one.in_h = one.in_w = one.out_h = one.out_w = b.size;
      one.in_c = c;
      one.out_c = kDenseMid;
      one.weight = w1;
      one.k_pad = k_pad1;
      one.pro_scale = scale;
      one.pro_shift = shift;
      one.bias = bias1;
      one.relu = true;
      one.y = mid;
      one.y_ld = kDenseMid;
      ConvGemmArgs three;
      three.x = mid;
      three.x_ld = kDenseMid;
      three.batch = batch;
      three.in_h = three.in_w = three.out_h = three.out_w = b.size;
      three.in_c = kDenseMid;
      three.kernel_h = three.kernel_w = 3;
      three.pad_h = three.pad_w = 1;
      three.out_c = kDenseOut;
      three.weight = w3;
      three.k_pad = 9 * kDenseMid;
      three.y = buffer + c;
      three.y_ld = ld;
      float best1 = 1e30f, best3 = 1e30f;
      std::string tile1, tile3;
      for (const ConvGemmTile& t : conv_gemm_tiles(ConvGemmVariant::kPointwisePrologue)) {
        const float ms = median_ms([&] { return launch_conv_gemm_f16(one, ConvGemmVariant::kPointwisePrologue, t, nullptr); },
                                   iterations);
        if (ms < best1) best1 = ms, tile1 = t.name();
      }
      for (const ConvGemmTile& t : conv_gemm_tiles(ConvGemmVariant::kHalo3x3)) {
        if (t.bm < b.size) continue;
        const float ms = median_ms([&] { return launch_conv_gemm_f16(three, ConvGemmVariant::kHalo3x3, t, nullptr); },
                                   iterations);
        if (ms < best3) best3 = ms, tile3 = t.name();
      }
      // The pair's result (with its last-timed tiles), then the fused kernel's on a copy.
      BENCH_CHECK(cudaMemcpy(copy, buffer, pixels * ld * sizeof(__half), cudaMemcpyDeviceToDevice));
      DenseLayerArgs fused;
      fused.x = copy;
      fused.x_ld = ld;
      fused.batch = batch;
      fused.height = fused.width = b.size;
      fused.in_c = c;
      fused.pro_scale = scale;
      fused.pro_shift = shift;
      fused.w1 = w1;
      fused.k_pad1 = k_pad1;
      fused.bias1 = bias1;
      fused.w3 = w3;
      fused.y = copy + c;
      fused.y_ld = ld;
      const float ms_fused = median_ms([&] { return launch_dense_layer_f16(fused, nullptr); }, iterations);
      BENCH_CHECK(cudaDeviceSynchronize());
      // Compare the slice of the first image.
      const int px = b.size * b.size;
      std::vector<__half> a(size_t(px) * ld), f(size_t(px) * ld);
      BENCH_CHECK(cudaMemcpy(a.data(), buffer, a.size() * 2, cudaMemcpyDeviceToHost));
      BENCH_CHECK(cudaMemcpy(f.data(), copy, f.size() * 2, cudaMemcpyDeviceToHost));
      double max_diff = 0, max_ref = 0;
      for (int p = 0; p < px; ++p) {
        for (int o = 0; o < kDenseOut; ++o) {
          const double va = __half2float(a[size_t(p) * ld + c + o]), vf = __half2float(f[size_t(p) * ld + c + o]);
          max_diff = std::max(max_diff, std::abs(va - vf));
          max_ref = std::max(max_ref, std::abs(va));
        }
      }
      std::printf("%2dx%-2d c%4d  1x1 %-10s %7.4f ms  3x3 %-8s %7.4f ms  pair %7.4f ms  fused %7.4f ms  %5.2fx  "
                  "max|diff| %.3g of %.3g\n",
                  b.size, b.size, c, tile1.c_str(), best1, tile3.c_str(), best3, best1 + best3, ms_fused,
                  (best1 + best3) / ms_fused, max_diff, max_ref);
      block_pair += best1 + best3;
      block_fused += ms_fused;
      block_best += std::min<double>(best1 + best3, ms_fused);
    }
    std::printf("block %dx%d (%d layers): pair %.3f ms, fused %.3f ms, faster of the two per layer %.3f ms\n",
                b.size, b.size, b.layers, block_pair, block_fused, block_best);
    total_pair += block_pair;
    total_fused += block_fused;
    total_best += block_best;
    for (void* p : {static_cast<void*>(buffer), static_cast<void*>(copy), static_cast<void*>(mid),
                    static_cast<void*>(scale), static_cast<void*>(shift), static_cast<void*>(w1),
                    static_cast<void*>(w3), static_cast<void*>(bias1)}) {
      BENCH_CHECK(cudaFree(p));
    }
  }
  std::printf("all 58 dense layers: pair %.3f ms, fused %.3f ms, faster of the two per layer %.3f ms\n", total_pair,
              total_fused, total_best);
  return 0;
}

}  // namespace
}  // namespace chexrt::cuda

int main(int argc, char** argv) {
  int batch = 256, iterations = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--batch" && i + 1 < argc) batch = std::stoi(argv[++i]);
    else if (k == "--iterations" && i + 1 < argc) iterations = std::stoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: dense_layer_bench [--batch N] [--iterations N]\n");
      return 2;
    }
  }
  return chexrt::cuda::run(batch, iterations);
}
