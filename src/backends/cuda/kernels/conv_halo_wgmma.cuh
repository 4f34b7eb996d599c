// Stride-1 convolutions on Hopper's warpgroup tensor-core instructions (wgmma, compiled for
// sm_90a only), fp16 NHWC, fp32 accumulation: DenseNet's 3x3 128 -> 32 channel layers (next to
// the mma.sync halo kernel of conv_gemm.cu) and the stem, a 4x4 convolution over its
// space-to-depth input (next to the general implicit GEMM).
//
// Why: with 32 or 64 output channels each A element feeds only 32 or 64 products, and the
// mma.sync kernels move every A fragment from shared memory through ldmatrix into registers for
// each tap (the general kernel even re-gathers it from global memory per tap); wgmma reads A and
// B straight from shared memory through matrix descriptors.
//
// How the taps become plain descriptors: a CTA computes a band of rows over the bordered width
// Wp = Wo + KW - 1 (the KW - 1 extra columns per row are computed and thrown away; likewise
// KH - 1 extra rows per image, the batch being stacked into one tall image so that bands of small
// images hold several of them), so GEMM row m of the band reads, for tap (r, s), bordered-input
// pixel m + r * Wp + s: a contiguous run of rows. The band's input is stored as planes of 8
// channels ([plane][pixel], 16 bytes per pixel), i.e. wgmma's no-swizzle K-major layout, in which
// a descriptor may start at any pixel.
#pragma once

#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

/// The wgmma tiles (ConvGemmTile::wgmma set) of a variant (kHalo3x3: 3x3 layers; kGeneral: the
/// space-to-depth stem) with their launchers. Offer them only on compute capability 9.0.
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv_halo_wgmma_entries(ConvGemmVariant variant);

/// Whether a wgmma tile computes this convolution (kernel size, stride 1, padding, channels).
bool conv_halo_wgmma_fits(const ConvGemmArgs& args, const ConvGemmTile& tile);

}  // namespace chexrt::cuda
