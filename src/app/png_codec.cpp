// PNG through libpng. libpng reports errors by longjmp; every function below that calls
// setjmp keeps only trivially destructible objects in its frame, because a longjmp that skips
// a C++ destructor is undefined behaviour.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "app/codecs.h"

namespace chexrt::app {
namespace {

struct PngErrorSink {
  char message[256] = "unknown libpng error";
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngErrorSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

// Warnings concern ancillary chunks (bad gamma, iCCP profiles): the pixels are still right.
void on_png_warning(png_structp, png_const_charp) {}

struct MemoryReader {
  const uint8_t* data;
  size_t size;
  size_t pos;
};

void read_from_memory(png_structp png, png_bytep out, size_t count) {
  auto* reader = static_cast<MemoryReader*>(png_get_io_ptr(png));
  if (count > reader->size - reader->pos) png_error(png, "truncated file");
  std::memcpy(out, reader->data + reader->pos, count);
  reader->pos += count;
}

bool big_endian_host() {
  const uint16_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 0;
}

struct PngLayout {
  png_uint_32 width;
  png_uint_32 height;
  int source_bit_depth;
  int channels;   // after the transforms: 1 or 3
  int bit_depth;  // after the transforms: 8 or 16
  size_t row_bytes;
};

// Reads IHDR and sets the transforms that turn every PNG colour type into 8- or 16-bit grey
// or RGB: palette -> RGB, 1/2/4-bit grey -> 8-bit (scaled, so 1-bit white is 255), alpha
// dropped (as PIL's convert('RGB') does), Adam7 interlacing undone.
bool read_png_layout(png_structp png, png_infop info, PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (bit_depth == 16 && !big_endian_host()) png_set_swap(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->source_bit_depth = bit_depth;
  layout->channels = png_get_channels(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->row_bytes = png_get_rowbytes(png, info);
  return true;
}

bool read_png_rows(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

struct PngReadGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngReadGuard() { png_destroy_read_struct(&png, &info, nullptr); }
};

// Output buffer grown with realloc: the write callback runs inside libpng, where a C++
// exception (std::bad_alloc from a vector) must not be thrown.
struct MemoryWriter {
  uint8_t* data = nullptr;
  size_t size = 0;
  size_t capacity = 0;
  ~MemoryWriter() { std::free(data); }
};

void write_to_memory(png_structp png, png_bytep bytes, size_t count) {
  auto* writer = static_cast<MemoryWriter*>(png_get_io_ptr(png));
  if (count > writer->capacity - writer->size) {
    size_t capacity = writer->capacity == 0 ? 65536 : writer->capacity;
    while (capacity - writer->size < count) capacity *= 2;
    auto* grown = static_cast<uint8_t*>(std::realloc(writer->data, capacity));
    if (grown == nullptr) png_error(png, "out of memory");
    writer->data = grown;
    writer->capacity = capacity;
  }
  std::memcpy(writer->data + writer->size, bytes, count);
  writer->size += count;
}

void flush_memory(png_structp) {}

bool write_png_image(png_structp png, png_infop info, int width, int height, int color_type, int level,
                     png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_compression_level(png, level);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8, color_type,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

struct PngWriteGuard {
  png_structp png = nullptr;
  png_infop info = nullptr;
  ~PngWriteGuard() { png_destroy_write_struct(&png, &info); }
};

}  // namespace

namespace detail {

Result<ImageInfo> png_info(const uint8_t* data, size_t size) {
  // Signature (8 bytes), then the IHDR chunk: length 13, "IHDR", width, height (big-endian),
  // bit depth, colour type.
  if (size < 8 + 8 + 13 || std::memcmp(data + 12, "IHDR", 4) != 0) return parse_error("PNG: no IHDR chunk");
  auto be32 = [&](size_t at) {
    return (uint32_t{data[at]} << 24) | (uint32_t{data[at + 1]} << 16) | (uint32_t{data[at + 2]} << 8) | data[at + 3];
  };
  ImageInfo info;
  info.format = ImageFormat::kPng;
  const uint32_t width = be32(16);
  const uint32_t height = be32(20);
  CHEXRT_RETURN_IF_ERROR(check_image_size(width, height));
  info.width = static_cast<int>(width);
  info.height = static_cast<int>(height);
  info.bytes_per_sample = data[24] == 16 ? 2 : 1;
  // Grey and grey + alpha decode to grey; RGB, RGBA and palette images to RGB.
  const uint8_t color_type = data[25];
  info.channels = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
  // The inflated image data: each row's filter-type byte and its samples at the file's depth,
  // alpha included (palette images: one index per pixel).
  const int samples_per_pixel = color_type == 2 ? 3 : color_type == 4 ? 2 : color_type == 6 ? 4 : 1;
  const int64_t row_bits = int64_t{width} * samples_per_pixel * data[24];
  info.png_rows_bytes = int64_t{height} * (1 + (row_bits + 7) / 8);
  return info;
}

Result<RawImage> decode_png(const uint8_t* data, size_t size) {
  PngErrorSink sink;
  MemoryReader reader{data, size, 0};
  PngReadGuard guard;
  guard.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
  if (guard.png == nullptr) return runtime_error("libpng: cannot create a read context");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) return runtime_error("libpng: cannot create an info context");
  png_set_read_fn(guard.png, &reader, read_from_memory);

  PngLayout layout{};
  if (!read_png_layout(guard.png, guard.info, &layout)) return parse_error(std::string("PNG: ") + sink.message);
  CHEXRT_RETURN_IF_ERROR(check_image_size(layout.width, layout.height));
  if ((layout.channels != 1 && layout.channels != 3) || (layout.bit_depth != 8 && layout.bit_depth != 16)) {
    return unsupported("PNG: " + std::to_string(layout.channels) + " channels of " + std::to_string(layout.bit_depth) +
                       " bits after conversion");
  }

  RawImage image;
  image.width = static_cast<int>(layout.width);
  image.height = static_cast<int>(layout.height);
  image.channels = layout.channels;
  image.source_bit_depth = layout.source_bit_depth;
  image.format = ImageFormat::kPng;
  image.bit_depth = layout.bit_depth;
  // The rows land in the image's own buffer: 16-bit samples byte-swapped by libpng from PNG's
  // big-endian into this machine's order (png_set_swap was set with the layout).
  const size_t count = static_cast<size_t>(image.width) * image.height * image.channels;
  uint8_t* base = nullptr;
  if (layout.bit_depth == 8) {
    image.pixels8.resize(count);
    base = image.pixels8.data();
  } else {
    image.pixels16.resize(count);
    base = reinterpret_cast<uint8_t*>(image.pixels16.data());
  }
  std::vector<png_bytep> rows(layout.height);
  for (png_uint_32 y = 0; y < layout.height; ++y) rows[y] = base + y * layout.row_bytes;
  if (!read_png_rows(guard.png, rows.data())) return parse_error(std::string("PNG: ") + sink.message);
  return image;
}

}  // namespace detail

Result<std::vector<uint8_t>> encode_png(const uint8_t* pixels, int width, int height, int channels,
                                        int compression_level) {
  if (compression_level < 0 || compression_level > 9) {
    return invalid_argument("PNG encoding: compression level " + std::to_string(compression_level) + " is not 0..9");
  }
  if (channels != 1 && channels != 3) {
    return invalid_argument("PNG encoding takes 1 or 3 channels, not " + std::to_string(channels));
  }
  if (width <= 0 || height <= 0) {
    return invalid_argument("PNG encoding of an empty image (" + std::to_string(width) + " x " +
                            std::to_string(height) + ")");
  }
  if (compression_level >= 1 && compression_level <= 3) {
    return detail::encode_png_fast(pixels, width, height, channels, compression_level);
  }
  PngErrorSink sink;
  MemoryWriter writer;
  PngWriteGuard guard;
  guard.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, on_png_error, on_png_warning);
  if (guard.png == nullptr) return runtime_error("libpng: cannot create a write context");
  guard.info = png_create_info_struct(guard.png);
  if (guard.info == nullptr) return runtime_error("libpng: cannot create an info context");
  png_set_write_fn(guard.png, &writer, write_to_memory, flush_memory);

  std::vector<png_bytep> rows(height);
  const size_t stride = static_cast<size_t>(width) * channels;
  for (int y = 0; y < height; ++y) rows[y] = const_cast<png_bytep>(pixels + y * stride);
  const int color_type = channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
  if (!write_png_image(guard.png, guard.info, width, height, color_type, compression_level, rows.data())) {
    return runtime_error(std::string("PNG encoding: ") + sink.message);
  }
  return std::vector<uint8_t>(writer.data, writer.data + writer.size);
}

}  // namespace chexrt::app
