// Tensor-core convolution as an implicit GEMM, fp16 NHWC, fp32 accumulation:
//
//   Y[p, o] = act( bias[o] + sum_k A[p, k] * W[o, k] ),   p = (n, oh, ow), k = (r, s, c)
//   A[p, (r, s, c)] = X[n, oh*stride - pad + r*dil, ow*stride - pad + s*dil, c]  (0 outside)
//
// For a 1x1 convolution with stride 1 and no padding A is X itself, viewed as a [pixels, C]
// matrix, and an optional prologue applies DenseNet's pre-activation batch norm + ReLU to A
// as it is read from shared memory: A'[p, c] = max(A[p, c] * scale[c] + shift[c], 0). The
// normalized tensor is then never written to memory.
//
// X and Y are channel-strided views (pixel stride x_ld / y_ld elements), so a layer can read a
// prefix of a dense block's buffer and write its slice of one. Requirements: C, x_ld, y_ld and
// both base addresses are multiples of 8 elements (16 bytes); out_channels is a multiple of the
// tile's BN; weights are packed [out_channels][k_pad] in (r, s, c) order with k_pad a multiple of
// 32 and zeros past r*s*C.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <string>
#include <vector>

namespace chexrt::cuda {

struct ConvGemmArgs {
  const __half* x = nullptr;
  long long x_ld = 0;
  int batch = 0, in_h = 0, in_w = 0, in_c = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dil_h = 1, dil_w = 1;
  int out_h = 0, out_w = 0, out_c = 0;
  const __half* weight = nullptr;  ///< [out_c][k_pad].
  int k_pad = 0;
  const __half* pro_scale = nullptr;  ///< [k_pad], zero-padded; prologue variants only.
  const __half* pro_shift = nullptr;
  const float* bias = nullptr;  ///< [out_c] or null.
  bool relu = false;
  __half* y = nullptr;
  long long y_ld = 0;
  /// Split-K: with splits > 1, CTA z of blockIdx.z sums its share of K into fp32 partials
  /// [splits][pixels][out_c], and a second kernel adds them in order z = 0, 1, ...
  /// (deterministic), the bias and ReLU, and writes y. More CTAs for small problems (batch 1:
  /// 49 pixels and K = 1152 is a single CTA otherwise). (Summing in the last CTA of each tile
  /// instead, counted with atomics, was slower: 12.3 against 8.9 us on average at batch 1 on an
  /// H200, its one CTA waiting on L2 round trips that the separate kernel spreads out.)
  int splits = 1;
  float* partial = nullptr;
  /// With splits > 1: the `splits` CTAs of a tile form a thread-block cluster and add their
  /// partial sums through distributed shared memory (in a fixed order, deterministic), each CTA
  /// finishing a share of the tile's rows. One kernel, no partials in global memory: at batch 1
  /// the separate reduce kernels were about half the kernels of an inference.
  bool cluster_reduce = false;
  /// Persistent kernels (conv1x1_resident.cu, conv3x3_resident.cu): at most this many CTAs
  /// along the pixels (0: as many as fit on the GPU). Tests set it to give every CTA several
  /// tiles.
  int max_ctas = 0;
  /// conv1x1_resident.cu's transition kernel: A is the 2x2 stride-2 average pool of the
  /// prologue's output over x, an input of in_h = 2 out_h by in_w = 2 out_w pixels; the prologue's
  /// scale and shift come divided by 4.
  bool pool2x2 = false;
};

/// Splits at most.
constexpr int kMaxSplits = 16;
/// Splits at most when they reduce within a cluster (beyond 8, Hopper's non-portable cluster
/// sizes; a launch the device cannot schedule is refused and the tactic skipped).
constexpr int kMaxClusterSplits = 16;

/// A CTA tile: BM output pixels x BN output channels, split over warps_m x warps_n warps.
/// `stages` deep cp.async pipeline (fewer stages: less shared memory, more CTAs per SM).
struct ConvGemmTile {
  int bm, bn, warps_m, warps_n;
  int stages = 4;
  /// A wgmma (sm_90a) kernel rather than mma.sync; compute capability 9.0 only.
  bool wgmma = false;
  /// > 0: the 3x3 kernel with resident weights (conv3x3_resident.cu), tiles of this many whole
  /// images.
  int images = 0;
  /// The 1x1 kernel with resident weights (conv1x1_resident.cu): persistent CTAs.
  bool resident = false;
  bool operator==(const ConvGemmTile& o) const {
    return bm == o.bm && bn == o.bn && warps_m == o.warps_m && warps_n == o.warps_n && stages == o.stages &&
           wgmma == o.wgmma && images == o.images && resident == o.resident;
  }
  std::string name() const {
    if (images > 0) return std::to_string(bm) + "x" + std::to_string(bn) + "_i" + std::to_string(images);
    return std::to_string(bm) + "x" + std::to_string(bn) + (stages != 4 ? "_s" + std::to_string(stages) : "");
  }
};

enum class ConvGemmVariant {
  kPointwise,          ///< 1x1, stride 1, no padding.
  kPointwisePrologue,  ///< The same with the scale/shift/ReLU prologue on A.
  kGeneral,            ///< Any kernel size, stride, padding and dilation.
  /// 3x3, stride 1, padding 1, C a multiple of 32, image width at most the tile's BM: each CTA
  /// loads its rows' input (with a one-pixel halo) once per 32 channels into shared memory and
  /// takes all nine taps from there (ldmatrix with per-lane row addresses), so every input pixel
  /// is read from memory once instead of nine times. No split-K.
  kHalo3x3,
};

/// The tiles compiled for a variant.
const std::vector<ConvGemmTile>& conv_gemm_tiles(ConvGemmVariant variant);

/// Bytes of fp32 partials a split-K launch needs.
inline size_t conv_gemm_partial_bytes(const ConvGemmArgs& a) {
  return a.splits > 1 && !a.cluster_reduce ? size_t(a.splits) * a.batch * a.out_h * a.out_w * a.out_c * sizeof(float)
                                           : 0;
}

/// Enqueues the convolution; the tile must be one of conv_gemm_tiles(variant).
cudaError_t launch_conv_gemm_f16(const ConvGemmArgs& args, ConvGemmVariant variant, const ConvGemmTile& tile,
                                 cudaStream_t stream);

}  // namespace chexrt::cuda
