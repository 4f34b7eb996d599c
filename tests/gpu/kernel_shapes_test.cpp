// Which shapes the specialised kernels take (no GPU needed): the builder offers a tactic only
// where its fits() function accepts the layer, and the kernels rely on that.
#include <gtest/gtest.h>

#include "backends/cuda/kernels/conv3x3_resident.cuh"
#include "backends/cuda/kernels/stem_pool_wgmma.cuh"

namespace chexrt::cuda {
namespace {

ConvGemmArgs dense_3x3(int size, int batch) {
  ConvGemmArgs a;
  a.batch = batch;
  a.in_h = a.in_w = a.out_h = a.out_w = size;
  a.in_c = 128;
  a.out_c = 32;
  a.kernel_h = a.kernel_w = 3;
  a.pad_h = a.pad_w = 1;
  a.k_pad = 9 * 128;
  a.x_ld = 128;
  a.y_ld = 512;
  return a;
}

const ConvGemmTile* tile_with(const std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry>& entries, int images,
                              int bm) {
  for (const auto& e : entries) {
    if (e.tile.images == images && e.tile.bm == bm) return &e.tile;
  }
  return nullptr;
}

// The resident-weight 3x3 kernels: tiles of whole images take blocks 3 and 4 (14x14 and 7x7
// images within a tile's pixels and shared memory), never the larger images; tiles of bands take
// rows up to their pixels wide. Neither takes other channel counts or split-K.
TEST(Conv3x3Resident, TakesTheImagesThatFitItsTiles) {
  const auto entries = conv3x3_resident_entries();
  ASSERT_FALSE(entries.empty());
  const ConvGemmTile* one_14 = tile_with(entries, 1, 224);
  const ConvGemmTile* three_7 = tile_with(entries, 3, 160);
  ASSERT_NE(one_14, nullptr);
  ASSERT_NE(three_7, nullptr);
  EXPECT_TRUE(conv3x3_resident_fits(dense_3x3(14, 256), *one_14));
  EXPECT_TRUE(conv3x3_resident_fits(dense_3x3(7, 256), *three_7));
  EXPECT_TRUE(conv3x3_resident_fits(dense_3x3(7, 1), *three_7));      // a tile past the batch is zero-filled
  EXPECT_FALSE(conv3x3_resident_fits(dense_3x3(14, 256), *three_7));  // 3 x 196 pixels > 160
  int band_tiles = 0;
  for (const auto& e : entries) {
    if (e.tile.images > 0) {
      EXPECT_FALSE(conv3x3_resident_fits(dense_3x3(28, 256), e.tile)) << e.tile.name();
      EXPECT_FALSE(conv3x3_resident_fits(dense_3x3(56, 256), e.tile)) << e.tile.name();
      continue;
    }
    // Band tiles: rows of any width up to the tile's pixels, the ring within shared memory.
    ASSERT_TRUE(e.tile.resident) << e.tile.name();
    ++band_tiles;
    EXPECT_TRUE(conv3x3_resident_fits(dense_3x3(28, 256), e.tile)) << e.tile.name();
    EXPECT_TRUE(conv3x3_resident_fits(dense_3x3(56, 256), e.tile)) << e.tile.name();
    EXPECT_FALSE(conv3x3_resident_fits(dense_3x3(e.tile.bm + 1, 1), e.tile)) << e.tile.name();
    ConvGemmArgs wide = dense_3x3(56, 256);
    wide.in_c = 256;
    wide.k_pad = 9 * 256;
    EXPECT_FALSE(conv3x3_resident_fits(wide, e.tile)) << e.tile.name();
    ConvGemmTile not_resident = e.tile;
    not_resident.resident = false;
    EXPECT_FALSE(conv3x3_resident_fits(dense_3x3(56, 256), not_resident)) << e.tile.name();
  }
  EXPECT_GT(band_tiles, 0);
  ConvGemmArgs wide = dense_3x3(14, 256);
  wide.in_c = 256;
  wide.k_pad = 9 * 256;
  EXPECT_FALSE(conv3x3_resident_fits(wide, *one_14));
  ConvGemmArgs split = dense_3x3(14, 256);
  split.splits = 2;
  EXPECT_FALSE(conv3x3_resident_fits(split, *one_14));
}

StemPoolArgs stem(int size) {
  StemPoolArgs a;
  a.batch = 2;
  a.in_h = a.in_w = size;
  a.x_ld = 16;
  a.y_ld = 256;
  a.band = 4;
  return a;
}

// The one-kernel stem and pool: DenseNet's 112x112 space-to-depth input and other even sizes up
// to 124 wide (two bordered rows fill its 256-pixel step); odd sizes and unaligned strides not.
TEST(StemPool, TakesEvenSizesUpTo124) {
  EXPECT_TRUE(stem_pool_fits(stem(112)));
  EXPECT_TRUE(stem_pool_fits(stem(124)));
  EXPECT_TRUE(stem_pool_fits(stem(2)));
  EXPECT_FALSE(stem_pool_fits(stem(126)));
  EXPECT_FALSE(stem_pool_fits(stem(111)));
  StemPoolArgs a = stem(112);
  a.y_ld = 260;
  EXPECT_FALSE(stem_pool_fits(a));
  a = stem(112);
  a.band = 0;
  EXPECT_FALSE(stem_pool_fits(a));
}

}  // namespace
}  // namespace chexrt::cuda
