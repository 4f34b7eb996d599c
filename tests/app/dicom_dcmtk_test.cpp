// DICOM decoding checked on files written here with DCMTK, so the pixel values, VOI window and
// transfer syntax are known. Built only when DCMTK is (see tests/app/CMakeLists.txt).
#include <gtest/gtest.h>

#include "dcmtk/config/osconfig.h"  // must come first among DCMTK headers
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcrleerg.h"
#include "dcmtk/dcmdata/dcuid.h"
#include "dcmtk/dcmjpeg/djencode.h"
#include "dcmtk/dcmjpeg/djrplol.h"
#include "dcmtk/dcmjpls/djencode.h"

#include <algorithm>
#include <cmath>

#include "app/image_io.h"
#include "test_support.h"

namespace chexrt::app {
namespace {

using testing::read_bytes;
using testing::TempDir;

constexpr int kSide = 64;
// Stored values 0..4095 (12 bits); Rescale Slope 2, Intercept -1000 give modality values
// -1000..7190, and the window below is in those units.
constexpr double kSlope = 2.0;
constexpr double kIntercept = -1000.0;
constexpr double kCenter = 2000.0;
constexpr double kWidth = 2001.0;

uint16_t stored_value(int i) { return static_cast<uint16_t>(i); }

// PS3.3 C.11.2.1.2.1, the linear VOI function, onto [0, 1].
double dicom_linear_window(double x) {
  if (x <= kCenter - 0.5 - (kWidth - 1) / 2) return 0.0;
  if (x > kCenter - 0.5 + (kWidth - 1) / 2) return 1.0;
  return (x - (kCenter - 0.5)) / (kWidth - 1) + 0.5;
}

void fill_ramp(DcmDataset* ds, const char* photometric, bool with_window) {
  ds->putAndInsertString(DCM_SOPClassUID, UID_DigitalXRayImageStorageForPresentation);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1143.1");
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds->putAndInsertString(DCM_PhotometricInterpretation, photometric);
  ds->putAndInsertUint16(DCM_Rows, kSide);
  ds->putAndInsertUint16(DCM_Columns, kSide);
  ds->putAndInsertUint16(DCM_BitsAllocated, 16);
  ds->putAndInsertUint16(DCM_BitsStored, 12);
  ds->putAndInsertUint16(DCM_HighBit, 11);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds->putAndInsertString(DCM_RescaleSlope, "2");
  ds->putAndInsertString(DCM_RescaleIntercept, "-1000");
  if (with_window) {
    ds->putAndInsertString(DCM_WindowCenter, "2000");
    ds->putAndInsertString(DCM_WindowWidth, "2001");
  }
  std::vector<Uint16> pixels(kSide * kSide);
  for (int i = 0; i < kSide * kSide; ++i) pixels[i] = stored_value(i);
  ds->putAndInsertUint16Array(DCM_PixelData, pixels.data(), pixels.size());
}

class SyntheticDicom : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    DcmRLEEncoderRegistration::registerCodecs();
    DJEncoderRegistration::registerCodecs();
    DJLSEncoderRegistration::registerCodecs();
  }

  // Writes the file with `xfer` (compressing when asked) and returns its bytes.
  std::vector<uint8_t> save(DcmFileFormat& file, E_TransferSyntax xfer,
                            const DcmRepresentationParameter* param = nullptr) {
    DcmDataset* ds = file.getDataset();
    EXPECT_TRUE(ds->chooseRepresentation(xfer, param).good());
    EXPECT_TRUE(ds->canWriteXfer(xfer));
    const std::string path = dir_.file("image.dcm");
    const OFCondition saved = file.saveFile(path.c_str(), xfer);
    EXPECT_TRUE(saved.good()) << saved.text();
    return read_bytes(path);
  }

  Image decode(const std::vector<uint8_t>& bytes) {
    Result<Image> image = decode_image(bytes.data(), bytes.size(), "synthetic.dcm");
    EXPECT_TRUE(image.ok()) << image.status().to_string();
    return image.ok() ? std::move(image).value() : Image{};
  }

  TempDir dir_;
};

TEST_F(SyntheticDicom, ModalityRescaleThenVoiWindow) {
  DcmFileFormat file;
  fill_ramp(file.getDataset(), "MONOCHROME2", true);
  Image image = decode(save(file, EXS_LittleEndianExplicit));
  ASSERT_EQ(image.width, kSide);
  ASSERT_EQ(image.channels, 1);
  EXPECT_EQ(image.source_bit_depth, 12);
  double worst = 0.0;
  for (int i = 0; i < kSide * kSide; ++i) {
    const double expected = dicom_linear_window(kSlope * stored_value(i) + kIntercept);
    worst = std::max(worst, std::abs(image.pixels[i] - expected));
  }
  // DCMTK renders to 16-bit integers within one step of the ideal value; float32 storage.
  EXPECT_LE(worst, 1.5 / 65535);
}

TEST_F(SyntheticDicom, Monochrome1WindowIsInverted) {
  DcmFileFormat normal_file;
  fill_ramp(normal_file.getDataset(), "MONOCHROME2", true);
  DcmFileFormat inverted_file;
  fill_ramp(inverted_file.getDataset(), "MONOCHROME1", true);
  Image normal = decode(save(normal_file, EXS_LittleEndianExplicit));
  Image inverted = decode(save(inverted_file, EXS_LittleEndianExplicit));
  ASSERT_EQ(normal.pixels.size(), inverted.pixels.size());
  for (size_t i = 0; i < normal.pixels.size(); ++i) {
    // DCMTK's MONOCHROME1 output is 65534 - v, one 16-bit step off; plus float32 storage.
    ASSERT_NEAR(inverted.pixels[i], 1.0f - normal.pixels[i], 1.5 / 65535) << "pixel " << i;
  }
}

TEST_F(SyntheticDicom, MinMaxWindowWithoutVoi) {
  DcmFileFormat file;
  fill_ramp(file.getDataset(), "MONOCHROME2", false);
  Image image = decode(save(file, EXS_LittleEndianExplicit));
  ASSERT_EQ(image.pixels.size(), static_cast<size_t>(kSide * kSide));
  // Stored 0..4095 spread over [0, 1].
  for (int i : {0, 1000, 2048, 4095}) EXPECT_NEAR(image.pixels[i], i / 4095.0, 1.0 / 65535) << i;
}

TEST_F(SyntheticDicom, CompressedTransferSyntaxesDecodeToTheSamePixels) {
  DcmFileFormat file;
  fill_ramp(file.getDataset(), "MONOCHROME2", true);
  const Image uncompressed = decode(save(file, EXS_LittleEndianExplicit));
  const DJ_RPLossless jpeg_lossless;
  const struct {
    E_TransferSyntax xfer;
    const DcmRepresentationParameter* param;
  } cases[] = {{EXS_RLELossless, nullptr}, {EXS_JPEGLSLossless, nullptr}, {EXS_JPEGProcess14SV1, &jpeg_lossless}};
  for (const auto& c : cases) {
    DcmFileFormat copy(file);
    const std::vector<uint8_t> bytes = save(copy, c.xfer, c.param);
    EXPECT_EQ(decode(bytes).pixels, uncompressed.pixels) << DcmXfer(c.xfer).getXferName();
  }
}

TEST_F(SyntheticDicom, BareDataSetWithoutMetaHeader) {
  DcmFileFormat file;
  fill_ramp(file.getDataset(), "MONOCHROME2", true);
  const Image reference = decode(save(file, EXS_LittleEndianExplicit));
  for (E_TransferSyntax xfer : {EXS_LittleEndianImplicit, EXS_LittleEndianExplicit}) {
    const std::string path = dir_.file("bare.dcm");
    ASSERT_TRUE(file.getDataset()->saveFile(path.c_str(), xfer).good());
    const std::vector<uint8_t> bytes = read_bytes(path);
    ASSERT_EQ(detect_image_format(bytes.data(), bytes.size()), ImageFormat::kDicom);
    EXPECT_EQ(decode(bytes).pixels, reference.pixels) << DcmXfer(xfer).getXferName();
  }
}

TEST_F(SyntheticDicom, DataSetWithoutPixelsIsNotAnImage) {
  DcmFileFormat file;
  fill_ramp(file.getDataset(), "MONOCHROME2", true);
  delete file.getDataset()->remove(DCM_PixelData);
  const std::vector<uint8_t> bytes = save(file, EXS_LittleEndianExplicit);
  Result<Image> image = decode_image(bytes.data(), bytes.size(), "report.dcm");
  ASSERT_FALSE(image.ok());
  EXPECT_EQ(image.status().code(), StatusCode::kParseError);
  EXPECT_NE(image.status().message().find("report.dcm: DICOM: no pixel data"), std::string::npos)
      << image.status().message();
}

TEST_F(SyntheticDicom, ColourIsRefusedByName) {
  DcmFileFormat file;
  DcmDataset* ds = file.getDataset();
  ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds->putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1143.2");
  ds->putAndInsertUint16(DCM_SamplesPerPixel, 3);
  ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
  ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds->putAndInsertUint16(DCM_Rows, 4);
  ds->putAndInsertUint16(DCM_Columns, 4);
  ds->putAndInsertUint16(DCM_BitsAllocated, 8);
  ds->putAndInsertUint16(DCM_BitsStored, 8);
  ds->putAndInsertUint16(DCM_HighBit, 7);
  ds->putAndInsertUint16(DCM_PixelRepresentation, 0);
  std::vector<Uint8> rgb(4 * 4 * 3, 90);
  ds->putAndInsertUint8Array(DCM_PixelData, rgb.data(), rgb.size());
  const std::vector<uint8_t> bytes = save(file, EXS_LittleEndianExplicit);
  Result<Image> image = decode_image(bytes.data(), bytes.size(), "photo.dcm");
  ASSERT_FALSE(image.ok());
  EXPECT_NE(image.status().message().find("photo.dcm: DICOM"), std::string::npos) << image.status().message();
  EXPECT_NE(image.status().message().find("RGB"), std::string::npos) << image.status().message();
}

}  // namespace
}  // namespace chexrt::app
