// Implicit-GEMM convolution on tensor cores (mma.sync m16n8k16, fp16 in, fp32 accumulate).
//
// A CTA computes a BM x BN tile of Y. K is consumed 32 at a time through a 4-stage cp.async
// pipeline: A rows are output pixels (gathered from X; zero-filled where the window leaves the
// image, past the last pixel or past r*s*C), B rows are output channels (the packed weights).
// Shared-memory rows are 40 halves (80 bytes) apart, which keeps the 8 row addresses of each
// ldmatrix phase on distinct bank groups. The epilogue adds the bias, applies ReLU, stages the
// tile in shared memory and writes it with 16-byte stores into the (strided) output view.
#include "backends/cuda/kernels/conv_gemm.cuh"

#include <cooperative_groups.h>

#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

// The tile shapes live outside the anonymous namespace below: nvcc warns (#177) about every
// member of a class template with internal linkage that one instantiation leaves unused.
namespace gemm_tile {

constexpr int kBK = 32;
constexpr int kLds = kBK + 8;
constexpr int kStages = 4;

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES = kStages>
struct Tile {
  static constexpr int kBM = BM;
  static constexpr int kBN = BN;
  static constexpr int kStages = STAGES;
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kWM = BM / WARPS_M;
  static constexpr int kWN = BN / WARPS_N;
  static constexpr int kMI = kWM / 16;
  static constexpr int kNI = kWN / 8;
  static constexpr int kAChunks = BM * (kBK / 8) / kThreads;  // 16-byte A chunks per thread per stage
  static constexpr int kLdc = BN + 8;
  static constexpr size_t kPipeBytes = size_t(kStages) * (BM + BN) * kLds * 2 + size_t(kStages) * 2 * kBK * 2;
  static constexpr size_t kEpilogueBytes = size_t(BM) * kLdc * 2;
  static constexpr size_t kSmemBytes = kPipeBytes > kEpilogueBytes ? kPipeBytes : kEpilogueBytes;
  static constexpr size_t kClusterReduceBytes = size_t(BM) * (BN + 4) * 4;
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert(BM * (kBK / 8) % kThreads == 0 && kAChunks >= 1, "A chunks must divide among threads");
};

}  // namespace gemm_tile

namespace {

using namespace device;
using gemm_tile::kBK;
using gemm_tile::kLds;
using gemm_tile::kStages;
using gemm_tile::Tile;

// The epilogue's first half, shared by the tensor-core kernels: bias and ReLU on this warp's
// mma accumulators (fragment layout of mma.m16n8k16: rows g and g + 8, columns 2t and 2t + 1),
// stored as fp16 into the CTA's output tile in shared memory (row stride T::kLdc), from where
// the CTA writes whole 16-byte rows to global memory.
template <class T>
__device__ __forceinline__ void stage_tile_f16(const float (&acc)[T::kMI][T::kNI][4], const float* bias, bool relu,
                                               int n0, int warp_m, int warp_n, int g, int t, __half* sc) {
#pragma unroll
  for (int ni = 0; ni < T::kNI; ++ni) {
    const int col = warp_n * T::kWN + ni * 8 + 2 * t;
    const float b0 = bias ? bias[n0 + col] : 0.f;
    const float b1 = bias ? bias[n0 + col + 1] : 0.f;
#pragma unroll
    for (int mi = 0; mi < T::kMI; ++mi) {
      const int row = warp_m * T::kWM + mi * 16 + g;
      float v0 = acc[mi][ni][0] + b0, v1 = acc[mi][ni][1] + b1;
      float v2 = acc[mi][ni][2] + b0, v3 = acc[mi][ni][3] + b1;
      if (relu) {
        v0 = fmaxf(v0, 0.f);
        v1 = fmaxf(v1, 0.f);
        v2 = fmaxf(v2, 0.f);
        v3 = fmaxf(v3, 0.f);
      }
      *reinterpret_cast<__half2*>(sc + row * T::kLdc + col) = __floats2half2_rn(v0, v1);
      *reinterpret_cast<__half2*>(sc + (row + 8) * T::kLdc + col) = __floats2half2_rn(v2, v3);
    }
  }
}

// Split-K within a cluster (ConvGemmArgs::cluster_reduce): every CTA of the cluster stores its
// fp32 partial tile in its own shared memory ([BM][BN + 4]); after a cluster barrier CTA r sums
// rows r * BM / S ... of all S partial tiles (through distributed shared memory, in the fixed
// order r, r + 1, ..., S - 1, 0, ..., r - 1, so that the CTAs do not all read one CTA at once),
// adds the bias, applies ReLU and writes them; a second barrier keeps each CTA's shared memory
// alive until the others have read it.
template <class T>
__device__ __forceinline__ void cluster_reduce_epilogue(const ConvGemmArgs& a, const float (&acc)[T::kMI][T::kNI][4],
                                                        unsigned char* smem, int m0, int n0, int pixels, int warp_m,
                                                        int warp_n, int g, int t) {
  namespace cg = cooperative_groups;
  constexpr int kLdr = T::kBN + 4;
  float* red = reinterpret_cast<float*>(smem);
#pragma unroll
  for (int mi = 0; mi < T::kMI; ++mi) {
#pragma unroll
    for (int ni = 0; ni < T::kNI; ++ni) {
      const int row = warp_m * T::kWM + mi * 16 + g;
      const int col = warp_n * T::kWN + ni * 8 + 2 * t;
      *reinterpret_cast<float2*>(red + row * kLdr + col) = make_float2(acc[mi][ni][0], acc[mi][ni][1]);
      *reinterpret_cast<float2*>(red + (row + 8) * kLdr + col) = make_float2(acc[mi][ni][2], acc[mi][ni][3]);
    }
  }
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int splits = static_cast<int>(cluster.num_blocks());
  const int rank = static_cast<int>(cluster.block_rank());
  const int rows_per_rank = (T::kBM + splits - 1) / splits;
  const int row_begin = rank * rows_per_rank;
  const int row_end = min(T::kBM, row_begin + rows_per_rank);
  constexpr int kGroups = T::kBN / 8;
  for (int id = row_begin * kGroups + static_cast<int>(threadIdx.x); id < row_end * kGroups; id += T::kThreads) {
    const int row = id / kGroups;
    const int c0 = (id - row * kGroups) * 8;
    const int p = m0 + row;
    if (p >= pixels) continue;
    store_cluster_sum8(cluster, red + row * kLdr + c0, 0, splits, rank, a.bias ? a.bias + n0 + c0 : nullptr, a.relu,
                       a.y + static_cast<long long>(p) * a.y_ld + n0 + c0);
  }
  cluster.sync();
}

template <int BM, int BN, int WARPS_M, int WARPS_N, ConvGemmVariant V, int STAGES>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) conv_gemm_f16_kernel(const ConvGemmArgs a) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  constexpr int kStages = STAGES;
  constexpr bool kPointwise = V != ConvGemmVariant::kGeneral;
  constexpr bool kPrologue = V == ConvGemmVariant::kPointwisePrologue;

  extern __shared__ __align__(16) unsigned char smem[];
  __half* sa = reinterpret_cast<__half*>(smem);  // [kStages][BM][kLds]
  __half* sb = sa + kStages * BM * kLds;         // [kStages][BN][kLds]
  __half* sp = sb + kStages * BN * kLds;         // [kStages][scale | shift][kBK]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_m = warp % WARPS_M;
  const int warp_n = warp / WARPS_M;
  const int out_hw = a.out_h * a.out_w;
  const int pixels = a.batch * out_hw;
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * BN;
  // This CTA's share of K (all of it without split-K).
  const int k_tiles_total = a.k_pad / kBK;
  const int k_per_split = (k_tiles_total + a.splits - 1) / a.splits;
  const int kt_begin = blockIdx.z * k_per_split;
  const int k_tiles = max(0, min(k_tiles_total, kt_begin + k_per_split) - kt_begin);
  const int c_chunks = a.in_c / 8;
  const int taps = a.kernel_h * a.kernel_w;

  const int a_col = tid & 3;
  const __half* a_base[T::kAChunks];
  int a_h0[T::kAChunks], a_w0[T::kAChunks];
  bool a_valid[T::kAChunks];
  resolve_a_rows<T::kAChunks, T::kThreads, kPointwise>(a, a.x, tid, m0, a_base, a_h0, a_w0, a_valid);

  // Weights (and prologue constants) of a stage: constants, so they may be fetched before
  // pdl_wait().
  auto load_b = [&](int slot, int kt) {
    __half* sb_s = sb + slot * BN * kLds;
#pragma unroll
    for (int id = tid; id < BN * (kBK / 8); id += T::kThreads) {
      const int row = id >> 2;
      const int cc = id & 3;
      cp_async_16(sb_s + row * kLds + cc * 8, a.weight + static_cast<long long>(n0 + row) * a.k_pad + kt * kBK + cc * 8,
                  16);
    }
    if (kPrologue && tid < 8) {
      const __half* src = (tid < 4 ? a.pro_scale : a.pro_shift) + kt * kBK + (tid & 3) * 8;
      cp_async_16(sp + slot * 2 * kBK + tid * 8, src, 16);
    }
  };
  auto load_a = [&](int slot, int kt) {
    __half* sa_s = sa + slot * BM * kLds;
    const int chunk = kt * (kBK / 8) + a_col;  // 8-channel chunk index along k
    load_a_stage<T::kAChunks, T::kThreads, kPointwise>(a, a.x, sa_s, kLds, tid, chunk, c_chunks, taps, a_base, a_h0,
                                                       a_w0, a_valid);
  };

  float acc[T::kMI][T::kNI][4];
  zero_accumulators(acc);

  // The first stages' weights are fetched while the previous kernel may still run; group 0
  // then holds them all with the first A stage, so the waits below stay exact.
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_b(s, kt_begin + s);
  }
  pdl_wait();
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_a(s, kt_begin + s);
    cp_async_commit();
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    // Stage kt has landed; every warp is done with the slot that the prefetch below refills.
    cp_async_wait<kStages - 2>();
    __syncthreads();
    const int prefetch = kt + kStages - 1;
    if (prefetch < k_tiles) {
      load_a(prefetch % kStages, kt_begin + prefetch);
      load_b(prefetch % kStages, kt_begin + prefetch);
    }
    cp_async_commit();

    const int slot = kt % kStages;
    const __half* as = sa + slot * BM * kLds + warp_m * T::kWM * kLds;
    const __half* bs = sb + slot * BN * kLds + warp_n * T::kWN * kLds;
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      uint32_t af[T::kMI][4];
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi) {
        ldmatrix_x4(af[mi], as + (mi * 16 + (lane & 15)) * kLds + ks * 16 + (lane >> 4) * 8);
      }
      if (kPrologue) {
        const __half* ps = sp + slot * 2 * kBK + ks * 16 + 2 * (lane & 3);
        const __half2 s_lo = *reinterpret_cast<const __half2*>(ps);
        const __half2 s_hi = *reinterpret_cast<const __half2*>(ps + 8);
        const __half2 t_lo = *reinterpret_cast<const __half2*>(ps + kBK);
        const __half2 t_hi = *reinterpret_cast<const __half2*>(ps + kBK + 8);
#pragma unroll
        for (int mi = 0; mi < T::kMI; ++mi) affine_relu_fragment(af[mi], s_lo, s_hi, t_lo, t_hi);
      }
      uint32_t bf[T::kNI][2];
      load_b_fragments(bf, bs + ks * 16, kLds, lane);
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < T::kNI; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
  }

  cp_async_wait<0>();
  __syncthreads();
  pdl_launch_dependents();

  // Accumulator (row g, cols 2t, 2t+1) and (row g + 8, same cols) of each 16x8 tile.
  const int g = lane >> 2;
  const int t = lane & 3;
  if (a.splits > 1 && a.cluster_reduce) {
    cluster_reduce_epilogue<T>(a, acc, smem, m0, n0, pixels, warp_m, warp_n, g, t);
    return;
  }
  if (a.splits > 1) {
    float* part = a.partial + static_cast<long long>(blockIdx.z) * pixels * a.out_c;
#pragma unroll
    for (int mi = 0; mi < T::kMI; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int p = m0 + warp_m * T::kWM + mi * 16 + g + half * 8;
        if (p >= pixels) continue;
#pragma unroll
        for (int ni = 0; ni < T::kNI; ++ni) {
          const int col = n0 + warp_n * T::kWN + ni * 8 + 2 * t;
          *reinterpret_cast<float2*>(part + static_cast<long long>(p) * a.out_c + col) =
              make_float2(acc[mi][ni][2 * half], acc[mi][ni][2 * half + 1]);
        }
      }
    }
    return;
  }
  __half* sc = reinterpret_cast<__half*>(smem);
  stage_tile_f16<T>(acc, a.bias, a.relu, n0, warp_m, warp_n, g, t, sc);
  __syncthreads();
  constexpr int kRowChunks = BN / 8;
#pragma unroll 4
  for (int id = tid; id < BM * kRowChunks; id += T::kThreads) {
    const int row = id / kRowChunks;
    const int cc = id - row * kRowChunks;
    const int p = m0 + row;
    if (p < pixels) {
      *reinterpret_cast<uint4*>(a.y + static_cast<long long>(p) * a.y_ld + n0 + cc * 8) =
          *reinterpret_cast<const uint4*>(sc + row * T::kLdc + cc * 8);
    }
  }
}

// The 3x3 halo kernel (ConvGemmVariant::kHalo3x3). CTA (image, band of tile_h rows, BN output
// channels): per 32-channel step it stages the band's input rows plus a one-pixel border,
// (tile_h + 2) x (W + 2) pixels, and the nine taps' weights; output pixel m of the tile (row
// m / W, column m % W of the band) reads tap (r, s) at border pixel (m / W + r) * (W + 2) + m % W + s.
constexpr int kHaloStages = 2;

template <int BM, int BN>
size_t halo_smem_bytes(int tile_h, int width) {
  const size_t halo = size_t(tile_h + 2) * (width + 2);
  const size_t pipe = kHaloStages * (halo + 9 * BN) * kLds * 2;
  const size_t epilogue = size_t(BM) * (BN + 8) * 2;
  return pipe > epilogue ? pipe : epilogue;
}

template <int BM, int BN, int WARPS_M, int WARPS_N>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) conv3x3_halo_f16_kernel(const ConvGemmArgs a, int tile_h) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N>;
  extern __shared__ __align__(16) unsigned char smem[];
  const int width = a.in_w, height = a.in_h;
  const int halo_w = width + 2;
  const int halo_px = (tile_h + 2) * halo_w;
  __half* sh = reinterpret_cast<__half*>(smem);    // [kHaloStages][halo_px][kLds]
  __half* sb = sh + kHaloStages * halo_px * kLds;  // [kHaloStages][9][BN][kLds]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_m = warp % WARPS_M;
  const int warp_n = warp / WARPS_M;
  const int bands = (height + tile_h - 1) / tile_h;
  const int img = blockIdx.x / bands;
  const int y0 = (blockIdx.x - img * bands) * tile_h;
  const int valid_px = min(tile_h, height - y0) * width;
  const int n0 = blockIdx.y * BN;
  const __half* x_img = a.x + static_cast<long long>(img) * height * width * a.x_ld;
  const int c_steps = a.in_c / kBK;

  const bool warp_has_rows = warp_m * T::kWM < valid_px;
  // Border-tile index of each A row this lane addresses (rows past the band read pixel 0).
  int hb[T::kMI];
#pragma unroll
  for (int mi = 0; mi < T::kMI; ++mi) {
    int m = warp_m * T::kWM + mi * 16 + (lane & 15);
    if (m >= valid_px) m = 0;
    const int ty = m / width;
    hb[mi] = ty * halo_w + (m - ty * width);
  }

  // Thread e copies chunk (e % 4) of bordered column (e / 4) on every row: no per-copy division.
  auto load_halo = [&](int slot, int kc) {
    __half* dh = sh + slot * halo_px * kLds;
    for (int e = tid; e < halo_w * 4; e += T::kThreads) {
      const int cc = e & 3;
      const int hx = e >> 2;
      const int xx = hx - 1;
      const bool col_ok = static_cast<unsigned>(xx) < static_cast<unsigned>(width);
      for (int hy = 0; hy < tile_h + 2; ++hy) {
        const int yy = y0 - 1 + hy;
        const bool ok = col_ok && static_cast<unsigned>(yy) < static_cast<unsigned>(height);
        const __half* src = ok ? x_img + (static_cast<long long>(yy) * width + xx) * a.x_ld + kc * kBK + cc * 8 : a.x;
        cp_async_16(dh + (hy * halo_w + hx) * kLds + cc * 8, src, ok ? 16 : 0);
      }
    }
  };
  auto load_weights = [&](int slot, int kc) {
    __half* db = sb + slot * 9 * BN * kLds;
    for (int id = tid; id < 9 * BN * 4; id += T::kThreads) {
      const int row = id >> 2;  // tap * BN + n
      const int cc = id & 3;
      const int tap = row / BN;
      const int n = row - tap * BN;
      cp_async_16(db + row * kLds + cc * 8,
                  a.weight + static_cast<long long>(n0 + n) * a.k_pad + tap * a.in_c + kc * kBK + cc * 8, 16);
    }
  };

  float acc[T::kMI][T::kNI][4];
  zero_accumulators(acc);

  load_weights(0, 0);
  pdl_wait();
  load_halo(0, 0);
  cp_async_commit();
  for (int kc = 0; kc < c_steps; ++kc) {
    if (kc + 1 < c_steps) {
      load_halo((kc + 1) & 1, kc + 1);
      load_weights((kc + 1) & 1, kc + 1);
    }
    cp_async_commit();
    cp_async_wait<1>();
    __syncthreads();
    const __half* hs = sh + (kc & 1) * halo_px * kLds;
    const __half* bs = sb + (kc & 1) * 9 * BN * kLds + warp_n * T::kWN * kLds;
    // Warps whose rows all lie past the band (the short last band of an image) leave the
    // multiprocessor to the others.
    if (warp_has_rows) {
#pragma unroll
      for (int tap = 0; tap < 9; ++tap) {
        const int off = (tap / 3) * halo_w + tap % 3;
#pragma unroll
        for (int ks = 0; ks < kBK / 16; ++ks) {
          uint32_t af[T::kMI][4];
#pragma unroll
          for (int mi = 0; mi < T::kMI; ++mi) {
            ldmatrix_x4(af[mi], hs + (hb[mi] + off) * kLds + ks * 16 + (lane >> 4) * 8);
          }
          uint32_t bf[T::kNI][2];
          load_b_fragments(bf, bs + tap * BN * kLds + ks * 16, kLds, lane);
#pragma unroll
          for (int mi = 0; mi < T::kMI; ++mi)
#pragma unroll
            for (int ni = 0; ni < T::kNI; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
        }
      }
    }
    __syncthreads();  // the next iteration's load refills the slot read here
  }
  pdl_launch_dependents();

  const int g = lane >> 2;
  const int t = lane & 3;
  __half* sc = reinterpret_cast<__half*>(smem);
  stage_tile_f16<T>(acc, a.bias, a.relu, n0, warp_m, warp_n, g, t, sc);
  __syncthreads();
  // Row by row of the band: no per-store division.
  constexpr int kRowChunks = BN / 8;
  for (int ty = 0; ty < valid_px / width; ++ty) {
    const long long p0 = (static_cast<long long>(img) * height + y0 + ty) * width;
    for (int id = tid; id < width * kRowChunks; id += T::kThreads) {
      const int tx = id / kRowChunks;
      const int cc = id % kRowChunks;
      *reinterpret_cast<uint4*>(a.y + (p0 + tx) * a.y_ld + n0 + cc * 8) =
          *reinterpret_cast<const uint4*>(sc + (ty * width + tx) * T::kLdc + cc * 8);
    }
  }
}

template <int BM, int BN, int WARPS_M, int WARPS_N>
cudaError_t launch_halo(const ConvGemmArgs& a, cudaStream_t stream) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N>;
  auto kernel = conv3x3_halo_f16_kernel<BM, BN, WARPS_M, WARPS_N>;
  if (a.in_w > BM || a.in_c % kBK != 0 || a.splits != 1) return cudaErrorInvalidValue;
  const int tile_h = min(a.in_h, BM / a.in_w);
  const size_t smem = halo_smem_bytes<BM, BN>(tile_h, a.in_w);
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(attributes, [&] {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  });
  if (attr_status != cudaSuccess) return attr_status;
  if (smem > 227 * 1024) return cudaErrorInvalidValue;
  const dim3 grid(a.batch * ((a.in_h + tile_h - 1) / tile_h), a.out_c / BN);
  return launch_pdl(kernel, grid, T::kThreads, smem, stream, a, tile_h);
}

// y[p, n] = act(sum_z partial[z][p][n] + bias[n]), 8 channels per thread, splits in order.
__global__ void splitk_reduce_kernel(const ConvGemmArgs a) {
  pdl_wait();
  const int pixels = a.batch * a.out_h * a.out_w;
  const int groups = a.out_c / 8;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= pixels * groups) return;
  const int p = i / groups;
  const int c0 = (i - p * groups) * 8;
  const long long plane = static_cast<long long>(pixels) * a.out_c;
  float v[8];
#pragma unroll
  for (int j = 0; j < 8; ++j) v[j] = a.bias ? a.bias[c0 + j] : 0.f;
  const float* src = a.partial + static_cast<long long>(p) * a.out_c + c0;
  for (int z = 0; z < a.splits; ++z) {
    const float4 lo = reinterpret_cast<const float4*>(src + z * plane)[0];
    const float4 hi = reinterpret_cast<const float4*>(src + z * plane)[1];
    v[0] += lo.x, v[1] += lo.y, v[2] += lo.z, v[3] += lo.w;
    v[4] += hi.x, v[5] += hi.y, v[6] += hi.z, v[7] += hi.w;
  }
  Vec8<__half> out;
#pragma unroll
  for (int j = 0; j < 8; ++j) out.set(j, a.relu ? fmaxf(v[j], 0.f) : v[j]);
  out.store(a.y + static_cast<long long>(p) * a.y_ld + c0);
}

template <int BM, int BN, int WARPS_M, int WARPS_N, ConvGemmVariant V, int STAGES = kStages>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  using T = Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  auto kernel = conv_gemm_f16_kernel<BM, BN, WARPS_M, WARPS_N, V, STAGES>;
  // Shared memory beyond 48 KB must be opted into, once per kernel and device.
  constexpr size_t kMaxSmem = T::kSmemBytes > T::kClusterReduceBytes ? T::kSmemBytes : T::kClusterReduceBytes;
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status =
      once_per_device(attributes, [&] { return allow_smem_and_large_clusters(kernel, kMaxSmem); });
  if (attr_status != cudaSuccess) return attr_status;
  const int pixels = a.batch * a.out_h * a.out_w;
  const dim3 grid((pixels + BM - 1) / BM, a.out_c / BN, a.splits);
  if (a.splits > 1 && a.cluster_reduce) {
    if (a.splits > kMaxClusterSplits) return cudaErrorInvalidValue;
    return launch_cluster_pdl(kernel, grid, dim3(1, 1, a.splits), T::kThreads, kMaxSmem, stream, a);
  }
  if (a.splits > kMaxSplits || (a.splits > 1 && !a.partial)) return cudaErrorInvalidValue;
  cudaError_t e = launch_pdl(kernel, grid, T::kThreads, T::kSmemBytes, stream, a);
  if (e != cudaSuccess || a.splits == 1) return e;
  const int work = pixels * (a.out_c / 8);
  return launch_pdl(splitk_reduce_kernel, dim3((work + 255) / 256), 256, 0, stream, a);
}

using Table = TileTable<ConvGemmTile, ConvGemmArgs>;
using TileEntry = Table::Entry;

template <ConvGemmVariant V>
std::vector<TileEntry> pointwise_table() {
  std::vector<TileEntry> tiles = {
      {{128, 128, 2, 2}, launch<128, 128, 2, 2, V>},       {{128, 128, 4, 2}, launch<128, 128, 4, 2, V>},
      {{128, 128, 2, 2, 3}, launch<128, 128, 2, 2, V, 3>}, {{128, 128, 4, 2, 3}, launch<128, 128, 4, 2, V, 3>},
      {{64, 128, 2, 2}, launch<64, 128, 2, 2, V>},         {{64, 128, 2, 2, 3}, launch<64, 128, 2, 2, V, 3>},
      {{64, 64, 2, 2}, launch<64, 64, 2, 2, V>},           {{32, 64, 1, 2}, launch<32, 64, 1, 2, V>}};
  return tiles;
}

std::vector<TileEntry> general_table() {
  constexpr ConvGemmVariant V = ConvGemmVariant::kGeneral;
  std::vector<TileEntry> tiles = {
      {{256, 32, 8, 1}, launch<256, 32, 8, 1, V>}, {{256, 32, 4, 1}, launch<256, 32, 4, 1, V>},
      {{128, 32, 4, 1}, launch<128, 32, 4, 1, V>}, {{128, 32, 2, 1}, launch<128, 32, 2, 1, V>},
      {{64, 32, 2, 1}, launch<64, 32, 2, 1, V>},   {{64, 32, 1, 1}, launch<64, 32, 1, 1, V>},
      {{32, 32, 1, 1}, launch<32, 32, 1, 1, V>},   {{128, 64, 4, 2}, launch<128, 64, 4, 2, V>},
      {{256, 64, 4, 2}, launch<256, 64, 4, 2, V>}, {{128, 64, 2, 2}, launch<128, 64, 2, 2, V>},
      {{64, 64, 2, 2}, launch<64, 64, 2, 2, V>}};
  return tiles;
}

std::vector<TileEntry> halo_table() {
  std::vector<TileEntry> tiles = {
      {{512, 32, 8, 1}, launch_halo<512, 32, 8, 1>}, {{256, 32, 4, 1}, launch_halo<256, 32, 4, 1>},
      {{256, 32, 8, 1}, launch_halo<256, 32, 8, 1>}, {{128, 32, 2, 1}, launch_halo<128, 32, 2, 1>},
      {{128, 32, 4, 1}, launch_halo<128, 32, 4, 1>}, {{64, 32, 1, 1}, launch_halo<64, 32, 1, 1>},
      {{64, 32, 2, 1}, launch_halo<64, 32, 2, 1>}};
  return tiles;
}

const Table& table() {
  static const Table t(pointwise_table<ConvGemmVariant::kPointwise>(),
                       pointwise_table<ConvGemmVariant::kPointwisePrologue>(), general_table(), halo_table());
  return t;
}

}  // namespace

const std::vector<ConvGemmTile>& conv_gemm_tiles(ConvGemmVariant variant) { return table().tiles(variant); }

cudaError_t launch_conv_gemm_f16(const ConvGemmArgs& args, ConvGemmVariant variant, const ConvGemmTile& tile,
                                 cudaStream_t stream) {
  return table().launch(args, variant, tile, stream);
}

}  // namespace chexrt::cuda
