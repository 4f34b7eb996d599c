// Engine::infer_images on the GPU: packs a batch's 8-bit images (or filtered PNG rows) with the
// filter banks and crop plans of core/image_preprocess.h into pinned memory, uploads it in chunks
// (the copy engine runs while the next chunk is packed), unfilters the PNG rows into 8-bit
// samples (kernels/png_unfilter.cu) and runs kernels/image_preprocess.cu into the engine's input
// buffer. One per execution context; its buffers grow to the largest batch seen.
#pragma once

#include <vector>

#include "backends/cuda/cuda_util.h"
#include "chexrt/image_input.h"

namespace chexrt::cuda {

class ImagePreprocessor {
 public:
  /// False for images the kernels do not take (rows wider than kMaxPreprocessRowBytes): the
  /// engine then preprocesses on the host.
  static bool supports(const std::vector<ImageView>& images);

  /// Enqueues the upload and the kernels on `stream`, writing float32 [samples, 3, crop, crop]
  /// at `input`. The pinned staging is reused by the next call: the caller synchronizes the
  /// stream in between, then calls unfilter_status().
  Status enqueue(const std::vector<ImageView>& images, const PreprocessOptions& options, float* input,
                 cudaStream_t stream);

  /// After the stream of the last enqueue() has been synchronized: InvalidArgument naming the
  /// image and row when a PNG row had a filter type above 4 (Engine::infer_images checks the
  /// rows on the host first; this is the device's own check).
  Status unfilter_status() const;

 private:
  PinnedBuffer staging_, error_host_;
  DeviceBuffer upload_, narrow_;
};

}  // namespace chexrt::cuda
