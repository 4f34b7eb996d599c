// JPEGs decoded on the GPU (JpegDecoder: nvJPEG's hardware decoders, else its GPU hybrid one)
// against libjpeg on the host (core/jpeg_decode.h, which PIL's pixels pin down), for the NIH
// X-rays encoded at quality 95 as the benchmark's are, the bundled JPEG, and files encoded here:
// grey and RGB, 4:4:4 and 4:2:0, odd sizes, progressive, truncated. Then the same files through
// ImagePreprocessor and Engine::infer_images against their host-decoded pixels, alone and in
// batches beside filtered PNG rows and 8-bit pixels.
//
// nvJPEG's inverse DCT is not libjpeg's ISLOW (both approximate the exact transform, with
// different rounding), so GPU-decoded samples are held to a bound, fixed here: no sample more
// than 2 grey levels from libjpeg's, and a mean absolute difference of at most 0.5 per image. A
// conforming decoder's IDCT stays within 1 of the exact one (IEEE 1180 accuracy, which ISLOW
// meets), so two conforming decoders differ by at most 2; colour conversion rounds once more,
// inside the same bound. Files that nvJPEG would not decode as libjpeg does (progressive,
// subsampled colour, truncated) must be left to the host, whose pixels are then exact.
//
// The X-rays are read from $CHEXRT_TEST_DATA_DIR (scripts/gpu_check.sh sets it to the
// repository's data/), else from this source tree's data/.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

#include "app/image_io.h"
#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/image_input.h"
#include "backends/cuda/jpeg_decoder.h"
#include "core/image_preprocess.h"
#include "core/jpeg_decode.h"
#include "gpu_preprocess_util.h"
#include "gpu_test_util.h"
#include "png_rows_maker.h"

namespace chexrt::cuda {
namespace {

constexpr int kMaxLevels = 2;           // per sample
constexpr double kMaxMeanLevels = 0.5;  // per image, mean |difference|

#define CHEXRT_SKIP_WITHOUT_NVJPEG()                                                    \
  do {                                                                                  \
    CHEXRT_SKIP_WITHOUT_GPU();                                                          \
    const Status nvjpeg = JpegDecoder::available();                                     \
    if (!nvjpeg.ok()) GTEST_SKIP() << "JPEG decoding on the GPU: " << nvjpeg.message(); \
  } while (0)

std::string data_file(const std::string& relative) {
  const char* dir = std::getenv("CHEXRT_TEST_DATA_DIR");
  return std::string(dir ? dir : CHEXRT_SOURCE_DATA_DIR) + "/" + relative;
}

std::vector<uint8_t> file_bytes(const std::string& relative) {
  Result<std::vector<uint8_t>> bytes = app::read_file_bytes(data_file(relative));
  if (!bytes.ok()) throw std::runtime_error(bytes.status().to_string());  // fails the test, naming the file
  return *bytes;
}

Image8 decoded_file(const std::string& relative) {
  const std::vector<uint8_t> bytes = file_bytes(relative);
  Result<Image8> image = app::decode_image8(bytes.data(), bytes.size(), relative);
  if (!image.ok()) throw std::runtime_error(image.status().to_string());
  return *image;
}

// Smooth structure plus noise: an X-ray's gradients and edges, and every DCT coefficient in use.
Image8 test_image(int width, int height, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-30, 30);
  Image8 image{width, height, channels, std::vector<uint8_t>(static_cast<size_t>(width) * height * channels)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const int base = 128 + static_cast<int>(90 * std::sin(x * 0.05 + c) * std::cos(y * 0.03));
        image.pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(std::clamp(base + noise(rng), 0, 255));
      }
    }
  }
  return image;
}

struct Encoding {
  int quality = 95;
  bool subsampled = false;  // RGB only: 4:2:0 rather than 4:4:4
  bool progressive = false;
};

// libjpeg's encoder with the sampling and progression the tests need (app::encode_jpeg takes
// neither). Errors end the test program: the inputs are the test's own.
std::vector<uint8_t> encode(const Image8& image, const Encoding& how) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr error;
  cinfo.err = jpeg_std_error(&error);
  jpeg_create_compress(&cinfo);
  unsigned char* out = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &out, &size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = image.channels;
  cinfo.in_color_space = image.channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, how.quality, TRUE);
  if (image.channels == 3) {
    cinfo.comp_info[0].h_samp_factor = cinfo.comp_info[0].v_samp_factor = how.subsampled ? 2 : 1;
  }
  if (how.progressive) jpeg_simple_progression(&cinfo);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data() + cinfo.next_scanline * row_bytes);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> bytes(out, out + size);
  std::free(out);
  return bytes;
}

struct Jpeg {
  std::string name;
  std::vector<uint8_t> bytes;
  bool on_device = true;  // whether the GPU must take it
  ImageView view() const {
    const jpeg::Header h = jpeg::read_header(bytes.data(), bytes.size()).value();
    return jpeg_view(bytes.data(), bytes.size(), h.width, h.height, h.channels);
  }
  Image8 host() const { return jpeg::decode(bytes.data(), bytes.size()).value(); }
};

std::vector<Jpeg> device_jpegs() {
  std::vector<Jpeg> jpegs;
  for (const char* nih : {"00000284_000", "00003450_000", "00012082_000"}) {
    const Image8 xray = decoded_file(std::string("cxr/nih/") + nih + ".png");
    jpegs.push_back({std::string(nih) + " at quality 95", encode(xray, {}), true});
  }
  jpegs.push_back({"the bundled quality-90 JPEG", file_bytes("cxr/formats/00008980_000_q90.jpg"), true});
  jpegs.push_back({"grey 333 x 517, quality 75", encode(test_image(333, 517, 1, 1), {75}), true});
  jpegs.push_back({"grey 17 x 9", encode(test_image(17, 9, 1, 2), {}), true});
  jpegs.push_back({"RGB 4:4:4 517 x 300", encode(test_image(517, 300, 3, 3), {}), true});
  return jpegs;
}

std::vector<Jpeg> host_jpegs() {
  std::vector<Jpeg> jpegs;
  jpegs.push_back({"grey progressive", encode(test_image(300, 200, 1, 4), {95, false, true}), false});
  jpegs.push_back({"RGB 4:2:0", encode(test_image(301, 203, 3, 5), {95, true}), false});
  jpegs.push_back({"RGB 4:4:4 progressive", encode(test_image(64, 64, 3, 6), {95, false, true}), false});
  std::vector<uint8_t> truncated = encode(test_image(256, 256, 1, 7), {});
  truncated.resize(truncated.size() * 2 / 3);
  jpegs.push_back({"grey truncated", truncated, false});
  return jpegs;
}

// Decodes `jpegs` with `decoder` into device memory laid out as ImagePreprocessor lays it out
// (each image its own room of padded rows) and copies the pixels back; `refused` gets what the
// decoder left to the host.
std::vector<Image8> decode_on_gpu(JpegDecoder& decoder, const std::vector<Jpeg>& jpegs, std::vector<size_t>* refused) {
  std::vector<ImageView> views;
  std::vector<DeviceBuffer> rooms(jpegs.size());
  std::vector<uint8_t*> destinations;
  for (size_t k = 0; k < jpegs.size(); ++k) {
    views.push_back(jpegs[k].view());
    const size_t bytes = static_cast<size_t>(views[k].width) * views[k].channels * JpegDecoder::padded_rows(views[k]);
    EXPECT_TRUE(rooms[k].allocate(bytes, "room").ok());
    cudaMemset(rooms[k].get(), 0, bytes);
    destinations.push_back(rooms[k].as<uint8_t>());
  }
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  Result<std::vector<size_t>> left = decoder.enqueue(views, destinations, stream);
  EXPECT_TRUE(left.ok()) << left.status().to_string();
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  cudaStreamDestroy(stream);
  if (left.ok()) *refused = *left;
  std::vector<Image8> out;
  for (const ImageView& v : views) {
    Image8 image{v.width, v.height, v.channels,
                 std::vector<uint8_t>(static_cast<size_t>(v.width) * v.height * v.channels)};
    EXPECT_EQ(cudaMemcpy(image.pixels.data(), destinations[out.size()], image.pixels.size(), cudaMemcpyDeviceToHost),
              cudaSuccess);
    out.push_back(std::move(image));
  }
  return out;
}

void expect_within_bound(const Image8& gpu, const Image8& host, const std::string& name) {
  ASSERT_EQ(gpu.pixels.size(), host.pixels.size()) << name;
  int max_diff = 0;
  double sum = 0;
  for (size_t i = 0; i < gpu.pixels.size(); ++i) {
    const int d = std::abs(int{gpu.pixels[i]} - int{host.pixels[i]});
    max_diff = std::max(max_diff, d);
    sum += d;
  }
  const double mean = sum / static_cast<double>(gpu.pixels.size());
  EXPECT_LE(max_diff, kMaxLevels) << name << " (mean |difference| " << mean << ")";
  EXPECT_LE(mean, kMaxMeanLevels) << name << " (max |difference| " << max_diff << ")";
  std::printf("  %s: max |GPU - libjpeg| %d, mean %.4f grey levels\n", name.c_str(), max_diff, mean);
}

TEST(GpuJpeg, GreyAndFullColourFilesDecodeWithinTwoLevelsOfLibjpeg) {
  CHEXRT_SKIP_WITHOUT_NVJPEG();
  auto decoder = JpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  std::printf("  nvJPEG backend: %s\n", (*decoder)->backend());
  const std::vector<Jpeg> jpegs = device_jpegs();
  // Twice through one decoder: its states and buffers are reused by the second batch.
  for (int round = 0; round < 2; ++round) {
    std::vector<size_t> refused;
    const std::vector<Image8> gpu = decode_on_gpu(**decoder, jpegs, &refused);
    EXPECT_TRUE(refused.empty()) << refused.size() << " file(s) left to the host, the first " << jpegs[refused[0]].name;
    for (size_t k = 0; k < jpegs.size(); ++k) {
      if (std::find(refused.begin(), refused.end(), k) == refused.end()) {
        expect_within_bound(gpu[k], jpegs[k].host(), jpegs[k].name);
      }
    }
  }
  EXPECT_EQ((*decoder)->counts().hardware + (*decoder)->counts().hybrid, static_cast<int64_t>(2 * jpegs.size()));
}

TEST(GpuJpeg, WhatNvjpegWouldNotDecodeAsLibjpegIsLeftToTheHost) {
  CHEXRT_SKIP_WITHOUT_NVJPEG();
  auto decoder = JpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  std::vector<Jpeg> jpegs = host_jpegs();
  // One the GPU takes, amid them: it is still decoded.
  jpegs.insert(jpegs.begin() + 2, device_jpegs()[4]);
  std::vector<size_t> refused;
  const std::vector<Image8> gpu = decode_on_gpu(**decoder, jpegs, &refused);
  std::vector<size_t> want;
  for (size_t k = 0; k < jpegs.size(); ++k) {
    if (!jpegs[k].on_device) want.push_back(k);
  }
  EXPECT_EQ(refused, want);
  expect_within_bound(gpu[2], jpegs[2].host(), jpegs[2].name);

  // A view whose size is not its file's is left to the host too, which refuses it.
  Jpeg grey = device_jpegs()[4];
  ImageView wrong = grey.view();
  wrong.width += 1;
  std::vector<ImageView> views = {wrong};
  DeviceBuffer room;
  ASSERT_TRUE(room.allocate(static_cast<size_t>(wrong.width) * JpegDecoder::padded_rows(wrong), "room").ok());
  std::vector<uint8_t*> destinations = {room.as<uint8_t>()};
  Result<std::vector<size_t>> left = (*decoder)->enqueue(views, destinations, nullptr);
  ASSERT_TRUE(left.ok()) << left.status().to_string();
  EXPECT_EQ(*left, std::vector<size_t>{0});
  cudaDeviceSynchronize();
}

std::vector<float> samples_of(const std::vector<ImageView>& views, const PreprocessOptions& options,
                              JpegDecoder* decoder, Status* status) {
  gputest::GpuSamples gpu = gputest::preprocess_on_gpu(views, options, decoder);
  *status = gpu.status;
  return std::move(gpu.samples);
}

// Every file of the two kinds and a pixel view in one batch: the samples of the files the GPU
// decoded are within the bound above (after resizing, which averages, still at most 2 levels;
// 3 allows for the rounding after each pass), those of the host's equal to the last bit.
TEST(GpuJpeg, PreprocessedJpegViewsMatchTheirHostDecodedPixels) {
  CHEXRT_SKIP_WITHOUT_NVJPEG();
  auto decoder = JpegDecoder::create();
  ASSERT_TRUE(decoder.ok()) << decoder.status().to_string();
  std::vector<Jpeg> jpegs = device_jpegs();
  for (Jpeg& j : host_jpegs()) {
    if (j.name != "grey truncated") jpegs.push_back(std::move(j));
  }
  const Image8 pixels = test_image(90, 120, 3, 8);
  std::vector<ImageView> views, host_views;
  std::vector<Image8> host_pixels;
  for (const Jpeg& j : jpegs) host_pixels.push_back(j.host());
  for (size_t k = 0; k < jpegs.size(); ++k) {
    views.push_back(jpegs[k].view());
    host_views.push_back(view_of(host_pixels[k]));
  }
  views.push_back(view_of(pixels));
  host_views.push_back(view_of(pixels));
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kTenCrop}) {
    PreprocessOptions options;
    options.mode = mode;
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    Status gpu_status, host_status;
    const std::vector<float> gpu = samples_of(views, options, decoder->get(), &gpu_status);
    const std::vector<float> host = samples_of(host_views, options, nullptr, &host_status);
    ASSERT_TRUE(gpu_status.ok()) << gpu_status.to_string();
    ASSERT_TRUE(host_status.ok()) << host_status.to_string();
    const size_t per_image = gpu.size() / views.size();
    const size_t plane = static_cast<size_t>(options.crop_size) * options.crop_size;
    for (size_t k = 0; k < views.size(); ++k) {
      const bool exact = k >= jpegs.size() || !jpegs[k].on_device;
      double worst = 0;
      for (size_t i = k * per_image; i < (k + 1) * per_image; ++i) {
        const int channel = static_cast<int>((i / plane) % 3);
        const double levels = std::abs(gpu[i] - host[i]) * 255.0 * options.std[channel];
        worst = std::max(worst, levels);
      }
      const std::string name = k < jpegs.size() ? jpegs[k].name : "the pixel view";
      if (exact) {
        EXPECT_EQ(std::memcmp(gpu.data() + k * per_image, host.data() + k * per_image, per_image * sizeof(float)), 0)
            << name;
      } else {
        EXPECT_LE(worst, 3.0 + 1e-3) << name;
      }
    }
  }
}

// One batch interleaving JPEG views (ones the GPU decodes and ones it leaves to the host), filtered
// PNG rows (unfiltered on the GPU) and 8-bit pixels, against the same images all as host pixels:
// without a JpegDecoder every sample is equal to the last bit (the JPEGs decoded on the host);
// with one, those of the JPEGs the GPU decoded are within the bound above and the rest equal.
TEST(GpuJpeg, JpegViewsPngRowsAndPixelsMixInOneBatch) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const std::vector<Jpeg> device = device_jpegs(), host_only = host_jpegs();
  const std::vector<const Jpeg*> jpegs = {&device[0], &host_only[0], &device[5], &device[6]};
  const chexrt::testing::PngRowsCase grey =
      chexrt::testing::make_png_rows(301, 257, {8, 0}, 21, [](int y) { return y % 5; });
  const chexrt::testing::PngRowsCase rgba =
      chexrt::testing::make_png_rows(97, 131, {16, 6}, 22, [](int y) { return 4 - y % 5; });
  const Image8 grey8{grey.width, grey.height, 1, grey.expected};
  const Image8 rgba8{rgba.width, rgba.height, 3, rgba.expected};
  const Image8 pixels = test_image(90, 120, 3, 9);
  std::vector<Image8> decoded;
  for (const Jpeg* j : jpegs) decoded.push_back(j->host());
  // Position k of the batch: a JPEG (its index in `jpegs`) or -1.
  const std::vector<ImageView> views = {jpegs[0]->view(), grey.view(), jpegs[1]->view(), view_of(pixels),
                                        jpegs[2]->view(), rgba.view(), jpegs[3]->view()};
  const std::vector<ImageView> host_views = {view_of(decoded[0]), view_of(grey8), view_of(decoded[1]), view_of(pixels),
                                             view_of(decoded[2]), view_of(rgba8), view_of(decoded[3])};
  const std::vector<int> jpeg_at = {0, -1, 1, -1, 2, -1, 3};
  std::unique_ptr<JpegDecoder> decoder;
  if (JpegDecoder::available().ok()) {
    auto made = JpegDecoder::create();
    ASSERT_TRUE(made.ok()) << made.status().to_string();
    decoder = std::move(*made);
  } else {
    std::printf("  no nvJPEG (%s): the JPEGs go to the host\n", JpegDecoder::available().message().c_str());
  }
  for (JpegDecoder* with : {static_cast<JpegDecoder*>(nullptr), decoder.get()}) {
    for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kTenCrop}) {
      PreprocessOptions options;
      options.mode = mode;
      SCOPED_TRACE(std::string(with ? "nvJPEG" : "no JpegDecoder") + ", mode " +
                   std::to_string(static_cast<int>(mode)));
      Status gpu_status, host_status;
      const std::vector<float> gpu = samples_of(views, options, with, &gpu_status);
      const std::vector<float> host = samples_of(host_views, options, nullptr, &host_status);
      ASSERT_TRUE(gpu_status.ok()) << gpu_status.to_string();
      ASSERT_TRUE(host_status.ok()) << host_status.to_string();
      const size_t per_image = gpu.size() / views.size();
      const size_t plane = static_cast<size_t>(options.crop_size) * options.crop_size;
      for (size_t k = 0; k < views.size(); ++k) {
        const bool exact = with == nullptr || jpeg_at[k] < 0 || !jpegs[jpeg_at[k]]->on_device;
        const std::string name = jpeg_at[k] >= 0 ? jpegs[jpeg_at[k]]->name : "view " + std::to_string(k);
        if (exact) {
          EXPECT_EQ(std::memcmp(gpu.data() + k * per_image, host.data() + k * per_image, per_image * sizeof(float)), 0)
              << name;
          continue;
        }
        double worst = 0;
        for (size_t i = k * per_image; i < (k + 1) * per_image; ++i) {
          const int channel = static_cast<int>((i / plane) % 3);
          worst = std::max(worst, std::abs(gpu[i] - host[i]) * 255.0 * options.std[channel]);
        }
        EXPECT_LE(worst, 3.0 + 1e-3) << name;
      }
    }
    if (decoder == nullptr) break;
  }
}

// A small classifier on 32 x 32 crops: its findings from JPEG views decoded on the GPU are within
// 0.01 of those from the host's pixels (the samples differ by a few levels at most, and the
// classifier's head averages them); a truncated file fails the call naming it, and the engine
// runs the next call.
TEST(GpuJpeg, InferImagesOnJpegViewsAgreesWithHostPixels) {
  CHEXRT_SKIP_WITHOUT_NVJPEG();
  constexpr int64_t kMaxBatch = 8;
  NetworkDefinition net = gputest::small_image_classifier(kMaxBatch);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  auto engine = CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp32, kMaxBatch), {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  EXPECT_TRUE((*engine)->decodes_jpeg_on_device());

  const std::vector<Jpeg> jpegs = device_jpegs();
  std::vector<Image8> host_pixels;
  std::vector<ImageView> views, host_views;
  for (size_t k = 0; k < 5; ++k) host_pixels.push_back(jpegs[k].host());
  for (size_t k = 0; k < 5; ++k) {
    views.push_back(jpegs[k].view());
    host_views.push_back(view_of(host_pixels[k]));
  }
  PreprocessOptions options;
  options.resize_size = 40;
  options.crop_size = 32;
  std::vector<HostTensor> want, got;
  ASSERT_TRUE((*engine)->infer_images(host_views, options, &want).ok());
  Status s = (*engine)->infer_images(views, options, &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got[0].dims(), want[0].dims());
  const gputest::Diff d = gputest::compare(got[0], want[0]);
  EXPECT_TRUE(d.finite);
  EXPECT_LE(d.max_abs, 0.01) << "relative L2 " << d.rel_l2;
  std::printf("  findings from GPU-decoded JPEGs: max |difference| %.2e, relative L2 %.2e\n", d.max_abs, d.rel_l2);

  const Jpeg truncated = host_jpegs()[3];
  s = (*engine)->infer_images({views[0], truncated.view(), views[1]}, options, &got);
  EXPECT_EQ(s.code(), StatusCode::kParseError);
  EXPECT_NE(s.message().find("image 1: JPEG: "), std::string::npos) << s.message();
  s = (*engine)->infer_images(views, options, &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_LE(gputest::compare(got[0], want[0]).max_abs, 0.01);
}

}  // namespace
}  // namespace chexrt::cuda
