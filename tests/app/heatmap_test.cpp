#include "app/heatmap.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::TempDir;

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

}  // namespace
}  // namespace chexrt::app
