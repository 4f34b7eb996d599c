// The dense layer on one thread-block cluster (see dense_layer_cluster.cuh for the phases).
#include "backends/cuda/kernels/dense_layer_cluster.cuh"

#include <cooperative_groups.h>

#include <algorithm>
#include <cstdint>
#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kThreads = 256;  // 8 warps
constexpr int kWarps = kThreads / 32;
constexpr int kRows = kDenseMaxPixels;                 // rows of the partial sums: at most 13 mma tiles of 16 pixels
constexpr int kMidPerCta = kDenseMid / kDenseCluster;  // 8
constexpr int kLdx = 24;    // halves per staged 16-channel row: 48 bytes, conflict-free ldmatrix
constexpr int kTaps2 = 10;  // nine taps and a zero one: five 16-wide K steps
constexpr int kK2 = kTaps2 * kMidPerCta;
constexpr int kLdw2 = kK2 + 8;
constexpr int kLdp2 = kDenseOut + 8;
static_assert(kRows % 16 == 0 && kMidPerCta == 8, "tiles");

// Phase 1 splits the cluster into kNGroups groups of KG CTAs: group n computes mid channels
// n * kGroupMid ..., its CTAs splitting K KG ways. KG = 16: one group, all 128 channels per CTA,
// the least input per CTA; KG = 8: two groups, half the partial sums to add in phase 2 for twice
// the input per CTA.
template <int KG>
struct Split {
  static constexpr int kNGroups = kDenseCluster / KG;
  static constexpr int kGroupMid = kDenseMid / kNGroups;
  static constexpr int kMaxChunks = kDenseMaxInC / 16 / KG;  // 16-channel K chunks per CTA
  static constexpr int kWarpsN = kGroupMid / 16;             // each warp: 16 mid channels
  static constexpr int kWarpsM = kWarps / kWarpsN;
  static constexpr int kLdp1 = kGroupMid + 8;  // floats per partial row (float2 stores conflict-free)
  // Shared memory, in bytes. The phase-3 partials reuse the staged input, which phase 1 is done with.
  static constexpr size_t kXBytes = size_t(kMaxChunks) * kRows * kLdx * 2;
  static constexpr size_t kW1Bytes = size_t(kMaxChunks) * kGroupMid * kLdx * 2;
  static constexpr size_t kProBytes = size_t(kMaxChunks) * 2 * 16 * 2;
  static constexpr size_t kW2Bytes = size_t(kDenseOut) * kLdw2 * 2;
  static constexpr size_t kMidBytes = size_t(kDenseMaxBordered + 1) * kMidPerCta * 2;
  static constexpr size_t kP1Bytes = size_t(kRows) * kLdp1 * 4;
  static constexpr size_t kP2Bytes = size_t(kRows) * kLdp2 * 4;
  static constexpr size_t kSmemBytes = kXBytes + kW1Bytes + kProBytes + kW2Bytes + kMidBytes + kP1Bytes;
  static_assert(kP2Bytes <= kXBytes, "phase-3 partials live in the staged input's place");
  static_assert(kXBytes % 16 == 0 && kW1Bytes % 16 == 0 && kProBytes % 16 == 0 && kW2Bytes % 16 == 0 &&
                    kMidBytes % 16 == 0,
                "16-byte aligned regions");
  static_assert(kWarpsN * kWarpsM == kWarps && kSmemBytes <= 227 * 1024, "fits an SM");
};

template <int KG>
__global__ void __launch_bounds__(kThreads) dense_layer_cluster_kernel(const DenseLayerArgs a) {
  using S = Split<KG>;
  constexpr int kMaxChunks = S::kMaxChunks;
  constexpr int kGroupMid = S::kGroupMid;
  constexpr int kLdp1 = S::kLdp1;
  constexpr size_t kXBytes = S::kXBytes, kW1Bytes = S::kW1Bytes, kProBytes = S::kProBytes, kW2Bytes = S::kW2Bytes,
                   kMidBytes = S::kMidBytes;
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  const int rank = static_cast<int>(cluster.block_rank());
  const int group = rank / KG;           // phase 1: mid channels group * kGroupMid ...
  const int k_rank = rank - group * KG;  // and K chunks k_rank, k_rank + KG, ...

  extern __shared__ __align__(16) unsigned char smem[];
  __half* sx = reinterpret_cast<__half*>(smem);                                    // [kMaxChunks][kRows][kLdx]
  float* sp2 = reinterpret_cast<float*>(smem);                                     // [kRows][kLdp2], after phase 1
  __half* sw1 = reinterpret_cast<__half*>(smem + kXBytes);                         // [kMaxChunks][kGroupMid][kLdx]
  __half* spro = reinterpret_cast<__half*>(smem + kXBytes + kW1Bytes);             // [kMaxChunks][scale|shift][16]
  __half* sw2 = reinterpret_cast<__half*>(smem + kXBytes + kW1Bytes + kProBytes);  // [32][kLdw2]
  __half* smid = reinterpret_cast<__half*>(smem + kXBytes + kW1Bytes + kProBytes + kW2Bytes);  // [bordered + 1][8]
  float* sp1 =
      reinterpret_cast<float*>(smem + kXBytes + kW1Bytes + kProBytes + kW2Bytes + kMidBytes);  // [kRows][kLdp1]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  // This cluster's band: output rows y0 .. y1 - 1 of images i0 .. i0 + images - 1. Phase 1
  // computes mid rows m0 .. m1 - 1 of them (one more above and below where the image has them);
  // both are contiguous runs of pixels in NHWC.
  const DenseBand band = dense_band(a, static_cast<int>(blockIdx.x) / kDenseCluster);
  const int w = a.width;
  const int mid_hw = (band.m1 - band.m0) * w;
  const int out_hw = (band.y1 - band.y0) * w;
  const int pixels = band.images * mid_hw;      // phase 1's rows
  const int out_pixels = band.images * out_hw;  // phase 3's rows
  const long long mid_first = (static_cast<long long>(band.i0) * a.height + band.m0) * w;
  const long long out_first = (static_cast<long long>(band.i0) * a.height + band.y0) * w;
  // The bordered tile: per image, rows y0 - 1 .. y1 (zero where outside the image) by W + 2.
  const int bw = w + 2;
  const int bhw = (band.y1 - band.y0 + 2) * bw;
  const int zero_px = band.images * bhw;  // a bordered pixel of zeros past the last image
  const int m_tiles = (pixels + 15) / 16;
  const int out_tiles = (out_pixels + 15) / 16;
  const int chunks = a.in_c / 16;
  const int nk = max(0, (chunks - k_rank + KG - 1) / KG);

  // Constants first (weights may be read before pdl_wait()): W1 columns of this CTA's chunks,
  // the prologue's scale and shift for them, and W2's taps over mid channels 8 rank .. + 7
  // (tap 9 is zeros).
  for (int id = tid; id < nk * kGroupMid * 2; id += kThreads) {
    const int j = id / (kGroupMid * 2);
    const int rem = id - j * kGroupMid * 2;
    const int n = rem >> 1, h = rem & 1;
    cp_async_16(sw1 + (j * kGroupMid + n) * kLdx + h * 8,
                a.w1 + static_cast<long long>(group * kGroupMid + n) * a.k1_pad + (k_rank + KG * j) * 16 + h * 8, 16);
  }
  if (tid < nk * 4) {
    const int j = tid >> 2, which = (tid >> 1) & 1, h = tid & 1;
    const __half* src = (which ? a.pro_shift : a.pro_scale) + (k_rank + KG * j) * 16 + h * 8;
    cp_async_16(spro + j * 32 + which * 16 + h * 8, src, 16);
  }
  for (int id = tid; id < kDenseOut * kTaps2; id += kThreads) {
    const int n = id / kTaps2, tap = id - n * kTaps2;
    const bool ok = tap < 9;
    cp_async_16(sw2 + n * kLdw2 + tap * kMidPerCta,
                ok ? a.w2 + static_cast<long long>(n) * 9 * kDenseMid + tap * kDenseMid + rank * kMidPerCta : a.w2,
                ok ? 16 : 0);
  }
  for (int i = tid; i <= zero_px; i += kThreads) reinterpret_cast<uint4*>(smid)[i] = make_uint4(0, 0, 0, 0);

  pdl_wait();
  for (int id = tid; id < nk * kRows * 2; id += kThreads) {
    const int j = id / (kRows * 2);
    const int rem = id - j * kRows * 2;
    const int p = rem >> 1, h = rem & 1;
    const bool ok = p < pixels;
    cp_async_16(sx + (j * kRows + p) * kLdx + h * 8,
                ok ? a.x + (mid_first + p) * a.x_ld + (k_rank + KG * j) * 16 + h * 8 : a.x, ok ? 16 : 0);
  }
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // Phase 1: warp (warp_n, warp_m) computes the group's mid channels 16 warp_n .. + 15 over this
  // CTA's K for pixel tiles warp_m, warp_m + kWarpsM, ...
  {
    const int warp_n = warp % S::kWarpsN;
    const int warp_m = warp / S::kWarpsN;
    uint32_t bf[kMaxChunks][4];
#pragma unroll
    for (int j = 0; j < kMaxChunks; ++j) {
      if (j < nk) {
        ldmatrix_x4(bf[j], sw1 + (j * kGroupMid + warp_n * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLdx +
                               ((lane >> 3) & 1) * 8);
      }
    }
    // The prologue's scale and shift for k = 2t, 2t + 1 (lo) and k + 8 (hi) of each chunk.
    __half2 pro[kMaxChunks][4];
#pragma unroll
    for (int j = 0; j < kMaxChunks; ++j) {
      const __half* ps = spro + j * 32 + 2 * t;
#pragma unroll
      for (int e = 0; e < 4; ++e) pro[j][e] = *reinterpret_cast<const __half2*>(ps + e * 8);
    }
#pragma unroll 2
    for (int mt = warp_m; mt < m_tiles; mt += S::kWarpsM) {
      float acc[2][4] = {};
#pragma unroll
      for (int j = 0; j < kMaxChunks; ++j) {
        if (j >= nk) continue;  // (not break: the loop must unroll for bf to stay in registers)
        uint32_t af[4];
        ldmatrix_x4(af, sx + (j * kRows + mt * 16 + (lane & 15)) * kLdx + (lane >> 4) * 8);
        affine_relu_fragment(af, pro[j][0], pro[j][1], pro[j][2], pro[j][3]);
        mma_16816(acc[0], af, bf[j][0], bf[j][1]);
        mma_16816(acc[1], af, bf[j][2], bf[j][3]);
      }
#pragma unroll
      for (int ni = 0; ni < 2; ++ni) {
        const int row = mt * 16 + g;
        const int col = warp_n * 16 + ni * 8 + 2 * t;
        *reinterpret_cast<float2*>(sp1 + row * kLdp1 + col) = make_float2(acc[ni][0], acc[ni][1]);
        *reinterpret_cast<float2*>(sp1 + (row + 8) * kLdp1 + col) = make_float2(acc[ni][2], acc[ni][3]);
      }
    }
  }
  cluster.sync();

  // Phase 2: mid channels 8 rank .. + 7 of every pixel (the group's 8 k_rank ...), summed over the
  // group's CTAs in a fixed order, into the bordered tile (the border stays zero: the 3x3's padding).
  {
    const int c0 = rank * kMidPerCta;
    for (int id = tid; id < pixels * 2; id += kThreads) {
      const int p = id >> 1, h = id & 1;
      const int c = c0 + h * 4;
      float4 s = a.bias1 ? make_float4(a.bias1[c], a.bias1[c + 1], a.bias1[c + 2], a.bias1[c + 3])
                         : make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
      for (int i = 0; i < KG; ++i) {
        const int z = (k_rank + i) % KG;  // staggered, so the CTAs do not all read one CTA at once
        const float4 v = *reinterpret_cast<const float4*>(cluster.map_shared_rank(sp1, group * KG + z) + p * kLdp1 +
                                                          k_rank * kMidPerCta + h * 4);
        s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;
      }
      if (a.relu1) s = make_float4(fmaxf(s.x, 0.f), fmaxf(s.y, 0.f), fmaxf(s.z, 0.f), fmaxf(s.w, 0.f));
      const int img = p / mid_hw;
      const int rem = p - img * mid_hw;
      const int yy = rem / w;  // mid row m0 + yy: tile row m0 + yy - (y0 - 1)
      const int xx = rem - yy * w;
      const int b = img * bhw + (band.m0 + yy - band.y0 + 1) * bw + xx + 1;
      __half2* dst = reinterpret_cast<__half2*>(smid + b * kMidPerCta + h * 4);
      dst[0] = __floats2half2_rn(s.x, s.y);
      dst[1] = __floats2half2_rn(s.z, s.w);
    }
  }
  __syncthreads();

  // Phase 3: the 3x3 over this CTA's 8 mid channels. K step kk pairs taps 2kk (lanes 0-15 give
  // the A rows) and 2kk + 1 (lanes 16-31), 8 channels each: one 16-byte bordered pixel per row.
  {
    uint32_t bf[kTaps2 / 2][4][2];
#pragma unroll
    for (int kk = 0; kk < kTaps2 / 2; ++kk) {
      load_b_fragments(bf[kk], sw2 + kk * 16, kLdw2, lane);
    }
    for (int mt = warp; mt < out_tiles; mt += kWarps) {
      const int p = mt * 16 + (lane & 15);
      int base = -1;  // bordered index of the lane's pixel, -1 past the last one
      if (p < out_pixels) {
        const int img = p / out_hw;
        const int rem = p - img * out_hw;
        const int yy = rem / w;
        base = img * bhw + (yy + 1) * bw + (rem - yy * w) + 1;
      }
      float acc[4][4] = {};
#pragma unroll
      for (int kk = 0; kk < kTaps2 / 2; ++kk) {
        const int tap = 2 * kk + (lane >> 4);
        const int r = tap / 3, s = tap - 3 * (tap / 3);
        const int src = base >= 0 && tap < 9 ? base + (r - 1) * bw + (s - 1) : zero_px;
        uint32_t af[4];
        ldmatrix_x4(af, smid + src * kMidPerCta);
#pragma unroll
        for (int ni = 0; ni < 4; ++ni) mma_16816(acc[ni], af, bf[kk][ni][0], bf[kk][ni][1]);
      }
#pragma unroll
      for (int ni = 0; ni < 4; ++ni) {
        const int row = mt * 16 + g;
        const int col = ni * 8 + 2 * t;
        *reinterpret_cast<float2*>(sp2 + row * kLdp2 + col) = make_float2(acc[ni][0], acc[ni][1]);
        *reinterpret_cast<float2*>(sp2 + (row + 8) * kLdp2 + col) = make_float2(acc[ni][2], acc[ni][3]);
      }
    }
  }
  cluster.sync();
  pdl_launch_dependents();

  // Phase 4: CTA r finishes pixels [r * per, (r + 1) * per), 8 output channels per thread.
  {
    const int per = (out_pixels + kDenseCluster - 1) / kDenseCluster;
    const int p_begin = rank * per;
    const int p_end = min(out_pixels, p_begin + per);
    constexpr int kGroups = kDenseOut / 8;
    for (int id = tid; id < (p_end - p_begin) * kGroups; id += kThreads) {
      const int p = p_begin + id / kGroups;
      const int c0 = (id % kGroups) * 8;
      store_cluster_sum8(cluster, sp2 + p * kLdp2 + c0, 0, kDenseCluster, rank, a.bias2 ? a.bias2 + c0 : nullptr,
                         a.relu2, a.y + (out_first + p) * a.y_ld + c0);
    }
  }
  cluster.sync();  // every CTA's partials stay alive until the others have read them
}

}  // namespace

bool dense_layer_cluster_fits(const DenseLayerArgs& a) {
  if (a.batch <= 0 || a.height <= 0 || a.width <= 0 || a.band_rows <= 0 || a.band_rows > a.height ||
      a.band_images <= 0 || (a.band_rows < a.height && a.band_images != 1)) {
    return false;
  }
  // The largest band: an interior one, with the mid rows above and below it.
  const int mid_rows = std::min(a.height, a.band_rows + 1 + (a.band_rows < a.height ? 1 : 0));
  const long long images = std::min(a.batch, a.band_images);
  const long long pixels = images * mid_rows * a.width;
  const long long bordered = images * (a.band_rows + 2) * (a.width + 2);
  return pixels <= kDenseMaxPixels && bordered <= kDenseMaxBordered && a.in_c % 16 == 0 && a.in_c > 0 &&
         a.in_c <= kDenseMaxInC && a.k1_pad >= a.in_c && a.x_ld % 8 == 0 && a.y_ld % 8 == 0;
}

template <int KG>
cudaError_t launch_split(const DenseLayerArgs& a, cudaStream_t stream) {
  auto kernel = dense_layer_cluster_kernel<KG>;
  constexpr size_t kSmem = Split<KG>::kSmemBytes;
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status =
      once_per_device(attributes, [&] { return allow_smem_and_large_clusters(kernel, kSmem); });
  if (attr_status != cudaSuccess) return attr_status;
  return launch_cluster_pdl(kernel, dim3(kDenseCluster * dense_band_count(a)), dim3(kDenseCluster), kThreads, kSmem,
                            stream, a);
}

cudaError_t launch_dense_layer_cluster(const DenseLayerArgs& a, int k_split, cudaStream_t stream) {
  if (!dense_layer_cluster_fits(a) || reinterpret_cast<uintptr_t>(a.x) % 16 != 0 ||
      reinterpret_cast<uintptr_t>(a.y) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  switch (k_split) {
    case 8:
      return launch_split<8>(a, stream);
    case 16:
      return launch_split<16>(a, stream);
    default:
      return cudaErrorInvalidValue;
  }
}

}  // namespace chexrt::cuda
