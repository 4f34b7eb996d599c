// CheXNet preprocessing on the GPU: 8-bit images in, the network's float32 input out, with the
// arithmetic of core/image_preprocess.h (PIL's fixed-point resize, torchvision's crops,
// Normalize) so that the samples equal the host path's bit for bit. Everything the kernels read
// comes in one upload laid out by the host (ImagePreprocessor in image_input.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace chexrt::cuda {

struct PreprocessCrop {
  int left = 0;
  int top = 0;
  int mirrored = 0;
};

/// One image of the batch. Filter banks are in the int32 table: a bank for n outputs at index
/// b holds first[n] at b, count[n] at b + n and weights[n * taps] at b + 2n.
struct PreprocessImage {
  long long pixels = 0;  ///< byte offset of its pixels in the upload (rows packed, HWC)
  long long narrow = 0;  ///< byte offset of its horizontal pass in the narrow buffer
  int width = 0, height = 0, channels = 0;
  int resized_width = 0, resized_height = 0;
  int first_row = 0;                     ///< the first input row the vertical pass reads
  int rows = 0;                          ///< input rows through the horizontal pass: [first_row, first_row + rows)
  int column_bank = 0, column_taps = 0;  ///< width -> resized_width
  int row_bank = 0, row_taps = 0;        ///< height -> resized_height
  int first_sample = 0;
  int num_crops = 0;
  PreprocessCrop crops[10];
};

/// The widest row the horizontal pass stages in shared memory; the host preprocesses wider images.
inline constexpr int kMaxPreprocessRowBytes = 8192 * 3;

/// The horizontal pass of every image into `narrow` (uint8 [rows, resized_width, channels] each),
/// then the vertical pass, crops and normalization straight into `out` (float32
/// [samples, 3, crop, crop]). `normalize` is the host's NormalizeTable (3 x 256 floats).
/// `max_rows` is the most rows of any image, `max_crops` the most crops.
cudaError_t launch_image_preprocess(const uint8_t* upload, const PreprocessImage* images, const int32_t* tables,
                                    const float* normalize, int num_images, int max_rows, int max_crops, int crop,
                                    uint8_t* narrow, float* out, cudaStream_t stream);

}  // namespace chexrt::cuda
