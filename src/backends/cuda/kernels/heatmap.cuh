// Class activation heat maps on the GPU, for a batch of requests (chexrt/heatmap.h): the
// activation map of each from its feature rows and classifier row, its minimum and range, then
// every pixel upsampled, coloured and blended over the X-ray, with core/heatmap_draw.h's
// arithmetic (this file is compiled with --fmad=false, as that header requires). Everything the
// kernels read comes in one upload laid out by the host (HeatmapRenderer in heatmap_renderer.cpp).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/heatmap_draw.h"

namespace chexrt::cuda {

/// One heat map of the batch.
struct HeatmapJob {
  long long image = 0;  ///< byte offset of its X-ray's pixels in the upload (rows packed, HWC)
  long long out = 0;    ///< byte offset of its RGB heat map in the output
  int width = 0, height = 0, channels = 0;
  int features = 0;                       ///< float offset of its feature rows [C, h, w] in the upload's floats
  int weights = 0;                        ///< float offset of its classifier row [C] there
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  ///< the crop region
};

/// Draws `num_jobs` heat maps of maps `map_width` x `map_height` from `channels` feature
/// channels. `floats` holds the feature and classifier rows, `blends` the blend table
/// (heatmap_draw::blend_table); `maps` (num_jobs * map cells) and `stats` (2 * num_jobs) are
/// scratch; `max_height` is the tallest image.
cudaError_t launch_heatmaps(const uint8_t* upload, const HeatmapJob* jobs, const float* floats,
                            const heatmap_draw::Blend* blends, int num_jobs, int channels, int map_width,
                            int map_height, int max_height, float* maps, float* stats, uint8_t* out,
                            cudaStream_t stream);

}  // namespace chexrt::cuda
