// Engine::infer_images on the GPU: packs a batch's 8-bit images (or filtered PNG rows) with the
// filter banks and crop plans of core/image_preprocess.h into pinned memory, uploads it in chunks
// (the copy engine runs while the next chunk is packed), unfilters the PNG rows into 8-bit
// samples (kernels/png_unfilter.cu) and runs kernels/image_preprocess.cu into the engine's input
// buffer. JPEG views are decoded by a JpegDecoder straight into the device memory the kernels
// read, in place of an upload; the files it leaves, and all of them without one, are decoded on
// the host (core/jpeg_decode.h) and uploaded. One per execution context; its buffers grow to the
// largest batch seen.
#pragma once

#include <vector>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/jpeg_decoder.h"
#include "chexrt/image_input.h"

namespace chexrt::cuda {

class ImagePreprocessor {
 public:
  /// False for images the kernels do not take (rows wider than kMaxPreprocessRowBytes): the
  /// engine then preprocesses on the host.
  static bool supports(const std::vector<ImageView>& images);

  /// Enqueues the upload (and the decoding of JPEG views, by `jpeg` where given) and the kernels
  /// on `stream`, writing float32 [samples, 3, crop, crop] at `input`. The pinned staging is
  /// reused by the next call, and JPEG views' bytes are read until the stream gets here: the
  /// caller synchronizes the stream before either changes, failed calls included, then calls
  /// unfilter_status(). A JPEG that does not decode fails the call, naming the image
  /// ("image K: JPEG: ...").
  Status enqueue(const std::vector<ImageView>& images, const PreprocessOptions& options, float* input,
                 cudaStream_t stream, JpegDecoder* jpeg = nullptr);

  /// After the stream of the last enqueue() has been synchronized: InvalidArgument naming the
  /// image and row when a PNG row had a filter type above 4 (Engine::infer_images checks the
  /// rows on the host first; this is the device's own check).
  Status unfilter_status() const;

 private:
  PinnedBuffer staging_, error_host_;
  DeviceBuffer upload_, narrow_;
};

}  // namespace chexrt::cuda
