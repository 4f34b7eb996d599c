// Engine::infer_images on the host (the default for engines off the GPU): the images are
// preprocessed by core/image_preprocess.h and run through infer(), JPEG views decoded first by
// core/jpeg_decode.h, and bad calls are refused with what is wrong.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "app/image_io.h"
#include "chexrt/builder.h"
#include "core/image_preprocess.h"
#include "png_rows_maker.h"

namespace chexrt {
namespace {

constexpr int64_t kMaxBatch = 4;
constexpr int kCrop = 16;

std::unique_ptr<Engine> small_engine() {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.f, 0.3f);
  HostTensor weights(DataType::kFloat32, {4, 3, 3, 3});
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = normal(rng);
  NetworkDefinition net;
  Tensor x = net.add_input("image", DataType::kFloat32, {kMaxBatch, 3, kCrop, kCrop});
  net.mark_output(net.add_convolution("conv", x, weights, {}, {{3, 3}, {1, 1}, {}, {1, 1, 1, 1}}), "y");
  BuildOptions options;
  options.device = Device::kReference;
  options.max_batch = kMaxBatch;
  auto engine = build_engine(std::move(net), options);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  return engine.ok() ? std::move(*engine) : nullptr;
}

Image8 gradient(int width, int height, int channels) {
  Image8 image{width, height, channels, std::vector<uint8_t>(static_cast<size_t>(width) * height * channels)};
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>((i * 37) % 251);
  return image;
}

TEST(InferImages, EqualsInferOnPreprocessedSamples) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  EXPECT_FALSE(engine->preprocesses_on_device());
  const Image8 a = gradient(64, 48, 1), b = gradient(30, 50, 3);
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  HostTensor input(DataType::kFloat32, {2, 3, kCrop, kCrop});
  const size_t sample = 3 * kCrop * kCrop;
  ASSERT_TRUE(preprocessing::preprocess_image(view_of(a), options, input.data<float>()).ok());
  ASSERT_TRUE(preprocessing::preprocess_image(view_of(b), options, input.data<float>() + sample).ok());
  std::vector<HostTensor> expected, got;
  ASSERT_TRUE(engine->infer({input}, &expected).ok());
  const Status s = engine->infer_images({view_of(a), view_of(b)}, options, &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got.size(), 1u);
  ASSERT_EQ(got[0].dims(), expected[0].dims());
  EXPECT_EQ(std::memcmp(got[0].raw(), expected[0].raw(), got[0].nbytes()), 0);
}

TEST(InferImages, RefusesWhatTheEngineCannotTake) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  const Image8 a = gradient(64, 48, 1);
  std::vector<HostTensor> out;
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;

  PreprocessOptions tencrop = options;
  tencrop.mode = ResizeMode::kTenCrop;  // 10 samples > max batch 4
  Status s = engine->infer_images({view_of(a)}, tencrop, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("takes 1 to 4 samples"), std::string::npos) << s.message();

  PreprocessOptions wrong_crop;  // 224 is not the network's 16
  s = engine->infer_images({view_of(a)}, wrong_crop, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("[N, 3, 224, 224]"), std::string::npos) << s.message();

  ImageView broken = view_of(a);
  broken.pixels = nullptr;
  s = engine->infer_images({view_of(a), broken}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("image 1"), std::string::npos) << s.message();

  EXPECT_EQ(engine->infer_images({}, options, &out).code(), StatusCode::kInvalidArgument);
}

// A JPEG view gives what its decoded pixels give, bit for bit, beside pixel views in one call.
TEST(InferImages, JpegViewsEqualTheirDecodedPixels) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  EXPECT_FALSE(engine->decodes_jpeg_on_device());
  const Image8 a = gradient(64, 48, 1), b = gradient(30, 50, 3), c = gradient(41, 23, 1);
  const std::vector<uint8_t> ja = app::encode_jpeg(a.pixels.data(), a.width, a.height, 1, 95).value();
  const std::vector<uint8_t> jb = app::encode_jpeg(b.pixels.data(), b.width, b.height, 3, 95).value();
  const Image8 da = app::decode_image8(ja.data(), ja.size(), "a.jpg").value();
  const Image8 db = app::decode_image8(jb.data(), jb.size(), "b.jpg").value();
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  std::vector<HostTensor> expected, got;
  ASSERT_TRUE(engine->infer_images({view_of(da), view_of(c), view_of(db)}, options, &expected).ok());
  const Status s = engine->infer_images(
      {jpeg_view(ja.data(), ja.size(), 64, 48, 1), view_of(c), jpeg_view(jb.data(), jb.size(), 30, 50, 3)}, options,
      &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got[0].dims(), expected[0].dims());
  EXPECT_EQ(std::memcmp(got[0].raw(), expected[0].raw(), got[0].nbytes()), 0);
}

// A JPEG that does not decode, or whose header is not the view's size, fails the call naming the
// image; so does a view with no bytes.
TEST(InferImages, BadJpegViewsAreRefusedNamingTheImage) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  const Image8 a = gradient(64, 48, 1);
  const std::vector<uint8_t> ja = app::encode_jpeg(a.pixels.data(), a.width, a.height, 1, 95).value();
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  std::vector<HostTensor> out;
  const ImageView good = jpeg_view(ja.data(), ja.size(), 64, 48, 1);

  const std::vector<uint8_t> truncated(ja.begin(), ja.begin() + static_cast<std::ptrdiff_t>(ja.size() / 2));
  Status s = engine->infer_images({good, jpeg_view(truncated.data(), truncated.size(), 64, 48, 1)}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kParseError);
  EXPECT_NE(s.message().find("image 1: JPEG: "), std::string::npos) << s.message();

  s = engine->infer_images({jpeg_view(ja.data(), ja.size(), 64, 48, 3)}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("image 0: JPEG: decodes to 64 x 48 x 1, the view says 64 x 48 x 3"), std::string::npos)
      << s.message();

  s = engine->infer_images({good, jpeg_view(ja.data(), 0, 64, 48, 1)}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("image 1 is malformed"), std::string::npos) << s.message();
  s = engine->infer_images({jpeg_view(nullptr, ja.size(), 64, 48, 1)}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("a JPEG view with no bytes"), std::string::npos) << s.message();
}

// Filtered PNG rows (PixelEncoding::kPngFiltered) are taken by every engine: the default unfilters
// them on the host, and the outputs are those of the same images as 8-bit pixels, bit for bit.
TEST(InferImages, PngRowsGiveWhatTheirPixelsGive) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  EXPECT_FALSE(engine->unfilters_png_on_device());
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  uint32_t seed = 7;
  for (const PngRowFormat& format : testing::all_png_row_formats()) {
    SCOPED_TRACE("depth " + std::to_string(format.bit_depth) + ", colour type " + std::to_string(format.color_type));
    const testing::PngRowsCase a = testing::make_png_rows(45, 31, format, seed++, [](int y) { return y % 5; });
    const testing::PngRowsCase b = testing::make_png_rows(17, 40, format, seed++, [](int y) { return 4 - y % 5; });
    const Image8 a8{a.width, a.height, a.view().channels, a.expected};
    const Image8 b8{b.width, b.height, b.view().channels, b.expected};
    std::vector<HostTensor> from_pixels, from_rows, mixed;
    ASSERT_TRUE(engine->infer_images({view_of(a8), view_of(b8)}, options, &from_pixels).ok());
    Status s = engine->infer_images({a.view(), b.view()}, options, &from_rows);
    ASSERT_TRUE(s.ok()) << s.to_string();
    s = engine->infer_images({view_of(a8), b.view()}, options, &mixed);
    ASSERT_TRUE(s.ok()) << s.to_string();
    ASSERT_EQ(from_rows[0].dims(), from_pixels[0].dims());
    EXPECT_EQ(std::memcmp(from_rows[0].raw(), from_pixels[0].raw(), from_pixels[0].nbytes()), 0);
    EXPECT_EQ(std::memcmp(mixed[0].raw(), from_pixels[0].raw(), from_pixels[0].nbytes()), 0);
  }
}

TEST(InferImages, PngRowsWithAnUnknownFilterAreRefusedNamingTheImage) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  const testing::PngRowsCase good = testing::make_png_rows(20, 20, {8, 0}, 1, [](int y) { return y % 5; });
  testing::PngRowsCase bad = testing::make_png_rows(20, 20, {16, 6}, 2, [](int y) { return y % 5; });
  bad.rows[11 * (1 + 20 * 8)] = 5;
  std::vector<HostTensor> out;
  const Status s = engine->infer_images({good.view(), bad.view()}, options, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "infer_images: image 1: PNG: unknown filter type 5 in row 11");
  ImageView palette = good.view();
  palette.png.color_type = 3;
  EXPECT_EQ(engine->infer_images({palette}, options, &out).code(), StatusCode::kInvalidArgument);
}

// One call may mix the three forms: pixels, filtered PNG rows and a JPEG file, each giving what
// its 8-bit pixels give.
TEST(InferImages, PixelsPngRowsAndJpegsMixInOneCall) {
  auto engine = small_engine();
  ASSERT_NE(engine, nullptr);
  PreprocessOptions options;
  options.resize_size = 20;
  options.crop_size = kCrop;
  const Image8 c = gradient(41, 23, 3);
  const testing::PngRowsCase rows = testing::make_png_rows(33, 27, {16, 2}, 3, [](int y) { return y % 5; });
  const Image8 rows8{rows.width, rows.height, rows.view().channels, rows.expected};
  const Image8 a = gradient(64, 48, 1);
  const std::vector<uint8_t> ja = app::encode_jpeg(a.pixels.data(), a.width, a.height, 1, 95).value();
  const Image8 da = app::decode_image8(ja.data(), ja.size(), "a.jpg").value();
  std::vector<HostTensor> expected, got;
  ASSERT_TRUE(engine->infer_images({view_of(da), view_of(rows8), view_of(c)}, options, &expected).ok());
  const ImageView jpeg = jpeg_view(ja.data(), ja.size(), 64, 48, 1);
  EXPECT_EQ(jpeg.encoding, PixelEncoding::kJpeg);
  EXPECT_EQ(image_bytes(jpeg), ja.size());
  const Status s = engine->infer_images({jpeg, rows.view(), view_of(c)}, options, &got);
  ASSERT_TRUE(s.ok()) << s.to_string();
  ASSERT_EQ(got[0].dims(), expected[0].dims());
  EXPECT_EQ(std::memcmp(got[0].raw(), expected[0].raw(), got[0].nbytes()), 0);
}

}  // namespace
}  // namespace chexrt
