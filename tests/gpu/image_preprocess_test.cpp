// Preprocessing on the GPU (kernels/image_preprocess.cu through ImagePreprocessor) against the
// host path (core/image_preprocess.h), which the agreement tests pin to torchvision + PIL: the
// samples must be equal bit for bit, for every mode and for images that are grey or RGB,
// downscaled, upscaled or already at size, mixed in one batch. Then Engine::infer_images on a
// CUDA engine against infer() on the host-preprocessed tensor.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "backends/cuda/cuda_engine.h"
#include "backends/cuda/image_input.h"
#include "chexrt/builder.h"
#include "core/image_preprocess.h"
#include "gpu_preprocess_util.h"
#include "gpu_test_util.h"

namespace chexrt::cuda {
namespace {

// Smooth structure plus noise, so that every filter tap matters and rounding is exercised.
Image8 test_image(int width, int height, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> noise(-40, 40);
  Image8 image{width, height, channels, std::vector<uint8_t>(static_cast<size_t>(width) * height * channels)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        const int base = (x * 255 / width + y * 511 / height + 60 * c) % 256;
        image.pixels[(static_cast<size_t>(y) * width + x) * channels + c] =
            static_cast<uint8_t>(std::clamp(base + noise(rng), 0, 255));
      }
    }
  }
  return image;
}

std::vector<Image8> mixed_images() {
  return {test_image(1024, 1024, 1, 1),  // an NIH X-ray's size
          test_image(517, 300, 3, 2),    // RGB, landscape, odd sizes
          test_image(80, 100, 1, 3),     // upscaled
          test_image(256, 256, 1, 4),    // already at the resize size (the horizontal pass copies)
          test_image(256, 700, 3, 5),    // portrait: the width stays, the height shrinks
          test_image(2000, 2500, 1, 6)};
}

std::vector<float> host_samples(const std::vector<Image8>& images, const PreprocessOptions& options) {
  const size_t per_image = static_cast<size_t>(samples_per_image(options)) * 3 * options.crop_size * options.crop_size;
  std::vector<float> out(per_image * images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    const Status s = preprocessing::preprocess_image(view_of(images[i]), options, out.data() + i * per_image);
    EXPECT_TRUE(s.ok()) << s.to_string();
  }
  return out;
}

// Twice through the same preprocessor: its buffers are reused by the second call.
std::vector<float> gpu_samples(const std::vector<Image8>& images, const PreprocessOptions& options) {
  std::vector<ImageView> views;
  for (const Image8& image : images) views.push_back(view_of(image));
  const gputest::GpuSamples gpu = gputest::preprocess_on_gpu(views, options, nullptr, 2);
  EXPECT_TRUE(gpu.status.ok()) << gpu.status.to_string();
  return gpu.samples;
}

void expect_equal_samples(const std::vector<float>& gpu, const std::vector<float>& host) {
  ASSERT_EQ(gpu.size(), host.size());
  size_t mismatches = 0, first = 0;
  for (size_t i = 0; i < gpu.size(); ++i) {
    if (std::memcmp(&gpu[i], &host[i], sizeof(float)) != 0 && mismatches++ == 0) first = i;
  }
  EXPECT_EQ(mismatches, 0u) << "first at element " << first << ": GPU " << gpu[first] << ", host " << host[first];
}

TEST(GpuPreprocess, EqualsTheHostPathBitForBit) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const std::vector<Image8> images = mixed_images();
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kResizeExact, ResizeMode::kTenCrop}) {
    for (int resize : {256, 224}) {
      PreprocessOptions options;
      options.mode = mode;
      options.resize_size = resize;
      SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)) + ", resize " + std::to_string(resize));
      expect_equal_samples(gpu_samples(images, options), host_samples(images, options));
    }
  }
}

TEST(GpuPreprocess, OtherStatisticsAndCropSizes) {
  CHEXRT_SKIP_WITHOUT_GPU();
  const std::vector<Image8> images = {test_image(640, 480, 3, 7), test_image(333, 1000, 1, 8)};
  PreprocessOptions options;
  options.resize_size = 320;
  options.crop_size = 299;
  options.mean = {0.5f, 0.5f, 0.5f};
  options.std = {0.25f, 0.5f, 1.0f};
  expect_equal_samples(gpu_samples(images, options), host_samples(images, options));
}

// A small classifier on 32 x 32 crops: infer_images (GPU preprocessing) gives what infer gives
// on the host's preprocessed tensor, for each mode.
TEST(GpuPreprocess, InferImagesEqualsInferOnHostPreprocessing) {
  CHEXRT_SKIP_WITHOUT_GPU();
  constexpr int64_t kMaxBatch = 20;
  NetworkDefinition net = gputest::small_image_classifier(kMaxBatch);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  auto engine = CudaEngine::build(net.graph(), gputest::cuda_options(Precision::kFp32, kMaxBatch), {});
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  ASSERT_TRUE((*engine)->preprocesses_on_device());

  const std::vector<Image8> images = {test_image(1024, 1024, 1, 9), test_image(120, 90, 3, 10)};
  std::vector<ImageView> views;
  for (const Image8& image : images) views.push_back(view_of(image));
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kResizeExact, ResizeMode::kTenCrop}) {
    PreprocessOptions options;
    options.mode = mode;
    options.resize_size = 40;
    options.crop_size = 32;
    SCOPED_TRACE("mode " + std::to_string(static_cast<int>(mode)));
    const std::vector<float> samples = host_samples(images, options);
    HostTensor input(DataType::kFloat32, {static_cast<int64_t>(samples.size() / (3 * 32 * 32)), 3, 32, 32});
    std::memcpy(input.raw(), samples.data(), input.nbytes());
    std::vector<HostTensor> expected, got;
    ASSERT_TRUE((*engine)->infer({input}, &expected).ok());
    const Status s = (*engine)->infer_images(views, options, &got);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(got[0].dims(), expected[0].dims());
    const gputest::Diff d = gputest::compare(got[0], expected[0]);
    EXPECT_TRUE(d.finite);
    EXPECT_LT(d.rel_l2, 1e-6) << "max |diff| " << d.max_abs;
  }
  // Too many samples for the engine, and a crop that is not the network's input: refused.
  PreprocessOptions tencrop;
  tencrop.mode = ResizeMode::kTenCrop;
  tencrop.resize_size = 40;
  tencrop.crop_size = 32;
  std::vector<HostTensor> out;
  EXPECT_EQ((*engine)->infer_images({views[0], views[0], views[1]}, tencrop, &out).code(),
            StatusCode::kInvalidArgument);
  PreprocessOptions wrong_crop;
  EXPECT_EQ((*engine)->infer_images(views, wrong_crop, &out).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt::cuda
