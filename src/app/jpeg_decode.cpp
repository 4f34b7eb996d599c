// JPEG decoding (core/jpeg_decode.h, shared with the engines that take JPEG views) wrapped for
// the app's decoders, and the JPEG encoder (heat maps) through libjpeg. libjpeg reports errors by
// longjmp; the function that calls setjmp keeps only trivially destructible objects in its frame.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jpeglib.h>

#include <csetjmp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "app/codecs.h"
#include "core/jpeg_decode.h"

namespace chexrt::app {
namespace {

// libjpeg's compressor with chexrt's error handler: errors longjmp back with the message.
struct JpegEncoder {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr error_manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void on_jpeg_encode_error(j_common_ptr cinfo) {
  auto* encoder =
      reinterpret_cast<JpegEncoder*>(reinterpret_cast<char*>(cinfo->err) - offsetof(JpegEncoder, error_manager));
  (*cinfo->err->format_message)(cinfo, encoder->message);
  std::longjmp(encoder->jump, 1);
}

// Everything between setjmp and a longjmp back here is libjpeg's: no object with a destructor.
bool compress_jpeg(JpegEncoder* encoder, const uint8_t* pixels, int width, int height, int channels, int quality,
                   unsigned char** out, unsigned long* out_size) {
  if (setjmp(encoder->jump)) return false;
  jpeg_create_compress(&encoder->cinfo);
  jpeg_mem_dest(&encoder->cinfo, out, out_size);
  encoder->cinfo.image_width = static_cast<JDIMENSION>(width);
  encoder->cinfo.image_height = static_cast<JDIMENSION>(height);
  encoder->cinfo.input_components = channels;
  encoder->cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&encoder->cinfo);
  jpeg_set_quality(&encoder->cinfo, quality, TRUE);
  jpeg_start_compress(&encoder->cinfo, TRUE);
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  while (encoder->cinfo.next_scanline < encoder->cinfo.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(pixels + encoder->cinfo.next_scanline * row_bytes);
    jpeg_write_scanlines(&encoder->cinfo, &row, 1);
  }
  jpeg_finish_compress(&encoder->cinfo);
  return true;
}

}  // namespace

Result<std::vector<uint8_t>> encode_jpeg(const uint8_t* pixels, int width, int height, int channels, int quality) {
  if (pixels == nullptr || width <= 0 || height <= 0 || (channels != 1 && channels != 3)) {
    return invalid_argument("JPEG encoding: needs 8-bit grey or RGB pixels, not " + std::to_string(width) + " x " +
                            std::to_string(height) + " x " + std::to_string(channels));
  }
  if (quality < 1 || quality > 100) {
    return invalid_argument("JPEG encoding: quality " + std::to_string(quality) + " is not 1 to 100");
  }
  if (width > JPEG_MAX_DIMENSION || height > JPEG_MAX_DIMENSION) {
    return unsupported("JPEG encoding: " + std::to_string(width) + " x " + std::to_string(height) +
                       " is larger than JPEG allows (" + std::to_string(JPEG_MAX_DIMENSION) + ")");
  }
  JpegEncoder encoder;
  std::memset(&encoder, 0, sizeof(encoder));
  encoder.cinfo.err = jpeg_std_error(&encoder.error_manager);
  encoder.error_manager.error_exit = on_jpeg_encode_error;
  unsigned char* buffer = nullptr;  // libjpeg's, from malloc
  unsigned long size = 0;
  const bool ok = compress_jpeg(&encoder, pixels, width, height, channels, quality, &buffer, &size);
  jpeg_destroy_compress(&encoder.cinfo);
  std::vector<uint8_t> bytes;
  if (ok) bytes.assign(buffer, buffer + size);
  std::free(buffer);
  if (!ok) return runtime_error(std::string("JPEG encoding: ") + encoder.message);
  return bytes;
}

namespace detail {

Result<ImageInfo> jpeg_info(const uint8_t* data, size_t size) {
  CHEXRT_ASSIGN_OR_RETURN(const jpeg::Header header, jpeg::read_header(data, size));
  ImageInfo info;
  info.format = ImageFormat::kJpeg;
  info.width = header.width;
  info.height = header.height;
  info.channels = header.channels;
  return info;
}

Result<RawImage> decode_jpeg(const uint8_t* data, size_t size) {
  CHEXRT_ASSIGN_OR_RETURN(Image8 decoded, jpeg::decode(data, size));
  RawImage image;
  image.width = decoded.width;
  image.height = decoded.height;
  image.channels = decoded.channels;
  image.source_bit_depth = 8;
  image.format = ImageFormat::kJpeg;
  image.bit_depth = 8;
  image.pixels8 = std::move(decoded.pixels);
  return image;
}

}  // namespace detail
}  // namespace chexrt::app
