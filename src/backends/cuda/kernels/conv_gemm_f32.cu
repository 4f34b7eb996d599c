// Implicit-GEMM convolution in FP32 with FFMA (see conv_gemm_f32.cuh).
//
// The structure of conv_gemm.cu: K in steps of 16 floats through a 4-stage cp.async pipeline,
// rows 20 floats (80 bytes) apart in shared memory. A prologue (batch norm + ReLU) is applied to
// the landed A tile in shared memory, once per element and CTA. Each thread then accumulates TM
// consecutive rows x TN columns tx, tx + TX, ...: per 4 values of k it reads TM float4 of A (rows
// shared by the 8 lanes of an access phase: broadcast) and TN float4 of B (8 lanes, 8 consecutive
// rows 80 bytes apart: no bank conflict) for 4 * TM * TN FFMAs.
#include "backends/cuda/kernels/conv_gemm_f32.cuh"

#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/tile_table.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kBK = 16;
constexpr int kLds = kBK + 4;
constexpr int kStages = 4;

template <int BM, int BN, int TM, int TN, ConvGemmVariant V>
struct F32Tile {
  static constexpr int kTX = BN / TN;
  static constexpr int kTY = BM / TM;
  static constexpr int kThreads = kTX * kTY;
  static constexpr int kAChunks = BM * (kBK / 4) / kThreads;
  static constexpr size_t kSmemBytes = size_t(kStages) * (BM + BN) * kLds * 4 + size_t(kStages) * 2 * kBK * 4;
  static_assert(kThreads % 32 == 0 && kThreads <= 256, "thread count");
  static_assert(BM * (kBK / 4) % kThreads == 0 && kAChunks >= 1, "A chunks must divide among threads");
  static_assert(32 % kTX == 0 || kTX % 32 == 0, "lanes of a warp share rows");
};

template <int BM, int BN, int TM, int TN, ConvGemmVariant V>
__global__ void __launch_bounds__(F32Tile<BM, BN, TM, TN, V>::kThreads) conv_gemm_f32_kernel(const ConvGemmF32Args a) {
  using T = F32Tile<BM, BN, TM, TN, V>;
  constexpr bool kPointwise = V != ConvGemmVariant::kGeneral;
  constexpr bool kPrologue = V == ConvGemmVariant::kPointwisePrologue;
  extern __shared__ __align__(16) unsigned char smem[];
  float* sa = reinterpret_cast<float*>(smem);  // [kStages][BM][kLds]
  float* sb = sa + kStages * BM * kLds;        // [kStages][BN][kLds]
  float* sp = sb + kStages * BN * kLds;        // [kStages][scale | shift][kBK]

  const int tid = threadIdx.x;
  const int tx = tid % T::kTX;
  const int ty = tid / T::kTX;
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
    float* sb_s = sb + slot * BN * kLds;
    for (int id = tid; id < BN * (kBK / 4); id += T::kThreads) {
      const int row = id >> 2;
      const int cc = id & 3;
      cp_async_16(sb_s + row * kLds + cc * 4, a.weight + static_cast<long long>(n0 + row) * a.k_pad + kt * kBK + cc * 4,
                  16);
    }
    if (kPrologue && tid < 8) {
      const float* src = (tid < 4 ? a.pro_scale : a.pro_shift) + kt * kBK + (tid & 3) * 4;
      cp_async_16(sp + slot * 2 * kBK + tid * 4, src, 16);
    }
  };

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_stage(s, s);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();
    const int slot = kt % kStages;
    float* as = sa + slot * BM * kLds;
    if (kPrologue) {
      // Normalize the landed A tile in place: BM x 16 values, float4 per thread and pass.
      const float* ps = sp + slot * 2 * kBK;
      for (int id = tid; id < BM * (kBK / 4); id += T::kThreads) {
        const int row = id >> 2;
        const int c = (id & 3) * 4;
        float4 v = *reinterpret_cast<float4*>(as + row * kLds + c);
        v.x = v.x * ps[c] + ps[kBK + c];
        v.y = v.y * ps[c + 1] + ps[kBK + c + 1];
        v.z = v.z * ps[c + 2] + ps[kBK + c + 2];
        v.w = v.w * ps[c + 3] + ps[kBK + c + 3];
        if (a.pro_relu) {
          v.x = fmaxf(v.x, 0.f), v.y = fmaxf(v.y, 0.f), v.z = fmaxf(v.z, 0.f), v.w = fmaxf(v.w, 0.f);
        }
        *reinterpret_cast<float4*>(as + row * kLds + c) = v;
      }
      __syncthreads();
    }
    const int prefetch = kt + kStages - 1;
    if (prefetch < k_tiles) load_stage(prefetch % kStages, prefetch);
    cp_async_commit();

    const float* a_rows = as + ty * TM * kLds;
    const float* b_rows = sb + slot * BN * kLds + tx * kLds;
#pragma unroll
    for (int k4 = 0; k4 < kBK; k4 += 4) {
      float4 av[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) av[i] = *reinterpret_cast<const float4*>(a_rows + i * kLds + k4);
#pragma unroll
      for (int j = 0; j < TN; ++j) bv[j] = *reinterpret_cast<const float4*>(b_rows + j * T::kTX * kLds + k4);
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) {
          acc[i][j] = fmaf(av[i].x, bv[j].x, acc[i][j]);
          acc[i][j] = fmaf(av[i].y, bv[j].y, acc[i][j]);
          acc[i][j] = fmaf(av[i].z, bv[j].z, acc[i][j]);
          acc[i][j] = fmaf(av[i].w, bv[j].w, acc[i][j]);
        }
    }
  }
  cp_async_wait<0>();

  // Consecutive lanes hold consecutive columns: each store instruction of a warp is coalesced.
  float bias[TN];
#pragma unroll
  for (int j = 0; j < TN; ++j) bias[j] = a.bias ? a.bias[n0 + tx + j * T::kTX] : 0.f;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int p = m0 + ty * TM + i;
    if (p >= pixels) continue;
    float* dst = a.y + static_cast<long long>(p) * a.y_ld + n0 + tx;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const float v = acc[i][j] + bias[j];
      dst[j * T::kTX] = a.relu ? fmaxf(v, 0.f) : v;
    }
  }
}

template <int BM, int BN, int TM, int TN, ConvGemmVariant V>
cudaError_t launch(const ConvGemmF32Args& a, cudaStream_t stream) {
  using T = F32Tile<BM, BN, TM, TN, V>;
  auto kernel = conv_gemm_f32_kernel<BM, BN, TM, TN, V>;
  static PerDevice<cudaError_t> attributes;
  const cudaError_t attr_status = once_per_device(attributes, [&] {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(T::kSmemBytes));
  });
  if (attr_status != cudaSuccess) return attr_status;
  const int pixels = a.batch * a.out_h * a.out_w;
  const dim3 grid((pixels + BM - 1) / BM, a.out_c / BN);
  return device::launch(kernel, grid, dim3(T::kThreads), T::kSmemBytes, stream, a);
}

using Table = TileTable<ConvGemmF32Tile, ConvGemmF32Args>;
using Entry = Table::Entry;

template <ConvGemmVariant V>
std::vector<Entry> pointwise_table() {
  return {{{128, 128, 8, 8}, launch<128, 128, 8, 8, V>},
          {{64, 128, 4, 8}, launch<64, 128, 4, 8, V>},
          {{128, 64, 8, 8}, launch<128, 64, 8, 8, V>},
          {{64, 64, 4, 4}, launch<64, 64, 4, 4, V>}};
}

std::vector<Entry> general_table() {
  constexpr ConvGemmVariant V = ConvGemmVariant::kGeneral;
  return {{{128, 32, 8, 4}, launch<128, 32, 8, 4, V>}, {{256, 32, 8, 4}, launch<256, 32, 8, 4, V>},
          {{128, 32, 4, 4}, launch<128, 32, 4, 4, V>}, {{64, 32, 4, 4}, launch<64, 32, 4, 4, V>},
          {{128, 64, 8, 8}, launch<128, 64, 8, 8, V>}, {{128, 64, 4, 8}, launch<128, 64, 4, 8, V>}};
}

const Table& table() {
  static const Table t(pointwise_table<ConvGemmVariant::kPointwise>(),
                       pointwise_table<ConvGemmVariant::kPointwisePrologue>(), general_table(), {});
  return t;
}

}  // namespace

const std::vector<ConvGemmF32Tile>& conv_gemm_f32_tiles(ConvGemmVariant variant) { return table().tiles(variant); }

cudaError_t launch_conv_gemm_f32(const ConvGemmF32Args& args, ConvGemmVariant variant, const ConvGemmF32Tile& tile,
                                 cudaStream_t stream) {
  return table().launch(args, variant, tile, stream);
}

}  // namespace chexrt::cuda
