#include "app/image_batch.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::shared_data;
using testing::TempDir;
using testing::write_bytes;

const char* const kPng = "cxr/formats/00012082_000_512.png";
const char* const kJpeg = "cxr/formats/00008980_000_q90.jpg";
const char* const kDicom = "cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm";

TEST(ExpandImagePaths, RecursiveSortedAndFilteredByExtensionOrDicomPreamble) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.file("d/sub"));
  const std::vector<uint8_t> png = read_bytes(shared_data(kPng));
  const std::vector<uint8_t> dicom = read_bytes(shared_data(kDicom));
  write_bytes(dir.file("d/b.png"), png);
  write_bytes(dir.file("d/a.JPG"), read_bytes(shared_data(kJpeg)));
  write_bytes(dir.file("d/notes.txt"), png);
  write_bytes(dir.file("d/sub/c.dcm"), dicom);
  write_bytes(dir.file("d/sub/IM0001"), dicom);  // no extension, DICOM preamble
  write_bytes(dir.file("d/sub/README"), png);    // no extension, not DICOM
  write_bytes(dir.file("single.bin"), png);

  Result<std::vector<std::string>> files = expand_image_paths({dir.file("single.bin"), dir.file("d")});
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  const std::vector<std::string> expected = {dir.file("single.bin"), dir.file("d/a.JPG"), dir.file("d/b.png"),
                                             dir.file("d/sub/IM0001"), dir.file("d/sub/c.dcm")};
  EXPECT_EQ(*files, expected);

  Result<std::vector<std::string>> missing = expand_image_paths({dir.file("d"), dir.file("nope")});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir.file("nope")), std::string::npos);
}

TEST(LoadImageBatch, BadFilesAreReportedAndSkipped) {
  TempDir dir;
  write_bytes(dir.file("garbage.png"), std::vector<uint8_t>(300, 0x42));
  const std::vector<std::string> paths = {shared_data(kPng), dir.file("garbage.png"), shared_data(kJpeg),
                                          dir.file("missing.png")};
  LoadOptions options;
  options.num_threads = 3;
  options.keep_images = true;
  Result<ImageBatch> batch = load_image_batch(paths, options);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  ASSERT_EQ(batch->items.size(), 4u);
  EXPECT_EQ(batch->num_ok(), 2);
  EXPECT_EQ(batch->input.dims(), (Dims{2, 3, 224, 224}));

  EXPECT_EQ(batch->items[1].status.code(), StatusCode::kParseError);
  EXPECT_NE(batch->items[1].status.message().find("garbage.png"), std::string::npos);
  EXPECT_EQ(batch->items[3].status.code(), StatusCode::kNotFound);
  EXPECT_EQ(batch->items[1].first_sample, -1);

  // Each good file's rows are exactly what preprocess() makes of it alone.
  const size_t sample_bytes = 3 * 224 * 224 * sizeof(float);
  for (size_t i : {0u, 2u}) {
    const BatchItem& item = batch->items[i];
    ASSERT_TRUE(item.status.ok()) << item.status.to_string();
    EXPECT_EQ(item.path, paths[i]);
    EXPECT_EQ(item.first_sample, i == 0 ? 0 : 1);
    ASSERT_GT(item.image.width, 0) << "keep_images kept no image";
    Result<HostTensor> alone = preprocess(read_image(paths[i]).value(), options.preprocess);
    ASSERT_TRUE(alone.ok());
    EXPECT_EQ(std::memcmp(batch->input.data<float>() + item.first_sample * 3 * 224 * 224, alone->raw(), sample_bytes),
              0);
  }
}

TEST(LoadImageBatch, ThreadCountDoesNotChangeTheBatch) {
  std::vector<std::string> paths;
  for (const char* f : {"cxr/nih/00000284_000.png", kJpeg, kPng, "cxr/formats/00014995_000_rgba.png"}) {
    paths.push_back(shared_data(f));
  }
  LoadOptions options;
  options.preprocess.mode = ResizeMode::kTenCrop;
  options.num_threads = 1;
  Result<ImageBatch> serial = load_image_batch(paths, options);
  options.num_threads = 4;
  Result<ImageBatch> parallel = load_image_batch(paths, options);
  ASSERT_TRUE(serial.ok() && parallel.ok());
  EXPECT_EQ(serial->samples_per_image, 10);
  ASSERT_EQ(serial->input.dims(), (Dims{40, 3, 224, 224}));
  ASSERT_EQ(parallel->input.dims(), serial->input.dims());
  EXPECT_EQ(std::memcmp(serial->input.raw(), parallel->input.raw(), serial->input.nbytes()), 0);
  EXPECT_EQ(parallel->items[3].first_sample, 30);
  EXPECT_TRUE(parallel->items[0].image.pixels.empty()) << "images kept without keep_images";
}

TEST(LoadImageBatch, InvalidOptionsFailTheWholeCall) {
  LoadOptions options;
  options.num_threads = 0;
  EXPECT_EQ(load_image_batch({shared_data(kPng)}, options).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace chexrt::app
