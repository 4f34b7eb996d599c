// PNG decoding for the common X-ray layouts with libdeflate, and fast PNG encoding with ISA-L's
// igzip, instead of zlib.
//
// libpng inflates each row through zlib's streaming inflate and unfilters it; for a 1024 x 1024
// 8-bit NIH radiograph that is ~12 ms, most of it zlib. libdeflate inflates the whole image in
// one call, several times faster (docs/PERF.md, "PNG decoding"). This path takes non-interlaced
// 8- and 16-bit grey, grey + alpha, RGB and RGBA images (alpha dropped, as libpng is told to);
// everything else (palette, 1/2/4-bit, Adam7 interlacing) returns kUnsupported, and the caller
// hands the file to libpng. So does any error: libpng then gives its own verdict and message,
// so that both paths accept and refuse the same files.
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "app/codecs.h"
#include "core/png_rows.h"

namespace chexrt::app::detail {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// A thread's decoding buffers, kept for its next image: fresh megabyte buffers cost a page fault
// per 4 KiB on first touch, about a tenth of a decode. Buffers above kKeptBytes (a huge image's)
// are released after use, so that no thread holds on to their memory.
struct Scratch {
  static constexpr size_t kKeptBytes = size_t{16} << 20;
  std::vector<uint8_t> compressed, filtered;
};

Scratch& thread_scratch() {
  thread_local Scratch scratch;
  return scratch;
}

// Releases a kept buffer on the way out when it grew above kKeptBytes.
struct ScratchTrim {
  std::vector<uint8_t>& kept;
  ~ScratchTrim() {
    if (kept.capacity() > Scratch::kKeptBytes) std::vector<uint8_t>().swap(kept);
  }
};

// An encoding thread's filtered rows and igzip's level buffer, kept like Scratch.
struct EncodeScratch {
  std::vector<uint8_t> filtered, level_buffer;
};

struct EncodeScratchTrim {
  EncodeScratch& scratch;
  ~EncodeScratchTrim() {
    if (scratch.filtered.capacity() > Scratch::kKeptBytes) std::vector<uint8_t>().swap(scratch.filtered);
  }
};

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

// decode_png_fast() and inflate_png_fast() up to the filtered rows: the header's checks, the IDAT
// chunks gathered (every chunk's CRC checked) and inflated into `filtered`.
Result<PngRows> inflate_rows(const uint8_t* data, size_t size, std::vector<uint8_t>& filtered) {
  // Signature (8 bytes), then chunks: length, type, data, CRC.
  if (size < 8 + 12 + 13 || std::memcmp(data + 12, "IHDR", 4) != 0 || be32(data + 8) != 13) {
    return parse_error("PNG: no IHDR chunk");
  }
  const uint8_t* ihdr = data + 16;
  const uint32_t width = be32(ihdr);
  const uint32_t height = be32(ihdr + 4);
  const int depth = ihdr[8];
  const int color = ihdr[9];
  if (ihdr[10] != 0 || ihdr[11] != 0) return parse_error("PNG: unknown compression or filter method");
  if (ihdr[12] != 0) return unsupported("PNG: interlaced");
  if (color != 0 && color != 2 && color != 4 && color != 6) {
    return unsupported("PNG: colour type " + std::to_string(color));
  }
  if (depth != 8 && depth != 16) return unsupported("PNG: bit depth " + std::to_string(depth));
  CHEXRT_RETURN_IF_ERROR(check_image_size(width, height));
  PngRows rows;
  rows.width = static_cast<int>(width);
  rows.height = static_cast<int>(height);
  rows.format = {depth, color};
  rows.bytes_per_pixel = png_bytes_per_pixel(rows.format);

  // Gather the IDAT chunks (usually several), checking every chunk's CRC on the way.
  std::vector<uint8_t>& compressed = thread_scratch().compressed;
  const ScratchTrim trim{compressed};
  compressed.clear();
  bool ended = false;
  for (size_t pos = 8; pos + 12 <= size;) {
    const uint32_t length = be32(data + pos);
    if (length > size - pos - 12) return parse_error("PNG: truncated file");
    const uint8_t* type = data + pos + 4;
    // Ancillary chunks (lower-case first letter) with a bad CRC are skipped, as libpng does.
    const bool critical = (type[0] & 0x20) == 0;
    if (libdeflate_crc32(0, type, length + 4) != be32(data + pos + 8 + length)) {
      if (critical) {
        return parse_error("PNG: CRC error in chunk " + std::string(reinterpret_cast<const char*>(type), 4));
      }
      pos += 12 + length;
      continue;
    }
    if (std::memcmp(type, "IDAT", 4) == 0) compressed.insert(compressed.end(), type + 4, type + 4 + length);
    if (std::memcmp(type, "IEND", 4) == 0) {
      ended = true;
      break;
    }
    pos += 12 + length;
  }
  if (!ended) return parse_error("PNG: truncated file");
  if (compressed.empty()) return parse_error("PNG: no image data");

  const size_t row_bytes = static_cast<size_t>(width) * rows.bytes_per_pixel;
  filtered.resize((row_bytes + 1) * height);
  thread_local std::unique_ptr<libdeflate_decompressor, DecompressorDeleter> decompressor(
      libdeflate_alloc_decompressor());
  if (!decompressor) throw std::bad_alloc();
  size_t produced = 0;
  const libdeflate_result inflated = libdeflate_zlib_decompress(
      decompressor.get(), compressed.data(), compressed.size(), filtered.data(), filtered.size(), &produced);
  if (inflated != LIBDEFLATE_SUCCESS || produced != filtered.size()) {
    return parse_error(inflated == LIBDEFLATE_INSUFFICIENT_SPACE ? "PNG: more image data than the image holds"
                                                                 : "PNG: corrupt or truncated image data");
  }
  compressed.clear();
  return rows;
}

}  // namespace

Result<PngRows> inflate_png_fast(const uint8_t* data, size_t size, std::vector<uint8_t>* filtered) {
  CHEXRT_ASSIGN_OR_RETURN(PngRows rows, inflate_rows(data, size, *filtered));
  // decode_png_fast() fails at the first unknown filter type; so does this, before the rows leave.
  const size_t stride = 1 + static_cast<size_t>(rows.width) * rows.bytes_per_pixel;
  for (int y = 0; y < rows.height; ++y) {
    const uint8_t filter = (*filtered)[y * stride];
    if (filter > 4) return parse_error(png_rows::unknown_filter_message(filter, y));
  }
  return rows;
}

Result<RawImage> decode_png_fast(const uint8_t* data, size_t size) {
  std::vector<uint8_t>& filtered = thread_scratch().filtered;
  const ScratchTrim trim{filtered};
  CHEXRT_ASSIGN_OR_RETURN(const PngRows rows, inflate_rows(data, size, filtered));
  const uint32_t width = static_cast<uint32_t>(rows.width);
  const uint32_t height = static_cast<uint32_t>(rows.height);
  const int depth = rows.format.bit_depth;
  const size_t bpp = static_cast<size_t>(rows.bytes_per_pixel);
  const int file_channels = static_cast<int>(bpp) / (depth / 8);
  const size_t row_bytes = static_cast<size_t>(width) * bpp;

  RawImage image;
  image.width = rows.width;
  image.height = rows.height;
  image.channels = file_channels >= 3 ? 3 : 1;
  image.source_bit_depth = depth;
  image.format = ImageFormat::kPng;
  image.bit_depth = depth;
  const size_t out_samples = static_cast<size_t>(width) * image.channels;
  if (depth == 8) {
    image.pixels8.resize(out_samples * height);
  } else {
    image.pixels16.resize(out_samples * height);
  }
  // Rows are unfiltered in place in `filtered` (each after its filter-type byte), the previous
  // row serving as the prior; then copied out without alpha, 16-bit samples from big-endian.
  std::vector<uint8_t> zeros(row_bytes, 0);
  const uint8_t* prior = zeros.data();
  for (uint32_t y = 0; y < height; ++y) {
    uint8_t* line = filtered.data() + y * (row_bytes + 1);
    if (!png_rows::unfilter_row(line[0], line + 1, prior, row_bytes, bpp)) {
      return parse_error(png_rows::unknown_filter_message(line[0], static_cast<int>(y)));
    }
    const uint8_t* row = line + 1;
    prior = row;
    if (depth == 8) {
      uint8_t* out = image.pixels8.data() + y * out_samples;
      if (file_channels == image.channels) {
        std::memcpy(out, row, out_samples);
      } else {
        for (uint32_t x = 0; x < width; ++x) {
          for (int c = 0; c < image.channels; ++c) out[x * image.channels + c] = row[x * file_channels + c];
        }
      }
    } else {
      uint16_t* out = image.pixels16.data() + y * out_samples;
      for (uint32_t x = 0; x < width; ++x) {
        for (int c = 0; c < image.channels; ++c) {
          const uint8_t* s = row + (x * file_channels + c) * 2;
          out[x * image.channels + c] = static_cast<uint16_t>((s[0] << 8) | s[1]);
        }
      }
    }
  }
  return image;
}

Result<std::vector<uint8_t>> encode_png_fast(const uint8_t* pixels, int width, int height, int channels, int level) {
  if (level < 1 || level > ISAL_DEF_MAX_LEVEL) {
    return invalid_argument("PNG encoding: fast level " + std::to_string(level) + " is not 1.." +
                            std::to_string(ISAL_DEF_MAX_LEVEL));
  }
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  const size_t filtered_bytes = (row_bytes + 1) * height;
  if (filtered_bytes > UINT32_MAX) return unsupported("PNG encoding: image too large for one deflate call");
  // Every row with the Up filter: each byte minus the byte above it (zeros above the first row).
  // On heat maps and X-rays it compresses as well as Average and better than Sub, Paeth and None
  // (docs/PERF.md, "Heat maps"), and it is the cheapest to compute: one vector subtraction.
  thread_local EncodeScratch scratch;
  const EncodeScratchTrim trim{scratch};
  std::vector<uint8_t>& filtered = scratch.filtered;
  filtered.resize(filtered_bytes);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = pixels + y * row_bytes;
    uint8_t* out = filtered.data() + y * (row_bytes + 1);
    out[0] = 2;
    if (y == 0) {
      std::memcpy(out + 1, row, row_bytes);
      continue;
    }
    const uint8_t* above = row - row_bytes;
    for (size_t i = 0; i < row_bytes; ++i) out[1 + i] = static_cast<uint8_t>(row[i] - above[i]);
  }

  // The file: signature, IHDR, one IDAT (compressed in place by ISA-L's igzip, as a zlib stream),
  // IEND. Stored deflate blocks bound the output: 5 bytes per 65,535 of input, plus the zlib
  // header and Adler-32.
  constexpr size_t kHead = 8 + 25 + 8;  // signature, IHDR chunk, IDAT length and type
  const size_t bound = filtered_bytes + 5 * (filtered_bytes / 65535 + 1) + 64;
  std::vector<uint8_t> png(kHead + bound + 4 + 12);
  scratch.level_buffer.resize(ISAL_DEF_LVL3_DEFAULT);
  isal_zstream stream;
  isal_deflate_stateless_init(&stream);
  stream.level = static_cast<uint32_t>(level);
  stream.level_buf = scratch.level_buffer.data();
  stream.level_buf_size = static_cast<uint32_t>(scratch.level_buffer.size());
  stream.gzip_flag = IGZIP_ZLIB;
  stream.end_of_stream = 1;
  stream.flush = NO_FLUSH;
  stream.next_in = filtered.data();
  stream.avail_in = static_cast<uint32_t>(filtered_bytes);
  stream.next_out = png.data() + kHead;
  stream.avail_out = static_cast<uint32_t>(bound);
  const int deflated = isal_deflate_stateless(&stream);
  if (deflated != COMP_OK) {
    return runtime_error("PNG encoding: igzip failed (code " + std::to_string(deflated) + ")");
  }
  const size_t idat = stream.total_out;

  uint8_t* p = png.data();
  auto put32 = [](uint8_t* at, uint32_t v) {
    for (int k = 0; k < 4; ++k) at[k] = static_cast<uint8_t>(v >> (24 - 8 * k));
  };
  // A chunk at `at` whose `size` data bytes are already in place: length, type and CRC around them.
  auto seal = [&](size_t at, const char* type, size_t size) {
    put32(p + at, static_cast<uint32_t>(size));
    std::memcpy(p + at + 4, type, 4);
    put32(p + at + 8 + size, libdeflate_crc32(0, p + at + 4, size + 4));
    return at + 12 + size;
  };
  const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::memcpy(p, signature, 8);
  put32(p + 16, static_cast<uint32_t>(width));
  put32(p + 20, static_cast<uint32_t>(height));
  const uint8_t ihdr_rest[5] = {8, static_cast<uint8_t>(channels == 1 ? 0 : 2), 0, 0, 0};
  std::memcpy(p + 24, ihdr_rest, 5);
  size_t end = seal(8, "IHDR", 13);
  end = seal(end, "IDAT", idat);
  end = seal(end, "IEND", 0);
  png.resize(end);
  return png;
}

}  // namespace chexrt::app::detail
