// 1x1 convolutions (DenseNet's bottleneck 1x1 after its BN + ReLU, and the transitions' 1x1) with
// the weights resident in shared memory, fp16 NHWC, mma.sync.
//
// Why: a CTA of conv_gemm.cu's 1x1 kernel computes one 128-pixel tile and then exits. It reads the
// layer's whole weight matrix from L2 for those 128 pixels (as many bytes as their activations),
// and its pipeline fills before the first product and drains before its epilogue, once per tile:
// with K = 64-480 (blocks 1-2) that is two to fifteen 32-wide K steps per fill. Here persistent
// CTAs (as many as fit on the GPU) load the weights and the prologue's scale and shift once, then
// stream the activations of all their tiles through one cp.async pipeline that does not stop
// between tiles: the next tile's first K steps load while the current one finishes and stores.
#pragma once

#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

/// The resident-weight tiles (ConvGemmTile::resident) of a pointwise variant (kPointwise or
/// kPointwisePrologue), with their launchers.
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv1x1_resident_entries(ConvGemmVariant variant);

/// The tiles of the kernel that reads its A operand as the 2x2 stride-2 average pool of the
/// prologue's output (ConvGemmArgs::pool2x2; DenseNet's transitions: BN + ReLU, pool, 1x1).
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> avgpool_conv1x1_resident_entries();

/// Whether a resident-weight tile computes this convolution (1x1, stride 1, no padding, output
/// channels a multiple of 128, no split-K, weights and pipeline within the shared memory limit;
/// with pool2x2, an input of twice the output's height and width).
bool conv1x1_resident_fits(const ConvGemmArgs& args, const ConvGemmTile& tile);

}  // namespace chexrt::cuda
