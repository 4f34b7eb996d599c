// How the one-kernel dense layer (kernels/dense_layer_cluster.cu) cuts a batch into bands, one
// thread-block cluster each (no GPU needed): the bands cover every output row once, each band's
// mid rows include the rows its 3x3 reads, and whenever dense_layer_cluster_fits() accepts a
// launch, every band fits the kernel's shared-memory tiles (the kernel relies on that).
#include <gtest/gtest.h>

#include <vector>

#include "backends/cuda/kernels/dense_layer_cluster.cuh"

namespace chexrt::cuda {
namespace {

DenseLayerArgs launch_shape(int batch, int size, int bands) {
  DenseLayerArgs a;
  a.batch = batch;
  a.height = a.width = size;
  a.in_c = 512;
  a.k1_pad = 512;
  a.x_ld = 1024;
  a.y_ld = 1024;
  set_dense_bands(bands, &a);
  return a;
}

TEST(DenseLayerBands, CoverTheBatchAndFitTheKernelWhereAccepted) {
  int accepted = 0;
  for (int size : {7, 14, 28, 56}) {
    for (int batch : {1, 2, 3, 4, 5, 8, 32}) {
      for (int bands : {1, 2, 4, 8, 16}) {
        SCOPED_TRACE(std::to_string(batch) + " images of " + std::to_string(size) + "x" + std::to_string(size) + ", " +
                     std::to_string(bands) + " bands");
        const DenseLayerArgs a = launch_shape(batch, size, bands);
        ASSERT_GE(a.band_rows, 1);
        ASSERT_GE(a.band_images, 1);
        std::vector<int> covered(static_cast<size_t>(batch) * size, 0);  // output rows, per image
        const bool fits = dense_layer_cluster_fits(a);
        accepted += fits;
        for (int band = 0; band < dense_band_count(a); ++band) {
          const DenseBand b = dense_band(a, band);
          ASSERT_GE(b.images, 1);
          ASSERT_LE(b.i0 + b.images, batch);
          ASSERT_LT(b.y0, b.y1);
          ASSERT_LE(b.y1, size);
          // The 3x3 reads mid rows y0 - 1 .. y1 where the image has them.
          EXPECT_EQ(b.m0, b.y0 > 0 ? b.y0 - 1 : 0);
          EXPECT_EQ(b.m1, b.y1 < size ? b.y1 + 1 : size);
          for (int i = b.i0; i < b.i0 + b.images; ++i) {
            for (int y = b.y0; y < b.y1; ++y) ++covered[static_cast<size_t>(i) * size + y];
          }
          if (fits) {
            EXPECT_LE(b.images * (b.m1 - b.m0) * size, kDenseMaxPixels);
            EXPECT_LE(b.images * (b.y1 - b.y0 + 2) * (size + 2), kDenseMaxBordered);
          }
        }
        for (size_t r = 0; r < covered.size(); ++r) ASSERT_EQ(covered[r], 1) << "output row " << r;
      }
    }
  }
  // What the network needs at batch 1 (blocks 2-4: 28x28, 14x14, 7x7) is taken; 56x56 is not.
  EXPECT_TRUE(dense_layer_cluster_fits(launch_shape(1, 7, 1)));
  EXPECT_TRUE(dense_layer_cluster_fits(launch_shape(1, 14, 4)));
  EXPECT_TRUE(dense_layer_cluster_fits(launch_shape(1, 28, 8)));
  for (int bands : {1, 2, 4, 8, 16}) EXPECT_FALSE(dense_layer_cluster_fits(launch_shape(1, 56, bands)));
  EXPECT_GT(accepted, 10);
}

TEST(DenseLayerBands, RefusesWhatTheKernelCannotTake) {
  DenseLayerArgs a = launch_shape(1, 14, 1);
  ASSERT_TRUE(dense_layer_cluster_fits(a));
  DenseLayerArgs b = a;
  b.in_c = 1040;  // more input channels than the staged chunks hold
  b.k1_pad = 1056;
  EXPECT_FALSE(dense_layer_cluster_fits(b));
  b = a;
  b.in_c = 520;  // not a multiple of 16
  b.k1_pad = 544;
  EXPECT_FALSE(dense_layer_cluster_fits(b));
  b = a;
  b.y_ld = 1028;  // rows not 16-byte aligned
  EXPECT_FALSE(dense_layer_cluster_fits(b));
  b = a;
  b.band_rows = 7;  // bands of rows span one image only
  b.band_images = 2;
  b.batch = 2;
  EXPECT_FALSE(dense_layer_cluster_fits(b));
  b = launch_shape(2, 14, 1);  // two whole 14x14 images: 392 mid pixels
  EXPECT_FALSE(dense_layer_cluster_fits(b));
}

}  // namespace
}  // namespace chexrt::cuda
