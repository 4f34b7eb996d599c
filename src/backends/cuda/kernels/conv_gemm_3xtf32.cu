// 3xTF32 implicit-GEMM convolution (see conv_gemm_3xtf32.cuh).
//
// The structure of conv_gemm.cu on fp32 data: a CTA computes a BM x BN tile of Y, K goes 16
// floats at a time through a STAGES-deep cp.async pipeline, A rows gathered exactly as in
// conv_gemm_f32.cu. Shared-memory rows are 20 floats (80 bytes) apart, so the 8 row addresses of
// an ldmatrix phase fall on distinct 16-byte bank groups. ldmatrix (b16, 8x8) moves 8 rows of 16
// bytes; on fp32 data lane i receives 32-bit word i % 4 of row i / 4, which is the m16n8k8 tf32
// fragment (g = lane / 4, t = lane % 4; PTX ISA, "Matrix Fragments for mma.m16n8k8"):
//   A: a0 = (m g, k t), a1 = (m g + 8, k t), a2 = (m g, k t + 4), a3 = (m g + 8, k t + 4)
//   B: b0 = (k t, n g), b1 = (k t + 4, n g)
//   C: c0, c1 = (m g, n 2t, 2t + 1), c2, c3 = (m g + 8, same n)
// Each stage holds the weights' hi and lo parts as two BN x 20 tiles. The accumulators go
// straight to global memory as float2: the 4 lanes of a row fill one 32-byte sector.
#include "backends/cuda/kernels/conv_gemm_3xtf32.cuh"

#include <cstring>
#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kBK = 16;
constexpr int kLds = kBK + 4;

template <int BM, int BN, int WARPS_M, int WARPS_N, int STAGES>
struct Tf32Tile {
  static constexpr int kThreads = WARPS_M * WARPS_N * 32;
  static constexpr int kWM = BM / WARPS_M;
  static constexpr int kWN = BN / WARPS_N;
  static constexpr int kMI = kWM / 16;
  static constexpr int kNI = kWN / 8;
  static constexpr int kAChunks = BM * (kBK / 4) / kThreads;  // 16-byte A chunks per thread per stage
  static constexpr size_t kSmemBytes = size_t(STAGES) * (BM + 2 * BN) * kLds * 4 + size_t(STAGES) * 2 * kBK * 4;
  // 8-warp CTAs whose shared memory lets two share a multiprocessor are held to 128 registers
  // a thread, so that the registers let them too.
  static constexpr int kMinBlocks = kThreads >= 256 && 2 * kSmemBytes <= 227 * 1024 ? 2 : 1;
  static_assert(kWM % 16 == 0 && kWN % 16 == 0, "warp tile must be a multiple of 16x16");
  static_assert(BM * (kBK / 4) % kThreads == 0 && kAChunks >= 1, "A chunks must divide among threads");
};

// Round to nearest tf32, ties away from zero: add half a tf32 ulp (bit 12), clear the 13 low bits.
__device__ __forceinline__ uint32_t tf32_bits(float x) { return (__float_as_uint(x) + 0x1000u) & 0xffffe000u; }

// x = hi + lo + (error below 2^-22 |x|); x - hi is exact in fp32.
__device__ __forceinline__ void split(float x, uint32_t& hi, uint32_t& lo) {
  hi = tf32_bits(x);
  lo = tf32_bits(x - __uint_as_float(hi));
}

/// D = A * B + D, m16n8k8, tf32 operands, fp32 accumulators (PTX ISA, "mma.m16n8k8").
__device__ __forceinline__ void mma_1688_tf32(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

template <int BM, int BN, int WARPS_M, int WARPS_N, ConvGemmVariant V, int STAGES>
__global__ void __launch_bounds__(WARPS_M* WARPS_N * 32, (Tf32Tile<BM, BN, WARPS_M, WARPS_N, STAGES>::kMinBlocks))
    conv_gemm_3xtf32_kernel(const ConvGemmF32Args a) {
  using T = Tf32Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  constexpr bool kPointwise = V != ConvGemmVariant::kGeneral;
  constexpr bool kPrologue = V == ConvGemmVariant::kPointwisePrologue;
  extern __shared__ __align__(16) unsigned char smem[];
  float* sa = reinterpret_cast<float*>(smem);  // [STAGES][BM][kLds]
  float* sb = sa + STAGES * BM * kLds;         // [STAGES][hi rows BN | lo rows BN][kLds]
  float* sp = sb + STAGES * 2 * BN * kLds;     // [STAGES][scale | shift][kBK]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int warp_m = warp % WARPS_M;
  const int warp_n = warp / WARPS_M;
  const int out_hw = a.out_h * a.out_w;
  const int pixels = a.batch * out_hw;
  const int m0 = blockIdx.x * BM;
  const int n0 = blockIdx.y * BN;
  const int k_tiles = a.k_pad / kBK;
  const int c_chunks = a.in_c / 4;
  const int taps = a.kernel_h * a.kernel_w;

  const int a_col = tid & 3;
  const float* a_base[T::kAChunks];
  int a_h0[T::kAChunks], a_w0[T::kAChunks];
  bool a_valid[T::kAChunks];
  resolve_a_rows<T::kAChunks, T::kThreads, kPointwise>(a, a.x, tid, m0, a_base, a_h0, a_w0, a_valid);

  auto load_stage = [&](int slot, int kt) {
    float* sa_s = sa + slot * BM * kLds;
    const int chunk = kt * (kBK / 4) + a_col;  // 4-channel chunk index along k
    load_a_stage<T::kAChunks, T::kThreads, kPointwise>(a, a.x, sa_s, kLds, tid, chunk, c_chunks, taps, a_base, a_h0,
                                                       a_w0, a_valid);
    float* sb_s = sb + slot * 2 * BN * kLds;
    for (int id = tid; id < 2 * BN * (kBK / 4); id += T::kThreads) {
      const int row = id >> 2;  // hi parts in rows 0..BN-1, lo parts in rows BN..2BN-1
      const int cc = id & 3;
      const bool lo = row >= BN;
      const int n = lo ? row - BN : row;
      cp_async_16(sb_s + row * kLds + cc * 4,
                  (lo ? a.weight_lo : a.weight) + static_cast<long long>(n0 + n) * a.k_pad + kt * kBK + cc * 4, 16);
    }
    if (kPrologue && tid < 8) {
      const float* src = (tid < 4 ? a.pro_scale : a.pro_shift) + kt * kBK + (tid & 3) * 4;
      cp_async_16(sp + slot * 2 * kBK + tid * 4, src, 16);
    }
  };

  float acc[T::kMI][T::kNI][4];
  zero_accumulators(acc);

#pragma unroll
  for (int s = 0; s < STAGES - 1; ++s) {
    if (s < k_tiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    // Stage kt has landed; every warp is done with the slot that the prefetch below refills.
    cp_async_wait<STAGES - 2>();
    __syncthreads();
    const int prefetch = kt + STAGES - 1;
    if (prefetch < k_tiles) load_stage(prefetch % STAGES, prefetch);
    cp_async_commit();

    const int slot = kt % STAGES;
    const float* as = sa + slot * BM * kLds + warp_m * T::kWM * kLds;
    const float* bs = sb + slot * 2 * BN * kLds + warp_n * T::kWN * kLds;
#pragma unroll
    for (int ks = 0; ks < kBK / 8; ++ks) {
      uint32_t a_hi[T::kMI][4], a_lo[T::kMI][4];
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi) {
        uint32_t r[4];
        ldmatrix_x4(r, as + (mi * 16 + (lane & 15)) * kLds + ks * 8 + (lane >> 4) * 4);
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) v[e] = __uint_as_float(r[e]);
        if (kPrologue) {
          // a0, a1 are at k = t of this 8-wide slice, a2, a3 at k = t + 4.
          const float* ps = sp + slot * 2 * kBK + ks * 8 + (lane & 3);
          const float s0 = ps[0], s1 = ps[4], h0 = ps[kBK], h1 = ps[kBK + 4];
          v[0] = fmaf(v[0], s0, h0);
          v[1] = fmaf(v[1], s0, h0);
          v[2] = fmaf(v[2], s1, h1);
          v[3] = fmaf(v[3], s1, h1);
          if (a.pro_relu) {
#pragma unroll
            for (int e = 0; e < 4; ++e) v[e] = fmaxf(v[e], 0.f);
          }
        }
#pragma unroll
        for (int e = 0; e < 4; ++e) split(v[e], a_hi[mi][e], a_lo[mi][e]);
      }
      uint32_t b_hi[T::kNI][2], b_lo[T::kNI][2];
#pragma unroll
      for (int nj = 0; nj < T::kNI / 2; ++nj) {
        const float* row = bs + (nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLds + ks * 8 + ((lane >> 3) & 1) * 4;
        uint32_t r[4];
        ldmatrix_x4(r, row);
        b_hi[2 * nj][0] = r[0];
        b_hi[2 * nj][1] = r[1];
        b_hi[2 * nj + 1][0] = r[2];
        b_hi[2 * nj + 1][1] = r[3];
        ldmatrix_x4(r, row + BN * kLds);
        b_lo[2 * nj][0] = r[0];
        b_lo[2 * nj][1] = r[1];
        b_lo[2 * nj + 1][0] = r[2];
        b_lo[2 * nj + 1][1] = r[3];
      }
      // The small cross terms first, then hi * hi. Each pass runs over independent
      // accumulators, so consecutive mma instructions do not wait on each other.
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < T::kNI; ++ni) mma_1688_tf32(acc[mi][ni], a_lo[mi], b_hi[ni][0], b_hi[ni][1]);
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < T::kNI; ++ni) mma_1688_tf32(acc[mi][ni], a_hi[mi], b_lo[ni][0], b_lo[ni][1]);
#pragma unroll
      for (int mi = 0; mi < T::kMI; ++mi)
#pragma unroll
        for (int ni = 0; ni < T::kNI; ++ni) mma_1688_tf32(acc[mi][ni], a_hi[mi], b_hi[ni][0], b_hi[ni][1]);
    }
  }
  cp_async_wait<0>();

  const int g = lane >> 2;
  const int t = lane & 3;
#pragma unroll
  for (int ni = 0; ni < T::kNI; ++ni) {
    const int col = n0 + warp_n * T::kWN + ni * 8 + 2 * t;
    const float b0 = a.bias ? a.bias[col] : 0.f;
    const float b1 = a.bias ? a.bias[col + 1] : 0.f;
#pragma unroll
    for (int mi = 0; mi < T::kMI; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int p = m0 + warp_m * T::kWM + mi * 16 + g + half * 8;
        if (p >= pixels) continue;
        float v0 = acc[mi][ni][2 * half] + b0;
        float v1 = acc[mi][ni][2 * half + 1] + b1;
        if (a.relu) {
          v0 = fmaxf(v0, 0.f);
          v1 = fmaxf(v1, 0.f);
        }
        *reinterpret_cast<float2*>(a.y + static_cast<long long>(p) * a.y_ld + col) = make_float2(v0, v1);
      }
    }
  }
}

template <int BM, int BN, int WARPS_M, int WARPS_N, ConvGemmVariant V, int STAGES>
cudaError_t launch(const ConvGemmF32Args& a, cudaStream_t stream) {
  using T = Tf32Tile<BM, BN, WARPS_M, WARPS_N, STAGES>;
  auto kernel = conv_gemm_3xtf32_kernel<BM, BN, WARPS_M, WARPS_N, V, STAGES>;
  // Shared memory beyond 48 KB must be opted into, once per kernel and device.
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(attributes, [&] {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(T::kSmemBytes));
  });
  if (attr_status != cudaSuccess) return attr_status;
  if (!a.weight_lo || a.out_c % BN != 0 || a.k_pad % kBK != 0) return cudaErrorInvalidValue;
  const int pixels = a.batch * a.out_h * a.out_w;
  const dim3 grid((pixels + BM - 1) / BM, a.out_c / BN);
  return device::launch(kernel, grid, dim3(T::kThreads), T::kSmemBytes, stream, a);
}

using Table = TileTable<ConvGemmTile, ConvGemmF32Args>;
using Entry = Table::Entry;

template <ConvGemmVariant V>
std::vector<Entry> pointwise_table() {
  return {{{128, 128, 4, 2, 3}, launch<128, 128, 4, 2, V, 3>}, {{128, 128, 4, 2, 4}, launch<128, 128, 4, 2, V, 4>},
          {{128, 128, 2, 2, 3}, launch<128, 128, 2, 2, V, 3>}, {{64, 128, 2, 2, 4}, launch<64, 128, 2, 2, V, 4>},
          {{128, 64, 4, 2, 4}, launch<128, 64, 4, 2, V, 4>},   {{64, 64, 2, 2, 4}, launch<64, 64, 2, 2, V, 4>}};
}

std::vector<Entry> general_table() {
  constexpr ConvGemmVariant V = ConvGemmVariant::kGeneral;
  return {{{128, 32, 4, 1, 4}, launch<128, 32, 4, 1, V, 4>}, {{256, 32, 8, 1, 4}, launch<256, 32, 8, 1, V, 4>},
          {{256, 32, 4, 1, 4}, launch<256, 32, 4, 1, V, 4>}, {{128, 32, 2, 1, 4}, launch<128, 32, 2, 1, V, 4>},
          {{256, 32, 4, 1, 3}, launch<256, 32, 4, 1, V, 3>}, {{256, 32, 8, 1, 3}, launch<256, 32, 8, 1, V, 3>},
          {{128, 32, 4, 1, 3}, launch<128, 32, 4, 1, V, 3>}, {{64, 32, 2, 1, 4}, launch<64, 32, 2, 1, V, 4>},
          {{128, 64, 4, 2, 4}, launch<128, 64, 4, 2, V, 4>}, {{128, 64, 2, 2, 4}, launch<128, 64, 2, 2, V, 4>}};
}

const Table& table() {
  static const Table t(pointwise_table<ConvGemmVariant::kPointwise>(),
                       pointwise_table<ConvGemmVariant::kPointwisePrologue>(), general_table(), {});
  return t;
}

}  // namespace

const std::vector<ConvGemmTile>& conv_gemm_3xtf32_tiles(ConvGemmVariant variant) { return table().tiles(variant); }

cudaError_t launch_conv_gemm_3xtf32(const ConvGemmF32Args& args, ConvGemmVariant variant, const ConvGemmTile& tile,
                                    cudaStream_t stream) {
  return table().launch(args, variant, tile, stream);
}

float round_to_tf32(float x) {
  uint32_t u = 0;
  std::memcpy(&u, &x, sizeof(u));
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&x, &u, sizeof(u));
  return x;
}

void split_tf32(const std::vector<float>& w, std::vector<float>* hi, std::vector<float>* lo) {
  hi->resize(w.size());
  lo->resize(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    (*hi)[i] = round_to_tf32(w[i]);
    (*lo)[i] = round_to_tf32(w[i] - (*hi)[i]);
  }
}

}  // namespace chexrt::cuda
