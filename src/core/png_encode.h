// A PNG encoder for 8-bit grey and RGB images that runs in parallel, on the GPU (CUDA backend:
// kernels/png_encode.cu) as on the host (png_encode.cpp, the CPU reference), with the same bytes:
// every step either side runs is a function of this header.
//
// The image's rows are filtered (row 0 None, the others Up: each byte minus the one above, what
// the CPU's igzip path does) and cut into segments of kSegmentRows rows. Each segment is deflated
// on its own (RFC 1951): one block with a dynamic Huffman code built from that segment's own
// symbol counts (at most 15 bits a code), or stored blocks where those would be smaller (noise),
// ended by an empty stored block (a "sync flush") so that it ends on a byte boundary and the
// segments concatenate into one stream. Inside a segment, the filtered bytes are parsed in
// chunks of kChunkBytes, each chunk on its own (a GPU thread's share): a run of a byte repeated
// at distance 1, or one pixel back (distance = bytes per pixel), becomes a match, everything else
// a literal. That is much cheaper than a hash-chain search and finds what heat maps repeat: flat
// areas, grey pixels (R = G = B) and the zeros Up leaves where rows repeat. The zlib stream ends
// with an empty final block and the Adler-32 of the filtered bytes, combined from each segment's
// sums; the PNG file is signature, IHDR, one IDAT and IEND.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "chexrt/status.h"
#include "core/host_device.h"

namespace chexrt::png_encode {

inline constexpr int kSegmentRows = 16;
inline constexpr int kChunkBytes = 128;
/// The farthest a match looks back: one RGB pixel.
inline constexpr int kLookback = 3;
inline constexpr int kMinMatch = 3;
inline constexpr int kMaxMatch = 258;
inline constexpr int kEndOfBlock = 256;
inline constexpr int kNumLitLen = 286;
inline constexpr int kNumDist = 30;
inline constexpr int kNumCodeLen = 19;
inline constexpr int kMaxCodeBits = 15;
inline constexpr int kMaxCodeLenBits = 7;
inline constexpr int kMaxStoredBlock = 65535;
/// A block header's bits at most: 3 (BFINAL, BTYPE) + 14 (HLIT, HDIST, HCLEN) + 19 * 3 (the code
/// length code) + 316 code lengths of at most 7 + 7 (a repeat's extra bits) = 4498.
inline constexpr int kMaxHeaderWords = (4498 + 31) / 32;
/// Bytes of the file before the deflate blocks (signature, IHDR, IDAT length and type, zlib
/// header) and after them (empty final block, Adler-32, IDAT's CRC, IEND).
inline constexpr size_t kPrefixBytes = 8 + 25 + 8 + 2;
inline constexpr size_t kSuffixBytes = 2 + 4 + 4 + 12;
inline constexpr uint32_t kAdlerModulus = 65521;

// --- Geometry ------------------------------------------------------------------------------

CHEXRT_HOST_DEVICE inline int num_segments(int height) { return (height + kSegmentRows - 1) / kSegmentRows; }

/// Filtered bytes of segment `s`: its rows, each a filter byte and the row's samples.
CHEXRT_HOST_DEVICE inline long long segment_bytes(int height, long long row_bytes, int s) {
  const int rows = height - s * kSegmentRows < kSegmentRows ? height - s * kSegmentRows : kSegmentRows;
  return rows * (row_bytes + 1);
}

/// A segment of `n` bytes as stored blocks: a 5-byte header per kMaxStoredBlock bytes.
CHEXRT_HOST_DEVICE inline long long stored_size(long long n) {
  return n + 5 * ((n + kMaxStoredBlock - 1) / kMaxStoredBlock);
}

/// The bytes one chunk's parse reads: up to kLookback bytes before it (those of its segment) and
/// its own.
struct Chunk {
  uint8_t bytes[kLookback + kChunkBytes];
  int lookback = 0;  ///< bytes before the chunk held: bytes[lookback] is the chunk's first
  int size = 0;
};

/// Chunk `index` of the segment whose first row is `first_row` and whose filtered bytes number
/// `size`, filtered from `pixels` (rows of `row_bytes` packed; the whole image, row 0 first).
CHEXRT_HOST_DEVICE inline void load_chunk(const uint8_t* pixels, long long row_bytes, int first_row, long long size,
                                          long long index, Chunk* c) {
  const long long start = index * kChunkBytes;
  const long long begin = start >= kLookback ? start - kLookback : 0;
  const long long end = start + kChunkBytes < size ? start + kChunkBytes : size;
  c->lookback = static_cast<int>(start - begin);
  c->size = static_cast<int>(end - start);
  const long long stride = row_bytes + 1;
  long long y = first_row + begin / stride;
  long long col = begin % stride;
  for (long long q = begin; q < end; ++q) {
    uint8_t v;
    if (col == 0) {
      v = y == 0 ? 0 : 2;  // filter None for row 0, Up for the others
    } else {
      const uint8_t* p = pixels + y * row_bytes + (col - 1);
      v = y == 0 ? *p : static_cast<uint8_t>(*p - *(p - row_bytes));
    }
    c->bytes[q - begin] = v;
    if (++col == stride) col = 0, ++y;
  }
}

// --- Parsing -------------------------------------------------------------------------------

/// How many bytes from chunk position `i` repeat the byte `distance` back (0 where that lies
/// before the segment), up to the chunk's end and kMaxMatch.
CHEXRT_HOST_DEVICE inline int repeat_length(const Chunk& c, int i, int distance) {
  if (c.lookback + i < distance) return 0;
  const uint8_t* b = c.bytes + c.lookback;
  const int limit = c.size - i < kMaxMatch ? c.size - i : kMaxMatch;
  int n = 0;
  while (n < limit && b[i + n] == b[i + n - distance]) ++n;
  return n;
}

/// The chunk as literals and matches, in order: visitor.literal(byte), visitor.match(length,
/// distance). At each position the longer repeat of distance 1 and distance `bpp` (bytes per
/// pixel, 1 or 3; the nearer on a tie) is a match when at least kMinMatch long.
template <class Visitor>
CHEXRT_HOST_DEVICE void parse_chunk(const Chunk& c, int bpp, Visitor& visitor) {
  int i = 0;
  while (i < c.size) {
    int length = repeat_length(c, i, 1);
    int distance = 1;
    if (bpp > 1) {
      const int far = repeat_length(c, i, bpp);
      if (far > length) length = far, distance = bpp;
    }
    if (length >= kMinMatch) {
      visitor.match(length, distance);
      i += length;
    } else {
      visitor.literal(c.bytes[c.lookback + i]);
      ++i;
    }
  }
}

/// RFC 1951 3.2.5: the symbol of a match length (3..258) and its extra bits. With v = length - 3,
/// lengths 3..10 are symbols 257..264, then each group of four symbols doubles its span: symbol
/// 257 + 4e + (v >> e) with e extra bits, e = floor(log2 v) - 2; 258 alone is 285.
CHEXRT_HOST_DEVICE inline int length_symbol(int length, int* extra_bits, int* extra) {
  if (length == kMaxMatch) {
    *extra_bits = *extra = 0;
    return 285;
  }
  const int v = length - kMinMatch;
  int e = 0;
  while ((v >> (e + 3)) != 0) ++e;
  *extra_bits = e;
  *extra = v & ((1 << e) - 1);
  return 257 + 4 * e + (v >> e);
}

/// Distances 1 to 4 are distance symbols 0 to 3, without extra bits (the parse makes no others).
CHEXRT_HOST_DEVICE inline int distance_symbol(int distance) { return distance - 1; }

/// Counts the symbols of a chunk; `Add` increments a counter (atomically on the GPU).
template <class Add>
struct SymbolCounter {
  uint32_t* litlen;
  uint32_t* dist;
  Add add;
  CHEXRT_HOST_DEVICE void literal(uint8_t b) { add(&litlen[b]); }
  CHEXRT_HOST_DEVICE void match(int length, int distance) {
    int extra_bits, extra;
    add(&litlen[length_symbol(length, &extra_bits, &extra)]);
    add(&dist[distance_symbol(distance)]);
  }
};

// --- Huffman codes -------------------------------------------------------------------------

/// Where fewer than two symbols occur, the first unused ones count once so that each code has at
/// least two symbols: a complete code of 1-bit codes, which every inflater takes (zlib's deflate
/// does the same).
CHEXRT_HOST_DEVICE inline void ensure_two_symbols(uint32_t* freq, int n) {
  int used = 0;
  for (int i = 0; i < n; ++i) used += freq[i] != 0;
  for (int i = 0; i < n && used < 2; ++i) {
    if (freq[i] == 0) freq[i] = 1, ++used;
  }
}

/// The order the code lengths are built from: symbol a comes before b when it is rarer, or as
/// rare with a smaller index (a total order: the host's sort and the GPU's ranks agree).
CHEXRT_HOST_DEVICE inline bool rarer(const uint32_t* freq, int a, int b) {
  return freq[a] < freq[b] || (freq[a] == freq[b] && a < b);
}

/// The used symbols (count > 0) of `freq` in that order, into `order`; returns how many. An
/// insertion sort, for the host and for small alphabets.
CHEXRT_HOST_DEVICE inline int order_symbols(const uint32_t* freq, int n, uint16_t* order) {
  int used = 0;
  for (int s = 0; s < n; ++s) {
    if (freq[s] == 0) continue;
    int k = used++;
    while (k > 0 && rarer(freq, s, order[k - 1])) order[k] = order[k - 1], --k;
    order[k] = static_cast<uint16_t>(s);
  }
  return used;
}

/// Length-limited Huffman code lengths (at most `max_bits`) of the `used` symbols in `order`
/// (order_symbols(); at least two) with counts `freq`, into `lengths` (n symbols; 0 for unused
/// ones). `work` holds `used` values. Moffat and Katajainen's in-place minimum-redundancy code
/// ("In-Place Calculation of Minimum-Redundancy Codes", WADS 1995) gives each symbol's depth;
/// depths beyond max_bits are then folded in by the Kraft-sum repair of miniz
/// (tdefl_huffman_enforce_max_code_size): each step moves one leaf from the deepest level under
/// the deepest shorter leaf, which it splits; the rarest symbols get the longest codes.
CHEXRT_HOST_DEVICE inline void code_lengths(const uint32_t* freq, const uint16_t* order, int used, int max_bits,
                                            uint32_t* work, uint8_t* lengths, int n) {
  for (int s = 0; s < n; ++s) lengths[s] = 0;
  for (int i = 0; i < used; ++i) work[i] = freq[order[i]];
  // Phase 1: internal nodes' weights, then parent pointers, in place.
  work[0] += work[1];
  int root = 0, leaf = 2;
  for (int next = 1; next < used - 1; ++next) {
    if (leaf >= used || work[root] < work[leaf]) {
      work[next] = work[root];
      work[root++] = static_cast<uint32_t>(next);
    } else {
      work[next] = work[leaf++];
    }
    if (leaf >= used || (root < next && work[root] < work[leaf])) {
      work[next] += work[root];
      work[root++] = static_cast<uint32_t>(next);
    } else {
      work[next] += work[leaf++];
    }
  }
  // Phase 2: internal nodes' depths.
  work[used - 2] = 0;
  for (int next = used - 3; next >= 0; --next) work[next] = work[work[next]] + 1;
  // Phase 3: leaves' depths, deepest (rarest) first.
  int available = 1, assigned = 0, depth = 0;
  root = used - 2;
  int next = used - 1;
  while (available > 0) {
    while (root >= 0 && static_cast<int>(work[root]) == depth) ++assigned, --root;
    while (available > assigned) work[next--] = static_cast<uint32_t>(depth), --available;
    available = 2 * assigned, ++depth, assigned = 0;
  }
  // Leaves per depth (a tree of uint32 counts is less than 48 deep), then the limit.
  constexpr int kDepths = 64;
  uint32_t count[kDepths] = {};
  for (int i = 0; i < used; ++i) ++count[work[i] < kDepths - 1 ? work[i] : kDepths - 1];
  for (int d = max_bits + 1; d < kDepths; ++d) count[max_bits] += count[d];
  uint32_t kraft = 0;
  for (int d = max_bits; d > 0; --d) kraft += count[d] << (max_bits - d);
  while (kraft != (1u << max_bits)) {
    --count[max_bits];
    for (int d = max_bits - 1; d > 0; --d) {
      if (count[d] != 0) {
        --count[d];
        count[d + 1] += 2;
        break;
      }
    }
    --kraft;
  }
  int j = used;
  for (int d = 1; d <= max_bits; ++d) {
    for (uint32_t k = count[d]; k > 0; --k) lengths[order[--j]] = static_cast<uint8_t>(d);
  }
}

/// RFC 1951 3.2.2's canonical codes of `lengths`, bit-reversed: deflate sends a code's most
/// significant bit first into a stream that is otherwise filled from each byte's low bit.
CHEXRT_HOST_DEVICE inline void canonical_codes(const uint8_t* lengths, int n, uint16_t* codes) {
  int count[kMaxCodeBits + 1] = {};
  for (int s = 0; s < n; ++s) ++count[lengths[s]];
  count[0] = 0;
  int next[kMaxCodeBits + 1] = {};
  int code = 0;
  for (int bits = 1; bits <= kMaxCodeBits; ++bits) {
    code = (code + count[bits - 1]) << 1;
    next[bits] = code;
  }
  for (int s = 0; s < n; ++s) {
    const int len = lengths[s];
    codes[s] = 0;
    if (len == 0) continue;
    const int c = next[len]++;
    int reversed = 0;
    for (int b = 0; b < len; ++b) reversed |= ((c >> b) & 1) << (len - 1 - b);
    codes[s] = static_cast<uint16_t>(reversed);
  }
}

/// A segment's two codes.
struct Codes {
  uint16_t litlen_code[kNumLitLen];
  uint8_t litlen_length[kNumLitLen];
  uint16_t dist_code[kNumDist];
  uint8_t dist_length[kNumDist];
};

/// Writes a chunk's symbols with `codes` to `writer` (writer.put(bits, count), low bit first).
template <class Writer>
struct SymbolWriter {
  const Codes& codes;
  Writer& writer;
  CHEXRT_HOST_DEVICE void literal(uint8_t b) { writer.put(codes.litlen_code[b], codes.litlen_length[b]); }
  CHEXRT_HOST_DEVICE void match(int length, int distance) {
    int extra_bits, extra;
    const int s = length_symbol(length, &extra_bits, &extra);
    writer.put(codes.litlen_code[s], codes.litlen_length[s]);
    if (extra_bits > 0) writer.put(static_cast<uint32_t>(extra), extra_bits);
    const int d = distance_symbol(distance);
    writer.put(codes.dist_code[d], codes.dist_length[d]);
  }
};

/// Counts the bits SymbolWriter would write.
struct BitCounter {
  uint64_t bits = 0;
  CHEXRT_HOST_DEVICE void put(uint32_t, int count) { bits += static_cast<uint64_t>(count); }
};

// --- The block header ----------------------------------------------------------------------

/// A dynamic block's header (RFC 1951 3.2.7): the code lengths of both codes, run-length coded
/// with symbols 16 (repeat the previous 3-6 times), 17 (3-10 zeros) and 18 (11-138 zeros), and
/// the Huffman code of those symbols.
struct BlockHeader {
  // No initializers: the GPU keeps one in shared memory, which takes no constructor.
  int hlit, hdist, hclen;
  int num_runs;
  uint8_t run_symbol[kNumLitLen + kNumDist];
  uint8_t run_extra[kNumLitLen + kNumDist];
  uint32_t freq[kNumCodeLen];
  uint8_t lengths[kNumCodeLen];
  uint16_t codes[kNumCodeLen];
  uint16_t order[kNumCodeLen];
  uint32_t work[kNumCodeLen];
};

/// The order in which the code length code's lengths are sent.
CHEXRT_HOST_DEVICE inline int code_length_order(int i) {
  // 16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15
  if (i < 3) return 16 + i;
  if (i == 3) return 0;
  const int k = i - 4;  // 8 7 9 6 10 5 11 4 12 3 13 2 14 1 15
  return (k & 1) ? 7 - k / 2 : 8 + k / 2;
}

/// Fills `h` for the codes of `codes` (lengths set).
CHEXRT_HOST_DEVICE inline void plan_header(const Codes& codes, BlockHeader* h) {
  h->hlit = 257;
  for (int s = kNumLitLen - 1; s >= 257; --s) {
    if (codes.litlen_length[s] != 0) {
      h->hlit = s + 1;
      break;
    }
  }
  h->hdist = 1;
  for (int s = kNumDist - 1; s >= 1; --s) {
    if (codes.dist_length[s] != 0) {
      h->hdist = s + 1;
      break;
    }
  }
  const int total = h->hlit + h->hdist;
  auto length_at = [&](int i) { return i < h->hlit ? codes.litlen_length[i] : codes.dist_length[i - h->hlit]; };
  int runs = 0;
  auto add = [&](int symbol, int extra) {
    h->run_symbol[runs] = static_cast<uint8_t>(symbol);
    h->run_extra[runs] = static_cast<uint8_t>(extra);
    ++runs;
  };
  for (int i = 0; i < total;) {
    const int v = length_at(i);
    int run = 1;
    while (i + run < total && length_at(i + run) == v) ++run;
    i += run;
    if (v == 0) {
      while (run >= 11) {
        const int r = run < 138 ? run : 138;
        add(18, r - 11);
        run -= r;
      }
      if (run >= 3) {
        add(17, run - 3);
        run = 0;
      }
    } else {
      add(v, 0);
      --run;
      while (run >= 3) {
        const int r = run < 6 ? run : 6;
        add(16, r - 3);
        run -= r;
      }
    }
    for (; run > 0; --run) add(v, 0);
  }
  h->num_runs = runs;
  for (int s = 0; s < kNumCodeLen; ++s) h->freq[s] = 0;
  for (int r = 0; r < runs; ++r) ++h->freq[h->run_symbol[r]];
  ensure_two_symbols(h->freq, kNumCodeLen);
  const int used = order_symbols(h->freq, kNumCodeLen, h->order);
  code_lengths(h->freq, h->order, used, kMaxCodeLenBits, h->work, h->lengths, kNumCodeLen);
  canonical_codes(h->lengths, kNumCodeLen, h->codes);
  h->hclen = 4;
  for (int i = kNumCodeLen - 1; i >= 4; --i) {
    if (h->lengths[code_length_order(i)] != 0) {
      h->hclen = i + 1;
      break;
    }
  }
}

/// Extra bits of run symbol 16, 17, 18.
CHEXRT_HOST_DEVICE inline int run_extra_bits(int symbol) {
  return symbol < 16 ? 0 : symbol == 16 ? 2 : symbol == 17 ? 3 : 7;
}

/// Writes a non-final dynamic block's header: BFINAL 0, BTYPE 2, then `h`.
template <class Writer>
CHEXRT_HOST_DEVICE void write_header(const BlockHeader& h, Writer& w) {
  w.put(2u << 1, 3);
  w.put(static_cast<uint32_t>(h.hlit - 257), 5);
  w.put(static_cast<uint32_t>(h.hdist - 1), 5);
  w.put(static_cast<uint32_t>(h.hclen - 4), 4);
  for (int i = 0; i < h.hclen; ++i) w.put(h.lengths[code_length_order(i)], 3);
  for (int r = 0; r < h.num_runs; ++r) {
    const int s = h.run_symbol[r];
    w.put(h.codes[s], h.lengths[s]);
    const int extra = run_extra_bits(s);
    if (extra > 0) w.put(h.run_extra[r], extra);
  }
}

/// The bytes of a segment as a Huffman block of `bits` bits (header, data and end-of-block
/// included) followed by the sync flush: 3 bits of an empty stored block's header, padding to
/// the byte, LEN 0 and NLEN 0xffff.
CHEXRT_HOST_DEVICE inline long long huffman_size(uint64_t bits) {
  return static_cast<long long>((bits + 3 + 7) / 8) + 4;
}

// --- Adler-32 ------------------------------------------------------------------------------

/// Adds a chunk's bytes to a segment's Adler sums: a = sum of the bytes, b = sum of
/// (segment size - position) * byte, so that a segment of n bytes continues a running Adler-32
/// (A, B) as A' = A + a, B' = B + n * A + b (mod 65521). `start` is the chunk's position.
CHEXRT_HOST_DEVICE inline void add_adler(const Chunk& c, long long start, long long segment_size, uint64_t* a,
                                         uint64_t* b) {
  for (int i = 0; i < c.size; ++i) {
    const uint64_t v = c.bytes[c.lookback + i];
    *a += v;
    *b += static_cast<uint64_t>(segment_size - (start + i)) * v;
  }
}

/// Continues `adler` (a zlib Adler-32) with a segment of `n` bytes whose sums are a, b (mod 65521).
inline uint32_t combine_adler(uint32_t adler, uint32_t a, uint32_t b, long long n) {
  const uint64_t lo = adler & 0xffff, hi = adler >> 16;
  const uint64_t new_hi = (hi + static_cast<uint64_t>(n % kAdlerModulus) * lo + b) % kAdlerModulus;
  const uint64_t new_lo = (lo + a) % kAdlerModulus;
  return static_cast<uint32_t>(new_hi << 16 | new_lo);
}

// --- Host side -----------------------------------------------------------------------------

/// InvalidArgument unless the image can be encoded: 1 to kMaxImagePixels pixels, 1 or 3 channels.
Status check_image(int width, int height, int channels);

/// The CPU reference: the PNG of `pixels` (width * height * channels bytes, rows packed).
Result<std::vector<uint8_t>> encode_png(const uint8_t* pixels, int width, int height, int channels);

/// Writes the file around deflate blocks already at png + kPrefixBytes (`deflate_bytes` of them;
/// png holds kPrefixBytes + deflate_bytes + kSuffixBytes): signature, IHDR, IDAT with the zlib
/// header, the final empty block and `adler`, the CRCs and IEND.
void frame_png(int width, int height, int channels, size_t deflate_bytes, uint32_t adler, uint8_t* png);

}  // namespace chexrt::png_encode
