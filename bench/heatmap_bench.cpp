// heatmap_bench: one heat map of `predict --heatmap-dir`, stage by stage, one thread (Google
// Benchmark): the class activation map from the last feature map and a classifier row, the
// drawing (bilinear upsampling onto the crop region, jet colours, blend over the grey X-ray),
// and the encoding of the 1024x1024 RGB result as the pipeline writes it (PNG at level 1) or
// on request (JPEG, quality 90). docs/PERF.md ("Heat maps") keeps the figures.
//
//   build/bench/heatmap_bench [--benchmark_filter=Png] [PNG]
//   (default: data/cxr/nih/00000284_000.png, a 1024x1024 8-bit NIH X-ray)
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"

namespace {

using namespace chexrt;
using namespace chexrt::app;

std::string g_png = std::string(CHEXRT_SOURCE_DIR) + "/data/cxr/nih/00000284_000.png";

// CheXNet's shapes: the last feature map [1024, 7, 7] after the final ReLU, the classifier
// [14, 1024]. Seeded values: what the stages cost does not depend on them, and the map they give
// is as smooth as a real one once upsampled.
struct Inputs {
  Image8 xray;
  Region region;
  HostTensor features{DataType::kFloat32, {1, 1024, 7, 7}};
  HostTensor weights{DataType::kFloat32, {kNumFindings, 1024}};
  ActivationMap map;
  Image8 rgb;
};

const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs in;
    std::ifstream file(g_png, std::ios::binary);
    const std::vector<uint8_t> bytes{std::istreambuf_iterator<char>(file), {}};
    Result<Image8> xray = decode_image8(bytes.data(), bytes.size(), g_png);
    if (!xray.ok()) {
      std::fprintf(stderr, "heatmap_bench: %s\n", xray.status().to_string().c_str());
      std::exit(2);
    }
    in.xray = std::move(*xray);
    in.region = crop_region(in.xray.width, in.xray.height, PreprocessOptions{});
    std::mt19937 rng(12);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < in.features.numel(); ++i) in.features.data<float>()[i] = std::max(0.0f, normal(rng));
    for (int64_t i = 0; i < in.weights.numel(); ++i) in.weights.data<float>()[i] = 0.05f * normal(rng);
    in.map = class_activation_map(in.features, in.weights, 3).value();
    in.rgb = render_heatmap(in.xray, in.map, in.region, {}).value();
    return in;
  }();
  return in;
}

void report(benchmark::State& state) { state.SetItemsProcessed(state.iterations()); }

void BM_HeatmapCam(benchmark::State& state) {
  const Inputs& in = inputs();
  for (auto _ : state) benchmark::DoNotOptimize(class_activation_map(in.features, in.weights, 3));
  report(state);
}
BENCHMARK(BM_HeatmapCam);

void BM_HeatmapRender(benchmark::State& state) {
  const Inputs& in = inputs();
  for (auto _ : state) benchmark::DoNotOptimize(render_heatmap(in.xray, in.map, in.region, {}));
  report(state);
}
BENCHMARK(BM_HeatmapRender);

// encode_png at `level`: 1 is what the pipeline writes, 6 zlib's default (libpng, adaptive filters).
void BM_HeatmapPng(benchmark::State& state) {
  const Image8& rgb = inputs().rgb;
  const int level = static_cast<int>(state.range(0));
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::vector<uint8_t>> png = encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3, level);
    bytes = png->size();
    benchmark::DoNotOptimize(png);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  report(state);
}
BENCHMARK(BM_HeatmapPng)->Arg(1)->Arg(6);

void BM_HeatmapJpeg(benchmark::State& state) {
  const Image8& rgb = inputs().rgb;
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::vector<uint8_t>> jpeg = encode_jpeg(rgb.pixels.data(), rgb.width, rgb.height, 3, 90);
    bytes = jpeg->size();
    benchmark::DoNotOptimize(jpeg);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
  report(state);
}
BENCHMARK(BM_HeatmapJpeg);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc > 1) g_png = argv[1];
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
