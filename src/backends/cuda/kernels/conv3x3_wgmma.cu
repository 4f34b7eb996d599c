// 3x3 / stride 1 / padding 1 convolution on wgmma (sm_90a); see conv3x3_wgmma.cuh for the idea.
//
// CTA: one band of tile_h rows of the batch stacked as one tall image (below), 32 output
// channels, kWarpgroups warpgroups.
// GEMM rows of the band are m = ty * Wp + tx (tx < W valid), cut into 64-row chunks; warpgroup w
// owns chunks w * kChunksPerWg ... and keeps their 64 x 32 fp32 accumulators in registers
// (16 per thread per chunk). K is consumed 32 input channels at a time through a kStages-deep
// cp.async pipeline; a stage holds the bordered band ((tile_h + 2) x Wp pixels, plus the rows
// the last chunk's garbage rows reach) as four 8-channel planes, and the nine taps' weights for
// those channels as [tap][plane][32 output channels], 16 bytes each. Per stage every warpgroup
// issues 9 taps x 2 k16 steps x its chunks wgmma.m64n32k16, all asynchronous, then waits for
// them before the stage's slot may be refilled. The epilogue adds the bias, applies ReLU, stages
// the tile in shared memory and writes the valid pixels with 16-byte stores into the output view.
#include "backends/cuda/kernels/conv3x3_wgmma.cuh"

#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "conv3x3_wgmma.cu must be compiled for sm_90a (wgmma); see src/backends/cuda/CMakeLists.txt"
#endif

namespace {

using namespace device;

constexpr int kCin = 32;            // input channels per pipeline stage
constexpr int kPlanes = kCin / 8;   // 8-channel planes per stage
constexpr int kCout = 32;           // output channels per CTA (wgmma N)
constexpr int kWeightStageBytes = 9 * kPlanes * kCout * 16;

// wgmma shared-memory matrix descriptor, no swizzle: start address, leading-dimension byte
// offset (between core matrices adjacent along K) and stride byte offset (between 8-row groups),
// each in 16-byte units (PTX ISA, "Matrix Descriptor Format").
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(lbo >> 4) << 16) |
         (static_cast<uint64_t>(sbo >> 4) << 32);
}

__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Shared memory written through the generic proxy (cp.async) and read next by wgmma (the async
// proxy) needs this fence in each writing thread before the barrier.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }

// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmma.
__device__ __forceinline__ void fence_accumulators(float (&d)[16]) {
#pragma unroll
  for (int i = 0; i < 16; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// D[64 x 32] += A[64 x 16] * B[16 x 32]^T, both K-major in shared memory, fp32 accumulators.
// Accumulator i of a thread: row 16 * (warp % 4) + lane / 4 (+ 8 for i % 4 >= 2), column
// 8 * (i / 4) + 2 * (lane % 4) + i % 2, as in mma.m16n8k16.
__device__ __forceinline__ void wgmma_m64n32k16(float (&d)[16], uint64_t desc_a, uint64_t desc_b) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16 "
      "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]), "+f"(d[8]),
        "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15])
      : "l"(desc_a), "l"(desc_b), "r"(1));
}

// Shared-memory geometry of one launch (W and the band height are run-time values).
struct HaloGeometry {
  int wp;           // padded width W + 2
  int plane_px;     // pixels per plane (the bordered band, the garbage rows' reach, one spare)
  int plane_bytes;  // plane_px * 16
  int stage_bytes;  // kPlanes planes + the weights

  __host__ __device__ static HaloGeometry make(int width, int rows) {
    HaloGeometry g;
    g.wp = width + 2;
    // Row m of the last chunk reads up to pixel rows - 1 + 2 * wp + 2, and the copies fill whole
    // bordered rows. An odd count of 16-byte pixels per plane puts the four planes' copies of
    // one pixel in different bank groups.
    const int halo_rows = (rows + 2 * g.wp + 2 + g.wp - 1) / g.wp;
    g.plane_px = (halo_rows * g.wp + 7) / 8 * 8 + 1;
    g.plane_bytes = g.plane_px * 16;
    g.stage_bytes = kPlanes * g.plane_bytes + kWeightStageBytes;
    return g;
  }
};

template <int kWarpgroups, int kChunksPerWg, int kStages>
__global__ void __launch_bounds__(kWarpgroups * 128, 1) conv3x3_wgmma_kernel(const ConvGemmArgs a, int tile_h) {
  constexpr int kThreads = kWarpgroups * 128;
  constexpr int kRows = kWarpgroups * kChunksPerWg * 64;
  extern __shared__ __align__(128) unsigned char smem[];
  const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));

  const int width = a.in_w, height = a.in_h;
  const HaloGeometry geo = HaloGeometry::make(width, kRows);
  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int wg = warp >> 2;
  // The batch as one tall image: image i owns virtual rows i * (H + 2) ... (i + 1) * (H + 2) - 1,
  // of which the first H are its output rows and the last two are computed and thrown away, so
  // bordered row u (input row u % (H + 2) - 1 of image u / (H + 2), zero for the two border rows)
  // serves output row v = u - r for taps of kernel row r without ever crossing into the next
  // image. Bands of tile_h virtual rows thus pack small images several to a CTA.
  const int vheight = height + 2;
  const int total_rows = a.batch * vheight;
  const int v0 = blockIdx.x * tile_h;
  const int band_rows = min(tile_h, total_rows - v0);
  const int chunks = (band_rows * geo.wp + 63) / 64;  // 64-row chunks holding band pixels
  const int halo_px = chunks * 64 + 2 * geo.wp + 2;  // bordered pixels those chunks read
  const int n0 = blockIdx.y * kCout;
  const int c_steps = a.in_c / kCin;

  auto stage_addr = [&](int slot) { return smem_base + slot * geo.stage_bytes; };
  // Thread tid copies plane (tid % 4) of bordered column (tid / 4) on every row, so the only
  // per-copy arithmetic is a pointer step of one image row.
  const int halo_rows = (halo_px + geo.wp - 1) / geo.wp;
  auto load_halo = [&](int slot, int kc) {
    unsigned char* dst = smem + slot * geo.stage_bytes;
    for (int e = tid; e < geo.wp * kPlanes; e += kThreads) {
      const int plane = e & 3;
      const int hx = e >> 2;
      const int xx = hx - 1;
      const bool col_ok = static_cast<unsigned>(xx) < static_cast<unsigned>(width);
      const __half* col = a.x + static_cast<long long>(xx) * a.x_ld + kc * kCin + plane * 8;
      unsigned char* d = dst + plane * geo.plane_bytes + hx * 16;
      int img = v0 / vheight;
      int j = v0 - img * vheight;  // bordered row v0 + hy is row j of image img's block
      for (int hy = 0; hy < halo_rows; ++hy) {
        const bool ok = col_ok && j >= 1 && j <= height && img < a.batch;
        const __half* src = col + (static_cast<long long>(img) * height + j - 1) * width * a.x_ld;
        cp_async_16(d, ok ? src : a.x, ok ? 16 : 0);
        d += geo.wp * 16;
        if (++j == vheight) j = 0, ++img;
      }
    }
  };
  // Weights are constants: they may be fetched before pdl_wait().
  auto load_weights = [&](int slot, int kc) {
    unsigned char* dst = smem + slot * geo.stage_bytes + kPlanes * geo.plane_bytes;
    for (int id = tid; id < 9 * kPlanes * kCout; id += kThreads) {
      const int plane = id & 3;
      const int tap = (id >> 2) % 9;
      const int n = (id >> 2) / 9;
      cp_async_16(dst + ((tap * kPlanes + plane) * kCout + n) * 16,
                  a.weight + static_cast<long long>(n0 + n) * a.k_pad + tap * a.in_c + kc * kCin + plane * 8, 16);
    }
  };

  float acc[kChunksPerWg][16];
#pragma unroll
  for (int q = 0; q < kChunksPerWg; ++q)
#pragma unroll
    for (int i = 0; i < 16; ++i) acc[q][i] = 0.f;

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

    // The stage's wgmma run asynchronously while the same threads issue the next stage's copies.
    const uint32_t halo = stage_addr(kc % kStages);
    const uint32_t weights = halo + kPlanes * geo.plane_bytes;
#pragma unroll
    for (int q = 0; q < kChunksPerWg; ++q) fence_accumulators(acc[q]);
    wgmma_fence();
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      const int shift = (tap / 3) * geo.wp + tap % 3;
#pragma unroll
      for (int ks = 0; ks < 2; ++ks) {
        // B: 32 output channels x 16 input channels of this tap; planes 2ks, 2ks + 1.
        const uint64_t desc_b = smem_desc(weights + (tap * kPlanes + 2 * ks) * kCout * 16, kCout * 16, 128);
#pragma unroll
        for (int q = 0; q < kChunksPerWg; ++q) {
          // Chunks past the band's valid rows run too (on stale shared memory, never stored):
          // a branch around wgmma makes the compiler serialize every wgmma of the kernel.
          const int chunk = wg * kChunksPerWg + q;
          const uint32_t a_addr = halo + 2 * ks * geo.plane_bytes + (chunk * 64 + shift) * 16;
          const uint64_t desc_a = smem_desc(a_addr, geo.plane_bytes, 128);
          wgmma_m64n32k16(acc[q], desc_a, desc_b);
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

  // Stage the tile as fp16 ([row][32 + 8 halves]), then 16-byte stores of the valid pixels.
  constexpr int kLdc = kCout + 8;
  __half* sc = reinterpret_cast<__half*>(smem);
  const int g = lane >> 2;
  const int t = lane & 3;
#pragma unroll
  for (int q = 0; q < kChunksPerWg; ++q) {
    const int row = (wg * kChunksPerWg + q) * 64 + (warp & 3) * 16 + g;
#pragma unroll
    for (int nb = 0; nb < 4; ++nb) {
      const int col = nb * 8 + 2 * t;
      const float b0 = a.bias ? a.bias[n0 + col] : 0.f;
      const float b1 = a.bias ? a.bias[n0 + col + 1] : 0.f;
      float v0 = acc[q][4 * nb] + b0, v1 = acc[q][4 * nb + 1] + b1;
      float v2 = acc[q][4 * nb + 2] + b0, v3 = acc[q][4 * nb + 3] + b1;
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
  for (int id = tid; id < chunks * 64 * (kCout / 8); id += kThreads) {
    const int m = id >> 2;
    const int cc = id & 3;
    const int ty = m / geo.wp;
    const int tx = m - ty * geo.wp;
    const int v = v0 + ty;
    const int img = v / vheight;
    const int oy = v - img * vheight;
    if (ty >= band_rows || tx >= width || oy >= height) continue;
    const long long p = (static_cast<long long>(img) * height + oy) * width + tx;
    *reinterpret_cast<uint4*>(a.y + p * a.y_ld + n0 + cc * 8) = *reinterpret_cast<const uint4*>(sc + m * kLdc + cc * 8);
  }
}

template <int kWarpgroups, int kChunksPerWg, int kStages>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  constexpr int kRows = kWarpgroups * kChunksPerWg * 64;
  auto kernel = conv3x3_wgmma_kernel<kWarpgroups, kChunksPerWg, kStages>;
  if (a.in_c % kCin != 0 || a.out_c % kCout != 0 || a.splits != 1 || a.in_w + 2 > kRows) {
    return cudaErrorInvalidValue;
  }
  const HaloGeometry geo = HaloGeometry::make(a.in_w, kRows);
  const size_t pipe = size_t(kStages) * geo.stage_bytes;
  const size_t epilogue = size_t(kRows) * (kCout + 8) * 2;
  const size_t smem = pipe > epilogue ? pipe : epilogue;
  if (smem > 227 * 1024) return cudaErrorInvalidValue;
  static std::once_flag once;
  static cudaError_t attr_status = cudaSuccess;
  std::call_once(once, [&] {
    attr_status = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  });
  if (attr_status != cudaSuccess) return attr_status;
  const int tile_h = kRows / (a.in_w + 2);
  const int total_rows = a.batch * (a.in_h + 2);
  const dim3 grid((total_rows + tile_h - 1) / tile_h, a.out_c / kCout);
  return launch_pdl(kernel, grid, kWarpgroups * 128, smem, stream, a, tile_h);
}

// ConvGemmTile of a configuration: BM = GEMM rows per CTA (padded pixels), BN = 32, one warp
// row per warp (warps_m = 4 per warpgroup).
constexpr ConvGemmTile tile(int warpgroups, int chunks_per_wg, int stages) {
  return ConvGemmTile{warpgroups * chunks_per_wg * 64, kCout, warpgroups * 4, 1, stages, true};
}

}  // namespace

std::vector<TileTable<ConvGemmTile, ConvGemmArgs>::Entry> conv3x3_wgmma_entries() {
  return {{tile(2, 4, 2), launch<2, 4, 2>}, {tile(2, 4, 3), launch<2, 4, 3>}, {tile(4, 2, 2), launch<4, 2, 2>},
          {tile(2, 2, 2), launch<2, 2, 2>}, {tile(2, 2, 3), launch<2, 2, 3>}, {tile(1, 2, 3), launch<1, 2, 3>}};
}

}  // namespace chexrt::cuda
