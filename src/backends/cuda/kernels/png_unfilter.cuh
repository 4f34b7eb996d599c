// PNG unfiltering on the GPU (PNG spec 9, "Filtering"): a batch's inflated, still filtered PNG
// rows into the 8-bit samples that the preprocessing kernels read, with core/png_rows.h's
// arithmetic (alpha dropped, a 16-bit sample v as round(v / 257)), byte for byte the host's.
// ImagePreprocessor (image_input.cpp) lays the rows out in its upload and runs this first.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace chexrt::cuda {

/// One image's rows. Offsets are bytes from the start of the upload buffer.
struct PngUnfilterImage {
  long long rows = 0;    ///< its filtered rows: height * (1 + width * bytes_per_pixel) bytes
  long long pixels = 0;  ///< where its 8-bit samples go: width * height * channels bytes
  long long carry = 0;   ///< width * bytes_per_pixel bytes of scratch, for images taller than a block
  int width = 0, height = 0;
  int bytes_per_pixel = 0;  ///< 1 to 8
  int bit_depth = 8;        ///< 8 or 16
  int channels = 0;         ///< of the 8-bit samples: 1 (grey, grey + alpha) or 3 (RGB, RGBA)
  int index = 0;            ///< its position in the batch, for the error report
};

/// Rows a block unfilters at once (one thread each). Taller images go in groups of this many.
inline constexpr int kPngUnfilterRows = 1024;

/// Unfilters every image (one block each) and writes its 8-bit samples. `error` (3 ints on the
/// device, zero before the launch) receives, for a row whose filter type is above 4, the image's
/// index + 1, the row and the filter type (one such row, if several); that row is then taken as
/// unfiltered. `rows_per_block` (a multiple of 32, at most kPngUnfilterRows) is a parameter for
/// tests of tall images.
cudaError_t launch_png_unfilter(uint8_t* upload, const PngUnfilterImage* images, int num_images, int* error,
                                cudaStream_t stream, int rows_per_block = kPngUnfilterRows);

}  // namespace chexrt::cuda
