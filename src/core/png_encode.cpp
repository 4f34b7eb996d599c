#include "core/png_encode.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "chexrt/image_input.h"

namespace chexrt::png_encode {
namespace {

// Deflate's bit order: each value's low bit first, bytes filled from their low bit.
class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>* out) : out_(out) {}
  void put(uint32_t bits, int count) {
    acc_ |= static_cast<uint64_t>(bits) << fill_;
    fill_ += count;
    while (fill_ >= 8) {
      out_->push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      fill_ -= 8;
    }
  }
  /// Pads to the byte with zeros.
  void align() {
    if (fill_ > 0) put(0, 8 - fill_);
  }

 private:
  std::vector<uint8_t>* out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

struct CountOnce {
  void operator()(uint32_t* counter) const { ++*counter; }
};

// The code of one alphabet from its counts (made to hold at least two symbols).
void build_code(uint32_t* freq, int n, uint8_t* lengths, uint16_t* codes) {
  ensure_two_symbols(freq, n);
  std::vector<uint16_t> order(n);
  std::vector<uint32_t> work(n);
  const int used = order_symbols(freq, n, order.data());
  code_lengths(freq, order.data(), used, kMaxCodeBits, work.data(), lengths, n);
  canonical_codes(lengths, n, codes);
}

// Appends segment `s` to `out`: one dynamic Huffman block and the sync flush, or stored blocks
// where those are no larger. Adds the segment's sums to `adler`.
void encode_segment(const uint8_t* pixels, int height, long long row_bytes, int bpp, int s, std::vector<uint8_t>* out,
                    uint32_t* adler) {
  const long long size = segment_bytes(height, row_bytes, s);
  const int first_row = s * kSegmentRows;
  const long long chunks = (size + kChunkBytes - 1) / kChunkBytes;
  Chunk chunk;

  uint32_t litlen[kNumLitLen] = {}, dist[kNumDist] = {};
  SymbolCounter<CountOnce> counter{litlen, dist, {}};
  uint64_t a = 0, b = 0;
  for (long long c = 0; c < chunks; ++c) {
    load_chunk(pixels, row_bytes, first_row, size, c, &chunk);
    parse_chunk(chunk, bpp, counter);
    add_adler(chunk, c * kChunkBytes, size, &a, &b);
  }
  *adler =
      combine_adler(*adler, static_cast<uint32_t>(a % kAdlerModulus), static_cast<uint32_t>(b % kAdlerModulus), size);
  litlen[kEndOfBlock] += 1;

  Codes codes;
  build_code(litlen, kNumLitLen, codes.litlen_length, codes.litlen_code);
  build_code(dist, kNumDist, codes.dist_length, codes.dist_code);
  BlockHeader header;
  plan_header(codes, &header);

  const size_t start = out->size();
  BitWriter writer(out);
  write_header(header, writer);
  SymbolWriter<BitWriter> symbols{codes, writer};
  for (long long c = 0; c < chunks; ++c) {
    load_chunk(pixels, row_bytes, first_row, size, c, &chunk);
    parse_chunk(chunk, bpp, symbols);
  }
  writer.put(codes.litlen_code[kEndOfBlock], codes.litlen_length[kEndOfBlock]);
  // The sync flush: an empty stored block.
  writer.put(0, 3);
  writer.align();
  for (uint8_t v : {0x00, 0x00, 0xff, 0xff}) out->push_back(v);
  if (static_cast<long long>(out->size() - start) <= stored_size(size)) return;

  // Incompressible: stored blocks of the filtered bytes instead.
  out->resize(start);
  std::vector<uint8_t> filtered;
  filtered.reserve(static_cast<size_t>(size));
  for (long long c = 0; c < chunks; ++c) {
    load_chunk(pixels, row_bytes, first_row, size, c, &chunk);
    filtered.insert(filtered.end(), chunk.bytes + chunk.lookback, chunk.bytes + chunk.lookback + chunk.size);
  }
  for (long long at = 0; at < size; at += kMaxStoredBlock) {
    const auto n = static_cast<uint16_t>(std::min<long long>(kMaxStoredBlock, size - at));
    const uint8_t head[5] = {0x00, static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(~n),
                             static_cast<uint8_t>(~n >> 8)};
    out->insert(out->end(), head, head + 5);
    out->insert(out->end(), filtered.begin() + at, filtered.begin() + at + n);
  }
}

void put32(uint8_t* at, uint32_t v) {
  for (int k = 0; k < 4; ++k) at[k] = static_cast<uint8_t>(v >> (24 - 8 * k));
}

}  // namespace

Status check_image(int width, int height, int channels) {
  if (width <= 0 || height <= 0 || static_cast<int64_t>(width) * height > kMaxImagePixels) {
    return invalid_argument("PNG encoding: image of " + std::to_string(width) + "x" + std::to_string(height) +
                            " pixels is empty or above the limit of " + std::to_string(kMaxImagePixels));
  }
  if (channels != 1 && channels != 3) {
    return invalid_argument("PNG encoding: " + std::to_string(channels) + " channels (1 or 3 are encoded)");
  }
  return Status::ok_status();
}

Result<std::vector<uint8_t>> encode_png(const uint8_t* pixels, int width, int height, int channels) {
  CHEXRT_RETURN_IF_ERROR(check_image(width, height, channels));
  const long long row_bytes = static_cast<long long>(width) * channels;
  std::vector<uint8_t> png(kPrefixBytes);
  // Within the stored bound: every segment is at most its stored size.
  png.reserve(kPrefixBytes + static_cast<size_t>(stored_size(row_bytes + 1) * height) + kSuffixBytes);
  uint32_t adler = 1;
  for (int s = 0; s < num_segments(height); ++s) encode_segment(pixels, height, row_bytes, channels, s, &png, &adler);
  const size_t deflate_bytes = png.size() - kPrefixBytes;
  png.resize(png.size() + kSuffixBytes);
  frame_png(width, height, channels, deflate_bytes, adler, png.data());
  return png;
}

void frame_png(int width, int height, int channels, size_t deflate_bytes, uint32_t adler, uint8_t* png) {
  const uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::memcpy(png, signature, 8);
  // A chunk at `at` whose `size` data bytes are in place: length, type and CRC around them.
  auto seal = [&](size_t at, const char* type, size_t size) {
    put32(png + at, static_cast<uint32_t>(size));
    std::memcpy(png + at + 4, type, 4);
    put32(png + at + 8 + size, libdeflate_crc32(0, png + at + 4, size + 4));
    return at + 12 + size;
  };
  put32(png + 16, static_cast<uint32_t>(width));
  put32(png + 20, static_cast<uint32_t>(height));
  const uint8_t ihdr_rest[5] = {8, static_cast<uint8_t>(channels == 1 ? 0 : 2), 0, 0, 0};
  std::memcpy(png + 24, ihdr_rest, 5);
  size_t end = seal(8, "IHDR", 13);
  // The zlib header: deflate with a 32K window, no dictionary, "fastest" (0x7801 % 31 == 0).
  png[end + 8] = 0x78;
  png[end + 9] = 0x01;
  // After the segments: an empty final block with the fixed code (BFINAL 1, BTYPE 1, code 256 =
  // seven zero bits), then the Adler-32.
  uint8_t* tail = png + kPrefixBytes + deflate_bytes;
  tail[0] = 0x03;
  tail[1] = 0x00;
  put32(tail + 2, adler);
  end = seal(end, "IDAT", 2 + deflate_bytes + 6);
  seal(end, "IEND", 0);
}

}  // namespace chexrt::png_encode
