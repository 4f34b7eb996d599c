// 3x3 convolution of small images with resident weights; see conv3x3_resident.cuh for the idea.
//
// CTA (persistent, one per multiprocessor): kWarps warps, warp w computing tile pixels
// w * kMI * 16 ... as kMI 16-row mma.sync fragments x all 32 output channels. Shared memory:
//  - the weights, [9 taps][32 outputs][128 + 8 halves] (78 KB, loaded once),
//  - two input buffers, each a tile of kImages images with a one-pixel zero border,
//    [image][H + 2][W + 2][128 + 8 halves].
// The 8-half row padding keeps ldmatrix's eight rows (272 bytes apart) in eight bank groups.
// Tile pixel m (image m / HW, row, column) reads tap (r, s) at bordered pixel
// image * (H + 2)(W + 2) + (row + r) * (W + 2) + column + s. The epilogue adds the bias, applies
// ReLU and stores each fragment's half2 pairs straight into the output view (32 channels per
// pixel: no staging needed to fill a 64-byte row).
#include "backends/cuda/kernels/conv3x3_resident.cuh"

#include <algorithm>
#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kC = 128;       // input channels
constexpr int kN = 32;        // output channels
constexpr int kLds = kC + 8;  // shared-memory pixel / weight row stride in halves
constexpr int kWeightBytes = 9 * kN * kLds * 2;
constexpr int kMaxSmem = 227 * 1024;

size_t smem_bytes(int h, int w, int images) { return kWeightBytes + size_t(2) * images * (h + 2) * (w + 2) * kLds * 2; }

template <int kWarps, int kMI, int kImages>
__global__ void __launch_bounds__(kWarps * 32, 1) conv3x3_resident_kernel(const ConvGemmArgs a) {
  constexpr int kThreads = kWarps * 32;
  extern __shared__ __align__(16) unsigned char smem[];
  __half* sw = reinterpret_cast<__half*>(smem);
  __half* sx = sw + 9 * kN * kLds;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int h = a.in_h, w = a.in_w;
  const int hw = h * w;
  const int bw = w + 2;
  const int image_px = (h + 2) * bw;  // bordered pixels per image
  const int buffer_px = kImages * image_px;
  const int tile_px = kImages * hw;
  const int tiles = (a.batch + kImages - 1) / kImages;

  // Weights: constants, fetched before pdl_wait().
  for (int id = tid; id < 9 * kN * (kC / 8); id += kThreads) {
    const int cc = id % (kC / 8);
    const int row = id / (kC / 8);  // tap * kN + n
    const int tap = row / kN;
    const int n = row - tap * kN;
    cp_async_16(sw + row * kLds + cc * 8, a.weight + static_cast<long long>(n) * a.k_pad + tap * kC + cc * 8, 16);
  }
  // The bordered input of tile `tile`, zero outside the images and past the batch.
  auto load_tile = [&](int buffer, int tile) {
    __half* dst = sx + buffer * buffer_px * kLds;
    for (int id = tid; id < buffer_px * (kC / 8); id += kThreads) {
      const int cc = id % (kC / 8);
      const int px = id / (kC / 8);
      const int li = px / image_px;
      const int rem = px - li * image_px;
      const int yy = rem / bw - 1;
      const int xx = rem - (yy + 1) * bw - 1;
      const int img = tile * kImages + li;
      const bool ok = img < a.batch && static_cast<unsigned>(yy) < static_cast<unsigned>(h) &&
                      static_cast<unsigned>(xx) < static_cast<unsigned>(w);
      const __half* src = ok ? a.x + ((static_cast<long long>(img) * h + yy) * w + xx) * a.x_ld + cc * 8 : a.x;
      cp_async_16(dst + px * kLds + cc * 8, src, ok ? 16 : 0);
    }
  };

  // Bordered pixel of each A row this lane addresses (rows past the tile read pixel 0).
  int hb[kMI];
#pragma unroll
  for (int mi = 0; mi < kMI; ++mi) {
    int m = (warp * kMI + mi) * 16 + (lane & 15);
    if (m >= tile_px) m = 0;
    const int li = m / hw;
    const int rem = m - li * hw;
    const int row = rem / w;
    hb[mi] = li * image_px + row * bw + (rem - row * w);
  }
  // This thread's bias pairs (columns 8 ni + 2t, + 1).
  float2 bias[kN / 8];
#pragma unroll
  for (int ni = 0; ni < kN / 8; ++ni) {
    bias[ni] = a.bias ? make_float2(a.bias[ni * 8 + 2 * t], a.bias[ni * 8 + 2 * t + 1]) : make_float2(0.f, 0.f);
  }

  pdl_wait();
  if (static_cast<int>(blockIdx.x) < tiles) load_tile(0, blockIdx.x);
  cp_async_commit();  // group 0: the weights and the first tile

  int buffer = 0;
  for (int tile = blockIdx.x; tile < tiles; tile += gridDim.x, buffer ^= 1) {
    const int next = tile + gridDim.x;
    if (next < tiles) load_tile(buffer ^ 1, next);
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();  // this tile landed

    float acc[kMI][kN / 8][4];
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
      for (int ni = 0; ni < kN / 8; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.f;
    const __half* xs = sx + buffer * buffer_px * kLds;
#pragma unroll 1
    for (int tap = 0; tap < 9; ++tap) {
      const int off = (tap / 3) * bw + tap % 3;
      const __half* ws = sw + tap * kN * kLds;
#pragma unroll
      for (int ks = 0; ks < kC / 16; ++ks) {
        uint32_t af[kMI][4];
#pragma unroll
        for (int mi = 0; mi < kMI; ++mi) ldmatrix_x4(af[mi], xs + (hb[mi] + off) * kLds + ks * 16 + (lane >> 4) * 8);
        uint32_t bf[kN / 8][2];
#pragma unroll
        for (int nj = 0; nj < kN / 16; ++nj) {
          uint32_t r[4];
          ldmatrix_x4(r, ws + (nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLds + ks * 16 + ((lane >> 3) & 1) * 8);
          bf[2 * nj][0] = r[0];
          bf[2 * nj][1] = r[1];
          bf[2 * nj + 1][0] = r[2];
          bf[2 * nj + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
          for (int ni = 0; ni < kN / 8; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
      }
    }

    // Pixels of this tile: its images are consecutive in the batch.
    const int valid = min(kImages, a.batch - tile * kImages) * hw;
    const long long p0 = static_cast<long long>(tile) * tile_px;
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int m = (warp * kMI + mi) * 16 + g + 8 * half;
        if (m >= valid) continue;
        __half* dst = a.y + (p0 + m) * a.y_ld + 2 * t;
#pragma unroll
        for (int ni = 0; ni < kN / 8; ++ni) {
          float v0 = acc[mi][ni][2 * half] + bias[ni].x, v1 = acc[mi][ni][2 * half + 1] + bias[ni].y;
          if (a.relu) {
            v0 = fmaxf(v0, 0.f);
            v1 = fmaxf(v1, 0.f);
          }
          *reinterpret_cast<__half2*>(dst + ni * 8) = __floats2half2_rn(v0, v1);
        }
      }
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }
  cp_async_wait<0>();
  pdl_launch_dependents();
}

bool shape_fits(const ConvGemmArgs& a, int capacity, int images) {
  return a.kernel_h == 3 && a.kernel_w == 3 && a.stride_h == 1 && a.stride_w == 1 && a.pad_h == 1 && a.pad_w == 1 &&
         a.dil_h == 1 && a.dil_w == 1 && a.in_c == kC && a.out_c == kN && a.out_h == a.in_h && a.out_w == a.in_w &&
         a.splits == 1 && a.k_pad == 9 * kC && a.x_ld % 8 == 0 && a.y_ld % 2 == 0 &&
         images * a.in_h * a.in_w <= capacity && smem_bytes(a.in_h, a.in_w, images) <= size_t(kMaxSmem);
}

int multiprocessors() {
  static int count = [] {
    int device = 0, n = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess) {
      return 0;
    }
    return n;
  }();
  return count;
}

template <int kWarps, int kMI, int kImages>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  auto kernel = conv3x3_resident_kernel<kWarps, kMI, kImages>;
  if (!shape_fits(a, kWarps * kMI * 16, kImages) || multiprocessors() <= 0) return cudaErrorInvalidValue;
  static std::once_flag once;
  static cudaError_t attr_status = cudaSuccess;
  std::call_once(
      once, [&] { attr_status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem); });
  if (attr_status != cudaSuccess) return attr_status;
  const int tiles = (a.batch + kImages - 1) / kImages;
  const int grid = std::min(tiles, multiprocessors());
  return launch_pdl(kernel, dim3(grid), kWarps * 32, smem_bytes(a.in_h, a.in_w, kImages), stream, a);
}

constexpr ConvGemmTile tile(int warps, int mi, int images) {
  return ConvGemmTile{warps * mi * 16, kN, warps, 1, 4, false, images};
}

}  // namespace

bool conv3x3_resident_fits(const ConvGemmArgs& a, const ConvGemmTile& t) {
  return t.images > 0 && shape_fits(a, t.bm, t.images);
}

std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_resident_entries() {
  // 14x14 (196 pixels): one image per tile; 7x7 (49): one to three (four would not fit). (Bands
  // of 7 and 4 rows of 28x28 images and of 2 rows of 56x56 ones timed no faster than the halo
  // kernel of conv_gemm.cu on an H200 at batch 256, which is as fast here at 14x14: those layers
  // are bound by the mma loop, not by the weight loads.)
  return {{tile(7, 2, 1), launch<7, 2, 1>}, {tile(4, 4, 1), launch<4, 4, 1>}, {tile(8, 2, 1), launch<8, 2, 1>},
          {tile(4, 1, 1), launch<4, 1, 1>}, {tile(7, 1, 2), launch<7, 1, 2>}, {tile(4, 2, 2), launch<4, 2, 2>},
          {tile(5, 2, 3), launch<5, 2, 3>}};
}

}  // namespace chexrt::cuda
