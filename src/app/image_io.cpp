#include "app/image_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "app/codecs.h"
#include "core/jpeg_decode.h"
#include "core/png_rows.h"

namespace chexrt::app {
namespace {

constexpr uint8_t kPngSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
// An uncompressed 8192 x 8192 x 16-bit DICOM is 128 MiB; nothing legitimate comes near this.
constexpr int64_t kMaxFileBytes = int64_t{512} << 20;

// A DICOM data set written without the 128-byte preamble and "DICM" starts directly with
// its first element. Elements are sorted by tag and every image carries the Image Pixel
// module (group 0x0028), so the first group is even and at most 0x0028 (usually 0x0002 for
// the meta header or 0x0008). Only such bytes are handed to the DICOM parser.
bool looks_like_bare_dicom(const uint8_t* data, size_t size) {
  if (size < 8) return false;
  const int group = data[0] | (data[1] << 8);
  return group % 2 == 0 && group >= 0x0002 && group <= 0x0028;
}

}  // namespace

Result<std::vector<uint8_t>> read_file_bytes(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot open: " + std::strerror(error));
  }
  struct FdGuard {
    int fd;
    ~FdGuard() { ::close(fd); }
  } guard{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) return io_error(path + ": cannot stat: " + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) return io_error(path + ": is a directory");
  if (!S_ISREG(info.st_mode)) return io_error(path + ": not a regular file");
  if (info.st_size > kMaxFileBytes) {
    return unsupported(path + ": file of " + std::to_string(info.st_size) + " bytes is larger than the " +
                       std::to_string(kMaxFileBytes >> 20) + " MiB an image may have");
  }
  std::vector<uint8_t> bytes(static_cast<size_t>(info.st_size));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0) {
      if (errno == EINTR) continue;
      return io_error(path + ": read failed: " + std::strerror(errno));
    }
    if (got == 0) break;  // the file shrank while being read
    done += static_cast<size_t>(got);
  }
  bytes.resize(done);
  return bytes;
}

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kUnknown:
      return "unknown";
    case ImageFormat::kPng:
      return "PNG";
    case ImageFormat::kJpeg:
      return "JPEG";
    case ImageFormat::kDicom:
      return "DICOM";
  }
  return "unknown";
}

ImageFormat detect_image_format(const uint8_t* data, size_t size) {
  if (size >= sizeof(kPngSignature) && std::memcmp(data, kPngSignature, sizeof(kPngSignature)) == 0) {
    return ImageFormat::kPng;
  }
  // SOI marker followed by the start of another marker.
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::kJpeg;
  if (size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0) return ImageFormat::kDicom;
  if (dicom_supported() && looks_like_bare_dicom(data, size)) return ImageFormat::kDicom;
  return ImageFormat::kUnknown;
}

namespace detail {

Status check_image_size(int64_t width, int64_t height) { return jpeg::check_image_size(width, height); }

}  // namespace detail

int64_t decode_peak_bytes(const ImageInfo& info) {
  const int64_t samples = int64_t{info.width} * info.height * info.channels;
  const int64_t bytes = info.bytes_per_sample;
  // 16-bit samples are converted into a second, 8-bit buffer.
  const int64_t eight_bit_copy = bytes == 2 ? 1 : 0;
  switch (info.format) {
    case ImageFormat::kPng:  // the filtered rows (with alpha, if any) beside the pixels
      return info.png_rows_bytes + samples * (bytes + eight_bit_copy);
    case ImageFormat::kDicom:  // DCMTK's stored pixels, intermediate and 16-bit rendering
      return samples * (8 + eight_bit_copy);
    default:
      return samples * (bytes + eight_bit_copy);
  }
}

Result<ImageInfo> read_image_info(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) return parse_error(name + ": empty file");
  Result<ImageInfo> info = parse_error("not an image: no PNG, JPEG or DICOM signature");
  switch (detect_image_format(data, size)) {
    case ImageFormat::kPng:
      info = detail::png_info(data, size);
      break;
    case ImageFormat::kJpeg:
      info = detail::jpeg_info(data, size);
      break;
    case ImageFormat::kDicom:
      info = detail::dicom_info(data, size);
      break;
    case ImageFormat::kUnknown:
      break;
  }
  if (!info.ok()) return info.status().with_context(name);
  return info;
}

namespace {

Result<detail::RawImage> decode_raw(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) return parse_error(name + ": empty file");
  Result<detail::RawImage> image = parse_error("not an image: no PNG, JPEG or DICOM signature");
  switch (detect_image_format(data, size)) {
    case ImageFormat::kPng:
      image = detail::decode_png_fast(data, size);
      if (!image.ok()) image = detail::decode_png(data, size);
      break;
    case ImageFormat::kJpeg:
      image = detail::decode_jpeg(data, size);
      break;
    case ImageFormat::kDicom:
      image = detail::decode_dicom(data, size);
      break;
    case ImageFormat::kUnknown:
      break;
  }
  if (!image.ok()) return image.status().with_context(name);
  return image;
}

}  // namespace

Result<Image> decode_image(const uint8_t* data, size_t size, const std::string& name) {
  CHEXRT_ASSIGN_OR_RETURN(detail::RawImage raw, decode_raw(data, size, name));
  Image image;
  image.width = raw.width;
  image.height = raw.height;
  image.channels = raw.channels;
  image.source_bit_depth = raw.source_bit_depth;
  image.format = raw.format;
  if (raw.bit_depth == 8) {
    image.pixels.resize(raw.pixels8.size());
    for (size_t i = 0; i < raw.pixels8.size(); ++i) image.pixels[i] = raw.pixels8[i] / 255.0f;
  } else {
    image.pixels.resize(raw.pixels16.size());
    for (size_t i = 0; i < raw.pixels16.size(); ++i) image.pixels[i] = raw.pixels16[i] / 65535.0f;
  }
  return image;
}

uint8_t sixteen_to_eight(uint16_t v) { return png_rows::sixteen_to_eight(v); }

Result<ImageView> inflate_png_rows(const uint8_t* data, size_t size, std::vector<uint8_t>* rows) {
  if (detect_image_format(data, size) != ImageFormat::kPng) return unsupported("not a PNG");
  CHEXRT_ASSIGN_OR_RETURN(const detail::PngRows png, detail::inflate_png_fast(data, size, rows));
  return png_rows_view(rows->data(), png.width, png.height, png.format);
}

Result<Image8> decode_image8(const uint8_t* data, size_t size, const std::string& name) {
  CHEXRT_ASSIGN_OR_RETURN(detail::RawImage raw, decode_raw(data, size, name));
  Image8 image{raw.width, raw.height, raw.channels, {}};
  if (raw.bit_depth == 8) {
    image.pixels = std::move(raw.pixels8);
  } else {
    image.pixels.resize(raw.pixels16.size());
    for (size_t i = 0; i < raw.pixels16.size(); ++i) image.pixels[i] = sixteen_to_eight(raw.pixels16[i]);
  }
  return image;
}

Result<Image> read_image(const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, read_file_bytes(path));
  return decode_image(bytes.data(), bytes.size(), path);
}

}  // namespace chexrt::app
