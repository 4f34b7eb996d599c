// Stride-1 convolution on wgmma (sm_90a); see conv_halo_wgmma.cuh for the idea.
//
// Geometry: output Ho x Wo, kernel KH x KW, padding pt (top) and pl (left); bordered width
// Wp = Wo + KW - 1 and bordered height Ho + KH - 1 per image. The batch is stacked into one tall
// image of N * (Ho + KH - 1) virtual rows: image i owns virtual rows i * (Ho + KH - 1) onwards,
// of which the first Ho are its output rows and the last KH - 1 are computed and thrown away, so
// bordered row u (input row u mod (Ho + KH - 1) - pt of image u / (Ho + KH - 1), zero where that
// is outside the image) serves output row u - r for kernel row r without ever reaching into the
// next image. A band of tile_h virtual rows can therefore hold several small images.
//
// CTA: one band, kCout output channels, kWarpgroups warpgroups. GEMM rows of the band are
// m = ty * Wp + tx (tx < Wo valid), cut into 64-row chunks; warpgroup w owns chunks
// w * kChunksPerWg ... and keeps their 64 x kCout fp32 accumulators in registers. K is consumed
// kCin input channels at a time through a kStages-deep cp.async pipeline; a stage holds the
// bordered band as kCin / 8 planes of 8 channels ([plane][pixel], 16 bytes per pixel) and the
// taps' weights for those channels as [tap][plane][kCout]. Per stage every warpgroup issues
// KH * KW taps x kCin / 16 k16 steps x its chunks of wgmma.m64nNk16 (N = kCout), asynchronous,
// while its threads issue the copies of a later stage, then waits for them before the barrier
// that lets the stage's slot be refilled. The epilogue adds the bias, applies ReLU, stages the
// tile in shared memory and writes the valid pixels with 16-byte stores into the output view.
#include "backends/cuda/kernels/conv_halo_wgmma.cuh"

#include <algorithm>
#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/wgmma_util.cuh"

namespace chexrt::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "conv_halo_wgmma.cu must be compiled for sm_90a (wgmma); see src/backends/cuda/CMakeLists.txt"
#endif

namespace {

using namespace device;
using namespace wgmma;

// Shared-memory geometry of one launch (the widths are run-time values).
struct HaloGeometry {
  int wp;           // bordered width Wo + KW - 1
  int plane_px;     // pixels per plane: the bordered rows the band's chunks reach, one spare
  int plane_bytes;  // plane_px * 16
  int stage_bytes;  // the planes + the weights

  __host__ __device__ static HaloGeometry make(int out_w, int kh, int kw, int rows, int planes, int cout) {
    HaloGeometry g;
    g.wp = out_w + kw - 1;
    // Row m of the last chunk reads up to pixel rows - 1 + (kh - 1) * wp + kw - 1, and the copies
    // fill whole bordered rows. An odd count of 16-byte pixels per plane puts the planes' copies
    // of one pixel in different bank groups.
    const int halo_rows = (rows + (kh - 1) * g.wp + kw - 1 + g.wp - 1) / g.wp;
    g.plane_px = (halo_rows * g.wp + 7) / 8 * 8 + 1;
    g.plane_bytes = g.plane_px * 16;
    g.stage_bytes = planes * g.plane_bytes + kh * kw * planes * cout * 16;
    return g;
  }
};

template <int KH, int KW, int kCin, int kCout, int kWarpgroups, int kChunksPerWg, int kStages>
__global__ void __launch_bounds__(kWarpgroups * 128, 1) conv_halo_wgmma_kernel(const ConvGemmArgs a, int tile_h) {
  constexpr int kThreads = kWarpgroups * 128;
  constexpr int kRows = kWarpgroups * kChunksPerWg * 64;
  constexpr int kPlanes = kCin / 8;
  constexpr int kAcc = kCout / 2;  // accumulators per thread per 64-row chunk
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));

  const HaloGeometry geo = HaloGeometry::make(a.out_w, KH, KW, kRows, kPlanes, kCout);
  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int wg = warp >> 2;
  const int vheight = a.out_h + KH - 1;
  const int total_rows = a.batch * vheight;
  const int v0 = blockIdx.x * tile_h;
  const int band_rows = min(tile_h, total_rows - v0);
  const int chunks = (band_rows * geo.wp + 63) / 64;               // 64-row chunks holding band pixels
  const int halo_px = chunks * 64 + (KH - 1) * geo.wp + (KW - 1);  // bordered pixels they read
  const int halo_rows = (halo_px + geo.wp - 1) / geo.wp;
  const int n0 = blockIdx.y * kCout;
  const int c_steps = a.in_c / kCin;

  // Thread e copies plane (e % kPlanes) of bordered column (e / kPlanes) on every row, so the
  // only per-copy arithmetic is a row step.
  auto load_halo = [&](int slot, int kc) {
    unsigned char* dst = smem + slot * geo.stage_bytes;
    for (int e = tid; e < geo.wp * kPlanes; e += kThreads) {
      const int plane = e % kPlanes;
      const int hx = e / kPlanes;
      const int xx = hx - a.pad_w;
      const bool col_ok = static_cast<unsigned>(xx) < static_cast<unsigned>(a.in_w);
      const __half* col = a.x + static_cast<long long>(xx) * a.x_ld + kc * kCin + plane * 8;
      unsigned char* d = dst + plane * geo.plane_bytes + hx * 16;
      int img = v0 / vheight;
      int j = v0 - img * vheight;  // bordered row v0 + hy is row j of image img's block
      for (int hy = 0; hy < halo_rows; ++hy) {
        const int yy = j - a.pad_h;
        const bool ok = col_ok && static_cast<unsigned>(yy) < static_cast<unsigned>(a.in_h) && img < a.batch;
        const __half* src = col + (static_cast<long long>(img) * a.in_h + yy) * a.in_w * a.x_ld;
        cp_async_16(d, ok ? src : a.x, ok ? 16 : 0);
        d += geo.wp * 16;
        if (++j == vheight) j = 0, ++img;
      }
    }
  };
  // Weights are constants: they may be fetched before pdl_wait().
  auto load_weights = [&](int slot, int kc) {
    unsigned char* dst = smem + slot * geo.stage_bytes + kPlanes * geo.plane_bytes;
    for (int id = tid; id < KH * KW * kPlanes * kCout; id += kThreads) {
      const int plane = id % kPlanes;
      const int tap = (id / kPlanes) % (KH * KW);
      const int n = id / (kPlanes * KH * KW);
      cp_async_16(dst + ((tap * kPlanes + plane) * kCout + n) * 16,
                  a.weight + static_cast<long long>(n0 + n) * a.k_pad + tap * a.in_c + kc * kCin + plane * 8, 16);
    }
  };

  float acc[kChunksPerWg][kAcc];
#pragma unroll
  for (int q = 0; q < kChunksPerWg; ++q)
#pragma unroll
    for (int i = 0; i < kAcc; ++i) acc[q][i] = 0.f;
  // This thread's bias values (columns 8 nb + 2 (lane % 4) and the next), fetched now so that
  // the epilogue does not wait on them.
  float bias[kCout / 8][2];
#pragma unroll
  for (int nb = 0; nb < kCout / 8; ++nb) {
    const int col = n0 + nb * 8 + 2 * (lane & 3);
    bias[nb][0] = a.bias ? a.bias[col] : 0.f;
    bias[nb][1] = a.bias ? a.bias[col + 1] : 0.f;
  }

  // Group s holds stage s's halo; group 0 also every early stage's weights.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < c_steps) load_weights(s, s);
  }
  pdl_wait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < c_steps) load_halo(s, s);
    cp_async_commit();
  }

  for (int kc = 0; kc < c_steps; ++kc) {
    cp_async_wait<kStages - 2>();
    fence_proxy_async();
    __syncthreads();  // stage kc landed; every warpgroup is done with the slot refilled below

    const uint32_t halo = smem_base + (kc % kStages) * geo.stage_bytes;
    const uint32_t weights = halo + kPlanes * geo.plane_bytes;
#pragma unroll
    for (int q = 0; q < kChunksPerWg; ++q) fence_accumulators(acc[q]);
    wgmma_fence();
#pragma unroll
    for (int tap = 0; tap < KH * KW; ++tap) {
      const int shift = (tap / KW) * geo.wp + tap % KW;
#pragma unroll
      for (int ks = 0; ks < kCin / 16; ++ks) {
        // B: kCout output channels x 16 input channels of this tap; planes 2ks, 2ks + 1.
        const uint64_t desc_b = smem_desc(weights + (tap * kPlanes + 2 * ks) * kCout * 16, kCout * 16, 128);
#pragma unroll
        for (int q = 0; q < kChunksPerWg; ++q) {
          // Chunks past the band's rows run too (on stale shared memory, never stored): a
          // branch around wgmma makes the compiler serialize every wgmma of the kernel.
          const int chunk = wg * kChunksPerWg + q;
          const uint32_t a_addr = halo + 2 * ks * geo.plane_bytes + (chunk * 64 + shift) * 16;
          wgmma_m64nk16(acc[q], smem_desc(a_addr, geo.plane_bytes, 128), desc_b);
        }
      }
    }
    wgmma_commit();

    const int prefetch = kc + kStages - 1;
    if (prefetch < c_steps) {
      load_halo(prefetch % kStages, prefetch);
      load_weights(prefetch % kStages, prefetch);
    }
    cp_async_commit();

    wgmma_wait_all();
#pragma unroll
    for (int q = 0; q < kChunksPerWg; ++q) fence_accumulators(acc[q]);
  }
  cp_async_wait<0>();
  __syncthreads();  // the epilogue reuses the pipeline's shared memory
  pdl_launch_dependents();

  // Stage the tile as fp16 ([row][kCout + 8 halves]), then 16-byte stores of the valid pixels.
  constexpr int kLdc = kCout + 8;
  __half* sc = reinterpret_cast<__half*>(smem);
  const int g = lane >> 2;
  const int t = lane & 3;
#pragma unroll
  for (int q = 0; q < kChunksPerWg; ++q) {
    const int row = (wg * kChunksPerWg + q) * 64 + (warp & 3) * 16 + g;
#pragma unroll
    for (int nb = 0; nb < kCout / 8; ++nb) {
      const int col = nb * 8 + 2 * t;
      float v0 = acc[q][4 * nb] + bias[nb][0], v1 = acc[q][4 * nb + 1] + bias[nb][1];
      float v2 = acc[q][4 * nb + 2] + bias[nb][0], v3 = acc[q][4 * nb + 3] + bias[nb][1];
      if (a.relu) {
        v0 = fmaxf(v0, 0.f);
        v1 = fmaxf(v1, 0.f);
        v2 = fmaxf(v2, 0.f);
        v3 = fmaxf(v3, 0.f);
      }
      *reinterpret_cast<__half2*>(sc + row * kLdc + col) = __floats2half2_rn(v0, v1);
      *reinterpret_cast<__half2*>(sc + (row + 8) * kLdc + col) = __floats2half2_rn(v2, v3);
    }
  }
  __syncthreads();
  // Row by row of the band, so that no store needs a run-time division.
  constexpr int kRowChunks = kCout / 8;
  int img = v0 / vheight;
  int oy = v0 - img * vheight;
  for (int ty = 0; ty < band_rows; ++ty) {
    if (oy < a.out_h) {
      __half* y_row = a.y + (static_cast<long long>(img) * a.out_h + oy) * a.out_w * a.y_ld + n0;
      const __half* s_row = sc + ty * geo.wp * kLdc;
      for (int id = tid; id < a.out_w * kRowChunks; id += kThreads) {
        const int tx = id / kRowChunks;
        const int cc = id % kRowChunks;
        *reinterpret_cast<uint4*>(y_row + static_cast<long long>(tx) * a.y_ld + cc * 8) =
            *reinterpret_cast<const uint4*>(s_row + tx * kLdc + cc * 8);
      }
    }
    if (++oy == vheight) oy = 0, ++img;
  }
}

// What a kernel instance computes: KH x KW taps, kCin input channels per stage, kCout output
// channels per CTA.
template <int KH, int KW, int kCin, int kCout>
bool geometry_fits(const ConvGemmArgs& a, int rows) {
  const int bottom = a.out_h + KH - 1 - a.in_h - a.pad_h;
  const int right = a.out_w + KW - 1 - a.in_w - a.pad_w;
  return a.kernel_h == KH && a.kernel_w == KW && a.stride_h == 1 && a.stride_w == 1 && a.dil_h == 1 && a.dil_w == 1 &&
         a.pad_h >= 0 && a.pad_w >= 0 && a.pad_h < KH && a.pad_w < KW && bottom >= 0 && bottom < KH && right >= 0 &&
         right < KW && a.in_c % kCin == 0 && a.out_c % kCout == 0 && a.splits == 1 && a.out_w + KW - 1 <= rows &&
         a.k_pad == (KH * KW * a.in_c + 31) / 32 * 32;
}

template <int KH, int KW, int kCin, int kCout, int kWarpgroups, int kChunksPerWg, int kStages>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  constexpr int kRows = kWarpgroups * kChunksPerWg * 64;
  auto kernel = conv_halo_wgmma_kernel<KH, KW, kCin, kCout, kWarpgroups, kChunksPerWg, kStages>;
  if (!geometry_fits<KH, KW, kCin, kCout>(a, kRows)) return cudaErrorInvalidValue;
  const HaloGeometry geo = HaloGeometry::make(a.out_w, KH, KW, kRows, kCin / 8, kCout);
  // A single channel step (the stem) needs one stage, not kStages.
  const size_t pipe = size_t(std::min(kStages, a.in_c / kCin)) * geo.stage_bytes;
  const size_t epilogue = size_t(kRows) * (kCout + 8) * 2;
  const size_t smem = std::max(pipe, epilogue);
  if (smem > 227 * 1024) return cudaErrorInvalidValue;
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(attributes, [&] {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  });
  if (attr_status != cudaSuccess) return attr_status;
  const int tile_h = kRows / geo.wp;
  const int total_rows = a.batch * (a.out_h + KH - 1);
  const dim3 grid((total_rows + tile_h - 1) / tile_h, a.out_c / kCout);
  return launch_pdl(kernel, grid, kWarpgroups * 128, smem, stream, a, tile_h);
}

// ConvGemmTile of a configuration: BM = GEMM rows per CTA (bordered pixels), BN = output
// channels, four warp rows per warpgroup.
constexpr ConvGemmTile tile(int cout, int warpgroups, int chunks_per_wg, int stages) {
  return ConvGemmTile{warpgroups * chunks_per_wg * 64, cout, warpgroups * 4, 1, stages, true};
}

}  // namespace

bool conv_halo_wgmma_fits(const ConvGemmArgs& a, const ConvGemmTile& tile) {
  if (!tile.wgmma) return false;
  if (a.kernel_h == 3 && tile.bn == 32) return geometry_fits<3, 3, 32, 32>(a, tile.bm);
  if (a.kernel_h == 4 && tile.bn == 64) return geometry_fits<4, 4, 16, 64>(a, tile.bm);
  return false;
}

std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv_halo_wgmma_entries(ConvGemmVariant variant) {
  if (variant == ConvGemmVariant::kHalo3x3) {
    return {{tile(32, 2, 4, 2), launch<3, 3, 32, 32, 2, 4, 2>}, {tile(32, 2, 4, 3), launch<3, 3, 32, 32, 2, 4, 3>},
            {tile(32, 4, 2, 2), launch<3, 3, 32, 32, 4, 2, 2>}, {tile(32, 2, 2, 2), launch<3, 3, 32, 32, 2, 2, 2>},
            {tile(32, 2, 2, 3), launch<3, 3, 32, 32, 2, 2, 3>}, {tile(32, 1, 2, 3), launch<3, 3, 32, 32, 1, 2, 3>}};
  }
  if (variant == ConvGemmVariant::kGeneral) {
    // The stem as a 4x4 convolution over its space-to-depth input (16 channels, 64 outputs).
    return {{tile(64, 2, 2, 2), launch<4, 4, 16, 64, 2, 2, 2>},
            {tile(64, 4, 1, 2), launch<4, 4, 16, 64, 4, 1, 2>},
            {tile(64, 2, 1, 2), launch<4, 4, 16, 64, 2, 1, 2>},
            {tile(64, 1, 2, 2), launch<4, 4, 16, 64, 1, 2, 2>}};
  }
  return {};
}

}  // namespace chexrt::cuda
