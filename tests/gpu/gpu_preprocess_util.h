// The GPU's preprocessing of image views, read back for the tests that compare it with the
// host's (image_preprocess_test, png_unfilter_test, jpeg_decode_test).
#pragma once

#include <vector>

#include "backends/cuda/jpeg_decoder.h"
#include "chexrt/image_input.h"

namespace chexrt::gputest {

struct GpuSamples {
  std::vector<float> samples;  ///< [samples_per_image * views, 3, crop, crop]
  Status status;               ///< the enqueue's, or once that is ok, the unfilter report's
};

/// Preprocesses `views` with one ImagePreprocessor (JPEG views through `decoder` when given),
/// `rounds` times (its buffers reused from the second), the output set to NaN before each so that
/// whatever the kernels leave unwritten shows, and returns the last round's samples.
GpuSamples preprocess_on_gpu(const std::vector<ImageView>& views, const PreprocessOptions& options,
                             cuda::JpegDecoder* decoder = nullptr, int rounds = 1);

}  // namespace chexrt::gputest
