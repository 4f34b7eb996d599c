// PNG decoding for the common X-ray layouts, and fast PNG encoding, with libdeflate instead of
// zlib.
//
// libpng inflates each row through zlib's streaming inflate and unfilters it; for a 1024 x 1024
// 8-bit NIH radiograph that is ~12 ms, most of it zlib. libdeflate inflates the whole image in
// one call, several times faster (docs/PERF.md, "PNG decoding"). This path takes non-interlaced
// 8- and 16-bit grey, grey + alpha, RGB and RGBA images (alpha dropped, as libpng is told to);
// everything else (palette, 1/2/4-bit, Adam7 interlacing) returns kUnsupported, and the caller
// hands the file to libpng. So does any error: libpng then gives its own verdict and message,
// so that both paths accept and refuse the same files.
#include <libdeflate.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "app/codecs.h"

namespace chexrt::app::detail {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// The Paeth predictor (PNG spec 9.4) in the branch-free form: with p = a + b - c,
// |p - a| = |b - c|, |p - b| = |a - c| and |p - c| = |(a - c) + (b - c)|. Ties prefer a, then b.
inline int paeth(int a, int b, int c) {
  const int pa = std::abs(b - c);
  const int pb = std::abs(a - c);
  const int pc = std::abs(a + b - 2 * c);
  const int ab = pb < pa ? b : a;
  const int min_ab = pb < pa ? pb : pa;
  return pc < min_ab ? c : ab;
}

// Undoes the filter of one row in place. `prior` is the previous unfiltered row (zeros for the
// first), `bpp` the bytes per complete pixel. Grey 8-bit images (bpp 1, the common X-ray) carry
// the left and upper-left bytes in registers: Average and Paeth are a serial chain there, and a
// reload of the byte just written would lengthen it.
bool unfilter_row(uint8_t filter, uint8_t* __restrict row, const uint8_t* __restrict prior, size_t bytes, size_t bpp) {
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (size_t i = bpp; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + row[i - bpp]);
      return true;
    case 2:
      for (size_t i = 0; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
      return true;
    case 3:
      if (bpp == 1) {
        int a = 0;
        for (size_t i = 0; i < bytes; ++i) {
          a = (row[i] + ((a + prior[i]) >> 1)) & 0xff;
          row[i] = static_cast<uint8_t>(a);
        }
        return true;
      }
      for (size_t i = 0; i < bpp; ++i) row[i] = static_cast<uint8_t>(row[i] + (prior[i] >> 1));
      for (size_t i = bpp; i < bytes; ++i) row[i] = static_cast<uint8_t>(row[i] + ((row[i - bpp] + prior[i]) >> 1));
      return true;
    case 4:
      if (bpp == 1) {
        int a = 0;
        int c = 0;
        for (size_t i = 0; i < bytes; ++i) {
          const int b = prior[i];
          a = (row[i] + paeth(a, b, c)) & 0xff;
          row[i] = static_cast<uint8_t>(a);
          c = b;
        }
        return true;
      }
      for (size_t i = 0; i < bpp; ++i) row[i] = static_cast<uint8_t>(row[i] + prior[i]);
      for (size_t i = bpp; i < bytes; ++i) {
        row[i] = static_cast<uint8_t>(row[i] + paeth(row[i - bpp], prior[i], prior[i - bpp]));
      }
      return true;
    default:
      return false;
  }
}

// A thread's decoding buffers, kept for its next image: fresh megabyte buffers cost a page fault
// per 4 KiB on first touch, about a tenth of a decode. Buffers above kKeptBytes (a huge image's)
// are released after use, so that no thread holds on to their memory.
struct Scratch {
  static constexpr size_t kKeptBytes = size_t{16} << 20;
  std::vector<uint8_t> compressed, filtered;
};

struct ScratchTrim {
  Scratch& scratch;
  ~ScratchTrim() {
    for (std::vector<uint8_t>* v : {&scratch.compressed, &scratch.filtered}) {
      if (v->capacity() > Scratch::kKeptBytes) std::vector<uint8_t>().swap(*v);
    }
  }
};

struct DecompressorDeleter {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

}  // namespace

Result<RawImage> decode_png_fast(const uint8_t* data, size_t size) {
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
  int file_channels = 0;
  switch (color) {
    case 0:
      file_channels = 1;
      break;  // grey
    case 4:
      file_channels = 2;
      break;  // grey + alpha
    case 2:
      file_channels = 3;
      break;  // RGB
    case 6:
      file_channels = 4;
      break;  // RGBA
    default:
      return unsupported("PNG: colour type " + std::to_string(color));
  }
  if (depth != 8 && depth != 16) return unsupported("PNG: bit depth " + std::to_string(depth));
  CHEXRT_RETURN_IF_ERROR(check_image_size(width, height));

  // Gather the IDAT chunks (usually several), checking every chunk's CRC on the way.
  thread_local Scratch scratch;
  const ScratchTrim trim{scratch};
  std::vector<uint8_t>& compressed = scratch.compressed;
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

  const size_t bytes_per_sample = depth / 8;
  const size_t bpp = file_channels * bytes_per_sample;
  const size_t row_bytes = static_cast<size_t>(width) * bpp;
  std::vector<uint8_t>& filtered = scratch.filtered;
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

  RawImage image;
  image.width = static_cast<int>(width);
  image.height = static_cast<int>(height);
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
    if (!unfilter_row(line[0], line + 1, prior, row_bytes, bpp)) {
      return parse_error("PNG: unknown filter type " + std::to_string(line[0]) + " in row " + std::to_string(y));
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
  const size_t row_bytes = static_cast<size_t>(width) * channels;
  // Every row with the Sub filter: each byte minus the same channel of the pixel to its left.
  std::vector<uint8_t> filtered((row_bytes + 1) * height);
  for (int y = 0; y < height; ++y) {
    const uint8_t* row = pixels + y * row_bytes;
    uint8_t* out = filtered.data() + y * (row_bytes + 1);
    out[0] = 1;
    for (size_t i = 0; i < row_bytes; ++i) {
      out[1 + i] = static_cast<uint8_t>(row[i] - (i >= static_cast<size_t>(channels) ? row[i - channels] : 0));
    }
  }
  struct CompressorDeleter {
    void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
  };
  std::unique_ptr<libdeflate_compressor, CompressorDeleter> compressor(libdeflate_alloc_compressor(level));
  if (!compressor) throw std::bad_alloc();
  std::vector<uint8_t> idat(libdeflate_zlib_compress_bound(compressor.get(), filtered.size()));
  idat.resize(libdeflate_zlib_compress(compressor.get(), filtered.data(), filtered.size(), idat.data(), idat.size()));
  if (idat.empty()) return runtime_error("PNG encoding: libdeflate could not compress the image");

  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto put32 = [&png](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) png.push_back(static_cast<uint8_t>(v >> shift));
  };
  auto chunk = [&](const char* type, const uint8_t* data, size_t size) {
    put32(static_cast<uint32_t>(size));
    const size_t start = png.size();
    png.insert(png.end(), type, type + 4);
    png.insert(png.end(), data, data + size);
    put32(libdeflate_crc32(0, png.data() + start, size + 4));
  };
  const uint8_t ihdr[13] = {static_cast<uint8_t>(width >> 24),
                            static_cast<uint8_t>(width >> 16),
                            static_cast<uint8_t>(width >> 8),
                            static_cast<uint8_t>(width),
                            static_cast<uint8_t>(height >> 24),
                            static_cast<uint8_t>(height >> 16),
                            static_cast<uint8_t>(height >> 8),
                            static_cast<uint8_t>(height),
                            8,
                            static_cast<uint8_t>(channels == 1 ? 0 : 2),
                            0,
                            0,
                            0};
  png.reserve(8 + 25 + idat.size() + 12 + 12);
  chunk("IHDR", ihdr, sizeof(ihdr));
  chunk("IDAT", idat.data(), idat.size());
  chunk("IEND", nullptr, 0);
  return png;
}

}  // namespace chexrt::app::detail
