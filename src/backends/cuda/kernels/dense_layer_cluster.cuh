// One DenseNet dense layer in one kernel, for small problems (batch 1 in dense blocks 2 to 4):
//
//   mid = act1( bias1 + W1 * max(x * scale + shift, 0) )   1x1, in_c -> 128 channels
//   y   = act2( bias2 + W2 (*) mid )                        3x3, pad 1, 128 -> 32 channels
//
// At batch 1 the two convolutions of a layer in blocks 2-4 are a few microseconds of work each,
// and an inference is 120-odd such kernels in a chain: their launch and drain, not their
// arithmetic, set the latency. This kernel runs both on one 16-CTA thread-block cluster and
// keeps the 128-channel intermediate on chip:
//  1. CTA r multiplies its share of the input channels (16-channel chunks r, r + 16, ...) for
//     every pixel by W1's matching columns: a partial sum of all 128 mid channels, in its
//     shared memory (split-K over the cluster; or each half of the cluster computes 64 mid
//     channels, split-K over its 8 CTAs).
//  2. CTA r adds the 16 (8) partial sums of mid channels 8r .. 8r + 7 through distributed
//     shared memory and keeps them, with a zero border, as the 3x3's input.
//  3. CTA r computes the 3x3 over its 8 mid channels (9 taps x 8 = 72 of the 1152 K): a partial
//     sum of the 32 output channels.
//  4. The cluster adds those partial sums (CTA r a sixteenth of the pixels) and writes y.
// Every sum runs in a fixed order (CTA r starts at rank r, so that the CTAs do not all read one
// CTA's shared memory at once): the result does not depend on scheduling.
//
// A launch runs one cluster per band of the batch (DenseLayerArgs::band_rows, band_images): a
// band of rows needs the mid rows just above and below it too, which the clusters of both
// neighbouring bands compute.
//
// Limits (dense_layer_cluster_fits): fp16 NHWC; per band at most kDenseMaxPixels mid pixels and
// kDenseMaxBordered bordered pixels; in_c a multiple of 16 up to 1024; x_ld, y_ld and the base
// addresses multiples of 8 elements.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace chexrt::cuda {

constexpr int kDenseMid = 128;     ///< Mid channels: 16 CTAs x 8.
constexpr int kDenseOut = 32;      ///< Output channels (DenseNet's growth rate).
constexpr int kDenseCluster = 16;  ///< CTAs in the cluster (a non-portable size on Hopper).
constexpr int kDenseMaxPixels = 208;
constexpr int kDenseMaxBordered = 399;
constexpr int kDenseMaxInC = 1024;

struct DenseLayerArgs {
  const __half* x = nullptr;  ///< NHWC view, pixel stride x_ld.
  long long x_ld = 0;
  int batch = 0, height = 0, width = 0, in_c = 0;
  const __half* pro_scale = nullptr;  ///< [in_c] the pre-activation batch norm, then ReLU.
  const __half* pro_shift = nullptr;
  const __half* w1 = nullptr;  ///< [128][k1_pad], k1_pad >= in_c.
  int k1_pad = 0;
  const float* bias1 = nullptr;  ///< [128] or null.
  bool relu1 = false;
  const __half* w2 = nullptr;    ///< [32][9 * 128] in (r, s, c) order.
  const float* bias2 = nullptr;  ///< [32] or null.
  bool relu2 = false;
  __half* y = nullptr;  ///< NHWC view, pixel stride y_ld.
  long long y_ld = 0;
  /// Each cluster computes a band: band_rows output rows of band_images images (whole images,
  /// or rows of one image: band_images 1). One cluster per band.
  int band_rows = 0, band_images = 0;
};

/// Sets a.band_rows and a.band_images for about `bands` clusters over a batch of a.batch images
/// of a.height rows: whole images per band while there are at least as many images as bands,
/// else bands of rows of one image.
inline void set_dense_bands(int bands, DenseLayerArgs* a) {
  if (bands <= a->batch) {
    a->band_images = (a->batch + bands - 1) / bands;
    a->band_rows = a->height;
  } else {
    const int per_image = (bands + a->batch - 1) / a->batch;
    a->band_images = 1;
    a->band_rows = (a->height + per_image - 1) / per_image;
  }
}

/// Clusters (bands) one launch runs.
inline int dense_band_count(const DenseLayerArgs& a) {
  const int row_bands = (a.height + a.band_rows - 1) / a.band_rows;
  return (a.batch + a.band_images - 1) / a.band_images * row_bands;
}

/// What band `band` of a launch covers (host and device).
struct DenseBand {
  int i0, images;  ///< images i0 .. i0 + images - 1
  int y0, y1;      ///< output rows y0 .. y1 - 1 of each
  int m0, m1;      ///< mid rows the band needs: y0 - 1 .. y1, within the image
};
__host__ __device__ inline DenseBand dense_band(const DenseLayerArgs& a, int band) {
  const int row_bands = (a.height + a.band_rows - 1) / a.band_rows;
  const int image_band = band / row_bands;
  const int row_band = band - image_band * row_bands;
  DenseBand b;
  b.i0 = image_band * a.band_images;
  b.images = a.batch - b.i0 < a.band_images ? a.batch - b.i0 : a.band_images;
  b.y0 = row_band * a.band_rows;
  b.y1 = b.y0 + a.band_rows < a.height ? b.y0 + a.band_rows : a.height;
  b.m0 = b.y0 > 0 ? b.y0 - 1 : 0;
  b.m1 = b.y1 < a.height ? b.y1 + 1 : a.height;
  return b;
}

/// Whether the kernel takes this problem's shape (see the limits above; the launch also checks
/// the addresses).
bool dense_layer_cluster_fits(const DenseLayerArgs& a);

/// Phase 1's split of K: over all 16 CTAs, or over 8 with each half of the cluster computing
/// half of the mid channels (half the partial sums to add in phase 2, twice the input per CTA).
constexpr int kDenseKSplits[] = {16, 8};

/// Enqueues the kernel (programmatic dependent launch, like the convolutions); k_split is one of
/// kDenseKSplits.
cudaError_t launch_dense_layer_cluster(const DenseLayerArgs& a, int k_split, cudaStream_t stream);

}  // namespace chexrt::cuda
