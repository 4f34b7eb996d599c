#include "app/image_io.h"

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <random>

#include "app/preprocess.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::TempDir;
using testing::test_data;
using testing::write_bytes;

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// ---- test encoders ---------------------------------------------------------------------------

struct PngBuffer {
  std::vector<uint8_t> bytes;
};

void append_png(png_structp png, png_bytep data, size_t size) {
  auto* out = static_cast<PngBuffer*>(png_get_io_ptr(png));
  out->bytes.insert(out->bytes.end(), data, data + size);
}

bool write_png_rows(png_structp png, png_infop info, int width, int height, int color_type, int bit_depth,
                    int interlace, const png_color* palette, int palette_size, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, width, height, bit_depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette != nullptr) png_set_PLTE(png, info, palette, palette_size);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

// Any PNG colour type and bit depth; `raw` holds packed rows exactly as PNG stores them.
std::vector<uint8_t> make_png(int width, int height, int color_type, int bit_depth, const std::vector<uint8_t>& raw,
                              int interlace = PNG_INTERLACE_NONE, const std::vector<png_color>& palette = {}) {
  PngBuffer out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, append_png, nullptr);
  const size_t stride = raw.size() / height;
  std::vector<png_bytep> rows(height);
  for (int y = 0; y < height; ++y) rows[y] = const_cast<png_bytep>(raw.data() + y * stride);
  const bool ok =
      write_png_rows(png, info, width, height, color_type, bit_depth, interlace,
                     palette.empty() ? nullptr : palette.data(), static_cast<int>(palette.size()), rows.data());
  png_destroy_write_struct(&png, &info);
  EXPECT_TRUE(ok) << "test PNG encoder failed";
  return out.bytes;
}

std::vector<uint8_t> make_jpeg(int width, int height, int components, J_COLOR_SPACE space,
                               const std::vector<uint8_t>& pixels, int quality) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = width;
  cinfo.image_height = height;
  cinfo.input_components = components;
  cinfo.in_color_space = space;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  // No chroma subsampling, so only quantization and colour conversion differ from the input.
  for (int c = 0; c < cinfo.num_components; ++c)
    cinfo.comp_info[c].h_samp_factor = cinfo.comp_info[c].v_samp_factor = 1;
  jpeg_start_compress(&cinfo, TRUE);
  for (int y = 0; y < height; ++y) {
    JSAMPROW row = const_cast<JSAMPROW>(pixels.data() + static_cast<size_t>(y) * width * components);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::vector<uint8_t> bytes(buffer, buffer + size);
  free(buffer);
  return bytes;
}

Image decode_ok(const std::vector<uint8_t>& bytes, const std::string& name = "test.png") {
  Result<Image> image = decode_image(bytes.data(), bytes.size(), name);
  EXPECT_TRUE(image.ok()) << image.status().to_string();
  return image.ok() ? std::move(image).value() : Image{};
}

// ---- PNG -------------------------------------------------------------------------------------

TEST(PngDecode, GreyLowBitDepthsScaleToFullRange) {
  // 1-bit: 8 pixels 10110010 -> 0/1; 4-bit: values 0, 5, 15, 9 -> v / 15.
  Image one = decode_ok(make_png(8, 1, PNG_COLOR_TYPE_GRAY, 1, {0b10110010}));
  ASSERT_EQ(one.channels, 1);
  EXPECT_EQ(one.source_bit_depth, 1);
  const float bits[8] = {1, 0, 1, 1, 0, 0, 1, 0};
  for (int x = 0; x < 8; ++x) EXPECT_EQ(one.at(x, 0, 0), bits[x]) << x;

  Image four = decode_ok(make_png(4, 1, PNG_COLOR_TYPE_GRAY, 4, {0x05, 0xF9}));
  const int levels[4] = {0, 5, 15, 9};
  for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(four.at(x, 0, 0), levels[x] / 15.0f) << x;
}

TEST(PngDecode, PaletteBecomesRgb) {
  const std::vector<png_color> palette = {{10, 20, 30}, {200, 100, 0}, {255, 255, 255}};
  Image image = decode_ok(make_png(3, 1, PNG_COLOR_TYPE_PALETTE, 8, {2, 0, 1}, PNG_INTERLACE_NONE, palette));
  ASSERT_EQ(image.channels, 3);
  const int expected[3][3] = {{255, 255, 255}, {10, 20, 30}, {200, 100, 0}};
  for (int x = 0; x < 3; ++x) {
    for (int c = 0; c < 3; ++c) EXPECT_FLOAT_EQ(image.at(x, 0, c), expected[x][c] / 255.0f) << x << "," << c;
  }
}

TEST(PngDecode, AlphaIsDropped) {
  Image grey_alpha = decode_ok(make_png(2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {40, 0, 250, 128}));
  ASSERT_EQ(grey_alpha.channels, 1);
  EXPECT_FLOAT_EQ(grey_alpha.at(0, 0, 0), 40 / 255.0f);
  EXPECT_FLOAT_EQ(grey_alpha.at(1, 0, 0), 250 / 255.0f);

  Image rgba = decode_ok(make_png(1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, {1, 2, 3, 0}));
  ASSERT_EQ(rgba.channels, 3);
  EXPECT_FLOAT_EQ(rgba.at(0, 0, 2), 3 / 255.0f);
}

TEST(PngDecode, SixteenBitKeepsFullPrecision) {
  // Big-endian samples 0x0102 = 258 and 0xFFFE = 65534, grey+alpha and RGB.
  Image grey = decode_ok(make_png(1, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 16, {0x01, 0x02, 0xFF, 0xFF}));
  ASSERT_EQ(grey.channels, 1);
  EXPECT_EQ(grey.source_bit_depth, 16);
  EXPECT_FLOAT_EQ(grey.at(0, 0, 0), 258 / 65535.0f);
  Image rgb = decode_ok(make_png(1, 1, PNG_COLOR_TYPE_RGB, 16, {0x00, 0x00, 0xFF, 0xFE, 0x80, 0x00}));
  ASSERT_EQ(rgb.channels, 3);
  EXPECT_FLOAT_EQ(rgb.at(0, 0, 1), 65534 / 65535.0f);
  EXPECT_FLOAT_EQ(rgb.at(0, 0, 2), 32768 / 65535.0f);
}

TEST(PngDecode, InterlacedEqualsProgressive) {
  const int w = 13;
  const int h = 11;
  std::vector<uint8_t> raw(w * h);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 37 % 251);
  Image plain = decode_ok(make_png(w, h, PNG_COLOR_TYPE_GRAY, 8, raw));
  Image adam7 = decode_ok(make_png(w, h, PNG_COLOR_TYPE_GRAY, 8, raw, PNG_INTERLACE_ADAM7));
  EXPECT_EQ(plain.pixels, adam7.pixels);
  EXPECT_FLOAT_EQ(plain.at(5, 3, 0), raw[3 * w + 5] / 255.0f);
}

TEST(PngDecode, SixteenBitFileIsTheEightBitImageTimes257) {
  Result<Image> eight = read_image(test_data("cxr/nih/00017921_000.png"));
  Result<Image> sixteen = read_image(test_data("cxr/formats/00017921_000_16bit.png"));
  ASSERT_TRUE(eight.ok()) << eight.status().to_string();
  ASSERT_TRUE(sixteen.ok()) << sixteen.status().to_string();
  EXPECT_EQ(sixteen->source_bit_depth, 16);
  ASSERT_EQ(eight->pixels.size(), sixteen->pixels.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < eight->pixels.size(); ++i) {
    mismatches += std::lround(sixteen->pixels[i] * 65535.0f) != 257 * std::lround(eight->pixels[i] * 255.0f);
  }
  EXPECT_EQ(mismatches, 0u);
}

// ---- JPEG ------------------------------------------------------------------------------------

TEST(JpegDecode, RgbStaysRgb) {
  const int w = 32;
  const int h = 16;
  std::vector<uint8_t> rgb(w * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(y * w + x) * 3];
      p[0] = static_cast<uint8_t>(x * 8);
      p[1] = static_cast<uint8_t>(y * 16);
      p[2] = static_cast<uint8_t>(255 - x * 8);
    }
  }
  Image image = decode_ok(make_jpeg(w, h, 3, JCS_RGB, rgb, 100), "rgb.jpg");
  ASSERT_EQ(image.channels, 3);
  EXPECT_EQ(image.format, ImageFormat::kJpeg);
  // Quality 100 without chroma subsampling: DCT quantization steps of 1 and the YCbCr round
  // trip leave a few grey levels of error on smooth ramps, nothing more.
  float worst = 0.0f;
  for (size_t i = 0; i < rgb.size(); ++i) worst = std::max(worst, std::abs(image.pixels[i] * 255.0f - rgb[i]));
  EXPECT_LE(worst, 4.0f);
}

TEST(JpegDecode, CmykIsRefusedByName) {
  std::vector<uint8_t> cmyk(8 * 8 * 4, 100);
  const std::vector<uint8_t> bytes = make_jpeg(8, 8, 4, JCS_CMYK, cmyk, 90);
  Result<Image> image = decode_image(bytes.data(), bytes.size(), "scan.jpg");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(contains(image.status().message(), "scan.jpg")) << image.status().message();
  EXPECT_TRUE(contains(image.status().message(), "CMYK")) << image.status().message();
}

// ---- format detection and errors -----------------------------------------------------------

TEST(ImageIo, FormatComesFromBytesNotName) {
  TempDir dir;
  const std::string misnamed = dir.file("really_a_jpeg.png");
  write_bytes(misnamed, read_bytes(test_data("cxr/formats/00008980_000_q90.jpg")));
  Result<Image> image = read_image(misnamed);
  ASSERT_TRUE(image.ok()) << image.status().to_string();
  EXPECT_EQ(image->format, ImageFormat::kJpeg);
  EXPECT_EQ(image->width, 1024);
}

TEST(ImageIo, FileErrorsNameTheFile) {
  TempDir dir;
  Result<Image> missing = read_image(dir.file("nope.png"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(contains(missing.status().message(), dir.file("nope.png")));

  Result<Image> directory = read_image(dir.path());
  EXPECT_EQ(directory.status().code(), StatusCode::kIoError);
  EXPECT_TRUE(contains(directory.status().message(), "directory")) << directory.status().message();

  write_bytes(dir.file("empty.png"), {});
  Result<Image> empty = read_image(dir.file("empty.png"));
  EXPECT_EQ(empty.status().code(), StatusCode::kParseError);
  EXPECT_TRUE(contains(empty.status().message(), "empty.png: empty file")) << empty.status().message();

  const std::string text = "patient: anonymous\nnot an image at all\n";
  write_bytes(dir.file("notes.png"), reinterpret_cast<const uint8_t*>(text.data()), text.size());
  Result<Image> notes = read_image(dir.file("notes.png"));
  EXPECT_EQ(notes.status().code(), StatusCode::kParseError);
  EXPECT_TRUE(contains(notes.status().message(), "notes.png: not an image")) << notes.status().message();
}

TEST(ImageIo, OversizedHeaderIsRefusedBeforeAllocating) {
  // A 1 x 1 image whose IHDR claims 100000 x 100000 pixels (checked before any row buffer).
  std::vector<uint8_t> png = make_png(1, 1, PNG_COLOR_TYPE_GRAY, 8, {0});
  // IHDR data starts at byte 16: width and height big-endian; fix the chunk CRC too.
  auto put32 = [&png](size_t at, uint32_t v) {
    for (int i = 0; i < 4; ++i) png[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  };
  put32(16, 100000);
  put32(20, 100000);
  put32(29, static_cast<uint32_t>(crc32(0, png.data() + 12, 17)));
  Result<Image> image = decode_image(png.data(), png.size(), "bomb.png");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kUnsupported) << image.status().to_string();
  EXPECT_TRUE(contains(image.status().message(), "bomb.png")) << image.status().message();
}

struct TruncationCase {
  const char* name;
  const char* file;
  const char* reason;  // what every truncated copy's error must say
};

void PrintTo(const TruncationCase& c, std::ostream* os) { *os << c.file; }

class Truncated : public ::testing::TestWithParam<TruncationCase> {};

TEST_P(Truncated, IsAnErrorThatSaysSo) {
  const std::vector<uint8_t> whole = read_bytes(test_data(GetParam().file));
  ASSERT_GT(whole.size(), 1000u);
  for (double fraction : {0.002, 0.01, 0.1, 0.5, 0.9, 0.98}) {
    const size_t size = static_cast<size_t>(whole.size() * fraction);
    Result<Image> image = decode_image(whole.data(), size, "cut.img");
    ASSERT_FALSE(image.ok()) << GetParam().file << " cut to " << size << " bytes decoded";
    EXPECT_TRUE(contains(image.status().message(), "cut.img: ")) << image.status().message();
    EXPECT_TRUE(contains(image.status().message(), GetParam().reason))
        << GetParam().file << " cut to " << size << ": " << image.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, Truncated,
                         ::testing::Values(TruncationCase{"png8", "cxr/nih/00000284_000.png", "truncated"},
                                           TruncationCase{"png16", "cxr/formats/00017921_000_16bit.png", "truncated"},
                                           TruncationCase{"jpeg", "cxr/formats/00008980_000_q90.jpg", "Premature end"}),
                         [](const ::testing::TestParamInfo<TruncationCase>& info) { return info.param.name; });

TEST(ImageIo, RandomBytesAreRejected) {
  std::mt19937 rng(1234);
  const std::vector<std::vector<uint8_t>> prefixes = {
      {},
      {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'},
      {0xFF, 0xD8, 0xFF},
  };
  for (int trial = 0; trial < 600; ++trial) {
    std::vector<uint8_t> bytes = prefixes[trial % prefixes.size()];
    const size_t extra = rng() % 2048;
    for (size_t i = 0; i < extra; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
    Result<Image> image = decode_image(bytes.data(), bytes.size(), "noise.bin");
    ASSERT_FALSE(image.ok()) << "trial " << trial << " decoded " << bytes.size() << " random bytes";
    EXPECT_TRUE(contains(image.status().message(), "noise.bin")) << image.status().message();
  }
}

TEST(ImageIo, CorruptedFilesNeverCrash) {
  // Flip random bytes past the signature of real files: each either fails with a Status or
  // decodes to an image of the original shape (the damage was in pixel data).
  std::mt19937 rng(99);
  for (const char* file : {"cxr/formats/00012082_000_512.png", "cxr/formats/00008980_000_q90.jpg"}) {
    const std::vector<uint8_t> original = read_bytes(test_data(file));
    const Image reference = decode_ok(original, file);
    for (int trial = 0; trial < 40; ++trial) {
      std::vector<uint8_t> bytes = original;
      for (int k = 0; k < 1 + trial % 8; ++k) bytes[8 + rng() % (bytes.size() - 8)] = static_cast<uint8_t>(rng());
      Result<Image> image = decode_image(bytes.data(), bytes.size(), file);
      if (image.ok()) {
        EXPECT_EQ(image->width, reference.width) << file << " trial " << trial;
        EXPECT_EQ(image->height, reference.height) << file << " trial " << trial;
      } else {
        EXPECT_TRUE(contains(image.status().message(), file)) << image.status().message();
      }
    }
  }
}

// ---- PNG encoding ----------------------------------------------------------------------------

TEST(PngEncode, RoundTripsThroughTheDecoder) {
  const int w = 7;
  const int h = 5;
  std::vector<uint8_t> rgb(w * h * 3);
  for (size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<uint8_t>(i * 11);
  Result<std::vector<uint8_t>> png = encode_png(rgb.data(), w, h, 3);
  ASSERT_TRUE(png.ok()) << png.status().to_string();
  Image image = decode_ok(*png);
  ASSERT_EQ(image.width, w);
  ASSERT_EQ(image.height, h);
  ASSERT_EQ(image.channels, 3);
  EXPECT_EQ(quantize_to_8bit(image).pixels, rgb);
  EXPECT_EQ(encode_png(rgb.data(), w, h, 2).status().code(), StatusCode::kInvalidArgument);
}

// ---- DICOM files of data/cxr/dicom ---------------------------------------------------------------

TEST(DicomDecode, JpegBaselineSample) {
  if (!dicom_supported()) GTEST_SKIP() << "built without DCMTK";
  Result<Image> image = read_image(test_data("cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"));
  ASSERT_TRUE(image.ok()) << image.status().to_string();
  EXPECT_EQ(image->format, ImageFormat::kDicom);
  EXPECT_EQ(image->width, 1024);
  EXPECT_EQ(image->height, 1024);
  EXPECT_EQ(image->channels, 1);
  EXPECT_EQ(image->source_bit_depth, 8);
  // No VOI window in the file: the min-max window stretches the values present to [0, 1].
  const auto [lo, hi] = std::minmax_element(image->pixels.begin(), image->pixels.end());
  EXPECT_EQ(*lo, 0.0f);
  EXPECT_EQ(*hi, 1.0f);
}

TEST(DicomDecode, Monochrome1IsInverted) {
  if (!dicom_supported()) GTEST_SKIP() << "built without DCMTK";
  // The two files differ only in the Photometric Interpretation tag.
  Result<Image> normal = read_image(test_data("cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"));
  Result<Image> inverted = read_image(test_data("cxr/dicom/siim_sample_monochrome1.dcm"));
  ASSERT_TRUE(normal.ok()) << normal.status().to_string();
  ASSERT_TRUE(inverted.ok()) << inverted.status().to_string();
  ASSERT_EQ(normal->pixels.size(), inverted->pixels.size());
  float worst = 0.0f;
  for (size_t i = 0; i < normal->pixels.size(); ++i) {
    worst = std::max(worst, std::abs(inverted->pixels[i] - (1.0f - normal->pixels[i])));
  }
  // DCMTK's MONOCHROME1 rendering comes out one 16-bit step below 1 - MONOCHROME2 (65534 - v,
  // far below one 8-bit grey level); 1.5 steps allows that and float32 storage, nothing more.
  EXPECT_LE(worst, 1.5f / 65535);
}

TEST(DicomDecode, FileWithoutPreamble) {
  if (!dicom_supported()) GTEST_SKIP() << "built without DCMTK";
  const std::vector<uint8_t> whole = read_bytes(test_data("cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"));
  const std::vector<uint8_t> bare(whole.begin() + 132, whole.end());  // drop preamble and "DICM"
  ASSERT_EQ(detect_image_format(bare.data(), bare.size()), ImageFormat::kDicom);
  Image with = decode_ok(whole, "with.dcm");
  Image without = decode_ok(bare, "without.dcm");
  EXPECT_EQ(with.pixels, without.pixels);
}

TEST(DicomDecode, TruncatedFilesAreErrors) {
  if (!dicom_supported()) GTEST_SKIP() << "built without DCMTK";
  const std::vector<uint8_t> whole = read_bytes(test_data("cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"));
  for (double fraction : {0.0011, 0.003, 0.01, 0.5, 0.9, 0.99}) {
    const size_t size = static_cast<size_t>(whole.size() * fraction);
    Result<Image> image = decode_image(whole.data(), size, "cut.dcm");
    ASSERT_FALSE(image.ok()) << "cut to " << size << " bytes decoded";
    EXPECT_TRUE(contains(image.status().message(), "cut.dcm: DICOM")) << image.status().message();
  }
}

TEST(DicomDecode, RandomDataSetsAreRejected) {
  if (!dicom_supported()) GTEST_SKIP() << "built without DCMTK";
  // Noise behind a DICOM preamble, and noise that starts like a bare data set (group 0x0008).
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> bytes;
    if (trial % 2 == 0) {
      bytes.assign(128, 0);
      bytes.insert(bytes.end(), {'D', 'I', 'C', 'M'});
    } else {
      bytes = {0x08, 0x00};
    }
    const size_t extra = rng() % 4096;
    for (size_t i = 0; i < extra; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
    Result<Image> image = decode_image(bytes.data(), bytes.size(), "noise.dcm");
    ASSERT_FALSE(image.ok()) << "trial " << trial;
    EXPECT_TRUE(contains(image.status().message(), "noise.dcm")) << image.status().message();
  }
}

TEST(DicomDecode, UnsupportedWithoutDcmtk) {
  if (dicom_supported()) GTEST_SKIP() << "built with DCMTK";
  Result<Image> image = read_image(test_data("cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm"));
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kUnsupported);
  EXPECT_TRUE(contains(image.status().message(), "siim_pneumothorax_sample_jpeg_baseline.dcm: DICOM"))
      << image.status().message();
  EXPECT_TRUE(contains(image.status().message(), "DCMTK")) << image.status().message();
}

TEST(ImageIo, SixteenToEightIsTheFloatPathsQuantization) {
  for (uint32_t v = 0; v <= 65535; ++v) {
    Image one;
    one.width = one.height = one.channels = 1;
    one.pixels = {static_cast<float>(v) / 65535.0f};
    ASSERT_EQ(sixteen_to_eight(static_cast<uint16_t>(v)), quantize_to_8bit(one).pixels[0]) << v;
  }
}

TEST(ImageIo, DecodeImage8EqualsTheQuantizedFloatImage) {
  for (const char* file :
       {"cxr/nih/00017921_000.png", "cxr/formats/00017921_000_16bit.png", "cxr/formats/00014995_000_rgba.png",
        "cxr/formats/00008980_000_q90.jpg", "cxr/dicom/siim_pneumothorax_sample_jpeg_baseline.dcm",
        "cxr/dicom/siim_sample_monochrome1.dcm"}) {
    const std::vector<uint8_t> bytes = read_bytes(test_data(file));
    Result<Image> image = decode_image(bytes.data(), bytes.size(), file);
    Result<Image8> image8 = decode_image8(bytes.data(), bytes.size(), file);
    if (!dicom_supported() && std::string(file).find(".dcm") != std::string::npos) continue;
    ASSERT_TRUE(image.ok() && image8.ok()) << file;
    EXPECT_EQ(image8->width, image->width) << file;
    EXPECT_EQ(image8->channels, image->channels) << file;
    EXPECT_TRUE(image8->pixels == quantize_to_8bit(*image).pixels) << file;
  }
}

}  // namespace
}  // namespace chexrt::app
