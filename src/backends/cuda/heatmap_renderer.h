// Engine::draw_heatmaps on the GPU: packs the requests' feature rows, classifier rows and X-rays
// into pinned memory with the blend table of core/heatmap_draw.h, uploads it, runs
// kernels/heatmap.cu and copies the RGB heat maps back into each request's output; heat maps
// asked for as PNGs are encoded on the GPU (PngEncoder) and only the files come back. One per
// concurrent caller (CudaEngine keeps a pool): its stream and buffers, grown to the largest
// batch of requests seen.
#pragma once

#include <memory>
#include <vector>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/png_encoder.h"
#include "chexrt/heatmap.h"
#include "chexrt/tensor.h"

namespace chexrt::cuda {

class HeatmapRenderer {
 public:
  static Result<std::unique_ptr<HeatmapRenderer>> create();
  ~HeatmapRenderer();
  HeatmapRenderer(const HeatmapRenderer&) = delete;
  HeatmapRenderer& operator=(const HeatmapRenderer&) = delete;

  /// Engine::draw_heatmaps' contract; returns once every output is written.
  Status draw(const HostTensor& features, const HostTensor& weights, const std::vector<HeatmapRequest>& requests,
              float max_alpha);

 private:
  HeatmapRenderer() = default;
  /// Up to kMaxJobs requests at once: bounds the pinned memory (4 MB a 1024x1024 X-ray).
  static constexpr size_t kMaxJobs = 16;
  Status draw_some(const HostTensor& features, const HostTensor& weights, const HeatmapRequest* requests, size_t n);

  cudaStream_t stream_ = nullptr;
  cudaEvent_t done_ = nullptr;        // waited on by blocking, not spinning: the core can encode meanwhile
  std::vector<uint8_t> blend_bytes_;  // the blend table of max_alpha_, as uploaded
  float max_alpha_ = -1;
  PinnedBuffer staging_, result_;
  DeviceBuffer upload_, scratch_, out_;
  PngEncoder png_encoder_;
};

}  // namespace chexrt::cuda
