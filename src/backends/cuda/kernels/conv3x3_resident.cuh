// DenseNet's 3x3 layers (128 -> 32 channels, stride 1, padding 1) on small images (blocks 3 and
// 4: 14x14 and 7x7) with the weights resident in shared memory, fp16 NHWC, mma.sync.
//
// Why: at these sizes an image is a few hundred pixels, so the halo kernel of conv_gemm.cu
// reloads the layer's 74 KB of weights for every image or two (in four 32-channel steps whose
// first load is exposed), and at batch 256 its CTAs wait on those loads more than they compute.
// Here a persistent CTA per multiprocessor loads the weights once, then walks over tiles of
// whole images, the next tile's input (all 128 channels, one-pixel border) loading while it
// computes the current one.
#pragma once

#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

/// The resident-weight tiles (ConvGemmTile::images > 0) of the 3x3 variant, with their launchers.
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_resident_entries();

/// Whether a resident-weight tile computes this convolution (128 input and 32 output channels,
/// its images' pixels within the tile, shared memory within the limit).
bool conv3x3_resident_fits(const ConvGemmArgs& args, const ConvGemmTile& tile);

}  // namespace chexrt::cuda
