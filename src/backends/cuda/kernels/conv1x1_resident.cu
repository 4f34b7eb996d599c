// 1x1 convolution with resident weights; see conv1x1_resident.cuh for the idea.
//
// CTA (persistent): 128 output channels (blockIdx.y selects which), tiles of BM pixels
// blockIdx.x, blockIdx.x + gridDim.x, ... Shared memory:
//  - the weights of its 128 channels, [128][k_pad + 8 halves] (the 8-half padding keeps
//    ldmatrix's eight rows in eight bank groups), and the prologue's scale and shift [2][k_pad],
//    loaded once;
//  - a ring of STAGES A stages, [kTaps][BM][32 + 8 halves], that the loop below fills one
//    32-wide K step ahead of another, tile after tile: step s of the CTA is K step s % k_tiles of
//    its tile s / k_tiles;
//  - per warp, 16 rows of its output columns, through which the epilogue turns the mma
//    fragments into whole 16-byte stores.
// Warp (warp_m, warp_n) computes rows warp_m * kWM ... and columns warp_n * kWN ... of each
// tile, with the prologue (BN + ReLU) applied to the A fragments as conv_gemm.cu does.
//
// With kTaps = 4 (ConvGemmArgs::pool2x2, DenseNet's transitions) A row p is the 2x2 stride-2
// average pool of the prologue's output at pooled pixel p: a stage holds the 32 channels of the
// window's four input pixels, and the A fragment is the sum of the four pixels' fragments after
// the prologue, whose scale and shift come divided by 4. The pooled tensor is never written.
#include "backends/cuda/kernels/conv1x1_resident.cuh"

#include <algorithm>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kBN = 128;       // output channels per CTA
constexpr int kBK = 32;        // K per pipeline stage
constexpr int kLda = kBK + 8;  // A stage row stride in halves (80 bytes: conflict-free ldmatrix)
constexpr int kMaxSmem = 227 * 1024;

struct Layout {
  int bm, warps_m, warps_n, stages, taps;
  int wn() const { return kBN / warps_n; }
  size_t bytes(int k_pad) const {
    const size_t weights = size_t(kBN) * (k_pad + 8) * 2;
    const size_t prologue = size_t(2) * k_pad * 2;
    const size_t ring = size_t(stages) * taps * bm * kLda * 2;
    const size_t staging = size_t(warps_m) * warps_n * 16 * (wn() + 8) * 2;
    return weights + prologue + ring + staging;
  }
};

template <int BM, int WARPS_M, int WARPS_N, int STAGES, bool kPrologue, int kTaps>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32) conv1x1_resident_kernel(const ConvGemmArgs a) {
  constexpr int kThreads = WARPS_M * WARPS_N * 32;
  constexpr int kWM = BM / WARPS_M;
  constexpr int kWN = kBN / WARPS_N;
  constexpr int kMI = kWM / 16;
  constexpr int kNI = kWN / 8;
  constexpr int kLdo = kWN + 8;                        // staging row stride in halves
  constexpr int kAChunks = BM * (kBK / 8) / kThreads;  // 16-byte A chunks per thread per stage
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert(BM * (kBK / 8) % kThreads == 0, "A chunks must divide among threads");
  static_assert(kTaps == 1 || (kTaps == 4 && kPrologue), "the pooled variant needs the prologue's ReLU");

  extern __shared__ __align__(16) unsigned char smem[];
  const int ldw = a.k_pad + 8;
  __half* sw = reinterpret_cast<__half*>(smem);  // [kBN][ldw]
  __half* sp = sw + kBN * ldw;                   // [scale | shift][k_pad]
  __half* sa = sp + 2 * a.k_pad;                 // [STAGES][kTaps][BM][kLda]
  __half* so = sa + STAGES * kTaps * BM * kLda;  // [warps][16][kLdo]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_m = warp % WARPS_M;
  const int warp_n = warp / WARPS_M;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int pixels = a.batch * a.out_h * a.out_w;
  const int n0 = blockIdx.y * kBN;
  const int k_tiles = a.k_pad / kBK;
  const int c_chunks = a.in_c / 8;
  const int m_tiles = (pixels + BM - 1) / BM;
  const int my_tiles = static_cast<int>(blockIdx.x) < m_tiles ? (m_tiles - 1 - blockIdx.x) / gridDim.x + 1 : 0;
  const int steps = my_tiles * k_tiles;

  // Weights and prologue constants: fetched before pdl_wait().
  const int w_chunks = a.k_pad / 8;
  for (int id = tid; id < kBN * w_chunks; id += kThreads) {
    const int row = id / w_chunks;
    const int cc = id - row * w_chunks;
    cp_async_16(sw + row * ldw + cc * 8, a.weight + static_cast<long long>(n0 + row) * a.k_pad + cc * 8, 16);
  }
  if (kPrologue) {
    for (int id = tid; id < 2 * w_chunks; id += kThreads) {
      const int shift = id >= w_chunks;
      const int cc = id - shift * w_chunks;
      cp_async_16(sp + shift * a.k_pad + cc * 8, (shift ? a.pro_shift : a.pro_scale) + cc * 8, 16);
    }
  }

  // The producer's position: the tile and K step of the next stage it loads, and the first
  // input pixel of each of this thread's A rows in that tile (null past the last pixel).
  int load_tile = blockIdx.x, load_kt = 0;
  const __half* a_row[kAChunks];
  const int out_hw = a.out_h * a.out_w;
  // The window's pixels relative to its first (kTaps = 4).
  const long long tap_offset[4] = {0, a.x_ld, a.in_w * a.x_ld, (a.in_w + 1) * a.x_ld};
  auto load_next_stage = [&](int slot) {
    if (load_kt == 0) {
#pragma unroll
      for (int i = 0; i < kAChunks; ++i) {
        const int p = load_tile * BM + (tid >> 2) + i * (kThreads / 4);
        if (p >= pixels) {
          a_row[i] = nullptr;
        } else if (kTaps == 1) {
          a_row[i] = a.x + static_cast<long long>(p) * a.x_ld;
        } else {
          const int n = p / out_hw;
          const int rem = p - n * out_hw;
          const int oh = rem / a.out_w;
          const int ow = rem - oh * a.out_w;
          a_row[i] = a.x + ((static_cast<long long>(n) * a.in_h + 2 * oh) * a.in_w + 2 * ow) * a.x_ld;
        }
      }
    }
    __half* dst = sa + slot * kTaps * BM * kLda;
    const int chunk = load_kt * (kBK / 8) + (tid & 3);
    const bool in_k = chunk < c_chunks;
#pragma unroll
    for (int i = 0; i < kAChunks; ++i) {
      const int row = (tid >> 2) + i * (kThreads / 4);
      const bool ok = in_k && a_row[i] != nullptr;
#pragma unroll
      for (int tap = 0; tap < kTaps; ++tap) {
        cp_async_16(dst + (tap * BM + row) * kLda + (tid & 3) * 8, ok ? a_row[i] + tap_offset[tap] + chunk * 8 : a.x,
                    ok ? 16 : 0);
      }
    }
    if (++load_kt == k_tiles) {
      load_kt = 0;
      load_tile += gridDim.x;
    }
  };

  float acc[kMI][kNI][4];
  zero_accumulators(acc);

  pdl_wait();
  // Group 0 holds the weights with the first A stage, so the waits below stay exact.
#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < steps) load_next_stage(s);
    cp_async_commit();
  }

  __half* stage_out = so + warp * 16 * kLdo;
  int tile = blockIdx.x, kt = 0;
  for (int step = 0; step < steps; ++step) {
    // Step `step` has landed; every warp is done with the slot that the prefetch below refills.
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    if (step + STAGES - 1 < steps) load_next_stage((step + STAGES - 1) % STAGES);
    cp_async_commit();

    const __half* as = sa + (step % STAGES) * kTaps * BM * kLda + warp_m * kWM * kLda;
    const __half* bs = sw + warp_n * kWN * ldw + kt * kBK;
#pragma unroll
    for (int ks = 0; ks < kBK / 16; ++ks) {
      __half2 s_lo, s_hi, t_lo, t_hi;
      if (kPrologue) {
        const __half* ps = sp + kt * kBK + ks * 16 + 2 * t;
        s_lo = *reinterpret_cast<const __half2*>(ps);
        s_hi = *reinterpret_cast<const __half2*>(ps + 8);
        t_lo = *reinterpret_cast<const __half2*>(ps + a.k_pad);
        t_hi = *reinterpret_cast<const __half2*>(ps + a.k_pad + 8);
      }
      uint32_t af[kMI][4];
#pragma unroll
      for (int mi = 0; mi < kMI; ++mi) {
        const __half* row = as + (mi * 16 + (lane & 15)) * kLda + ks * 16 + (lane >> 4) * 8;
        ldmatrix_x4(af[mi], row);
        if (kPrologue) affine_relu_fragment(af[mi], s_lo, s_hi, t_lo, t_hi);
#pragma unroll
        for (int tap = 1; tap < kTaps; ++tap) {
          uint32_t v[4];
          ldmatrix_x4(v, row + tap * BM * kLda);
          affine_relu_fragment(v, s_lo, s_hi, t_lo, t_hi);
#pragma unroll
          for (int j = 0; j < 4; ++j) af[mi][j] = as_u32(__hadd2(as_half2(af[mi][j]), as_half2(v[j])));
        }
      }
      uint32_t bf[kNI][2];
      load_b_fragments(bf, bs + ks * 16, ldw, lane);
#pragma unroll
      for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < kNI; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
    }
    if (++kt < k_tiles) continue;

    // The tile's last K step: bias, ReLU, and out through the warp's staging rows, 16 rows at a
    // time, as whole 16-byte pieces of each pixel's row (the next stages keep loading meanwhile).
    const int m0 = tile * BM + warp_m * kWM;
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi) {
#pragma unroll
      for (int ni = 0; ni < kNI; ++ni) {
        // (Read here rather than kept in registers across the loop.)
        const int col = n0 + warp_n * kWN + ni * 8 + 2 * t;
        const float2 b = a.bias ? __ldg(reinterpret_cast<const float2*>(a.bias + col)) : make_float2(0.f, 0.f);
        float v0 = acc[mi][ni][0] + b.x, v1 = acc[mi][ni][1] + b.y;
        float v2 = acc[mi][ni][2] + b.x, v3 = acc[mi][ni][3] + b.y;
        if (a.relu) {
          v0 = fmaxf(v0, 0.f);
          v1 = fmaxf(v1, 0.f);
          v2 = fmaxf(v2, 0.f);
          v3 = fmaxf(v3, 0.f);
        }
        *reinterpret_cast<__half2*>(stage_out + g * kLdo + ni * 8 + 2 * t) = __floats2half2_rn(v0, v1);
        *reinterpret_cast<__half2*>(stage_out + (g + 8) * kLdo + ni * 8 + 2 * t) = __floats2half2_rn(v2, v3);
        acc[mi][ni][0] = acc[mi][ni][1] = acc[mi][ni][2] = acc[mi][ni][3] = 0.f;
      }
      __syncwarp();
      constexpr int kRowChunks = kWN / 8;
#pragma unroll
      for (int id = lane; id < 16 * kRowChunks; id += 32) {
        const int row = id / kRowChunks;
        const int cc = id - row * kRowChunks;
        const int p = m0 + mi * 16 + row;
        if (p < pixels) {
          *reinterpret_cast<uint4*>(a.y + static_cast<long long>(p) * a.y_ld + n0 + warp_n * kWN + cc * 8) =
              *reinterpret_cast<const uint4*>(stage_out + row * kLdo + cc * 8);
        }
      }
      __syncwarp();  // the next 16 rows overwrite the staging rows read here
    }
    kt = 0;
    tile += gridDim.x;
  }
  cp_async_wait<0>();
  pdl_launch_dependents();
}

Layout layout_of(const ConvGemmTile& t, const ConvGemmArgs& a) {
  return Layout{t.bm, t.warps_m, t.warps_n, t.stages, a.pool2x2 ? 4 : 1};
}

bool shape_fits(const ConvGemmArgs& a, const Layout& layout) {
  const int window = a.pool2x2 ? 2 : 1;
  return a.kernel_h == 1 && a.kernel_w == 1 && a.stride_h == 1 && a.stride_w == 1 && a.pad_h == 0 && a.pad_w == 0 &&
         a.in_h == window * a.out_h && a.in_w == window * a.out_w && a.out_c % kBN == 0 && a.splits == 1 &&
         a.k_pad % kBK == 0 && a.k_pad >= a.in_c && a.in_c % 8 == 0 && a.x_ld % 8 == 0 && a.y_ld % 8 == 0 &&
         layout.bytes(a.k_pad) <= size_t(kMaxSmem);
}

template <int BM, int WARPS_M, int WARPS_N, int STAGES, bool kPrologue, int kTaps>
cudaError_t launch(const ConvGemmArgs& a, cudaStream_t stream) {
  constexpr Layout kLayout{BM, WARPS_M, WARPS_N, STAGES, kTaps};
  constexpr int kThreads = WARPS_M * WARPS_N * 32;
  auto kernel = conv1x1_resident_kernel<BM, WARPS_M, WARPS_N, STAGES, kPrologue, kTaps>;
  if (a.pool2x2 != (kTaps == 4) || !shape_fits(a, kLayout)) return cudaErrorInvalidValue;
  // Shared memory beyond 48 KB must be opted into, once per kernel and device.
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(
      attributes, [&] { return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmem); });
  if (attr_status != cudaSuccess) return attr_status;
  const size_t smem = kLayout.bytes(a.k_pad);
  const int sms = multiprocessor_count();
  int per_sm = 0;
  const cudaError_t e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, smem);
  if (e != cudaSuccess) return e;
  if (sms <= 0 || per_sm <= 0) return cudaErrorInvalidValue;
  const int pixels = a.batch * a.out_h * a.out_w;
  const int m_tiles = (pixels + BM - 1) / BM;
  const int n_slices = a.out_c / kBN;
  int ctas = std::max(1, sms * per_sm / n_slices);
  if (a.max_ctas > 0) ctas = std::min(ctas, a.max_ctas);
  return launch_pdl(kernel, dim3(std::min(m_tiles, ctas), n_slices), kThreads, smem, stream, a);
}

using Entry = TileTable<ConvGemmTile, ConvGemmArgs>::Entry;

ConvGemmTile tile(int bm, int warps_m, int warps_n, int stages) {
  ConvGemmTile t{bm, kBN, warps_m, warps_n, stages};
  t.resident = true;
  return t;
}

template <bool kPrologue>
std::vector<Entry> entries() {
  return {{tile(128, 2, 2, 4), launch<128, 2, 2, 4, kPrologue, 1>},
          {tile(128, 4, 2, 4), launch<128, 4, 2, 4, kPrologue, 1>},
          {tile(128, 2, 2, 3), launch<128, 2, 2, 3, kPrologue, 1>},
          {tile(256, 4, 2, 3), launch<256, 4, 2, 3, kPrologue, 1>},
          {tile(256, 4, 2, 4), launch<256, 4, 2, 4, kPrologue, 1>}};
}

}  // namespace

bool conv1x1_resident_fits(const ConvGemmArgs& a, const ConvGemmTile& t) {
  return t.resident && t.bn == kBN && shape_fits(a, layout_of(t, a));
}

std::vector<Entry> conv1x1_resident_entries(ConvGemmVariant variant) {
  if (variant == ConvGemmVariant::kPointwisePrologue) return entries<true>();
  if (variant == ConvGemmVariant::kPointwise) return entries<false>();
  return {};
}

std::vector<Entry> avgpool_conv1x1_resident_entries() {
  // Four input pixels per A row: the stages are four times as large (with transition 2's
  // weights, K = 512, two stages of 128 rows fit, or three or four of 64).
  return {{tile(128, 2, 2, 3), launch<128, 2, 2, 3, true, 4>},
          {tile(128, 4, 2, 3), launch<128, 4, 2, 3, true, 4>},
          {tile(128, 2, 2, 2), launch<128, 2, 2, 2, true, 4>},
          {tile(64, 2, 2, 3), launch<64, 2, 2, 3, true, 4>},
          {tile(64, 2, 2, 4), launch<64, 2, 2, 4, true, 4>}};
}

}  // namespace chexrt::cuda
