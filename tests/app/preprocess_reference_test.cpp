// chexrt's decoding and preprocessing against PIL + torchvision on bundled X-rays. The
// reference is written at test time by make_preprocess_reference.py (ctest fixture
// app_preprocess_reference) into CHEXRT_APP_REFERENCE_DIR.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "app/image_io.h"
#include "app/preprocess.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::test_data;

struct ManifestLine {
  std::vector<std::string> fields;
};

std::vector<ManifestLine> read_manifest(const std::string& kind) {
  std::ifstream in(std::string(CHEXRT_APP_REFERENCE_DIR) + "/manifest.txt");
  std::vector<ManifestLine> lines;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    ManifestLine entry;
    for (std::string w; words >> w;) entry.fields.push_back(w);
    if (!entry.fields.empty() && entry.fields[0] == kind) lines.push_back(entry);
  }
  return lines;
}

std::string reference_file(const std::string& name) { return std::string(CHEXRT_APP_REFERENCE_DIR) + "/" + name; }

constexpr const char* kHowToGenerate =
    "no reference: run the tests through ctest (fixture app_preprocess_reference runs "
    "tests/app/make_preprocess_reference.py with /usr/bin/python3, which needs torch, torchvision and PIL)";

TEST(PreprocessReference, DecodedPixelsEqualPil) {
  const std::vector<ManifestLine> cases = read_manifest("decoded");
  ASSERT_GE(cases.size(), 6u) << kHowToGenerate;
  for (const ManifestLine& c : cases) {
    const std::string& name = c.fields[1];
    Result<Image> image = read_image(test_data(c.fields[2]));
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    EXPECT_EQ(image->width, std::stoi(c.fields[3])) << name;
    EXPECT_EQ(image->height, std::stoi(c.fields[4])) << name;
    ASSERT_EQ(image->channels, std::stoi(c.fields[5])) << name;
    const std::vector<uint8_t> pil = read_bytes(reference_file(name + ".decoded.u8"));
    const Image8 ours = quantize_to_8bit(*image);
    ASSERT_EQ(ours.pixels.size(), pil.size()) << name;
    size_t differing = 0;
    for (size_t i = 0; i < pil.size(); ++i) differing += ours.pixels[i] != pil[i];
    EXPECT_EQ(differing, 0u) << name << ": " << differing << " of " << pil.size() << " samples differ from PIL";
  }
}

ResizeMode parse_mode(const std::string& mode) {
  if (mode == "exact") return ResizeMode::kResizeExact;
  if (mode == "tencrop") return ResizeMode::kTenCrop;
  return ResizeMode::kResizeCenterCrop;
}

// Tolerance: float32 rounding only (1e-6 after normalization). Agreement in grey levels is
// required to be exact: one grey level is 1/255/0.229 = 0.0171 in the normalized tensor, so
// any resampling or rounding difference from PIL would exceed the tolerance by four orders of
// magnitude.
constexpr double kTolerance = 1e-6;

TEST(PreprocessReference, TensorsEqualTorchvision) {
  const std::vector<ManifestLine> cases = read_manifest("tensor");
  ASSERT_GE(cases.size(), 24u) << kHowToGenerate;
  for (const ManifestLine& c : cases) {
    const std::string label = c.fields[1] + "." + c.fields[3];
    PreprocessOptions options;
    options.mode = parse_mode(c.fields[4]);
    options.resize_size = std::stoi(c.fields[5]);
    options.crop_size = std::stoi(c.fields[6]);
    Result<Image> image = read_image(test_data(c.fields[2]));
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    Result<HostTensor> ours = preprocess(*image, options);
    ASSERT_TRUE(ours.ok()) << ours.status().to_string();
    ASSERT_EQ(ours->dims()[0], std::stoi(c.fields[7])) << label;

    const std::vector<uint8_t> bytes = read_bytes(reference_file(label + ".f32"));
    ASSERT_EQ(bytes.size(), ours->nbytes()) << label;
    const auto* torch = reinterpret_cast<const float*>(bytes.data());
    double max_diff = 0.0;
    int64_t beyond_tolerance = 0;
    int64_t beyond_one_level = 0;
    for (int64_t i = 0; i < ours->numel(); ++i) {
      const double d = std::abs(static_cast<double>(ours->data<float>()[i]) - torch[i]);
      max_diff = std::max(max_diff, d);
      beyond_tolerance += d > kTolerance;
      beyond_one_level += d > 1.5 / 255 / 0.224;  // more than one grey level off
    }
    std::cout << "[ agreement ] " << label << " " << dims_to_string(ours->dims()) << ": max |diff| " << max_diff << ", "
              << beyond_tolerance << " of " << ours->numel() << " values beyond " << kTolerance << ", "
              << beyond_one_level << " beyond one grey level\n";
    EXPECT_LE(max_diff, kTolerance) << label;
  }
}

}  // namespace
}  // namespace chexrt::app
