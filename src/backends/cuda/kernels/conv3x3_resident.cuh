// DenseNet's 3x3 layers (128 -> 32 channels, stride 1, padding 1) with the weights resident in
// shared memory, fp16 NHWC, mma.sync: on whole small images (blocks 3 and 4: 14x14 and 7x7) and
// on bands of rows of larger ones (blocks 1 and 2: 56x56 and 28x28).
//
// Why: the halo kernel of conv_gemm.cu computes one band or image per CTA, reloading the
// layer's 74 KB of weights each time (in four 32-channel steps whose first load is exposed), and
// its CTAs wait on those loads and on their epilogue with nothing else on the multiprocessor: at
// 14x14 and 7x7 they wait more than they compute. Here a persistent CTA per multiprocessor loads
// the weights once, then walks over its tiles, the next tile's input loading while it computes
// the current one: whole images with all 128 channels at once, or bands 32 channels at a time
// through a ring that runs across tiles.
#pragma once

#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

/// The resident-weight tiles of the 3x3 variant, with their launchers: whole images
/// (ConvGemmTile::images > 0) and bands of rows (ConvGemmTile::resident).
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_resident_entries();

/// Whether a resident-weight tile computes this convolution (128 input and 32 output channels,
/// its images' pixels, or an image row, within the tile; shared memory within the limit).
bool conv3x3_resident_fits(const ConvGemmArgs& args, const ConvGemmTile& tile);

}  // namespace chexrt::cuda
