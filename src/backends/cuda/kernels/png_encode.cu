#include "backends/cuda/kernels/png_encode.cuh"

#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>

#include "backends/cuda/kernels/device_util.cuh"
#include "core/png_encode.h"

namespace chexrt::cuda {
namespace {

using namespace png_encode;

constexpr int kThreads = 256;
constexpr int kSymbols = kNumLitLen + kNumDist;

struct AtomicCount {
  __device__ void operator()(uint32_t* counter) const { atomicAdd(counter, 1u); }
};

// Writes bits, low bit first, from bit `start` of `words` (zeroed beforehand) on. The words
// wholly inside this writer's range are stored; the first and the last may hold a neighbour's
// bits too, and are OR-ed in atomically.
class WordWriter {
 public:
  __device__ WordWriter(uint32_t* words, unsigned long long start)
      : words_(words), word_(static_cast<long long>(start / 32)), fill_(static_cast<int>(start % 32)) {}
  __device__ void put(uint32_t bits, int count) {
    acc_ |= static_cast<unsigned long long>(bits) << fill_;
    fill_ += count;
    while (fill_ >= 32) {
      const uint32_t v = static_cast<uint32_t>(acc_);
      if (first_) {
        atomicOr(&words_[word_], v);
        first_ = false;
      } else {
        words_[word_] = v;
      }
      ++word_;
      acc_ >>= 32;
      fill_ -= 32;
    }
  }
  /// The last, partial word.
  __device__ void finish() {
    if (fill_ > 0) atomicOr(&words_[word_], static_cast<uint32_t>(acc_));
  }

 private:
  uint32_t* words_;
  long long word_;
  int fill_;
  unsigned long long acc_ = 0;
  bool first_ = true;
};

// One thread's writes into shared memory, alone.
struct SharedWriter {
  uint32_t* words;
  unsigned long long bits;
  __device__ void put(uint32_t value, int count) {
    const unsigned long long v = static_cast<unsigned long long>(value) << (bits % 32);
    words[bits / 32] |= static_cast<uint32_t>(v);
    if ((bits % 32) + count > 32) words[bits / 32 + 1] |= static_cast<uint32_t>(v >> 32);
    bits += static_cast<unsigned long long>(count);
  }
};

// What a segment's block works in.
struct SegmentShared {
  uint32_t freq[kSymbols];  // literal/length counts, then distance counts
  uint16_t order[kSymbols];
  uint32_t work[kNumLitLen];
  Codes codes;
  BlockHeader header;
  uint32_t header_words[kMaxHeaderWords];
  unsigned long long header_bits, data_bits;
  long long out_bytes;
  int huffman;
};

__global__ void __launch_bounds__(kThreads)
    encode_segments(const uint8_t* __restrict__ images, const PngSegmentJob* __restrict__ segments,
                    uint8_t* __restrict__ slots, long long* __restrict__ sizes, uint32_t* __restrict__ adler) {
  using Scan = cub::BlockScan<unsigned long long, kThreads>;
  using Reduce = cub::BlockReduce<unsigned long long, kThreads>;
  __shared__ SegmentShared sh;
  __shared__ union {
    typename Scan::TempStorage scan;
    typename Reduce::TempStorage reduce;
  } temp;

  const PngSegmentJob job = segments[blockIdx.x];
  const uint8_t* pixels = images + job.pixels;
  const int t = threadIdx.x;
  for (int i = t; i < kSymbols; i += kThreads) sh.freq[i] = 0;
  for (int i = t; i < kMaxHeaderWords; i += kThreads) sh.header_words[i] = 0;
  __syncthreads();

  // This thread's chunks: a contiguous run of them, so that its bits are contiguous too.
  const long long chunks = (job.size + kChunkBytes - 1) / kChunkBytes;
  const long long per_thread = (chunks + kThreads - 1) / kThreads;
  const long long c0 = t * per_thread < chunks ? t * per_thread : chunks;
  const long long c1 = c0 + per_thread < chunks ? c0 + per_thread : chunks;
  Chunk chunk;

  // 1. Symbol counts and Adler sums.
  uint64_t a = 0, b = 0;
  SymbolCounter<AtomicCount> counter{sh.freq, sh.freq + kNumLitLen, {}};
  for (long long c = c0; c < c1; ++c) {
    load_chunk(pixels, job.row_bytes, job.first_row, job.size, c, &chunk);
    parse_chunk(chunk, job.channels, counter);
    add_adler(chunk, c * kChunkBytes, job.size, &a, &b);
  }
  __syncthreads();
  if (t == 0) {
    sh.freq[kEndOfBlock] += 1;
    ensure_two_symbols(sh.freq, kNumLitLen);
    ensure_two_symbols(sh.freq + kNumLitLen, kNumDist);
  }
  __syncthreads();

  // 2. The codes. Each used symbol's place in png_encode::rarer() order is the number of used
  // symbols of its alphabet before it: the order order_symbols() sorts them into on the host.
  for (int i = t; i < kSymbols; i += kThreads) {
    const bool is_dist = i >= kNumLitLen;
    const uint32_t* f = is_dist ? sh.freq + kNumLitLen : sh.freq;
    const int n = is_dist ? kNumDist : kNumLitLen;
    const int s = is_dist ? i - kNumLitLen : i;
    if (f[s] == 0) continue;
    int rank = 0;
    for (int j = 0; j < n; ++j) rank += f[j] != 0 && rarer(f, j, s);
    sh.order[(is_dist ? kNumLitLen : 0) + rank] = static_cast<uint16_t>(s);
  }
  __syncthreads();
  if (t == 0) {
    int used_litlen = 0, used_dist = 0;
    for (int s = 0; s < kNumLitLen; ++s) used_litlen += sh.freq[s] != 0;
    for (int s = 0; s < kNumDist; ++s) used_dist += sh.freq[kNumLitLen + s] != 0;
    code_lengths(sh.freq, sh.order, used_litlen, kMaxCodeBits, sh.work, sh.codes.litlen_length, kNumLitLen);
    code_lengths(sh.freq + kNumLitLen, sh.order + kNumLitLen, used_dist, kMaxCodeBits, sh.work, sh.codes.dist_length,
                 kNumDist);
    canonical_codes(sh.codes.litlen_length, kNumLitLen, sh.codes.litlen_code);
    canonical_codes(sh.codes.dist_length, kNumDist, sh.codes.dist_code);
    plan_header(sh.codes, &sh.header);
    SharedWriter writer{sh.header_words, 0};
    write_header(sh.header, writer);
    sh.header_bits = writer.bits;
  }
  __syncthreads();

  // 3. Each thread's bits, placed by a prefix sum; Huffman or stored, whichever is smaller.
  BitCounter counted;
  SymbolWriter<BitCounter> cost{sh.codes, counted};
  for (long long c = c0; c < c1; ++c) {
    load_chunk(pixels, job.row_bytes, job.first_row, job.size, c, &chunk);
    parse_chunk(chunk, job.channels, cost);
  }
  unsigned long long offset = 0, data_bits = 0;
  Scan(temp.scan).ExclusiveSum(static_cast<unsigned long long>(counted.bits), offset, data_bits);
  if (t == 0) {
    const long long huffman = huffman_size(sh.header_bits + data_bits + sh.codes.litlen_length[kEndOfBlock]);
    const long long stored = stored_size(job.size);
    sh.huffman = huffman <= stored;
    sh.out_bytes = sh.huffman ? huffman : stored;
    sh.data_bits = data_bits;
    sizes[blockIdx.x] = sh.out_bytes;
  }
  __syncthreads();

  // 4. The bytes.
  uint8_t* out = slots + job.slot;
  if (sh.huffman) {
    auto* words = reinterpret_cast<uint32_t*>(out);
    const long long num_words = (sh.out_bytes + 3) / 4;
    const long long header_words = static_cast<long long>((sh.header_bits + 31) / 32);
    for (long long i = t; i < num_words; i += kThreads) words[i] = i < header_words ? sh.header_words[i] : 0u;
    __syncthreads();
    WordWriter writer(words, sh.header_bits + offset);
    SymbolWriter<WordWriter> symbols{sh.codes, writer};
    for (long long c = c0; c < c1; ++c) {
      load_chunk(pixels, job.row_bytes, job.first_row, job.size, c, &chunk);
      parse_chunk(chunk, job.channels, symbols);
    }
    writer.finish();
    __syncthreads();
    if (t == 0) {
      WordWriter end(words, sh.header_bits + sh.data_bits);
      end.put(sh.codes.litlen_code[kEndOfBlock], sh.codes.litlen_length[kEndOfBlock]);
      end.finish();
      // The sync flush: an empty stored block's 3 bits, padding and LEN (zeros already), NLEN.
      out[sh.out_bytes - 2] = 0xff;
      out[sh.out_bytes - 1] = 0xff;
    }
  } else {
    for (long long c = c0; c < c1; ++c) {
      load_chunk(pixels, job.row_bytes, job.first_row, job.size, c, &chunk);
      for (int i = 0; i < chunk.size; ++i) {
        const long long q = c * kChunkBytes + i;
        out[q + 5 * (q / kMaxStoredBlock + 1)] = chunk.bytes[chunk.lookback + i];
      }
    }
    for (long long block = t; block * kMaxStoredBlock < job.size; block += kThreads) {
      const long long left = job.size - block * kMaxStoredBlock;
      const unsigned n = static_cast<unsigned>(left < kMaxStoredBlock ? left : kMaxStoredBlock);
      uint8_t* head = out + block * (kMaxStoredBlock + 5);
      head[0] = 0;  // BFINAL 0, BTYPE 0, padding
      head[1] = static_cast<uint8_t>(n);
      head[2] = static_cast<uint8_t>(n >> 8);
      head[3] = static_cast<uint8_t>(~n);
      head[4] = static_cast<uint8_t>(~n >> 8);
    }
  }

  // 5. The Adler sums.
  __syncthreads();
  const unsigned long long sum_a = Reduce(temp.reduce).Sum(static_cast<unsigned long long>(a));
  __syncthreads();
  const unsigned long long sum_b = Reduce(temp.reduce).Sum(static_cast<unsigned long long>(b));
  if (t == 0) {
    adler[2 * blockIdx.x] = static_cast<uint32_t>(sum_a % kAdlerModulus);
    adler[2 * blockIdx.x + 1] = static_cast<uint32_t>(sum_b % kAdlerModulus);
  }
}

// Each segment's bytes moved to their place among its image's: after the segments before it.
__global__ void __launch_bounds__(kThreads)
    pack_segments(const PngSegmentJob* __restrict__ segments, const uint8_t* __restrict__ slots,
                  const long long* __restrict__ sizes, uint8_t* __restrict__ packed) {
  const PngSegmentJob job = segments[blockIdx.x];
  __shared__ long long at;
  if (threadIdx.x == 0) {
    long long offset = job.packed;
    for (int s = job.first_segment; s < static_cast<int>(blockIdx.x); ++s) offset += sizes[s];
    at = offset;
  }
  __syncthreads();
  const uint8_t* from = slots + job.slot;
  uint8_t* to = packed + at;
  const long long size = sizes[blockIdx.x];
  for (long long i = threadIdx.x; i < size; i += kThreads) to[i] = from[i];
}

}  // namespace

cudaError_t launch_png_encode(const uint8_t* images, const PngSegmentJob* segments, int num_segments, uint8_t* slots,
                              long long* sizes, uint32_t* adler, uint8_t* packed, cudaStream_t stream) {
  if (num_segments <= 0) return cudaSuccess;
  const cudaError_t encoded = device::launch(encode_segments, dim3(num_segments), dim3(kThreads), 0, stream, images,
                                             segments, slots, sizes, adler);
  if (encoded != cudaSuccess) return encoded;
  return device::launch(pack_segments, dim3(num_segments), dim3(kThreads), 0, stream, segments,
                        static_cast<const uint8_t*>(slots), static_cast<const long long*>(sizes), packed);
}

}  // namespace chexrt::cuda
