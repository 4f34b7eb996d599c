// 3x3 convolution, stride 1, padding 1, fp16 NHWC, on Hopper's warpgroup tensor-core
// instructions (wgmma, compiled for sm_90a only): the kHalo3x3 variant's second kernel family,
// next to the mma.sync halo kernel of conv_gemm.cu, for DenseNet's 128 -> 32 channel layers.
//
// Why a second family: with 32 output channels each A element feeds only 32 products, and the
// mma.sync kernel moves every A fragment from shared memory through ldmatrix into registers for
// each of the nine taps; that traffic, not the tensor cores, bounds it (about 40% of the SM's
// issue and shared-memory rates at batch 256, per Nsight Compute). wgmma reads A and B straight
// from shared memory through matrix descriptors.
//
// How the taps become plain descriptors: a CTA computes a band of rows over a padded width
// Wp = W + 2 (the two extra columns per row are computed and thrown away; likewise two extra rows
// per image, the batch being stacked into one tall image so that bands of small images hold
// several of them), so GEMM
// row m of the band reads, for tap (r, s), bordered-input pixel m + r * Wp + s: a contiguous run
// of rows. The band's input is stored as four planes of 8 channels ([plane][pixel], 16 bytes per
// pixel), i.e. wgmma's no-swizzle K-major layout, in which a descriptor may start at any pixel.
#pragma once

#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

/// The wgmma 3x3 tiles (ConvGemmTile::wgmma set) with their launchers; empty where the file was
/// built without sm_90a. Offer them only on compute capability 9.0.
std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_wgmma_entries();

}  // namespace chexrt::cuda
