// PNG encoding on the GPU, with core/png_encode.h's algorithm and functions, so that the bytes
// are those of its CPU reference (png_encode::encode_png): one thread block per segment of 16
// rows. The block counts the segment's symbols (each thread parses its own run of chunks), builds
// the two Huffman codes and the block header (the symbol order by parallel ranks, the rest on
// one thread), has each thread count its chunks' bits, places them by a prefix sum and writes
// them (words inside a thread's range stored, the two it shares with its neighbours OR-ed in
// atomically); or writes stored blocks where those are smaller. A second kernel packs each
// image's segments back to back. PngEncoder (png_encoder.h) lays out the table and frames the
// file on the host.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace chexrt::cuda {

/// One segment of one image (png_encode::segment_bytes() etc. give its numbers).
struct PngSegmentJob {
  long long pixels = 0;     ///< byte offset of its image's pixels (rows packed) from the images' base
  long long slot = 0;       ///< byte offset of its scratch slot: stored_size(size) bytes, rounded up to 16
  long long packed = 0;     ///< byte offset of its image's deflate bytes in the packed output
  long long size = 0;       ///< its filtered bytes
  long long row_bytes = 0;  ///< the image's width * channels
  int first_row = 0;
  int channels = 0;       ///< 1 or 3: also the farther match distance
  int first_segment = 0;  ///< index of its image's first segment in the table
  int unused = 0;
};

/// Encodes `num_segments` segments of the images at `images`: each one's deflate bytes into its
/// slot of `slots`, their number into sizes[s], its Adler-32 sums (png_encode::add_adler, mod
/// 65521) into adler[2s] and adler[2s + 1]; then packs each image's segments, in order, from its
/// `packed` offset of `packed`.
cudaError_t launch_png_encode(const uint8_t* images, const PngSegmentJob* segments, int num_segments, uint8_t* slots,
                              long long* sizes, uint32_t* adler, uint8_t* packed, cudaStream_t stream);

}  // namespace chexrt::cuda
