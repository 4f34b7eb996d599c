// DICOM through DCMTK: dcmdata parses the file (decompressing JPEG, JPEG-LS and RLE pixel data
// through the registered codecs), dcmimgle applies the modality and VOI transforms.
// CHEXRT_APP_WITH_DCMTK is set by src/app/CMakeLists.txt; nothing outside this file knows.
#include "app/codecs.h"

#if CHEXRT_APP_WITH_DCMTK
#include "dcmtk/config/osconfig.h"  // must come first among DCMTK headers
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "dcmtk/dcmdata/dcistrmb.h"
#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"

#include <mutex>
#endif

namespace chexrt::app {

#if CHEXRT_APP_WITH_DCMTK

bool dicom_supported() { return true; }

namespace detail {
namespace {

// Codec registration is global in DCMTK; do it once, before the first decode on any thread.
void register_dicom_codecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    // DCMTK logs a warning to stderr for every oddity it tolerates (odd element lengths, a
    // preamble without meta header), which would interleave with a batch's own report. The
    // errors that stop a decode reach the caller in the Status; DCMTK's own error lines stay.
    OFLog::configure(OFLogger::ERROR_LOG_LEVEL);
    DJDecoderRegistration::registerCodecs();    // JPEG baseline, extended, lossless
    DJLSDecoderRegistration::registerCodecs();  // JPEG-LS
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

// Parses the data set (the pixel data stays compressed until DicomImage renders it).
Status read_dataset(const uint8_t* data, size_t size, DcmFileFormat* file) {
  DcmInputBufferStream stream;
  stream.setBuffer(data, static_cast<offile_off_t>(size));
  stream.setEos();
  file->transferInit();
  // EXS_Unknown: DCMTK reads the meta header when there is one, and otherwise guesses the
  // transfer syntax of a bare data set from its first bytes.
  const OFCondition read = file->read(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file->transferEnd();
  if (read.bad()) {
    // Typically "Invalid stream": an element claims more bytes than the file has left.
    return parse_error(std::string("DICOM: cannot parse the data set (") + read.text() +
                       "); the file is truncated or damaged");
  }
  if (!file->getDataset()->tagExists(DCM_PixelData)) return parse_error("DICOM: no pixel data (not an image)");
  return Status::ok_status();
}

// The image's size from the data set, checked against kMaxImagePixels.
Status read_image_size(DcmDataset* dataset, Uint16* rows, Uint16* columns) {
  dataset->findAndGetUint16(DCM_Rows, *rows);
  dataset->findAndGetUint16(DCM_Columns, *columns);
  return check_image_size(*columns, *rows);
}

}  // namespace

Result<ImageInfo> dicom_info(const uint8_t* data, size_t size) {
  DcmFileFormat file;
  CHEXRT_RETURN_IF_ERROR(read_dataset(data, size, &file));
  DcmDataset* dataset = file.getDataset();
  Uint16 rows = 0;
  Uint16 columns = 0;
  Uint16 samples_per_pixel = 1;
  CHEXRT_RETURN_IF_ERROR(read_image_size(dataset, &rows, &columns));
  dataset->findAndGetUint16(DCM_SamplesPerPixel, samples_per_pixel);
  ImageInfo info;
  info.format = ImageFormat::kDicom;
  info.width = columns;
  info.height = rows;
  info.channels = samples_per_pixel == 1 ? 1 : 3;
  info.bytes_per_sample = 2;
  return info;
}

Result<RawImage> decode_dicom(const uint8_t* data, size_t size) {
  register_dicom_codecs();
  DcmFileFormat file;
  CHEXRT_RETURN_IF_ERROR(read_dataset(data, size, &file));
  DcmDataset* dataset = file.getDataset();
  Uint16 rows = 0;
  Uint16 columns = 0;
  Uint16 bits_stored = 0;
  CHEXRT_RETURN_IF_ERROR(read_image_size(dataset, &rows, &columns));
  dataset->findAndGetUint16(DCM_BitsStored, bits_stored);
  OFString photometric;
  dataset->findAndGetOFString(DCM_PhotometricInterpretation, photometric);

  // Only the first frame is decoded (fstart 0, fcount 1): a radiograph has one.
  DicomImage dicom(dataset, dataset->getOriginalXfer(), 0UL, 0UL, 1UL);
  if (dicom.getStatus() != EIS_Normal) {
    return parse_error(std::string("DICOM: ") + DicomImage::getString(dicom.getStatus()) +
                       " (photometric interpretation '" + photometric.c_str() + "')");
  }
  if (!dicom.isMonochrome()) {
    return unsupported("DICOM: photometric interpretation '" + std::string(photometric.c_str()) +
                       "'; chexrt reads monochrome radiographs only");
  }
  // The display transform the file asks for: its first VOI window, else its first VOI LUT,
  // else the full range of the pixel values present.
  bool voi_ok = false;
  if (dicom.getWindowCount() > 0) {
    voi_ok = dicom.setWindow(0) != 0;
  } else if (dicom.getVoiLutCount() > 0) {
    voi_ok = dicom.setVoiLut(0) != 0;
  } else {
    voi_ok = dicom.setMinMaxWindow() != 0;
  }
  if (!voi_ok) return parse_error("DICOM: cannot apply the VOI (window) transform");

  // 16-bit rendering keeps the precision of 12- to 16-bit data. DCMTK renders MONOCHROME1
  // inverted (its presentation LUT), so 0 is black for both photometric interpretations.
  const auto* rendered = static_cast<const Uint16*>(dicom.getOutputData(16, 0, 0));
  if (rendered == nullptr) return parse_error("DICOM: rendering the first frame failed");

  RawImage image;
  image.width = static_cast<int>(dicom.getWidth());
  image.height = static_cast<int>(dicom.getHeight());
  image.channels = 1;
  image.source_bit_depth = bits_stored;
  image.format = ImageFormat::kDicom;
  image.bit_depth = 16;
  image.pixels16.assign(rendered, rendered + static_cast<size_t>(image.width) * image.height);
  return image;
}

}  // namespace detail

#else

bool dicom_supported() { return false; }

namespace detail {

Result<ImageInfo> dicom_info(const uint8_t*, size_t) {
  return unsupported("DICOM: this chexrt was built without DCMTK (configure with CHEXRT_WITH_DCMTK=ON)");
}

Result<RawImage> decode_dicom(const uint8_t*, size_t) {
  return unsupported("DICOM: this chexrt was built without DCMTK (configure with CHEXRT_WITH_DCMTK=ON)");
}

}  // namespace detail

#endif

}  // namespace chexrt::app
