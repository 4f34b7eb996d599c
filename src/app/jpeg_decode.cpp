// JPEG through libjpeg(-turbo) with its default (ISLOW) IDCT and fancy upsampling: the same
// settings PIL uses, so both give the same pixels; and the JPEG encoder (heat maps). libjpeg
// reports errors by longjmp; the functions that call setjmp keep only trivially destructible
// objects in their frame.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <cstddef>
#include <cstdlib>
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

// The encoder's counterpart of JpegDecoder.
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
