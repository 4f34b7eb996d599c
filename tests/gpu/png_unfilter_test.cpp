// PNG unfiltering on the GPU (kernels/png_unfilter.cu) against the host (core/png_rows.h, which
// tests/unit and tests/app pin to independently filtered rows, libpng's files and the CPU
// decode): the same 8-bit samples byte for byte for every filter type, every layout (bytes per
// pixel 1 to 8), odd widths down to one pixel, and images taller than one block's rows; a filter
// type above 4 is reported with its image and row. Then ImagePreprocessor and
// CudaEngine::infer_images with filtered rows against the same images as 8-bit pixels: equal bit
// for bit, both preprocessed on the GPU.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>

#include "app/codecs.h"
#include "app/image_io.h"
#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/image_input.h"
#include "backends/cuda/kernels/png_unfilter.cuh"
#include "core/png_rows.h"
#include "gpu_preprocess_util.h"
#include "gpu_test_util.h"
#include "png_rows_maker.h"

namespace chexrt::cuda {
namespace {

using chexrt::testing::all_png_row_formats;
using chexrt::testing::make_png_rows;
using chexrt::testing::PngRowsCase;

size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

std::string describe(const ImageView& v) {
  return std::to_string(v.width) + " x " + std::to_string(v.height) + ", depth " + std::to_string(v.png.bit_depth) +
         ", colour type " + std::to_string(v.png.color_type);
}

// The host's samples for a view of filtered rows.
std::vector<uint8_t> host_unfiltered(const ImageView& view) {
  std::vector<uint8_t> scratch, out(static_cast<size_t>(view.width) * view.height * view.channels);
  const Status s = png_rows::to_eight_bit(view, scratch, out.data());
  if (!s.ok()) throw std::runtime_error(s.to_string());
  return out;
}

struct DeviceResult {
  std::vector<std::vector<uint8_t>> samples;  // per view
  int report[3] = {0, 0, 0};                  // the kernel's error report
};

// launch_png_unfilter on `views`, laid out in one device buffer as ImagePreprocessor lays them:
// descriptors, the rows, the samples (filled with `fill` first, so that a byte the kernel does
// not write shows), a carry row per image.
DeviceResult unfilter_on_gpu(const std::vector<ImageView>& views, int rows_per_block, uint8_t fill = 0xA5) {
  std::vector<PngUnfilterImage> descs(views.size());
  size_t at = align16(views.size() * sizeof(PngUnfilterImage));
  for (size_t i = 0; i < views.size(); ++i) {
    descs[i].rows = static_cast<long long>(at);
    at = align16(at + image_bytes(views[i]));
  }
  for (size_t i = 0; i < views.size(); ++i) {
    descs[i].pixels = static_cast<long long>(at);
    at = align16(at + static_cast<size_t>(views[i].width) * views[i].height * views[i].channels);
  }
  for (size_t i = 0; i < views.size(); ++i) {
    const ImageView& v = views[i];
    PngUnfilterImage& d = descs[i];
    d.carry = static_cast<long long>(at);
    d.width = v.width, d.height = v.height;
    d.bytes_per_pixel = png_bytes_per_pixel(v.png);
    d.bit_depth = v.png.bit_depth;
    d.channels = v.channels;
    d.index = static_cast<int>(i);
    at = align16(at + static_cast<size_t>(v.width) * d.bytes_per_pixel);
  }
  const size_t error_at = at;
  const size_t total = error_at + 3 * sizeof(int);
  std::vector<uint8_t> host(total, fill);
  std::memcpy(host.data(), descs.data(), descs.size() * sizeof(PngUnfilterImage));
  for (size_t i = 0; i < views.size(); ++i) std::memcpy(&host[descs[i].rows], views[i].pixels, image_bytes(views[i]));
  std::memset(&host[error_at], 0, 3 * sizeof(int));
  DeviceBuffer device;
  EXPECT_TRUE(device.allocate(total, "png unfilter test").ok());
  EXPECT_EQ(cudaMemcpy(device.get(), host.data(), total, cudaMemcpyHostToDevice), cudaSuccess);
  uint8_t* base = device.as<uint8_t>();
  EXPECT_EQ(launch_png_unfilter(base, reinterpret_cast<const PngUnfilterImage*>(base), static_cast<int>(views.size()),
                                reinterpret_cast<int*>(base + error_at), nullptr, rows_per_block),
            cudaSuccess);
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(host.data(), device.get(), total, cudaMemcpyDeviceToHost), cudaSuccess);
  DeviceResult result;
  for (size_t i = 0; i < views.size(); ++i) {
    const size_t n = static_cast<size_t>(views[i].width) * views[i].height * views[i].channels;
    result.samples.emplace_back(host.begin() + descs[i].pixels, host.begin() + descs[i].pixels + n);
  }
  std::memcpy(result.report, &host[error_at], sizeof(result.report));
  return result;
}

void expect_same_as_host(const std::vector<ImageView>& views, int rows_per_block) {
  for (uint8_t fill : {0x00, 0xA5}) {
    const DeviceResult gpu = unfilter_on_gpu(views, rows_per_block, fill);
    EXPECT_EQ(gpu.report[0], 0) << "image " << gpu.report[0] - 1 << " row " << gpu.report[1];
    for (size_t i = 0; i < views.size(); ++i) {
      const std::vector<uint8_t> host = host_unfiltered(views[i]);
      ASSERT_EQ(gpu.samples[i].size(), host.size());
      size_t first = 0, mismatches = 0;
      for (size_t k = 0; k < host.size(); ++k) {
        if (gpu.samples[i][k] != host[k] && mismatches++ == 0) first = k;
      }
      EXPECT_EQ(mismatches, 0u) << describe(views[i]) << ", " << rows_per_block << " rows per block: first at byte "
                                << first << " (GPU " << int(gpu.samples[i][first]) << ", host " << int(host[first])
                                << ")";
    }
  }
}

// Every layout, odd widths and one pixel's width, one filter on every row and all five in turn;
// 70 rows at 32 rows per block go through three groups (the carry row), and one row alone.
TEST(GpuPngUnfilter, EqualsTheHostForEveryFilterAndLayout) {
  CHEXRT_SKIP_WITHOUT_GPU();
  std::vector<std::function<int(int)>> patterns;
  for (int f = 0; f < 5; ++f) patterns.push_back([f](int) { return f; });
  patterns.push_back([](int y) { return y % 5; });
  patterns.push_back([](int y) { return (y * 3 + 1) % 5; });
  std::vector<PngRowsCase> cases;
  uint32_t seed = 1;
  for (const PngRowFormat& format : all_png_row_formats()) {
    for (int width : {1, 3, 1023}) {
      for (int height : {1, 5, 70}) {
        for (const auto& pattern : patterns) cases.push_back(make_png_rows(width, height, format, seed++, pattern));
      }
    }
  }
  std::vector<ImageView> views;
  for (const PngRowsCase& c : cases) views.push_back(c.view());
  for (int rows_per_block : {32, 64, kPngUnfilterRows}) expect_same_as_host(views, rows_per_block);
}

// Taller than one block (1024 rows): 2500 rows, narrow and of every bytes-per-pixel.
TEST(GpuPngUnfilter, TallImagesGoThroughSeveralGroupsOfRows) {
  CHEXRT_SKIP_WITHOUT_GPU();
  std::vector<PngRowsCase> cases;
  uint32_t seed = 100;
  for (const PngRowFormat& format : all_png_row_formats()) {
    cases.push_back(make_png_rows(7, 2500, format, seed++, [](int y) { return (y / 3) % 5; }));
  }
  cases.push_back(make_png_rows(1, 3000, {8, 0}, seed++, [](int y) { return y % 5; }));
  std::vector<ImageView> views;
  for (const PngRowsCase& c : cases) views.push_back(c.view());
  expect_same_as_host(views, kPngUnfilterRows);
}

std::string data_file(const std::string& relative) {
  const char* dir = std::getenv("CHEXRT_TEST_DATA_DIR");
  return std::string(dir ? dir : CHEXRT_SOURCE_DATA_DIR) + "/" + relative;
}

// A real file's inflated rows.
struct InflatedFile {
  std::vector<uint8_t> rows;
  app::detail::PngRows layout;
  Image8 decoded;  // decode_image8(): the CPU path
  ImageView view() const { return png_rows_view(rows.data(), layout.width, layout.height, layout.format); }
};

InflatedFile inflate_file(const std::string& relative) {
  const std::string path = data_file(relative);
  Result<std::vector<uint8_t>> bytes = app::read_file_bytes(path);
  if (!bytes.ok()) throw std::runtime_error(bytes.status().to_string());
  InflatedFile f;
  Result<app::detail::PngRows> layout = app::detail::inflate_png_fast(bytes->data(), bytes->size(), &f.rows);
  if (!layout.ok()) throw std::runtime_error(path + ": " + layout.status().to_string());
  f.layout = *layout;
  f.decoded = app::decode_image8(bytes->data(), bytes->size(), path).value();
  return f;
}

// The X-rays the pipeline sees: an NIH 1024 x 1024 (Paeth and Average rows), 16-bit grey, RGBA,
// 2000 x 1800: the GPU's samples are decode_image8()'s.
TEST(GpuPngUnfilter, RealXraysEqualTheCpuDecode) {
  CHEXRT_SKIP_WITHOUT_GPU();
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/formats/00017921_000_16bit.png",
                           "cxr/formats/00014995_000_rgba.png", "cxr/formats/00023104_000_2000x1800.png"}) {
    const InflatedFile f = inflate_file(file);
    const DeviceResult gpu = unfilter_on_gpu({f.view()}, kPngUnfilterRows);
    EXPECT_EQ(gpu.report[0], 0) << file;
    EXPECT_TRUE(gpu.samples[0] == f.decoded.pixels) << file;
  }
}

TEST(GpuPngUnfilter, AnUnknownFilterTypeIsReportedWithItsImageAndRow) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const PngRowsCase good = make_png_rows(9, 40, {8, 2}, 5, [](int y) { return y % 5; });
  PngRowsCase bad = make_png_rows(9, 40, {16, 0}, 6, [](int y) { return y % 5; });
  bad.rows[37 * (1 + 9 * 2)] = 200;
  const DeviceResult gpu = unfilter_on_gpu({good.view(), bad.view()}, 32);
  EXPECT_EQ(gpu.report[0], 2);  // image 1, + 1
  EXPECT_EQ(gpu.report[1], 37);
  EXPECT_EQ(gpu.report[2], 200);
  EXPECT_TRUE(gpu.samples[0] == host_unfiltered(good.view()));
}

// Preprocessed samples of `views` from an ImagePreprocessor, and its unfilter_status().
std::vector<float> gpu_samples(const std::vector<ImageView>& views, const PreprocessOptions& options,
                               Status* unfilter_status = nullptr) {
  const gputest::GpuSamples gpu = gputest::preprocess_on_gpu(views, options);
  if (unfilter_status != nullptr) {
    *unfilter_status = gpu.status;
  } else {
    EXPECT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  }
  return gpu.samples;
}

// One batch mixing PNG rows of every layout with 8-bit images, against the same images all as
// 8-bit pixels: the same samples, bit for bit, in every mode.
TEST(GpuPngUnfilter, PreprocessingRowsEqualsPreprocessingTheirPixels) {
  CHEXRT_SKIP_WITHOUT_GPU();
  std::vector<PngRowsCase> cases;
  uint32_t seed = 300;
  for (const PngRowFormat& format : all_png_row_formats()) {
    cases.push_back(make_png_rows(301, 257, format, seed++, [](int y) { return y % 5; }));
  }
  const InflatedFile xray = inflate_file("cxr/nih/00000284_000.png");
  std::vector<Image8> pixels;
  for (const PngRowsCase& c : cases) pixels.push_back({c.width, c.height, c.view().channels, c.expected});
  std::vector<ImageView> as_rows, as_pixels;
  for (size_t i = 0; i < cases.size(); ++i) {
    as_rows.push_back(i % 3 == 2 ? view_of(pixels[i]) : cases[i].view());
    as_pixels.push_back(view_of(pixels[i]));
  }
  as_rows.push_back(xray.view());
  as_pixels.push_back(view_of(xray.decoded));
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kResizeExact, ResizeMode::kTenCrop}) {
    PreprocessOptions options;
    options.mode = mode;
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    Status unfiltered;
    const std::vector<float> from_rows = gpu_samples(as_rows, options, &unfiltered);
    EXPECT_TRUE(unfiltered.ok()) << unfiltered.to_string();
    const std::vector<float> from_pixels = gpu_samples(as_pixels, options);
    ASSERT_EQ(from_rows.size(), from_pixels.size());
    EXPECT_EQ(std::memcmp(from_rows.data(), from_pixels.data(), from_rows.size() * sizeof(float)), 0);
  }
  // The device's own check, for rows that reach the preprocessor unchecked.
  PngRowsCase bad = make_png_rows(20, 30, {8, 0}, 9, [](int y) { return y % 5; });
  bad.rows[4 * 21] = 6;
  Status unfiltered;
  gpu_samples({as_pixels[0], bad.view()}, PreprocessOptions{}, &unfiltered);
  EXPECT_EQ(unfiltered.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unfiltered.message(), "infer_images: image 1: PNG: unknown filter type 6 in row 4");
}

// CudaEngine::infer_images takes PNG rows (unfilters_png_on_device) and gives what it gives for
// their pixels, bit for bit; a bad filter type is refused naming the image.
TEST(GpuPngUnfilter, InferImagesWithRowsEqualsInferImagesWithPixels) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMaxBatch = 20;
  NetworkDefinition net = gputest::small_image_classifier(kMaxBatch);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  auto engine = CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp32, kMaxBatch), {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  ASSERT_TRUE((*engine)->unfilters_png_on_device());

  const InflatedFile xray = inflate_file("cxr/nih/00000284_000.png");
  const InflatedFile rgba = inflate_file("cxr/formats/00014995_000_rgba.png");
  const PngRowsCase small = make_png_rows(90, 70, {16, 4}, 11, [](int y) { return (y + 2) % 5; });
  const Image8 small8{small.width, small.height, small.view().channels, small.expected};
  const std::vector<ImageView> rows = {xray.view(), rgba.view(), small.view()};
  const std::vector<ImageView> pixels = {view_of(xray.decoded), view_of(rgba.decoded), view_of(small8)};
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kTenCrop}) {
    PreprocessOptions options;
    options.mode = mode;
    options.resize_size = 40;
    options.crop_size = 32;
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    const size_t n = mode == ResizeMode::kTenCrop ? 2 : 3;  // at most 20 samples
    std::vector<HostTensor> from_rows, from_pixels;
    Status s = (*engine)->infer_images({rows.begin(), rows.begin() + n}, options, &from_rows);
    ASSERT_TRUE(s.ok()) << s.to_string();
    s = (*engine)->infer_images({pixels.begin(), pixels.begin() + n}, options, &from_pixels);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(from_rows[0].dims(), from_pixels[0].dims());
    EXPECT_EQ(std::memcmp(from_rows[0].raw(), from_pixels[0].raw(), from_rows[0].nbytes()), 0);
  }
  PngRowsCase bad = make_png_rows(50, 50, {8, 6}, 12, [](int y) { return y % 5; });
  bad.rows[17 * (1 + 50 * 4)] = 5;
  PreprocessOptions options;
  options.resize_size = 40;
  options.crop_size = 32;
  std::vector<HostTensor> out;
  const Status s = (*engine)->infer_images({xray.view(), bad.view()}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "infer_images: image 1: PNG: unknown filter type 5 in row 17");
}

}  // namespace
}  // namespace chexrt::cuda
