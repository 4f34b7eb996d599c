// PNG files of 8-bit grey or RGB images already in device memory (kernels/png_encode.cu): the
// bytes of png_encode::encode_png, the CPU reference, of which only the compressed ones are
// copied back (about a third of an X-ray heat map's pixels). The host lays out the segment table,
// reads back each segment's size and Adler sums, then each image's packed deflate bytes, and
// frames the file (png_encode::frame_png: IHDR, CRCs, Adler-32). Buffers grow to the largest
// batch seen; one encoder per caller (HeatmapRenderer owns one).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/cuda/cuda_util.h"
#include "chexrt/status.h"

namespace chexrt::cuda {

class PngEncoder {
 public:
  /// An image at `offset` bytes from the base given to encode(), rows packed.
  struct Image {
    long long offset = 0;
    int width = 0, height = 0, channels = 0;
    std::vector<uint8_t>* png = nullptr;  ///< receives the file
  };

  /// Encodes `images` at `base` (device memory, written by work already queued on `stream`, or
  /// before) into their `png`; returns once they are written. `done` is an event to wait on.
  Status encode(const uint8_t* base, const std::vector<Image>& images, cudaStream_t stream, cudaEvent_t done);

 private:
  PinnedBuffer table_host_, sums_host_, packed_host_;
  DeviceBuffer table_, sums_, slots_, packed_;
};

}  // namespace chexrt::cuda
