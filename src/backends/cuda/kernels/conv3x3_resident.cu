// 3x3 convolutions with resident weights; see conv3x3_resident.cuh for the idea. Two kernels:
//
// Whole images (blocks 3-4). CTA (persistent, one per multiprocessor): kWarps warps, warp w
// computing tile pixels w * kMI * 16 ... as kMI 16-row mma.sync fragments x all 32 output
// channels. Shared memory:
//  - the weights, [9 taps][32 outputs][128 + 8 halves] (78 KB, loaded once),
//  - two input buffers, each a tile of kImages images with a one-pixel zero border,
//    [image][H + 2][W + 2][128 + 8 halves].
// The 8-half row padding keeps ldmatrix's eight rows (272 bytes apart) in eight bank groups.
// Tile pixel m (image m / HW, row, column) reads tap (r, s) at bordered pixel
// image * (H + 2)(W + 2) + (row + r) * (W + 2) + column + s.
//
// Bands of rows (blocks 1-2: 56x56, 28x28). The same CTAs and weights; a tile is a band of
// tile_h = kTilePx / W rows of one image, and its bordered input, (tile_h + 2) x (W + 2) pixels,
// is staged 32 channels at a time through a ring of kStages buffers [pixel][32 + 8 halves].
// The ring runs across tiles, as in conv1x1_resident.cu: step s of the CTA is channel step s % 4
// of its tile s / 4, so the next band's first channels load while the current band finishes and
// stores.
//
// Both epilogues add the bias, apply ReLU and store each fragment's half2 pairs straight into
// the output view (32 channels per pixel: no staging needed to fill a 64-byte row).
#include "backends/cuda/kernels/conv3x3_resident.cuh"

#include <algorithm>

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

// The weights, [9 taps][32 outputs][kLds], from the packed [32][9 * 128] (tap-major K).
template <int kThreads>
__device__ __forceinline__ void load_weights(const ConvGemmArgs& a, __half* sw, int tid) {
  for (int id = tid; id < 9 * kN * (kC / 8); id += kThreads) {
    const int cc = id % (kC / 8);
    const int row = id / (kC / 8);  // tap * kN + n
    const int tap = row / kN;
    const int n = row - tap * kN;
    cp_async_16(sw + row * kLds + cc * 8, a.weight + static_cast<long long>(n) * a.k_pad + tap * kC + cc * 8, 16);
  }
}

// This thread's bias pairs (columns 8 ni + 2t, + 1).
__device__ __forceinline__ void load_bias(const ConvGemmArgs& a, int t, float2 (&bias)[kN / 8]) {
#pragma unroll
  for (int ni = 0; ni < kN / 8; ++ni) {
    bias[ni] = a.bias ? make_float2(a.bias[ni * 8 + 2 * t], a.bias[ni * 8 + 2 * t + 1]) : make_float2(0.f, 0.f);
  }
}

// Row g + 8 * half of a 16-row fragment block: bias, ReLU, and its 32 channels as half2 pairs
// (this thread's columns 8 ni + 2t, + 1) at dst, the pixel's channel 2t.
__device__ __forceinline__ void store_row(const float (&acc)[kN / 8][4], int half, const float2 (&bias)[kN / 8],
                                          bool relu, __half* dst) {
#pragma unroll
  for (int ni = 0; ni < kN / 8; ++ni) {
    float v0 = acc[ni][2 * half] + bias[ni].x, v1 = acc[ni][2 * half + 1] + bias[ni].y;
    if (relu) {
      v0 = fmaxf(v0, 0.f);
      v1 = fmaxf(v1, 0.f);
    }
    *reinterpret_cast<__half2*>(dst + ni * 8) = __floats2half2_rn(v0, v1);
  }
}

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

  load_weights<kThreads>(a, sw, tid);  // constants: before pdl_wait()
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
  float2 bias[kN / 8];
  load_bias(a, t, bias);

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
    zero_accumulators(acc);
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
        load_b_fragments(bf, ws + ks * 16, kLds, lane);
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
        if (m < valid) store_row(acc[mi], half, bias, a.relu, a.y + (p0 + m) * a.y_ld + 2 * t);
      }
    }
    __syncthreads();  // every warp is done with this buffer before the next iteration refills it
  }
  cp_async_wait<0>();
  pdl_launch_dependents();
}

constexpr int kBandBK = 32;               // input channels per band stage
constexpr int kBandLds = kBandBK + 8;     // band stage pixel stride in halves (80 bytes)
constexpr int kBandSteps = kC / kBandBK;  // stages per tile

struct BandGeometry {
  int tile_h, bw, halo_px, bands;
  __host__ __device__ static BandGeometry make(int h, int w, int tile_px) {
    BandGeometry b;
    b.tile_h = h < tile_px / w ? h : tile_px / w;
    b.bw = w + 2;
    b.halo_px = (b.tile_h + 2) * b.bw;
    b.bands = (h + b.tile_h - 1) / b.tile_h;
    return b;
  }
};

size_t band_smem_bytes(int h, int w, int tile_px, int stages) {
  return kWeightBytes + size_t(stages) * BandGeometry::make(h, w, tile_px).halo_px * kBandLds * 2;
}

template <int kWarps, int kMI, int kStages>
__global__ void __launch_bounds__(kWarps * 32, 1) conv3x3_band_resident_kernel(const ConvGemmArgs a) {
  constexpr int kThreads = kWarps * 32;
  constexpr int kTilePx = kWarps * kMI * 16;
  extern __shared__ __align__(16) unsigned char smem[];
  __half* sw = reinterpret_cast<__half*>(smem);
  __half* sh = sw + 9 * kN * kLds;  // [kStages][halo_px][kBandLds]
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int h = a.in_h, w = a.in_w;
  const BandGeometry geo = BandGeometry::make(h, w, kTilePx);
  const int tiles = a.batch * geo.bands;
  const int my_tiles = static_cast<int>(blockIdx.x) < tiles ? (tiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const int steps = my_tiles * kBandSteps;

  load_weights<kThreads>(a, sw, tid);  // constants: before pdl_wait()
  float2 bias[kN / 8];
  load_bias(a, t, bias);

  // The producer's position: the tile and channel step of the next stage it loads. Thread e
  // copies chunk e % 4 of bordered column e / 4 on every row (no per-copy division); zero
  // outside the image.
  int load_tile = blockIdx.x, load_kc = 0;
  auto load_next_stage = [&](int slot) {
    const int img = load_tile / geo.bands;
    const int y0 = (load_tile - img * geo.bands) * geo.tile_h;
    const __half* x_img = a.x + static_cast<long long>(img) * h * w * a.x_ld + load_kc * kBandBK;
    __half* dst = sh + slot * geo.halo_px * kBandLds;
    for (int e = tid; e < geo.bw * 4; e += kThreads) {
      const int cc = e & 3;
      const int hx = e >> 2;
      const int xx = hx - 1;
      const bool col_ok = static_cast<unsigned>(xx) < static_cast<unsigned>(w);
      for (int hy = 0; hy < geo.tile_h + 2; ++hy) {
        const int yy = y0 - 1 + hy;
        const bool ok = col_ok && static_cast<unsigned>(yy) < static_cast<unsigned>(h);
        const __half* src = ok ? x_img + (static_cast<long long>(yy) * w + xx) * a.x_ld + cc * 8 : a.x;
        cp_async_16(dst + (hy * geo.bw + hx) * kBandLds + cc * 8, src, ok ? 16 : 0);
      }
    }
    if (++load_kc == kBandSteps) {
      load_kc = 0;
      load_tile += gridDim.x;
    }
  };

  // The consumer's tile: its image, first row, valid pixels, and the bordered pixel of each A
  // row this lane addresses (rows past the band read pixel 0).
  int tile = blockIdx.x, img = 0, y0 = 0, valid = 0;
  int hb[kMI];
  auto start_tile = [&] {
    img = tile / geo.bands;
    y0 = (tile - img * geo.bands) * geo.tile_h;
    valid = min(geo.tile_h, h - y0) * w;
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi) {
      int m = (warp * kMI + mi) * 16 + (lane & 15);
      if (m >= valid) m = 0;
      const int row = m / w;
      hb[mi] = row * geo.bw + (m - row * w);
    }
  };
  start_tile();

  float acc[kMI][kN / 8][4];
  zero_accumulators(acc);

  pdl_wait();
  // Group 0 holds the weights with the first stage, so the waits below stay exact.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < steps) load_next_stage(s);
    cp_async_commit();
  }
  int kc = 0;
  for (int step = 0; step < steps; ++step) {
    // Step `step` has landed; every warp is done with the slot that the prefetch below refills.
    cp_async_wait<kStages - 2>();
    __syncthreads();
    if (step + kStages - 1 < steps) load_next_stage((step + kStages - 1) % kStages);
    cp_async_commit();

    // Warps whose rows all lie past the band (an image's short last band) skip the products.
    if ((warp * kMI) * 16 < valid) {
      const __half* hs = sh + (step % kStages) * geo.halo_px * kBandLds;
#pragma unroll
      for (int tap = 0; tap < 9; ++tap) {
        const int off = (tap / 3) * geo.bw + tap % 3;
        const __half* ws = sw + tap * kN * kLds + kc * kBandBK;
#pragma unroll
        for (int ks = 0; ks < kBandBK / 16; ++ks) {
          uint32_t af[kMI][4];
#pragma unroll
          for (int mi = 0; mi < kMI; ++mi) {
            ldmatrix_x4(af[mi], hs + (hb[mi] + off) * kBandLds + ks * 16 + (lane >> 4) * 8);
          }
          uint32_t bf[kN / 8][2];
          load_b_fragments(bf, ws + ks * 16, kLds, lane);
#pragma unroll
          for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
            for (int ni = 0; ni < kN / 8; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }
      }
    }
    if (++kc < kBandSteps) continue;

      // The tile's last channel step: out, while the next stages keep loading.
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int m = (warp * kMI + mi) * 16 + g + 8 * half;
        if (m < valid) {
          const int row = m / w;
          const long long p = (static_cast<long long>(img) * h + y0 + row) * w + (m - row * w);
          store_row(acc[mi], half, bias, a.relu, a.y + p * a.y_ld + 2 * t);
        }
#pragma unroll
        for (int ni = 0; ni < kN / 8; ++ni) acc[mi][ni][2 * half] = acc[mi][ni][2 * half + 1] = 0.f;
      }
    }
    kc = 0;
    tile += gridDim.x;
    start_tile();
  }
  cp_async_wait<0>();
  pdl_launch_dependents();
}

// DenseNet's 3x3 layer: 128 -> 32 channels, stride 1, padding 1, weights packed as 9 x 128 per output.
bool dense_3x3(const ConvGemmArgs& a) {
  return a.kernel_h == 3 && a.kernel_w == 3 && a.stride_h == 1 && a.stride_w == 1 && a.pad_h == 1 && a.pad_w == 1 &&
         a.dil_h == 1 && a.dil_w == 1 && a.in_c == kC && a.out_c == kN && a.out_h == a.in_h && a.out_w == a.in_w &&
         a.splits == 1 && a.k_pad == 9 * kC && a.x_ld % 8 == 0 && a.y_ld % 2 == 0;
}

bool images_fit(const ConvGemmArgs& a, int capacity, int images) {
  return dense_3x3(a) && images * a.in_h * a.in_w <= capacity && smem_bytes(a.in_h, a.in_w, images) <= size_t(kMaxSmem);
}

bool band_fits(const ConvGemmArgs& a, int tile_px, int stages) {
  return dense_3x3(a) && a.in_w <= tile_px && band_smem_bytes(a.in_h, a.in_w, tile_px, stages) <= size_t(kMaxSmem);
}

// One persistent CTA per multiprocessor (at most one per tile, at most a.max_ctas).
template <auto kKernel>
cudaError_t launch_persistent(int tiles, int threads, size_t smem, const ConvGemmArgs& a, cudaStream_t stream) {
  // Shared memory beyond 48 KB must be opted into, once per kernel and device.
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(
      attributes, [&] { return cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem); });
  if (attr_status != cudaSuccess) return attr_status;
  if (multiprocessor_count() <= 0) return cudaErrorInvalidValue;
  int ctas = std::min(tiles, multiprocessor_count());
  if (a.max_ctas > 0) ctas = std::min(ctas, a.max_ctas);
  return launch_pdl(kKernel, dim3(ctas), threads, smem, stream, a);
}

template <int kWarps, int kMI, int kImages>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  if (!images_fit(a, kWarps * kMI * 16, kImages)) return cudaErrorInvalidValue;
  return launch_persistent<conv3x3_resident_kernel<kWarps, kMI, kImages>>(
      (a.batch + kImages - 1) / kImages, kWarps * 32, smem_bytes(a.in_h, a.in_w, kImages), a, stream);
}

template <int kWarps, int kMI, int kStages>
cudaError_t launch_band(const ConvGemmArgs& a, cudaStream_t stream) {
  constexpr int kTilePx = kWarps * kMI * 16;
  if (!band_fits(a, kTilePx, kStages)) return cudaErrorInvalidValue;
  const int tiles = a.batch * BandGeometry::make(a.in_h, a.in_w, kTilePx).bands;
  return launch_persistent<conv3x3_band_resident_kernel<kWarps, kMI, kStages>>(
      tiles, kWarps * 32, band_smem_bytes(a.in_h, a.in_w, kTilePx, kStages), a, stream);
}

constexpr ConvGemmTile tile(int warps, int mi, int images) {
  return ConvGemmTile{warps * mi * 16, kN, warps, 1, 4, false, images};
}

constexpr ConvGemmTile band_tile(int warps, int mi, int stages) {
  return ConvGemmTile{warps * mi * 16, kN, warps, 1, stages, false, 0, true};
}

}  // namespace

bool conv3x3_resident_fits(const ConvGemmArgs& a, const ConvGemmTile& t) {
  if (t.images > 0) return images_fit(a, t.bm, t.images);
  return t.resident && t.bn == kN && t.warps_n == 1 && band_fits(a, t.bm, t.stages);
}

std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_resident_entries() {
  // Whole images: 14x14 (196 pixels) one per tile; 7x7 (49) one to three (four would not fit).
  // (Bands of 7 and 4 rows of 28x28 images and of 2 rows of 56x56 ones, all 128 channels at
  // once, timed no faster than the halo kernel of conv_gemm.cu on an H200 at batch 256.)
  // Bands, 32 channels at a time: 56x56 in bands of 9 rows (512 pixels) or 8 (448, seven per
  // image); 28x28 in bands of 18, 16, 9 or 8 rows.
  return {{tile(7, 2, 1), launch<7, 2, 1>},           {tile(4, 4, 1), launch<4, 4, 1>},
          {tile(8, 2, 1), launch<8, 2, 1>},           {tile(4, 1, 1), launch<4, 1, 1>},
          {tile(7, 1, 2), launch<7, 1, 2>},           {tile(4, 2, 2), launch<4, 2, 2>},
          {tile(5, 2, 3), launch<5, 2, 3>},           {band_tile(8, 4, 2), launch_band<8, 4, 2>},
          {band_tile(8, 4, 3), launch_band<8, 4, 3>}, {band_tile(7, 4, 3), launch_band<7, 4, 3>},
          {band_tile(8, 2, 3), launch_band<8, 2, 3>}, {band_tile(7, 2, 3), launch_band<7, 2, 3>}};
}

}  // namespace chexrt::cuda
