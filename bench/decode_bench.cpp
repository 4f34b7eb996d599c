// decode_bench: the decoding libraries side by side on one X-ray, one thread (Google Benchmark),
// and preprocessing, the other CPU stage of a file (heat maps: heatmap_bench.cpp).
// chexrt's choices in src/app rest on these numbers (docs/PERF.md, "Decoding").
//
//   build/bench/decode_bench [--benchmark_filter=Png] [PNG JPEG]
//   (default: data/cxr/nih/00000284_000.png and data/cxr/formats/00008980_000_q90.jpg)
#include <benchmark/benchmark.h>
#include <libdeflate.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "app/codecs.h"
#include "app/image_io.h"
#include "app/preprocess.h"
#include "core/png_rows.h"

#if CHEXRT_BENCH_WITH_SPNG
#include <spng.h>
#endif
#if CHEXRT_BENCH_WITH_TURBOJPEG
#include <turbojpeg.h>
#endif

namespace {

using namespace chexrt::app;
using chexrt::Result;

std::string g_png = std::string(CHEXRT_SOURCE_DIR) + "/data/cxr/nih/00000284_000.png";
std::string g_jpeg = std::string(CHEXRT_SOURCE_DIR) + "/data/cxr/formats/00008980_000_q90.jpg";

const std::vector<uint8_t>& file_bytes(const std::string& path) {
  static std::vector<std::pair<std::string, std::vector<uint8_t>>> cache;
  for (const auto& [p, bytes] : cache) {
    if (p == path) return bytes;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "decode_bench: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  cache.emplace_back(path, std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {}));
  return cache.back().second;
}

// The concatenated IDAT data of a PNG: what the inflaters are timed on.
std::vector<uint8_t> idat_of(const std::vector<uint8_t>& png) {
  std::vector<uint8_t> idat;
  for (size_t pos = 8; pos + 12 <= png.size();) {
    const uint32_t length = (uint32_t{png[pos]} << 24) | (png[pos + 1] << 16) | (png[pos + 2] << 8) | png[pos + 3];
    if (std::memcmp(&png[pos + 4], "IDAT", 4) == 0) idat.insert(idat.end(), &png[pos + 8], &png[pos + 8 + length]);
    pos += 12 + length;
  }
  return idat;
}

size_t inflated_size(const std::vector<uint8_t>& png) {
  const Result<detail::RawImage> image = detail::decode_png(png.data(), png.size());
  const size_t bytes = image->bit_depth / 8;
  return (static_cast<size_t>(image->width) * image->channels * bytes + 1) * image->height;  // grey/RGB files only
}

void report(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());  // items/s = images/s
}

void BM_InflateZlib(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  const std::vector<uint8_t> idat = idat_of(png);
  std::vector<uint8_t> out(inflated_size(png));
  for (auto _ : state) {
    uLongf size = out.size();
    if (uncompress(out.data(), &size, idat.data(), idat.size()) != Z_OK) state.SkipWithError("zlib failed");
    benchmark::DoNotOptimize(out.data());
  }
  report(state);
}
BENCHMARK(BM_InflateZlib);

void BM_InflateLibdeflate(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  const std::vector<uint8_t> idat = idat_of(png);
  std::vector<uint8_t> out(inflated_size(png));
  libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  for (auto _ : state) {
    size_t got = 0;
    if (libdeflate_zlib_decompress(d, idat.data(), idat.size(), out.data(), out.size(), &got) != LIBDEFLATE_SUCCESS) {
      state.SkipWithError("libdeflate failed");
    }
    benchmark::DoNotOptimize(out.data());
  }
  libdeflate_free_decompressor(d);
  report(state);
}
BENCHMARK(BM_InflateLibdeflate);

void BM_PngLibpng(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  for (auto _ : state) benchmark::DoNotOptimize(detail::decode_png(png.data(), png.size()));
  report(state);
}
BENCHMARK(BM_PngLibpng);

void BM_PngChexrtLibdeflate(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  for (auto _ : state) {
    Result<detail::RawImage> image = detail::decode_png_fast(png.data(), png.size());
    if (!image.ok()) state.SkipWithError(image.status().to_string().c_str());
    benchmark::DoNotOptimize(image);
  }
  report(state);
}
BENCHMARK(BM_PngChexrtLibdeflate);

// The same file inflated only, its rows left filtered: a decode thread's work when the engine
// unfilters PNG rows on the GPU (Engine::unfilters_png_on_device), against the full decode above.
// The buffer is reused, as the pipeline recycles its buffers of rows.
void BM_PngChexrtInflateOnly(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  std::vector<uint8_t> rows;
  for (auto _ : state) {
    Result<detail::PngRows> inflated = detail::inflate_png_fast(png.data(), png.size(), &rows);
    if (!inflated.ok()) state.SkipWithError(inflated.status().to_string().c_str());
    benchmark::DoNotOptimize(rows.data());
  }
  report(state);
}
BENCHMARK(BM_PngChexrtInflateOnly);

// What the inflating leaves: unfiltering the rows into 8-bit samples on the host, as engines off
// the GPU do with filtered rows (core/png_rows.h).
void BM_PngRowsUnfilterOnHost(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  std::vector<uint8_t> rows, scratch;
  const detail::PngRows inflated = detail::inflate_png_fast(png.data(), png.size(), &rows).value();
  const chexrt::ImageView view = chexrt::png_rows_view(rows.data(), inflated.width, inflated.height, inflated.format);
  std::vector<uint8_t> pixels(static_cast<size_t>(view.width) * view.height * view.channels);
  for (auto _ : state) {
    const chexrt::Status s = chexrt::png_rows::to_eight_bit(view, scratch, pixels.data());
    if (!s.ok()) state.SkipWithError(s.to_string().c_str());
    benchmark::DoNotOptimize(pixels.data());
  }
  report(state);
}
BENCHMARK(BM_PngRowsUnfilterOnHost);

#if CHEXRT_BENCH_WITH_SPNG
void BM_PngLibspng(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  std::vector<uint8_t> out;
  for (auto _ : state) {
    spng_ctx* ctx = spng_ctx_new(0);
    spng_set_png_buffer(ctx, png.data(), png.size());
    size_t size = 0;
    if (spng_decoded_image_size(ctx, SPNG_FMT_PNG, &size) != 0) state.SkipWithError("spng: no size");
    out.resize(size);
    if (spng_decode_image(ctx, out.data(), out.size(), SPNG_FMT_PNG, 0) != 0) state.SkipWithError("spng failed");
    spng_ctx_free(ctx);
    benchmark::DoNotOptimize(out.data());
  }
  report(state);
}
BENCHMARK(BM_PngLibspng);
#endif

void BM_JpegLibjpeg(benchmark::State& state) {
  const auto& jpeg = file_bytes(g_jpeg);
  for (auto _ : state) benchmark::DoNotOptimize(detail::decode_jpeg(jpeg.data(), jpeg.size()));
  report(state);
}
BENCHMARK(BM_JpegLibjpeg);

#if CHEXRT_BENCH_WITH_TURBOJPEG
// TurboJPEG at full size and with DCT scaling (1/2, 1/4): the decoder skips the coefficients the
// smaller image does not need.
void BM_JpegTurboJpeg(benchmark::State& state) {
  const auto& jpeg = file_bytes(g_jpeg);
  tjhandle handle = tjInitDecompress();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  tjDecompressHeader3(handle, jpeg.data(), jpeg.size(), &width, &height, &subsampling, &colorspace);
  const int denominator = static_cast<int>(state.range(0));
  const int w = (width + denominator - 1) / denominator;
  const int h = (height + denominator - 1) / denominator;
  std::vector<uint8_t> out(static_cast<size_t>(w) * h);
  for (auto _ : state) {
    if (tjDecompress2(handle, jpeg.data(), jpeg.size(), out.data(), w, 0, h, TJPF_GRAY, TJFLAG_ACCURATEDCT) != 0) {
      state.SkipWithError(tjGetErrorStr2(handle));
    }
    benchmark::DoNotOptimize(out.data());
  }
  tjDestroy(handle);
  report(state);
}
BENCHMARK(BM_JpegTurboJpeg)->Arg(1)->Arg(2)->Arg(4);
#endif

// What follows decoding in the pipeline: resize to 256, centre crop 224, normalize.
void BM_Preprocess(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  const Image8 image = decode_image8(png.data(), png.size(), g_png).value();
  PreprocessOptions options;
  for (auto _ : state) benchmark::DoNotOptimize(preprocess(image, options));
  report(state);
}
BENCHMARK(BM_Preprocess);

// Decoding to 8-bit and preprocessing: one file of the pipeline's first stage.
void BM_DecodeAndPreprocessPng(benchmark::State& state) {
  const auto& png = file_bytes(g_png);
  PreprocessOptions options;
  for (auto _ : state) {
    benchmark::DoNotOptimize(preprocess(decode_image8(png.data(), png.size(), g_png).value(), options));
  }
  report(state);
}
BENCHMARK(BM_DecodeAndPreprocessPng);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (argc > 1) g_png = argv[1];
  if (argc > 2) g_jpeg = argv[2];
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
