// The tile configurations an implicit-GEMM kernel family was compiled for, per variant: the
// list the builder times (tiles()), and the launch of the one it chose (launch()). Host code;
// shared by the fp16 (conv_gemm.cu), FFMA (conv_gemm_f32.cu) and 3xTF32 (conv_gemm_3xtf32.cu)
// families, whose tiles and argument structs differ.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <utility>
#include <vector>

#include "backends/cuda/kernels/conv_gemm.cuh"

namespace chexrt::cuda {

template <class Tile, class Args>
class TileTable {
 public:
  using Launcher = cudaError_t (*)(const Args&, cudaStream_t);
  struct Entry {
    Tile tile;
    Launcher launch;
  };

  /// The compiled tiles of each variant (empty where the family has none).
  TileTable(std::vector<Entry> pointwise, std::vector<Entry> pointwise_prologue, std::vector<Entry> general,
            std::vector<Entry> halo3x3)
      : entries_{std::move(pointwise), std::move(pointwise_prologue), std::move(general), std::move(halo3x3)} {
    for (size_t v = 0; v < entries_.size(); ++v) {
      for (const Entry& e : entries_[v]) tiles_[v].push_back(e.tile);
    }
  }

  const std::vector<Tile>& tiles(ConvGemmVariant v) const { return tiles_[index(v)]; }

  /// cudaErrorInvalidValue when `tile` was not compiled for `v`.
  cudaError_t launch(const Args& args, ConvGemmVariant v, const Tile& tile, cudaStream_t stream) const {
    for (const Entry& e : entries_[index(v)]) {
      if (e.tile == tile) return e.launch(args, stream);
    }
    return cudaErrorInvalidValue;
  }

 private:
  // Indexed by ConvGemmVariant, in its declaration order.
  static size_t index(ConvGemmVariant v) { return static_cast<size_t>(v); }
  std::array<std::vector<Entry>, 4> entries_;
  std::array<std::vector<Tile>, 4> tiles_;
};

}  // namespace chexrt::cuda
