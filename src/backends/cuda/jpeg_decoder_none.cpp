// JpegDecoder where chexrt was built without nvjpeg.h: never available, so every JPEG view is
// decoded on the host.
#include "backends/cuda/jpeg_decoder.h"

namespace chexrt::cuda {

struct JpegDecoder::Impl {};

Status JpegDecoder::available() {
  return unavailable("nvJPEG is not available: chexrt was built without nvjpeg.h (CHEXRT_NVJPEG_INCLUDE_DIR)");
}

Result<std::unique_ptr<JpegDecoder>> JpegDecoder::create() { return available(); }

JpegDecoder::JpegDecoder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

JpegDecoder::~JpegDecoder() = default;

Result<std::vector<size_t>> JpegDecoder::enqueue(const std::vector<ImageView>& images,
                                                 const std::vector<uint8_t*>& destinations, cudaStream_t stream) {
  std::vector<size_t> all(images.size());
  for (size_t k = 0; k < all.size(); ++k) all[k] = k;
  counts_.refused += static_cast<int64_t>(all.size());
  return all;
}

const char* JpegDecoder::backend() const { return "none"; }

}  // namespace chexrt::cuda
