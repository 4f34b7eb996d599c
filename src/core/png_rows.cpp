#include "core/png_rows.h"

#include <cstring>
#include <string>
#include <utility>

namespace chexrt {

int png_bytes_per_pixel(const PngRowFormat& format) {
  if (format.bit_depth != 8 && format.bit_depth != 16) return 0;
  int samples = 0;
  switch (format.color_type) {
    case 0:
      samples = 1;
      break;
    case 2:
      samples = 3;
      break;
    case 4:
      samples = 2;
      break;
    case 6:
      samples = 4;
      break;
    default:
      return 0;
  }
  return samples * format.bit_depth / 8;
}

size_t image_bytes(const ImageView& image) {
  if (image.encoding == PixelEncoding::kJpeg) return image.jpeg_size;
  const size_t width = static_cast<size_t>(image.width > 0 ? image.width : 0);
  const size_t height = static_cast<size_t>(image.height > 0 ? image.height : 0);
  if (image.encoding == PixelEncoding::kPngFiltered) {
    return height * (1 + width * static_cast<size_t>(png_bytes_per_pixel(image.png)));
  }
  return width * height * static_cast<size_t>(image.channels > 0 ? image.channels : 0);
}

namespace png_rows {

std::string unknown_filter_message(int filter, int row) {
  return "PNG: unknown filter type " + std::to_string(filter) + " in row " + std::to_string(row);
}

Status check(const ImageView& image) {
  const int bpp = png_bytes_per_pixel(image.png);
  if (bpp == 0) {
    return invalid_argument("PNG rows of bit depth " + std::to_string(image.png.bit_depth) + " and colour type " +
                            std::to_string(image.png.color_type) + " are not taken (8 or 16 bits; grey, RGB, " +
                            "grey + alpha or RGBA)");
  }
  const int channels = image.png.color_type == 2 || image.png.color_type == 6 ? 3 : 1;
  if (image.channels != channels) {
    return invalid_argument("PNG rows of colour type " + std::to_string(image.png.color_type) + " give " +
                            std::to_string(channels) + " channel(s), not " + std::to_string(image.channels));
  }
  const size_t stride = 1 + static_cast<size_t>(image.width) * bpp;
  for (int y = 0; y < image.height; ++y) {
    const uint8_t filter = image.pixels[y * stride];
    if (filter > 4) return invalid_argument(unknown_filter_message(filter, y));
  }
  return Status::ok_status();
}

Status to_eight_bit(const ImageView& image, std::vector<uint8_t>& scratch, uint8_t* out) {
  CHEXRT_RETURN_IF_ERROR(check(image));
  const size_t bpp = static_cast<size_t>(png_bytes_per_pixel(image.png));
  const size_t row_bytes = static_cast<size_t>(image.width) * bpp;
  const size_t width = static_cast<size_t>(image.width);
  const size_t channels = static_cast<size_t>(image.channels);
  const size_t bytes_per_sample = static_cast<size_t>(image.png.bit_depth / 8);
  const size_t file_channels = bpp / bytes_per_sample;
  // Two rows: the one being unfiltered and its prior (zeros above the first).
  scratch.assign(2 * row_bytes, 0);
  uint8_t* prior = scratch.data();
  uint8_t* row = scratch.data() + row_bytes;
  for (int y = 0; y < image.height; ++y) {
    const uint8_t* line = image.pixels + y * (row_bytes + 1);
    std::memcpy(row, line + 1, row_bytes);
    if (!unfilter_row(line[0], row, prior, row_bytes, bpp)) {
      return invalid_argument(unknown_filter_message(line[0], y));
    }
    uint8_t* dst = out + y * width * channels;
    if (bytes_per_sample == 1 && file_channels == channels) {  // 8-bit grey or RGB: the row itself
      std::memcpy(dst, row, row_bytes);
      std::swap(prior, row);
      continue;
    }
    for (size_t x = 0; x < width; ++x) {
      for (size_t c = 0; c < channels; ++c) {
        const uint8_t* s = row + (x * file_channels + c) * bytes_per_sample;
        dst[x * channels + c] =
            bytes_per_sample == 1 ? s[0] : sixteen_to_eight(static_cast<uint16_t>((s[0] << 8) | s[1]));
      }
    }
    std::swap(prior, row);
  }
  return Status::ok_status();
}

}  // namespace png_rows
}  // namespace chexrt
