// libjpeg reports errors by longjmp; the functions that call setjmp keep only trivially
// destructible objects in their frame.
#include <cstdio>  // jpeglib.h needs FILE and size_t first

#include <jerror.h>
#include <jpeglib.h>

#include <csetjmp>
#include <cstring>
#include <string>

#include "core/jpeg_decode.h"

namespace chexrt::jpeg {
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
  return check_image_size(decoder->cinfo.image_width, decoder->cinfo.image_height);
}

}  // namespace

Status check_image_size(int64_t width, int64_t height) {
  if (width <= 0 || height <= 0) {
    return parse_error("image has no pixels (" + std::to_string(width) + " x " + std::to_string(height) + ")");
  }
  if (width * height > kMaxImagePixels) {
    return unsupported("image of " + std::to_string(width) + " x " + std::to_string(height) +
                       " pixels is larger than the limit of " + std::to_string(kMaxImagePixels) + " pixels");
  }
  return Status::ok_status();
}

Result<Header> read_header(const uint8_t* data, size_t size) {
  JpegDecoder decoder;
  JpegGuard guard{&decoder};
  CHEXRT_RETURN_IF_ERROR(open_jpeg(&decoder, data, size));
  const jpeg_decompress_struct& cinfo = decoder.cinfo;
  Header header;
  header.width = static_cast<int>(cinfo.image_width);
  header.height = static_cast<int>(cinfo.image_height);
  header.channels = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
  header.components = cinfo.num_components;
  switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
      header.color = ColorSpace::kGrey;
      break;
    case JCS_YCbCr:
      header.color = ColorSpace::kYCbCr;
      break;
    case JCS_RGB:
      header.color = ColorSpace::kRgb;
      break;
    default:
      header.color = ColorSpace::kOther;
      break;
  }
  header.progressive = cinfo.progressive_mode != 0;
  header.arithmetic = cinfo.arith_code != 0;
  for (int c = 1; c < cinfo.num_components; ++c) {
    header.subsampled |= cinfo.comp_info[c].h_samp_factor != cinfo.comp_info[0].h_samp_factor ||
                         cinfo.comp_info[c].v_samp_factor != cinfo.comp_info[0].v_samp_factor;
  }
  return header;
}

Result<Image8> decode(const uint8_t* data, size_t size) {
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
  Image8 image;
  image.pixels.resize(row_bytes * cinfo.image_height);
  if (!read_jpeg_pixels(&decoder, image.pixels.data(), row_bytes)) {
    return parse_error(std::string("JPEG: ") + decoder.message);
  }
  image.width = static_cast<int>(cinfo.output_width);
  image.height = static_cast<int>(cinfo.output_height);
  image.channels = channels;
  return image;
}

Result<Image8> decode_view(const ImageView& view) {
  CHEXRT_ASSIGN_OR_RETURN(Image8 image, decode(view.pixels, view.jpeg_size));
  if (image.width != view.width || image.height != view.height || image.channels != view.channels) {
    return invalid_argument("JPEG: decodes to " + std::to_string(image.width) + " x " + std::to_string(image.height) +
                            " x " + std::to_string(image.channels) + ", the view says " + std::to_string(view.width) +
                            " x " + std::to_string(view.height) + " x " + std::to_string(view.channels));
  }
  return image;
}

}  // namespace chexrt::jpeg
