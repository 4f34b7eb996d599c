// heatmap_bench: one heat map of `predict --heatmap-dir`, stage by stage, one thread (Google
// Benchmark): the class activation map from the last feature map and a classifier row; the
// drawing (bilinear upsampling onto the crop region, jet colours, blend over the grey X-ray), or
// the copies a core still makes when the GPU draws the map instead; the encoding of the
// 1024x1024 RGB result as the pipeline writes it (PNG at level 1; core/png_encode's segmented
// encoder, the GPU's, on its CPU reference) or on request (JPEG, quality 90); and the PNG filters
// and deflaters that encode_png's fast levels were chosen from.
// docs/PERF.md ("Heat maps") keeps the figures.
//
//   build/bench/heatmap_bench [--benchmark_filter=Png] [PNG]
//   (default: data/cxr/nih/00000284_000.png, a 1024x1024 8-bit NIH X-ray)
#include <benchmark/benchmark.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"
#include "core/png_encode.h"

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

// What a CPU core still does for a map that the GPU draws (CudaEngine::draw_heatmaps from the
// pipeline's pool): the feature rows and the X-ray copied into the upload staging, the heat map
// allocated and copied out of the download staging (ordinary memory stands in for pinned here).
void BM_HeatmapDeviceCopies(benchmark::State& state) {
  const Inputs& in = inputs();
  const size_t feature_bytes = in.features.nbytes();
  std::vector<uint8_t> upload(feature_bytes + in.xray.pixels.size()), download(in.rgb.pixels.size(), 1);
  for (auto _ : state) {
    std::memcpy(upload.data(), in.features.raw(), feature_bytes);
    std::memcpy(upload.data() + feature_bytes, in.xray.pixels.data(), in.xray.pixels.size());
    Image8 rgb{in.xray.width, in.xray.height, 3, std::vector<uint8_t>(download.size())};
    std::memcpy(rgb.pixels.data(), download.data(), download.size());
    benchmark::DoNotOptimize(rgb.pixels.data());
    benchmark::DoNotOptimize(upload.data());
  }
  report(state);
}
BENCHMARK(BM_HeatmapDeviceCopies);

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

// core/png_encode's CPU reference: the segmented encoder whose bytes GPU engines give (16-row
// segments, each its own Huffman block; runs as matches). Its size beside igzip's level 1 (what
// the CPU path writes) is the cost of encoding in parallel.
void BM_HeatmapPngSegmented(benchmark::State& state) {
  const Image8& rgb = inputs().rgb;
  size_t bytes = 0;
  for (auto _ : state) {
    Result<std::vector<uint8_t>> png = png_encode::encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3);
    bytes = png->size();
    benchmark::DoNotOptimize(png);
  }
  const size_t igzip = encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3, 1)->size();
  state.counters["bytes"] = static_cast<double>(bytes);
  state.counters["vs_igzip1"] = static_cast<double>(bytes) / static_cast<double>(igzip);
  report(state);
}
BENCHMARK(BM_HeatmapPngSegmented);

// The choice behind encode_png's fast levels: the heat map's rows all with one PNG filter (0 None,
// 1 Sub, 2 Up, 3 Average, 4 Paeth), then deflated by libdeflate (what level 1 used before) or ISA-L's
// igzip (what it uses now), both at level 1. Filtering is timed with the compression.
std::vector<uint8_t> filter_rows(const Image8& rgb, int filter) {
  const size_t row_bytes = static_cast<size_t>(rgb.width) * 3;
  std::vector<uint8_t> out((row_bytes + 1) * rgb.height);
  for (int y = 0; y < rgb.height; ++y) {
    const uint8_t* row = &rgb.pixels[y * row_bytes];
    const uint8_t* up = y > 0 ? row - row_bytes : nullptr;
    uint8_t* o = &out[y * (row_bytes + 1)];
    o[0] = static_cast<uint8_t>(filter);
    for (size_t i = 0; i < row_bytes; ++i) {
      const int a = i >= 3 ? row[i - 3] : 0, b = up ? up[i] : 0, c = up && i >= 3 ? up[i - 3] : 0;
      int predicted = 0;
      if (filter == 1) predicted = a;
      if (filter == 2) predicted = b;
      if (filter == 3) predicted = (a + b) / 2;
      if (filter == 4) {
        const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
        predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      o[1 + i] = static_cast<uint8_t>(row[i] - predicted);
    }
  }
  return out;
}

void BM_HeatmapFilterDeflate(benchmark::State& state) {
  const Image8& rgb = inputs().rgb;
  const int filter = static_cast<int>(state.range(0));
  const bool igzip = state.range(1) == 1;
  std::vector<uint8_t> out(rgb.pixels.size() * 2);
  std::vector<uint8_t> level_buffer(ISAL_DEF_LVL1_DEFAULT);
  libdeflate_compressor* compressor = libdeflate_alloc_compressor(1);
  size_t bytes = 0;
  for (auto _ : state) {
    std::vector<uint8_t> filtered = filter_rows(rgb, filter);
    if (igzip) {
      isal_zstream stream;
      isal_deflate_stateless_init(&stream);
      stream.level = 1;
      stream.level_buf = level_buffer.data();
      stream.level_buf_size = static_cast<uint32_t>(level_buffer.size());
      stream.gzip_flag = IGZIP_ZLIB;
      stream.end_of_stream = 1;
      stream.next_in = filtered.data();
      stream.avail_in = static_cast<uint32_t>(filtered.size());
      stream.next_out = out.data();
      stream.avail_out = static_cast<uint32_t>(out.size());
      if (isal_deflate_stateless(&stream) != COMP_OK) state.SkipWithError("igzip failed");
      bytes = stream.total_out;
    } else {
      bytes = libdeflate_zlib_compress(compressor, filtered.data(), filtered.size(), out.data(), out.size());
    }
    benchmark::DoNotOptimize(out.data());
  }
  libdeflate_free_compressor(compressor);
  state.counters["bytes"] = static_cast<double>(bytes);
  state.SetLabel(std::string(igzip ? "igzip" : "libdeflate") + ", " +
                 std::array<const char*, 5>{"None", "Sub", "Up", "Average", "Paeth"}[filter]);
  report(state);
}
BENCHMARK(BM_HeatmapFilterDeflate)->ArgsProduct({{0, 1, 2, 3, 4}, {0, 1}});

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
