#include "app/image_batch.h"

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/png_rows.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::png_with_filter_bytes;
using testing::read_bytes;
using testing::TempDir;
using testing::test_data;
using testing::write_bytes;

const char* const kPng = "cxr/formats/00012082_000_512.png";
const char* const kJpeg = "cxr/formats/00008980_000_q90.jpg";
const char* const kDicom = "cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm";

TEST(ExpandImagePaths, RecursiveSortedAndFilteredByExtensionOrDicomPreamble) {
  TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directories(dir.file("d/sub"));
  const std::vector<uint8_t> png = read_bytes(test_data(kPng));
  const std::vector<uint8_t> dicom = read_bytes(test_data(kDicom));
  write_bytes(dir.file("d/b.png"), png);
  write_bytes(dir.file("d/a.JPG"), read_bytes(test_data(kJpeg)));
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
  const std::vector<std::string> paths = {test_data(kPng), dir.file("garbage.png"), test_data(kJpeg),
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
    paths.push_back(test_data(f));
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
  EXPECT_EQ(load_image_batch({test_data(kPng)}, options).status().code(), StatusCode::kInvalidArgument);
}

// ---- decoded bytes in flight ------------------------------------------------------------------

TEST(DecodeBudget, HoldsAtMostItsCapacityAndLetsALargerReservationRunAlone) {
  DecodeBudget budget(100);
  {
    DecodeBudget::Reservation a = budget.reserve(60);
    DecodeBudget::Reservation b = budget.reserve(40);
    EXPECT_EQ(budget.peak(), 100);
    // A third waits until one of them is given back.
    std::thread waiter([&] { DecodeBudget::Reservation c = budget.reserve(30); });
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(budget.peak(), 100);
    a = DecodeBudget::Reservation();
    waiter.join();
  }
  // Larger than the whole budget: granted once nothing else is held, never refused.
  DecodeBudget::Reservation huge = budget.reserve(1000);
  EXPECT_EQ(huge.bytes(), 1000);
  EXPECT_EQ(budget.peak(), 1000);
}

// An 8-bit RGB PNG of width x height (a smooth ramp, so it compresses to a small file).
std::vector<uint8_t> rgb_png(int width, int height) {
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>((i / 3 / width) & 0xff);
  return encode_png(pixels.data(), width, height, 3).value();
}

TEST(LoadImageBatch, DecodedBytesInFlightStayWithinTheBudget) {
  TempDir dir;
  const std::vector<uint8_t> png = rgb_png(2048, 2048);
  std::vector<std::string> paths;
  for (int i = 0; i < 4; ++i) {
    paths.push_back(dir.file("big" + std::to_string(i) + ".png"));
    write_bytes(paths.back(), png);
  }
  const ImageInfo info = read_image_info(png.data(), png.size(), "big.png").value();
  const int64_t one_image = decode_peak_bytes(info);
  EXPECT_EQ(one_image, int64_t{2048} * (1 + 2048 * 3) + int64_t{2048} * 2048 * 3);  // filtered rows, 8-bit pixels

  // Room for one image: four threads decode one at a time.
  DecodeBudget budget(one_image + one_image / 2);
  LoadOptions options;
  options.num_threads = 4;
  options.budget = &budget;
  Result<ImageBatch> batch = load_image_batch(paths, options);
  ASSERT_TRUE(batch.ok()) << batch.status().to_string();
  EXPECT_EQ(batch->num_ok(), 4);
  EXPECT_EQ(budget.peak(), one_image);

  // A budget smaller than one image still decodes every image, alone.
  DecodeBudget tiny(1 << 20);
  options.budget = &tiny;
  batch = load_image_batch(paths, options);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(batch->num_ok(), 4);
  EXPECT_EQ(tiny.peak(), one_image);
}

TEST(LoadImageBatch, KeptImagesAreScaledDownWithTheirCropRegion) {
  TempDir dir;
  write_bytes(dir.file("wide.png"), rgb_png(3000, 2000));
  LoadOptions options;
  options.keep_images = true;
  options.kept_image_max_side = 600;
  Result<ImageBatch> batch = load_image_batch({dir.file("wide.png")}, options);
  ASSERT_TRUE(batch.ok());
  const BatchItem& item = batch->items[0];
  ASSERT_TRUE(item.status.ok()) << item.status.to_string();
  EXPECT_EQ(item.image.width, 600);
  EXPECT_EQ(item.image.height, 400);
  // The crop region of the full image, scaled by 600 / 3000.
  const Region full = crop_region(3000, 2000, options.preprocess);
  EXPECT_NEAR(item.crop_region.x0, full.x0 / 5, 1e-9);
  EXPECT_NEAR(item.crop_region.y1, full.y1 / 5, 1e-9);
}

// The virtual memory this process maps now, from /proc/self/status.
int64_t mapped_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoll(line.substr(7)) * 1024;
  }
  return -1;
}

// Loads paths[0..2] with 250 MB of address space to spare; exits 0 when paths[1] alone failed,
// as out of memory, and the others loaded.
[[noreturn]] void load_under_memory_limit(const std::vector<std::string>& paths) {
  const int64_t limit = mapped_bytes() + (int64_t{250} << 20);
  rlimit rl{static_cast<rlim_t>(limit), static_cast<rlim_t>(limit)};
  if (mapped_bytes() < 0 || setrlimit(RLIMIT_AS, &rl) != 0) std::_Exit(10);
  LoadOptions options;
  options.num_threads = 1;  // a thread's stack and arena would take the headroom
  Result<ImageBatch> batch = load_image_batch(paths, options);
  if (!batch.ok()) std::_Exit(11);
  const Status& huge = batch->items[1].status;
  std::fprintf(stderr, "%s\n", huge.to_string().c_str());
  const bool named =
      huge.message().find("huge.png") != std::string::npos && huge.message().find("out of memory") != std::string::npos;
  std::_Exit(batch->num_ok() == 2 && named ? 0 : 12);
}

TEST(LoadImageBatch, AnImageThatCannotBeAllocatedFailsAloneAndNamedNotTheProcess) {
  TempDir dir;
  // A valid header (with its CRC) for 8192 x 8192 16-bit RGB (402 MB for the decoder's rows,
  // 805 MB as floats) and the start of an IDAT chunk: the decoder allocates before it reads it.
  std::vector<uint8_t> header = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0,    0, 0,    13,
                                 'I',  'H', 'D', 'R', 0,    0,    0x20, 0,    0,    0, 0x20, 0,
                                 16,   2,   0,   0,   0,    0xad, 0x58, 0x81, 0x4d, 0, 0,    0,
                                 2,    'I', 'D', 'A', 'T',  0x78, 0x9c, 0,    0,    0, 0};
  write_bytes(dir.file("huge.png"), header);
  const std::vector<std::string> paths = {test_data(kPng), dir.file("huge.png"), test_data(kJpeg)};
  // In a child process whose address space leaves 250 MB beyond what it maps now, so that the
  // huge image's buffers cannot be allocated and the two small ones can.
  EXPECT_EXIT(load_under_memory_limit(paths), ::testing::ExitedWithCode(0), "huge.png: out of memory");
}

// decode_image_file() for an engine that unfilters PNG rows: the PNGs the libdeflate path takes
// come as their inflated rows, into the buffer handed in, and unfilter to the decoded pixels;
// everything else (other formats, heat maps' kept images, files the path refuses) as before.
TEST(DecodeImageFile, PngRowsForTheEngineAndTheFullDecodeForTheRest) {
  LoadOptions options;
  options.png_rows = true;
  DecodeBudget budget;
  for (const char* file :
       {"cxr/nih/00000284_000.png", "cxr/formats/00017921_000_16bit.png", "cxr/formats/00014995_000_rgba.png", kPng}) {
    SCOPED_TRACE(file);
    const std::vector<uint8_t> bytes = read_bytes(test_data(file));
    const Image8 decoded = decode_image8(bytes.data(), bytes.size(), file).value();
    std::vector<uint8_t> buffer;
    buffer.reserve(size_t{8} << 20);
    const uint8_t* storage = buffer.data();
    BatchItem item;
    Result<EngineImage> image = decode_image_file(test_data(file), options, budget, &item, std::move(buffer));
    ASSERT_TRUE(image.ok()) << image.status().to_string();
    ASSERT_TRUE(image->is_png_rows());
    EXPECT_EQ(image->bytes.data(), storage) << "the buffer handed in was not reused";
    EXPECT_TRUE(image->pixels.pixels.empty());
    const ImageView view = image->view();
    ASSERT_EQ(view.encoding, PixelEncoding::kPngFiltered);
    ASSERT_EQ(view.width, decoded.width);
    ASSERT_EQ(view.height, decoded.height);
    ASSERT_EQ(view.channels, decoded.channels);
    std::vector<uint8_t> scratch, pixels(decoded.pixels.size());
    ASSERT_TRUE(png_rows::to_eight_bit(view, scratch, pixels.data()).ok());
    EXPECT_TRUE(pixels == decoded.pixels);
  }

  // A JPEG, a PNG with heat maps' kept images, and without png_rows: 8-bit pixels.
  BatchItem item;
  Result<EngineImage> jpeg = decode_image_file(test_data(kJpeg), options, budget, &item);
  ASSERT_TRUE(jpeg.ok());
  EXPECT_FALSE(jpeg->is_png_rows());
  EXPECT_EQ(jpeg->view().encoding, PixelEncoding::kEight);
  LoadOptions keep = options;
  keep.keep_images = true;
  Result<EngineImage> kept = decode_image_file(test_data(kPng), keep, budget, &item);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->is_png_rows());
  EXPECT_GT(item.image.width, 0);
  Result<EngineImage> plain = decode_image_file(test_data(kPng), LoadOptions{}, budget, &item);
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->is_png_rows());

  // A PNG with an unknown filter type: the full decode's error, word for word.
  TempDir dir;
  write_bytes(dir.file("bad.png"), png_with_filter_bytes(6, {1, 2, 6}));
  Result<EngineImage> bad_rows = decode_image_file(dir.file("bad.png"), options, budget, &item);
  Result<EngineImage> bad_full = decode_image_file(dir.file("bad.png"), LoadOptions{}, budget, &item);
  ASSERT_FALSE(bad_rows.ok());
  EXPECT_EQ(bad_rows.status().to_string(), bad_full.status().to_string());
  EXPECT_NE(bad_rows.status().message().find("bad.png"), std::string::npos) << bad_rows.status().message();
}

// decode_image_file() for an engine that decodes JPEGs (and unfilters PNG rows): a JPEG comes as
// its file, with its header's size, and decode_held_jpeg() turns it into the pixels the full decode
// gives; a PNG still comes as rows, and with heat maps' kept images a JPEG is decoded.
TEST(DecodeImageFile, JpegFilesForTheEngineBesidePngRows) {
  LoadOptions options;
  options.jpeg_files = true;
  options.png_rows = true;
  DecodeBudget budget;
  const std::vector<uint8_t> bytes = read_bytes(test_data(kJpeg));
  const Image8 decoded = decode_image8(bytes.data(), bytes.size(), kJpeg).value();
  BatchItem item;
  Result<EngineImage> jpeg = decode_image_file(test_data(kJpeg), options, budget, &item);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().to_string();
  ASSERT_TRUE(jpeg->is_jpeg());
  EXPECT_TRUE(jpeg->bytes == bytes);
  EXPECT_TRUE(jpeg->pixels.pixels.empty());
  const ImageView view = jpeg->view();
  EXPECT_EQ(view.encoding, PixelEncoding::kJpeg);
  EXPECT_EQ(view.pixels, jpeg->bytes.data());
  EXPECT_EQ(image_bytes(view), bytes.size());
  EXPECT_EQ(view.width, decoded.width);
  EXPECT_EQ(view.height, decoded.height);
  EXPECT_EQ(view.channels, decoded.channels);
  const Status held = decode_held_jpeg(kJpeg, budget, &*jpeg);
  ASSERT_TRUE(held.ok()) << held.to_string();
  EXPECT_EQ(jpeg->encoding, PixelEncoding::kEight);
  EXPECT_TRUE(jpeg->bytes.empty());
  EXPECT_TRUE(jpeg->pixels.pixels == decoded.pixels);
  EXPECT_EQ(decode_held_jpeg(kJpeg, budget, &*jpeg).code(), StatusCode::kInvalidArgument);

  Result<EngineImage> png = decode_image_file(test_data(kPng), options, budget, &item);
  ASSERT_TRUE(png.ok());
  EXPECT_TRUE(png->is_png_rows());
  LoadOptions keep = options;
  keep.keep_images = true;
  Result<EngineImage> kept = decode_image_file(test_data(kJpeg), keep, budget, &item);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(kept->encoding, PixelEncoding::kEight);
  EXPECT_TRUE(kept->pixels.pixels == decoded.pixels);

  // A file that is not a JPEG inside stays what the full decode says of it.
  TempDir dir;
  write_bytes(dir.file("not_a.jpg"), std::vector<uint8_t>{'n', 'o', 't', ' ', 'a', ' ', 'J', 'P', 'E', 'G'});
  Result<EngineImage> bad_files = decode_image_file(dir.file("not_a.jpg"), options, budget, &item);
  Result<EngineImage> bad_full = decode_image_file(dir.file("not_a.jpg"), LoadOptions{}, budget, &item);
  ASSERT_FALSE(bad_files.ok());
  EXPECT_EQ(bad_files.status().to_string(), bad_full.status().to_string());
}

// The budget covers what inflating alone holds: the filtered rows, alpha included.
TEST(DecodeImageFile, ThePeakCoversTheFilteredRows) {
  for (const char* file :
       {"cxr/nih/00000284_000.png", "cxr/formats/00017921_000_16bit.png", "cxr/formats/00014995_000_rgba.png"}) {
    const std::vector<uint8_t> bytes = read_bytes(test_data(file));
    const ImageInfo info = read_image_info(bytes.data(), bytes.size(), file).value();
    LoadOptions options;
    options.png_rows = true;
    DecodeBudget budget;
    BatchItem item;
    Result<EngineImage> image = decode_image_file(test_data(file), options, budget, &item);
    ASSERT_TRUE(image.ok());
    EXPECT_EQ(info.png_rows_bytes, static_cast<int64_t>(image->bytes.size())) << file;
    EXPECT_GE(decode_peak_bytes(info), static_cast<int64_t>(image->bytes.size())) << file;
    EXPECT_EQ(budget.peak(), decode_peak_bytes(info)) << file;
  }
}

}  // namespace
}  // namespace chexrt::app
