#include "app/preprocess.h"

#include <gtest/gtest.h>

#include <cstring>

#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::test_data;

Image grey_image(int width, int height, const std::vector<uint8_t>& values) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = 1;
  image.source_bit_depth = 8;
  for (uint8_t v : values) image.pixels.push_back(v / 255.0f);
  return image;
}

TEST(Preprocess, ResizedSizeFollowsTorchvision) {
  // Shorter side -> size, longer side -> int(size * long / short).
  EXPECT_EQ(resized_size(2000, 1800, 256), (std::array<int, 2>{284, 256}));  // 284.44
  EXPECT_EQ(resized_size(1800, 2000, 256), (std::array<int, 2>{256, 284}));
  EXPECT_EQ(resized_size(1024, 1024, 224), (std::array<int, 2>{224, 224}));
  EXPECT_EQ(resized_size(500, 1001, 224), (std::array<int, 2>{224, 448}));  // 448.448
}

TEST(Preprocess, DownscaleByTwoUsesTheStretchedTriangle) {
  // Halving stretches the triangle to 2 input pixels each side: taps at offsets -1.5, -0.5,
  // 0.5, 1.5 weigh 1/4, 3/4, 3/4, 1/4, normalized to 1/8, 3/8, 3/8, 1/8 (truncated at the
  // edges and renormalized there: 3/7, 3/7, 1/7).
  Image8 row{8, 1, 1, {0, 0, 0, 80, 80, 80, 80, 0}};
  Image8 half = resize_like_pil(row, 4, 1);
  ASSERT_EQ(half.pixels.size(), 4u);
  // out0: (3*0 + 3*0 + 1*0)/7 = 0; out1: (0 + 3*0 + 3*80 + 80)/8 = 40; out2: (80 + 240 + 240 + 80)/8 = 80;
  // out3: (1*80 + 3*80 + 3*0)/7 = 45.71 -> 46.
  EXPECT_EQ(half.pixels, (std::vector<uint8_t>{0, 40, 80, 46}));
}

TEST(Preprocess, ResizeKeepsFlatImagesFlat) {
  Image8 flat{37, 23, 3, std::vector<uint8_t>(37 * 23 * 3, 173)};
  for (auto [w, h] : {std::pair{10, 7}, std::pair{37, 9}, std::pair{80, 50}, std::pair{5, 23}}) {
    Image8 out = resize_like_pil(flat, w, h);
    ASSERT_EQ(out.pixels.size(), static_cast<size_t>(w * h * 3));
    for (uint8_t v : out.pixels) ASSERT_EQ(v, 173) << w << "x" << h;
  }
}

TEST(Preprocess, SixteenBitAndEightBitCopiesGiveIdenticalTensors) {
  Result<Image> eight = read_image(test_data("cxr/nih/00017921_000.png"));
  Result<Image> sixteen = read_image(test_data("cxr/formats/00017921_000_16bit.png"));
  ASSERT_TRUE(eight.ok()) << eight.status().to_string();
  ASSERT_TRUE(sixteen.ok()) << sixteen.status().to_string();
  for (ResizeMode mode : {ResizeMode::kResizeCenterCrop, ResizeMode::kResizeExact, ResizeMode::kTenCrop}) {
    PreprocessOptions options;
    options.mode = mode;
    Result<HostTensor> a = preprocess(*eight, options);
    Result<HostTensor> b = preprocess(*sixteen, options);
    ASSERT_TRUE(a.ok() && b.ok());
    ASSERT_EQ(a->dims(), b->dims());
    EXPECT_EQ(std::memcmp(a->raw(), b->raw(), a->nbytes()), 0) << static_cast<int>(mode);
  }
}

TEST(Preprocess, TenCropMirrorsMatchTheirCounterparts) {
  // An asymmetric 300 x 260 image; resize 256 gives 295 x 256 (odd margin 71 for the centre).
  std::vector<uint8_t> values(300 * 260);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>((i * 7 + i / 300 * 3) % 256);
  PreprocessOptions options;
  options.mode = ResizeMode::kTenCrop;
  Result<HostTensor> t = preprocess(grey_image(300, 260, values), options);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  ASSERT_EQ(t->dims(), (Dims{10, 3, 224, 224}));
  const int crop = 224;
  auto at = [&](int sample, int c, int y, int x) {
    return t->data<float>()[((static_cast<size_t>(sample) * 3 + c) * crop + y) * crop + x];
  };
  // The mirrored image's top-left crop is the original top-right crop mirrored, and so on.
  const int pairs[4][2] = {{5, 1}, {6, 0}, {7, 3}, {8, 2}};
  for (const auto& pair : pairs) {
    for (int y = 0; y < crop; y += 17) {
      for (int x = 0; x < crop; ++x) ASSERT_EQ(at(pair[0], 1, y, x), at(pair[1], 1, y, crop - 1 - x));
    }
  }
  // Grey replicated to three channels: equal 8-bit levels, channel-specific normalization.
  const float level = (at(4, 0, 10, 10) * 0.229f + 0.485f) * 255.0f;
  EXPECT_NEAR((at(4, 2, 10, 10) * 0.225f + 0.406f) * 255.0f, level, 1e-3);
}

TEST(Preprocess, CropRegionMapsTheCropBackToTheSource) {
  PreprocessOptions options;  // Resize(256) + CenterCrop(224)
  // 1024 -> 256 is a factor 4; the crop starts 16 in: source [64, 960).
  Region square = crop_region(1024, 1024, options);
  EXPECT_DOUBLE_EQ(square.x0, 64.0);
  EXPECT_DOUBLE_EQ(square.x1, 960.0);
  EXPECT_DOUBLE_EQ(square.y0, 64.0);
  // 2000 x 1800 -> 284 x 256, crop at (30, 16); scales 2000/284 and 1800/256 = 7.03125.
  Region wide = crop_region(2000, 1800, options);
  EXPECT_DOUBLE_EQ(wide.x0, 30 * 2000.0 / 284);
  EXPECT_DOUBLE_EQ(wide.y0, 16 * 7.03125);
  EXPECT_DOUBLE_EQ(wide.y1, 240 * 7.03125);
  options.mode = ResizeMode::kResizeExact;
  Region exact = crop_region(2000, 1800, options);
  EXPECT_DOUBLE_EQ(exact.x1, 2000.0);
  EXPECT_DOUBLE_EQ(exact.y1, 1800.0);
}

TEST(Preprocess, RejectsBadOptionsAndBatches) {
  PreprocessOptions options;
  options.resize_size = 200;
  EXPECT_EQ(validate(options).code(), StatusCode::kInvalidArgument);
  options = PreprocessOptions{};
  options.std[1] = 0.0f;
  EXPECT_EQ(validate(options).code(), StatusCode::kInvalidArgument);

  const Image image = grey_image(4, 4, std::vector<uint8_t>(16, 9));
  options = PreprocessOptions{};
  options.mode = ResizeMode::kTenCrop;
  HostTensor small(DataType::kFloat32, {9, 3, 224, 224});
  Status status = preprocess_into(image, options, &small, 0);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("outside the batch"), std::string::npos) << status.message();
  HostTensor wrong_shape(DataType::kFloat32, {10, 3, 256, 256});
  EXPECT_EQ(preprocess_into(image, options, &wrong_shape, 0).code(), StatusCode::kInvalidArgument);
}

TEST(Preprocess, SizesHaveLimitsWithClearErrors) {
  PreprocessOptions options;
  options.resize_size = 100000;
  Status s = validate(options);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("100000"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(std::to_string(kMaxPreprocessSize)), std::string::npos) << s.message();
  options.resize_size = kMaxPreprocessSize;
  EXPECT_TRUE(validate(options).ok());

  // A strip 1 pixel high would become 256 x 2,097,152 pixels: refused before it is resized.
  Image strip;
  strip.width = 8192;
  strip.height = 1;
  strip.channels = 1;
  strip.pixels.assign(8192, 0.5f);
  PreprocessOptions crop;
  crop.resize_size = 256;
  Result<HostTensor> t = preprocess(strip, crop);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(t.status().message().find("8192 x 1"), std::string::npos) << t.status().message();
}

TEST(Preprocess, ScaleDownAveragesAndKeepsSmallImages) {
  // The same 2x2 blocks as grey levels: averages 127.5 (rounded up) and 125.
  const Image8 image{4, 2, 1, {0, 255, 50, 100, 255, 0, 150, 200}};
  EXPECT_EQ(scale_down(image, 4).pixels, image.pixels);
  const Image8 half = scale_down(image, 2);
  ASSERT_EQ(half.width, 2);
  ASSERT_EQ(half.height, 1);
  EXPECT_EQ(half.pixels[0], 128);
  EXPECT_EQ(half.pixels[1], 125);
}

}  // namespace
}  // namespace chexrt::app
