// FP32 implicit-GEMM convolution on the tensor cores with 3xTF32 split precision: the same
// problem, arguments and requirements as conv_gemm_f32.cuh (NHWC, channel-strided views, the
// optional scale/shift/ReLU prologue of 1x1 convolutions), with fp32 accuracy instead of TF32's.
//
// Each fp32 operand is split as x = hi + lo, hi = tf32(x), lo = tf32(x - hi) (tf32: 10 explicit
// mantissa bits, rounded to nearest). Then
//   a * b = a_hi b_hi + a_hi b_lo + a_lo b_hi + a_lo b_lo,
// and the last term, below 2^-22 |a b|, is dropped: three tf32 tensor-core products per fp32
// product, accumulated in fp32, with a per-product error near 2^-22 against TF32's 2^-11 (ref:
// the "3xTF32" fast-accurate FP32 GEMM of NVIDIA's CUTLASS, and Ootomo & Yokota, "Recovering
// single precision accuracy from Tensor Cores while surpassing the FP32 theoretical peak
// performance", IJHPCA 2022). The weights are split once on the host (weight = hi part,
// weight_lo = lo part); activations are split in registers after the prologue.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"
#include "backends/cuda/kernels/conv_gemm_f32.cuh"

namespace chexrt::cuda {

/// The tiles compiled for a variant (BM x BN over warps_m x warps_n warps, `stages`-deep
/// pipeline of 16-float K steps); none for kHalo3x3.
const std::vector<ConvGemmTile>& conv_gemm_3xtf32_tiles(ConvGemmVariant variant);

/// Enqueues the convolution. args.weight holds tf32(w) and args.weight_lo tf32(w - tf32(w)),
/// both [out_c][k_pad] as for the FFMA kernel (see split_tf32).
cudaError_t launch_conv_gemm_3xtf32(const ConvGemmF32Args& args, ConvGemmVariant variant, const ConvGemmTile& tile,
                                    cudaStream_t stream);

/// Rounds to tf32 (nearest, ties away from zero), the value kept in fp32 with its low 13
/// mantissa bits zero; the device does the same to activations.
float round_to_tf32(float x);

/// hi[i] = round_to_tf32(w[i]), lo[i] = round_to_tf32(w[i] - hi[i]).
void split_tf32(const std::vector<float>& w, std::vector<float>* hi, std::vector<float>* lo);

}  // namespace chexrt::cuda
