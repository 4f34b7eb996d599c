// The stem convolution and its max pool in one kernel; see stem_pool_wgmma.cuh for the idea.
//
// CTA: one band of pooled rows [j0, j1) of one image, two warpgroups. Step s computes
// convolution rows 2s and 2s + 1 over the bordered width Wp = W + 3 as the transposed GEMM
// D[64 channels][256 pixels] = W[64][K] X[K][256]: pixel m = ty * Wp + tx reads bordered pixel
// m + r * Wp + c for tap (r, c) (the halo layout of conv_halo_wgmma.cu; pixels with tx >= W or
// m >= 2 Wp are computed and thrown away), warpgroup w taking pixels 128 w ... (one
// wgmma.m64n128k16 per tap). With the weights as the 64-row operand, a wgmma reads 2 KB of
// weights and 4 KB of pixels for 64 x 128 x 16 products (6 KB per 131072 products, against
// 4 KB per 65536 with the pixels as rows): shared memory, which the wgmma, the copies and the
// pool share, is the kernel's busiest unit. The epilogue adds the bias, applies ReLU and stores
// the two rows as fp16 with stmatrix.trans (pixel-major, 8 channels per 16-byte row) into a ring
// of three bordered rows in shared memory (row r in slot r % 3). Pooled row s is then the max
// over rows 2s - 1 .. 2s + 1 (the first of them kept from step s - 1) and columns
// 2px - 1 .. 2px + 1, padding excluded. A band starting at j0 > 0 first runs step j0 - 1 for its
// row 2 j0 - 1.
//
// Shared memory: the weights ([tap][plane][64][8 halves], loaded once), the halo of one step
// (two planes of 8 channels, [plane][pixel], 16 bytes per pixel: wgmma's no-swizzle K-major
// layout) and the ring; about 106 KB at W = 112, so that two CTAs share a multiprocessor and one
// computes while the other stores and pools.
#include "backends/cuda/kernels/stem_pool_wgmma.cuh"

#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/wgmma_util.cuh"

namespace chexrt::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 900 && !defined(__CUDA_ARCH_FEAT_SM90_ALL)
#error "stem_pool_wgmma.cu must be compiled for sm_90a (wgmma); see src/backends/cuda/CMakeLists.txt"
#endif

namespace {

using namespace device;
using namespace wgmma;

constexpr int kKernel = 4;  // 4x4 taps
constexpr int kTaps = kKernel * kKernel;
constexpr int kPad = 2;  // before; 1 after
constexpr int kPlanes = kStemCin / 8;
constexpr int kWarpgroups = 2;
constexpr int kPixelsPerWg = 128;
constexpr int kThreads = kWarpgroups * 128;
constexpr int kRows = kWarpgroups * kPixelsPerWg;  // GEMM pixels per step
// Ring pixel stride in halves: 144 bytes, so that the eight 16-byte rows of an stmatrix and the
// pool's eight-thread phases land in eight bank groups.
constexpr int kLdc = kStemCout + 8;
constexpr int kWeightBytes = kTaps * kPlanes * kStemCout * 16;
static_assert(kStemK == kTaps * kStemCin, "the weights' row length of stem_pool_wgmma.cuh");

struct StemGeometry {
  int wp;           // bordered width W + 3
  int halo_rows;    // bordered rows a step reads
  int plane_bytes;  // 16-byte pixels per plane (odd: the planes' copies of a pixel in different banks)
  int ring_bytes;   // three bordered rows, then rows for the pixels past 2 Wp (never read)
  int smem_bytes;

  __host__ __device__ static StemGeometry make(int in_w) {
    StemGeometry g;
    g.wp = in_w + kKernel - 1;
    g.halo_rows = (kRows + (kKernel - 1) * g.wp + kKernel - 1 + g.wp - 1) / g.wp;
    g.plane_bytes = ((g.halo_rows * g.wp + 7) / 8 * 8 + 1) * 16;
    g.ring_bytes = (3 * g.wp + kRows - 2 * g.wp) * kLdc * 2;
    g.smem_bytes = kWeightBytes + kPlanes * g.plane_bytes + g.ring_bytes;
    return g;
  }
};

__global__ void __launch_bounds__(kThreads, 2) stem_pool_wgmma_kernel(const StemPoolArgs a) {
  extern __shared__ __align__(128) unsigned char smem[];
  const StemGeometry geo = StemGeometry::make(a.in_w);
  const uint32_t weights = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  const uint32_t halo = weights + kWeightBytes;
  unsigned char* halo_ptr = smem + kWeightBytes;
  __half* ring = reinterpret_cast<__half*>(smem + kWeightBytes + kPlanes * geo.plane_bytes);

  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;
  const int wg = warp >> 2;
  const int g = lane >> 2;
  const int out_h = a.in_h / 2, out_w = a.in_w / 2;
  const int bands = (out_h + a.band - 1) / a.band;
  const int img = blockIdx.x / bands;
  const int j0 = (blockIdx.x - img * bands) * a.band;
  const int j1 = min(out_h, j0 + a.band);
  const __half* x_img = a.x + static_cast<long long>(img) * a.in_h * a.in_w * a.x_ld;

  // Weights are constants: fetched before pdl_wait().
  for (int id = tid; id < kTaps * kPlanes * kStemCout; id += kThreads) {
    const int plane = id % kPlanes;
    const int tap = (id / kPlanes) % kTaps;
    const int n = id / (kPlanes * kTaps);
    cp_async_16(smem + ((tap * kPlanes + plane) * kStemCout + n) * 16,
                a.weight + n * kStemK + tap * kStemCin + plane * 8, 16);
  }
  // Step s reads input rows 2s - 2 ... as bordered rows 0 ...; thread e copies plane e % kPlanes
  // of bordered column e / kPlanes on every row.
  auto load_halo = [&](int s) {
    for (int e = tid; e < geo.wp * kPlanes; e += kThreads) {
      const int plane = e % kPlanes;
      const int hx = e / kPlanes;
      const int xx = hx - kPad;
      const bool col_ok = static_cast<unsigned>(xx) < static_cast<unsigned>(a.in_w);
      const __half* col = x_img + static_cast<long long>(xx) * a.x_ld + plane * 8;
      unsigned char* d = halo_ptr + plane * geo.plane_bytes + hx * 16;
      for (int hy = 0; hy < geo.halo_rows; ++hy) {
        const int yy = 2 * s - kPad + hy;
        const bool ok = col_ok && static_cast<unsigned>(yy) < static_cast<unsigned>(a.in_h);
        cp_async_16(d, ok ? col + static_cast<long long>(yy) * a.in_w * a.x_ld : a.x, ok ? 16 : 0);
        d += geo.wp * 16;
      }
    }
  };

  const int first = j0 > 0 ? j0 - 1 : 0;
  pdl_wait();
  load_halo(first);
  cp_async_commit();

  // This thread's channels (rows of D) and their bias.
  const int ch0 = 16 * (warp & 3) + g;
  const float bias_lo = a.bias ? a.bias[ch0] : 0.f;
  const float bias_hi = a.bias ? a.bias[ch0 + 8] : 0.f;
  const uint32_t ring_addr = static_cast<uint32_t>(__cvta_generic_to_shared(ring));

  float acc[kPixelsPerWg / 2];
  for (int s = first; s < j1; ++s) {
    cp_async_wait<0>();
    fence_proxy_async();
    __syncthreads();  // the halo (and the weights) landed; the last pool is done with the ring

#pragma unroll
    for (int i = 0; i < kPixelsPerWg / 2; ++i) acc[i] = 0.f;
    fence_accumulators(acc);
    wgmma_fence();
    // Descriptors advance by volatile adds issued next to their wgmma: computed ahead, the 16
    // descriptors (or their offsets) would occupy registers.
    uint64_t desc_w = smem_desc(weights, kStemCout * 16, 128);
    uint64_t desc_x = smem_desc(halo + wg * kPixelsPerWg * 16, geo.plane_bytes, 128);
#pragma unroll
    for (int r = 0; r < kKernel; ++r) {
#pragma unroll
      for (int c = 0; c < kKernel; ++c) {
        wgmma_m64nk16(acc, desc_w, desc_x);
        desc_x = desc_advance(desc_x, c + 1 < kKernel ? 1 : geo.wp - (kKernel - 1));  // next pixel or row
        desc_w = desc_advance(desc_w, kPlanes * kStemCout);                           // next tap's weights
      }
    }
    wgmma_commit();
    wgmma_wait_all();
    fence_accumulators(acc);
    __syncthreads();  // both warpgroups are done with the halo
    if (s + 1 < j1) load_halo(s + 1);
    cp_async_commit();

    // Bias, ReLU, fp16; stmatrix.trans turns each 8-channel x 8-pixel block of D into eight
    // 16-byte pixel rows of the ring. Lane l addresses pixel l % 8 of block l / 8.
    const int row_a = (2 * s) % 3, row_b = (2 * s + 1) % 3;
    const int lane_block = lane >> 3;
#pragma unroll
    for (int jj = 0; jj < kPixelsPerWg / 16; ++jj) {
      uint32_t r[4];
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int j = 2 * jj + h;
        float v0 = acc[4 * j] + bias_lo, v1 = acc[4 * j + 1] + bias_lo;
        float v2 = acc[4 * j + 2] + bias_hi, v3 = acc[4 * j + 3] + bias_hi;
        if (a.relu) {
          v0 = fmaxf(v0, 0.f);
          v1 = fmaxf(v1, 0.f);
          v2 = fmaxf(v2, 0.f);
          v3 = fmaxf(v3, 0.f);
        }
        r[2 * h] = as_u32(__floats2half2_rn(v0, v1));
        r[2 * h + 1] = as_u32(__floats2half2_rn(v2, v3));
      }
      const int px = wg * kPixelsPerWg + 8 * (2 * jj + (lane_block >> 1)) + (lane & 7);
      const int ring_px = px < geo.wp       ? row_a * geo.wp + px
                          : px < 2 * geo.wp ? row_b * geo.wp + px - geo.wp
                                            : px + geo.wp;
      stmatrix_x4_trans(ring_addr + (ring_px * kLdc + 16 * (warp & 3) + 8 * (lane_block & 1)) * 2, r[0], r[1], r[2],
                        r[3]);
    }
    __syncthreads();       // rows 2s and 2s + 1 are in the ring
    if (s < j0) continue;  // the step before the band: its row 2 j0 - 1 only

    // Pooled row s, eight channels per thread and pixel; every window holds its centre.
    __half* y_row = a.y + (static_cast<long long>(img) * out_h + s) * out_w * a.y_ld;
    for (int id = tid; id < out_w * (kStemCout / 8); id += kThreads) {
      const int px = id / (kStemCout / 8);
      const int cg = id % (kStemCout / 8);
      uint4 best = *reinterpret_cast<const uint4*>(ring + (row_a * geo.wp + 2 * px) * kLdc + cg * 8);
#pragma unroll
      for (int i = 0; i < 3; ++i) {
        const int r = 2 * s - 1 + i;
        if (r < 0) continue;
#pragma unroll
        for (int j = 0; j < 3; ++j) {
          const int c = 2 * px - 1 + j;
          if (c < 0) continue;
          const uint4 v = *reinterpret_cast<const uint4*>(ring + ((r % 3) * geo.wp + c) * kLdc + cg * 8);
          best.x = as_u32(__hmax2(as_half2(best.x), as_half2(v.x)));
          best.y = as_u32(__hmax2(as_half2(best.y), as_half2(v.y)));
          best.z = as_u32(__hmax2(as_half2(best.z), as_half2(v.z)));
          best.w = as_u32(__hmax2(as_half2(best.w), as_half2(v.w)));
        }
      }
      *reinterpret_cast<uint4*>(y_row + static_cast<long long>(px) * a.y_ld + cg * 8) = best;
    }
  }
  pdl_launch_dependents();
}

}  // namespace

bool stem_pool_fits(const StemPoolArgs& a) {
  return a.in_h >= 2 && a.in_w >= 2 && a.in_h % 2 == 0 && a.in_w % 2 == 0 && 2 * (a.in_w + kKernel - 1) <= kRows &&
         a.x_ld >= kStemCin && a.x_ld % 8 == 0 && a.y_ld >= kStemCout && a.y_ld % 8 == 0 && a.band >= 1 && a.batch >= 1;
}

cudaError_t launch_stem_pool_wgmma(const StemPoolArgs& a, cudaStream_t stream) {
  if (!stem_pool_fits(a)) return cudaErrorInvalidValue;
  const StemGeometry geo = StemGeometry::make(a.in_w);
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(attributes, [&] {
    return cudaFuncSetAttribute(stem_pool_wgmma_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  });
  if (attr_status != cudaSuccess) return attr_status;
  const int bands = (a.in_h / 2 + a.band - 1) / a.band;
  return launch_pdl(stem_pool_wgmma_kernel, dim3(a.batch * bands), kThreads, geo.smem_bytes, stream, a);
}

}  // namespace chexrt::cuda
