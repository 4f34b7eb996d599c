// JPEG through libjpeg(-turbo) with its default (ISLOW) IDCT and fancy upsampling: the same
// settings PIL uses, so both give the same pixels. libjpeg reports errors by longjmp; the
// functions that call setjmp keep only trivially destructible objects in their frame.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <cstddef>
#include <cstring>

#include "app/codecs.h"

namespace chexrt::app {
namespace {

struct JpegDecoder {
  jpeg_decompress_struct cinfo;
  jpeg_error_mgr error_manager;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

// error_manager is the first member libjpeg sees through cinfo.err; recover the decoder from it.
JpegDecoder* decoder_of(j_common_ptr cinfo) {
  return reinterpret_cast<JpegDecoder*>(reinterpret_cast<char*>(cinfo->err) - offsetof(JpegDecoder, error_manager));
}

[[noreturn]] void on_jpeg_error(j_common_ptr cinfo) {
  JpegDecoder* decoder = decoder_of(cinfo);
  (*cinfo->err->format_message)(cinfo, decoder->message);
  std::longjmp(decoder->jump, 1);
}

// libjpeg only warns when the data ends before the image does, and fills the rest with grey.
// PIL refuses such a file ("image file is truncated") and so does chexrt: a half-grey X-ray
// would still get a confident-looking prediction.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) on_jpeg_error(cinfo);
}

bool read_jpeg_header(JpegDecoder* decoder, const uint8_t* data, size_t size) {
  if (setjmp(decoder->jump)) return false;
  jpeg_create_decompress(&decoder->cinfo);
  jpeg_mem_src(&decoder->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&decoder->cinfo, TRUE);
  return true;
}

bool read_jpeg_pixels(JpegDecoder* decoder, uint8_t* out, size_t row_bytes) {
  if (setjmp(decoder->jump)) return false;
  jpeg_start_decompress(&decoder->cinfo);
  while (decoder->cinfo.output_scanline < decoder->cinfo.output_height) {
    JSAMPROW row = out + decoder->cinfo.output_scanline * row_bytes;
    jpeg_read_scanlines(&decoder->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&decoder->cinfo);
  return true;
}

// jpeg_destroy_decompress is safe on a zeroed struct, so the guard may run even when
// jpeg_create_decompress itself failed.
struct JpegGuard {
  JpegDecoder* decoder;
  ~JpegGuard() { jpeg_destroy_decompress(&decoder->cinfo); }
};

// Zeroes `decoder`, installs chexrt's error handlers, reads the header and checks the image
// size. The caller destroys the decoder through a JpegGuard.
Status open_jpeg(JpegDecoder* decoder, const uint8_t* data, size_t size) {
  std::memset(decoder, 0, sizeof(*decoder));
  decoder->cinfo.err = jpeg_std_error(&decoder->error_manager);
  decoder->error_manager.error_exit = on_jpeg_error;
  decoder->error_manager.emit_message = on_jpeg_message;
  if (!read_jpeg_header(decoder, data, size)) return parse_error(std::string("JPEG: ") + decoder->message);
  return detail::check_image_size(decoder->cinfo.image_width, decoder->cinfo.image_height);
}

}  // namespace

namespace detail {

Result<ImageInfo> jpeg_info(const uint8_t* data, size_t size) {
  JpegDecoder decoder;
  JpegGuard guard{&decoder};
  CHEXRT_RETURN_IF_ERROR(open_jpeg(&decoder, data, size));
  ImageInfo info;
  info.format = ImageFormat::kJpeg;
  info.width = static_cast<int>(decoder.cinfo.image_width);
  info.height = static_cast<int>(decoder.cinfo.image_height);
  info.channels = decoder.cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  return info;
}

Result<RawImage> decode_jpeg(const uint8_t* data, size_t size) {
  JpegDecoder decoder;
  JpegGuard guard{&decoder};
  CHEXRT_RETURN_IF_ERROR(open_jpeg(&decoder, data, size));
  jpeg_decompress_struct& cinfo = decoder.cinfo;
  int channels = 0;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      cinfo.out_color_space = JCS_GRAYSCALE;
      channels = 1;
      break;
    case JCS_YCbCr:
    case JCS_RGB:
      cinfo.out_color_space = JCS_RGB;
      channels = 3;
      break;
    default:
      return unsupported("JPEG: colour space " + std::to_string(cinfo.jpeg_color_space) +
                         " (CMYK or YCCK); chest X-rays are grey or RGB");
  }

  const size_t row_bytes = static_cast<size_t>(cinfo.image_width) * channels;
  RawImage image;
  image.pixels8.resize(row_bytes * cinfo.image_height);
  if (!read_jpeg_pixels(&decoder, image.pixels8.data(), row_bytes)) {
    return parse_error(std::string("JPEG: ") + decoder.message);
  }
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.channels = channels;
  image.source_bit_depth = 8;
  image.format = ImageFormat::kJpeg;
  image.bit_depth = 8;
  return image;
}

}  // namespace detail
}  // namespace chexrt::app
