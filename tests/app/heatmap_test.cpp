#include "app/heatmap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>

#include "app/findings.h"
#include "chexrt/engine.h"
#include "core/png_encode.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::test_data;

Image gradient_xray(int width, int height) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = 1;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.pixels.push_back(static_cast<float>(x + y) / (width + height));
  }
  return image;
}

TEST(ClassActivationMap, IsTheClassWeightedSumOfFeatureMaps) {
  // F: 2 channels of 2 x 3; W: 3 classes x 2 channels. CAM_1 = 0.5 * F0 - 2 * F1.
  const HostTensor features = HostTensor::from_floats({1, 2, 3, 4, 5, 6, /**/ 0, 1, 0, 1, 0, 1}, {1, 2, 2, 3});
  const HostTensor weights = HostTensor::from_floats({9, 9, 0.5f, -2, 9, 9}, {3, 2});
  Result<ActivationMap> map = class_activation_map(features, weights, 1);
  ASSERT_TRUE(map.ok()) << map.status().to_string();
  EXPECT_EQ(map->width, 3);
  EXPECT_EQ(map->height, 2);
  EXPECT_EQ(map->values, (std::vector<float>{0.5f, -1.0f, 1.5f, 0.0f, 2.5f, 1.0f}));

  EXPECT_EQ(class_activation_map(features, weights, 3).status().code(), StatusCode::kInvalidArgument);
  const HostTensor wrong = HostTensor::from_floats({1, 2, 3}, {1, 3});
  EXPECT_EQ(class_activation_map(features, wrong, 0).status().code(), StatusCode::kInvalidArgument);
}

TEST(Heatmap, ColoursTheRegionAndLeavesTheRestGrey) {
  const Image xray = gradient_xray(64, 48);
  // Hot in the top-left cell, cold (the minimum) in the bottom-right one.
  ActivationMap map{2, 2, {4.0f, 1.0f, 1.0f, 0.0f}};
  const Region region{16, 8, 48, 40};
  Result<Image8> out = render_heatmap(xray, map, region, HeatmapOptions{});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->width, 64);
  ASSERT_EQ(out->height, 48);
  ASSERT_EQ(out->channels, 3);
  auto pixel = [&](int x, int y) { return &out->pixels[(static_cast<size_t>(y) * 64 + x) * 3]; };
  auto grey = [&](int x, int y) { return static_cast<int>(std::lround(xray.at(x, y, 0) * 255.0f)); };
  // Outside the region: the X-ray itself.
  for (auto [x, y] : {std::pair{2, 2}, std::pair{60, 45}, std::pair{15, 20}, std::pair{48, 20}}) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(pixel(x, y)[c], grey(x, y)) << x << "," << y;
  }
  // Where the map is at its minimum (beyond the last cell centre): no colour either.
  for (int c = 0; c < 3; ++c) EXPECT_EQ(pixel(46, 38)[c], grey(46, 38));
  // At the maximum: jet's dark red blended at max_alpha, so red well above blue.
  const uint8_t* hot = pixel(17, 9);
  EXPECT_GT(hot[0], hot[2] + 60);
  EXPECT_NE(hot[0], grey(17, 9));
}

TEST(Heatmap, WritesAValidPngAtomically) {
  TempDir dir;
  const Image xray = gradient_xray(40, 30);
  ActivationMap map{7, 7, std::vector<float>(49)};
  for (int i = 0; i < 49; ++i) map.values[i] = static_cast<float>((i % 7) * (i / 7));
  const Region whole{0, 0, 40, 30};
  const std::string path = dir.file("cam.png");
  ASSERT_TRUE(write_heatmap_png(path, xray, map, whole, HeatmapOptions{}).ok());

  Result<Image> png = read_image(path);
  ASSERT_TRUE(png.ok()) << png.status().to_string();
  EXPECT_EQ(png->format, ImageFormat::kPng);
  EXPECT_EQ(png->width, 40);
  EXPECT_EQ(png->height, 30);
  EXPECT_EQ(png->channels, 3);
  Result<Image8> rendered = render_heatmap(xray, map, whole, HeatmapOptions{});
  EXPECT_EQ(quantize_to_8bit(*png).pixels, rendered->pixels);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) files += entry.exists() ? 1 : 0;
  EXPECT_EQ(files, 1) << "temporary file left behind";

  Status bad = write_heatmap_png(dir.file("no/such/dir/cam.png"), xray, map, whole, HeatmapOptions{});
  EXPECT_EQ(bad.code(), StatusCode::kIoError);
  EXPECT_NE(bad.message().find("no/such/dir/cam.png"), std::string::npos) << bad.message();
}

// --heatmap-format jpeg: the sample's map written as <stem>.<finding>.jpg, a JPEG of the rendered
// heat map within JPEG's loss at quality 90.
TEST(Heatmap, WritesTheSampleAsJpegOnRequest) {
  TempDir dir;
  const Image xray = gradient_xray(64, 48);
  const Image8 xray8 = quantize_to_8bit(xray);
  HostTensor features(DataType::kFloat32, {2, 3, 7, 7});
  for (int64_t i = 0; i < features.numel(); ++i) features.data<float>()[i] = static_cast<float>((i * 7) % 11);
  HostTensor weights(DataType::kFloat32, {int64_t{kNumFindings}, 3});
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = 0.1f * static_cast<float>(i % 5);
  const Region whole{0, 0, 64, 48};
  std::string written;
  Result<Image8> drawn = draw_sample_heatmap(nullptr, features, 1, weights, 2, xray8, whole);
  ASSERT_TRUE(drawn.ok()) << drawn.status().to_string();
  Status s = write_heatmap_file(*drawn, 2, dir.path(), "/x/ray/case7.png", &written, ImageFormat::kJpeg);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(written, dir.file("case7." + std::string(kFindingNames[2]) + ".jpg"));
  Result<Image8> jpeg = decode_image8(read_bytes(written).data(), read_bytes(written).size(), written);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().to_string();
  ASSERT_EQ(jpeg->width, 64);
  ASSERT_EQ(jpeg->height, 48);
  ASSERT_EQ(jpeg->channels, 3);

  HostTensor one(DataType::kFloat32, {3, 7, 7});
  std::memcpy(one.raw(), features.data<float>() + one.numel(), one.nbytes());
  const ActivationMap map = class_activation_map(one, weights, 2).value();
  const Image8 rendered = render_heatmap(xray8, map, whole, HeatmapOptions{}).value();
  double diff = 0;
  for (size_t i = 0; i < rendered.pixels.size(); ++i) diff += std::abs(rendered.pixels[i] - jpeg->pixels[i]);
  EXPECT_LT(diff / rendered.pixels.size(), 6.0) << "mean absolute difference per sample";
}

// An engine with nothing but Engine's defaults for heat maps: Engine::draw_heatmaps on the host,
// which GPU engines must match byte for byte (tests/gpu/heatmap_test.cpp).
class HostHeatmapEngine : public Engine {
 public:
  std::string backend_name() const override { return "host"; }
  const std::vector<TensorInfo>& inputs() const override { return none_; }
  const std::vector<TensorInfo>& outputs() const override { return none_; }
  int64_t max_batch() const override { return 1; }
  Status infer(const std::vector<HostTensor>&, std::vector<HostTensor>*) override { return unsupported("no network"); }
  std::string describe_layers() const override { return ""; }

 private:
  std::vector<TensorInfo> none_;
};

TEST(Heatmap, EngineDrawsWhatRenderSampleHeatmapDraws) {
  HostTensor features(DataType::kFloat32, {2, 16, 7, 7});
  for (int64_t i = 0; i < features.numel(); ++i) features.data<float>()[i] = static_cast<float>((i * 13) % 17) / 4;
  HostTensor weights(DataType::kFloat32, {int64_t{kNumFindings}, 16});
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = static_cast<float>((i * 5) % 9) - 4;
  std::vector<HeatmapBase> bases;
  for (const char* file : {"cxr/nih/00000284_000.png", "cxr/formats/00014995_000_rgba.png"}) {
    const std::vector<uint8_t> bytes = read_bytes(test_data(file));
    const Image8 xray = decode_image8(bytes.data(), bytes.size(), file).value();
    PreprocessOptions tencrop;
    tencrop.mode = ResizeMode::kTenCrop;
    bases.push_back(heatmap_base(xray, PreprocessOptions{}, 1024));
    bases.push_back(heatmap_base(xray, tencrop, 300));
  }
  std::vector<Image8> outs;
  std::vector<HeatmapRequest> requests;
  for (size_t k = 0; k < bases.size(); ++k) {
    const Image8& image = bases[k].image;
    outs.push_back({image.width, image.height, 3, std::vector<uint8_t>(image.pixels.size() / image.channels * 3)});
    HeatmapRequest r;
    r.image = view_of(image);
    r.x0 = bases[k].crop_region.x0, r.y0 = bases[k].crop_region.y0;
    r.x1 = bases[k].crop_region.x1, r.y1 = bases[k].crop_region.y1;
    r.sample = static_cast<int64_t>(k % 2);
    r.class_index = static_cast<int>(3 * k);
    r.out = outs.back().pixels.data();
    requests.push_back(r);
  }
  HostHeatmapEngine engine;
  EXPECT_FALSE(engine.draws_heatmaps_on_device());
  ASSERT_TRUE(engine.draw_heatmaps(features, weights, requests).ok());
  for (size_t k = 0; k < bases.size(); ++k) {
    Result<Image8> expected = render_sample_heatmap(features, requests[k].sample, weights, requests[k].class_index,
                                                    bases[k].image, bases[k].crop_region);
    ASSERT_TRUE(expected.ok()) << expected.status().to_string();
    EXPECT_TRUE(outs[k].pixels == expected->pixels) << "request " << k;
  }

  // Each bad request is refused, naming it, before anything is drawn.
  std::vector<HeatmapRequest> bad = requests;
  bad[1].sample = 2;
  Status s = engine.draw_heatmaps(features, weights, bad);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("heat map 1: sample 2"), std::string::npos) << s.message();
  bad = requests;
  bad[0].class_index = kNumFindings;
  EXPECT_EQ(engine.draw_heatmaps(features, weights, bad).code(), StatusCode::kInvalidArgument);
  bad = requests;
  bad[0].y1 = bad[0].y0;
  EXPECT_EQ(engine.draw_heatmaps(features, weights, bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.draw_heatmaps(features, weights, requests, 1.5f).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(engine.draw_heatmaps(weights, weights, requests).code(), StatusCode::kInvalidArgument);
  // One output per request: pixels or a PNG, not both or neither.
  std::vector<uint8_t> png;
  bad = requests;
  bad[0].png = &png;
  EXPECT_EQ(engine.draw_heatmaps(features, weights, bad).code(), StatusCode::kInvalidArgument);
  bad[0].out = nullptr, bad[0].png = nullptr;
  EXPECT_EQ(engine.draw_heatmaps(features, weights, bad).code(), StatusCode::kInvalidArgument);
}

// Asked for PNGs, the engine's default draws on the host and encodes with core/png_encode.h's
// encoder (whose bytes GPU engines match); sample_heatmap_png() gives them, or without an engine
// the igzip file of the same pixels.
TEST(Heatmap, EngineEncodesPngsWithTheSegmentedEncoder) {
  HostTensor features(DataType::kFloat32, {2, 16, 7, 7});
  for (int64_t i = 0; i < features.numel(); ++i) features.data<float>()[i] = static_cast<float>((i * 7) % 13) / 3;
  HostTensor weights(DataType::kFloat32, {int64_t{kNumFindings}, 16});
  for (int64_t i = 0; i < weights.numel(); ++i) weights.data<float>()[i] = static_cast<float>((i * 3) % 11) - 5;
  const char* file = "cxr/formats/00012082_000_512.png";
  const std::vector<uint8_t> bytes = read_bytes(test_data(file));
  const HeatmapBase base = heatmap_base(decode_image8(bytes.data(), bytes.size(), file).value(), {}, 1024);
  HostHeatmapEngine engine;
  for (int k : {0, 1}) {
    Result<std::vector<uint8_t>> from_engine =
        sample_heatmap_png(&engine, features, k, weights, 5 + k, base.image, base.crop_region);
    Result<std::vector<uint8_t>> on_host =
        sample_heatmap_png(nullptr, features, k, weights, 5 + k, base.image, base.crop_region);
    ASSERT_TRUE(from_engine.ok()) << from_engine.status().to_string();
    ASSERT_TRUE(on_host.ok()) << on_host.status().to_string();
    const Image8 rgb = render_sample_heatmap(features, k, weights, 5 + k, base.image, base.crop_region).value();
    EXPECT_TRUE(*from_engine == png_encode::encode_png(rgb.pixels.data(), rgb.width, rgb.height, 3).value());
    for (const std::vector<uint8_t>* png : {&*from_engine, &*on_host}) {
      const Image8 decoded = decode_image8(png->data(), png->size(), "heat map").value();
      EXPECT_EQ(decoded.channels, 3);
      EXPECT_TRUE(decoded.pixels == rgb.pixels);
    }
  }
}

TEST(EncodeJpeg, RoundTripsGreyAndRgbAndRefusesBadInput) {
  for (int channels : {1, 3}) {
    std::vector<uint8_t> pixels(static_cast<size_t>(40) * 24 * channels);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i / channels) % 40 * 6);
    Result<std::vector<uint8_t>> jpeg = encode_jpeg(pixels.data(), 40, 24, channels, 95);
    ASSERT_TRUE(jpeg.ok()) << jpeg.status().to_string();
    EXPECT_EQ(detect_image_format(jpeg->data(), jpeg->size()), ImageFormat::kJpeg);
    Result<Image8> back = decode_image8(jpeg->data(), jpeg->size(), "round trip");
    ASSERT_TRUE(back.ok()) << back.status().to_string();
    EXPECT_EQ(back->channels, channels);
    double diff = 0;
    for (size_t i = 0; i < pixels.size(); ++i) diff += std::abs(pixels[i] - back->pixels[i]);
    EXPECT_LT(diff / pixels.size(), 3.0);
  }
  const uint8_t pixel = 0;
  EXPECT_EQ(encode_jpeg(&pixel, 1, 1, 2).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_jpeg(&pixel, 1, 1, 1, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(encode_jpeg(nullptr, 1, 1, 1).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt::app
