// The fused dense layer (dense_layer_f16.cuh). 256 threads, 8 warps, one CTA per band.
//
// Phase 1, the 1x1: the bordered band's pixels are taken 128 at a time as the M side of a
// 128 x 128 GEMM tile (warps 4 x 2, warp tile 32 x 64), K = in_c through a 3-stage cp.async
// pipeline of 32 channels, the BN + ReLU prologue applied to the A fragments after ldmatrix (as
// in conv_gemm.cu). Its epilogue adds bias1, applies ReLU and stores h in fp16 into shared
// memory, rows of 136 halves (272 bytes: the 8 rows of an ldmatrix phase fall on distinct
// 16-byte bank groups); border pixels outside the image store 0.
// Phase 2, the 3x3: the nine taps' weights replace the pipeline in shared memory; output pixel m
// of the band (row m / W, column m % W) reads tap (r, s) of h at bordered pixel
// (m / W + r) * (W + 2) + m % W + s, as the halo kernel of conv_gemm.cu does. Each warp owns up
// to two 16-pixel fragments x 32 channels. The result is staged in shared memory and written
// with 16-byte stores into the layer's slice of the block buffer.
#include "backends/cuda/kernels/dense_layer_f16.cuh"

#include <mutex>

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {

namespace {

using namespace device;

constexpr int kThreads = 256;
constexpr int kBK = 32;
constexpr int kLds = kBK + 8;           // phase 1 pipeline rows (80 bytes)
constexpr int kStages = 3;
constexpr int kChunk = 128;             // bordered pixels per phase 1 tile
constexpr int kLdi = kDenseMid + 8;     // h and w3 rows in shared memory (272 bytes)
constexpr int kLdo = kDenseOut + 8;     // output staging rows
constexpr int kMaxOut = 256;            // output pixels per band
constexpr int kMaxBordered = 384;       // bordered pixels per band
constexpr int kFragsPerWarp = kMaxOut / 16 / (kThreads / 32);
constexpr int kTaps = 9;
constexpr int kK3 = kTaps * kDenseMid;

constexpr size_t kPipeBytes = size_t(kStages) * 2 * kChunk * kLds * 2 + size_t(kStages) * 2 * kBK * 2;
constexpr size_t kW3Bytes = size_t(kTaps) * kDenseOut * kLdi * 2;
constexpr size_t kUnionBytes = kPipeBytes > kW3Bytes ? kPipeBytes : kW3Bytes;

size_t h_bytes(int band, int width) { return size_t(band + 2) * (width + 2) * kLdi * 2; }

__global__ void __launch_bounds__(kThreads) dense_layer_f16_kernel(const DenseLayerArgs a, int band) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int width = a.width, height = a.height;
  const int bw = width + 2;
  const int bordered = (band + 2) * bw;
  __half* sh = reinterpret_cast<__half*>(smem);    // [bordered][kLdi]: h
  __half* su = sh + bordered * kLdi;                // the union: pipeline, then w3
  __half* sa = su;                                  // [kStages][kChunk][kLds]
  __half* sb = sa + kStages * kChunk * kLds;        // [kStages][128][kLds]
  __half* sp = sb + kStages * kDenseMid * kLds;     // [kStages][scale | shift][kBK]
  __half* sw = su;                                  // [9 * 32][kLdi]

  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int bands = height / band;
  const int img = blockIdx.x / bands;
  const int y0 = (blockIdx.x - img * bands) * band;
  const __half* x_img = a.x + static_cast<long long>(img) * height * width * a.x_ld;
  const int k_tiles = a.k_pad1 / kBK;

  // Whether bordered pixel q is inside the image, and its offset in x.
  auto inside = [&](int q, long long* offset) {
    const int by = q / bw;
    const int yy = y0 - 1 + by;
    const int xx = q - by * bw - 1;
    *offset = (static_cast<long long>(yy) * width + xx) * a.x_ld;
    return q < bordered && static_cast<unsigned>(yy) < static_cast<unsigned>(height) &&
           static_cast<unsigned>(xx) < static_cast<unsigned>(width);
  };

  // ---- Phase 1: h for the bordered band, kChunk pixels at a time.
  constexpr int kWarpsM = 4;
  constexpr int kWM = kChunk / kWarpsM;     // 32
  constexpr int kWN = kDenseMid / 2;        // 64
  constexpr int kMI = kWM / 16;
  constexpr int kNI = kWN / 8;
  constexpr int kAChunks = kChunk * (kBK / 8) / kThreads;  // 2
  const int warp_m = warp % kWarpsM;
  const int warp_n = warp / kWarpsM;
  const int a_col = tid & 3;

  for (int q0 = 0; q0 < bordered; q0 += kChunk) {
    const __half* a_src[kAChunks];
    bool a_ok[kAChunks];
#pragma unroll
    for (int i = 0; i < kAChunks; ++i) {
      long long offset;
      a_ok[i] = inside(q0 + (tid >> 2) + i * (kThreads / 4), &offset);
      a_src[i] = a_ok[i] ? x_img + offset : a.x;
    }
    auto load = [&](int slot, int kt) {
      __half* sa_s = sa + slot * kChunk * kLds;
      const int c0 = kt * kBK + a_col * 8;
      const bool in_k = c0 < a.in_c;
#pragma unroll
      for (int i = 0; i < kAChunks; ++i) {
        const int row = (tid >> 2) + i * (kThreads / 4);
        const bool ok = a_ok[i] && in_k;
        cp_async_16(sa_s + row * kLds + a_col * 8, ok ? a_src[i] + c0 : a.x, ok ? 16 : 0);
      }
      __half* sb_s = sb + slot * kDenseMid * kLds;
#pragma unroll
      for (int id = tid; id < kDenseMid * (kBK / 8); id += kThreads) {
        const int row = id >> 2;
        const int cc = id & 3;
        cp_async_16(sb_s + row * kLds + cc * 8, a.w1 + static_cast<long long>(row) * a.k_pad1 + kt * kBK + cc * 8, 16);
      }
      if (tid < 8) {
        const __half* src = (tid < 4 ? a.pro_scale : a.pro_shift) + kt * kBK + (tid & 3) * 8;
        cp_async_16(sp + slot * 2 * kBK + tid * 8, src, 16);
      }
    };

    float acc[kMI][kNI][4];
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
      for (int ni = 0; ni < kNI; ++ni)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mi][ni][e] = 0.f;

#pragma unroll
    for (int s = 0; s < kStages - 1; ++s) {
      if (s < k_tiles) load(s, s);
      cp_async_commit();
    }
    for (int kt = 0; kt < k_tiles; ++kt) {
      cp_async_wait<kStages - 2>();
      __syncthreads();
      const int prefetch = kt + kStages - 1;
      if (prefetch < k_tiles) load(prefetch % kStages, prefetch);
      cp_async_commit();

      const int slot = kt % kStages;
      const __half* as = sa + slot * kChunk * kLds + warp_m * kWM * kLds;
      const __half* bs = sb + slot * kDenseMid * kLds + warp_n * kWN * kLds;
#pragma unroll
      for (int ks = 0; ks < kBK / 16; ++ks) {
        uint32_t af[kMI][4];
#pragma unroll
        for (int mi = 0; mi < kMI; ++mi) {
          ldmatrix_x4(af[mi], as + (mi * 16 + (lane & 15)) * kLds + ks * 16 + (lane >> 4) * 8);
        }
        // Fragment registers 0 and 1 hold k = 2t, 2t+1 of the 16-wide slice; 2 and 3 hold k + 8.
        const __half* ps = sp + slot * 2 * kBK + ks * 16 + 2 * t;
        const __half2 s_lo = *reinterpret_cast<const __half2*>(ps);
        const __half2 s_hi = *reinterpret_cast<const __half2*>(ps + 8);
        const __half2 t_lo = *reinterpret_cast<const __half2*>(ps + kBK);
        const __half2 t_hi = *reinterpret_cast<const __half2*>(ps + kBK + 8);
        const __half2 zero = __float2half2_rn(0.f);
#pragma unroll
        for (int mi = 0; mi < kMI; ++mi) {
          af[mi][0] = as_u32(__hmax2(__hfma2(as_half2(af[mi][0]), s_lo, t_lo), zero));
          af[mi][1] = as_u32(__hmax2(__hfma2(as_half2(af[mi][1]), s_lo, t_lo), zero));
          af[mi][2] = as_u32(__hmax2(__hfma2(as_half2(af[mi][2]), s_hi, t_hi), zero));
          af[mi][3] = as_u32(__hmax2(__hfma2(as_half2(af[mi][3]), s_hi, t_hi), zero));
        }
        uint32_t bf[kNI][2];
#pragma unroll
        for (int nj = 0; nj < kNI / 2; ++nj) {
          uint32_t r[4];
          ldmatrix_x4(r, bs + (nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLds + ks * 16 + ((lane >> 3) & 1) * 8);
          bf[2 * nj][0] = r[0];
          bf[2 * nj][1] = r[1];
          bf[2 * nj + 1][0] = r[2];
          bf[2 * nj + 1][1] = r[3];
        }
#pragma unroll
        for (int mi = 0; mi < kMI; ++mi)
#pragma unroll
          for (int ni = 0; ni < kNI; ++ni) mma_16816(acc[mi][ni], af[mi], bf[ni][0], bf[ni][1]);
      }
    }
    // Every warp is done with the pipeline before the next chunk (or w3) refills it.
    cp_async_wait<0>();
    __syncthreads();

    // h = max(acc + bias1, 0) inside the image, 0 on the border outside it.
#pragma unroll
    for (int mi = 0; mi < kMI; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int q = q0 + warp_m * kWM + mi * 16 + g + half * 8;
        long long unused;
        const bool in = inside(q, &unused);
        if (q >= bordered) continue;
#pragma unroll
        for (int ni = 0; ni < kNI; ++ni) {
          const int col = warp_n * kWN + ni * 8 + 2 * t;
          const float v0 = in ? fmaxf(acc[mi][ni][2 * half] + a.bias1[col], 0.f) : 0.f;
          const float v1 = in ? fmaxf(acc[mi][ni][2 * half + 1] + a.bias1[col + 1], 0.f) : 0.f;
          *reinterpret_cast<__half2*>(sh + q * kLdi + col) = __floats2half2_rn(v0, v1);
        }
      }
    }
  }

  // ---- Phase 2: the 3x3 from h.
  for (int id = tid; id < kTaps * kDenseOut * (kDenseMid / 8); id += kThreads) {
    const int row = id / (kDenseMid / 8);  // tap * 32 + o
    const int cc = id - row * (kDenseMid / 8);
    const int tap = row / kDenseOut;
    const int o = row - tap * kDenseOut;
    cp_async_16(sw + row * kLdi + cc * 8, a.w3 + static_cast<long long>(o) * kK3 + tap * kDenseMid + cc * 8, 16);
  }
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();  // w3 has landed and every h row is written

  const int out_px = band * width;
  const int frags = (out_px + 15) / 16;
  int hb[kFragsPerWarp];
#pragma unroll
  for (int j = 0; j < kFragsPerWarp; ++j) {
    int m = (warp + j * (kThreads / 32)) * 16 + (lane & 15);
    if (m >= out_px) m = 0;  // rows past the band read pixel 0; they are not stored
    const int ty = m / width;
    hb[j] = ty * bw + (m - ty * width);
  }
  float acc3[kFragsPerWarp][kDenseOut / 8][4];
#pragma unroll
  for (int j = 0; j < kFragsPerWarp; ++j)
#pragma unroll
    for (int ni = 0; ni < kDenseOut / 8; ++ni)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc3[j][ni][e] = 0.f;

  for (int tap = 0; tap < kTaps; ++tap) {
    const int off = (tap / 3) * bw + tap % 3;
#pragma unroll
    for (int ks = 0; ks < kDenseMid / 16; ++ks) {
      uint32_t bf[kDenseOut / 8][2];
#pragma unroll
      for (int nj = 0; nj < kDenseOut / 16; ++nj) {
        uint32_t r[4];
        ldmatrix_x4(r, sw + (tap * kDenseOut + nj * 16 + (lane & 7) + ((lane >> 4) << 3)) * kLdi + ks * 16 +
                           ((lane >> 3) & 1) * 8);
        bf[2 * nj][0] = r[0];
        bf[2 * nj][1] = r[1];
        bf[2 * nj + 1][0] = r[2];
        bf[2 * nj + 1][1] = r[3];
      }
#pragma unroll
      for (int j = 0; j < kFragsPerWarp; ++j) {
        if (warp + j * (kThreads / 32) >= frags) continue;  // warp-uniform
        uint32_t af[4];
        ldmatrix_x4(af, sh + (hb[j] + off) * kLdi + ks * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int ni = 0; ni < kDenseOut / 8; ++ni) mma_16816(acc3[j][ni], af, bf[ni][0], bf[ni][1]);
      }
    }
  }
  __syncthreads();  // h is no longer read: its space stages the output

  __half* so = sh;  // [kMaxOut][kLdo]
#pragma unroll
  for (int j = 0; j < kFragsPerWarp; ++j) {
    if (warp + j * (kThreads / 32) >= frags) continue;
#pragma unroll
    for (int ni = 0; ni < kDenseOut / 8; ++ni) {
      const int col = ni * 8 + 2 * t;
      const float b0 = a.bias3 ? a.bias3[col] : 0.f;
      const float b1 = a.bias3 ? a.bias3[col + 1] : 0.f;
      const int row = (warp + j * (kThreads / 32)) * 16 + g;
      float v0 = acc3[j][ni][0] + b0, v1 = acc3[j][ni][1] + b1;
      float v2 = acc3[j][ni][2] + b0, v3 = acc3[j][ni][3] + b1;
      if (a.relu3) {
        v0 = fmaxf(v0, 0.f);
        v1 = fmaxf(v1, 0.f);
        v2 = fmaxf(v2, 0.f);
        v3 = fmaxf(v3, 0.f);
      }
      *reinterpret_cast<__half2*>(so + row * kLdo + col) = __floats2half2_rn(v0, v1);
      *reinterpret_cast<__half2*>(so + (row + 8) * kLdo + col) = __floats2half2_rn(v2, v3);
    }
  }
  __syncthreads();
  constexpr int kRowChunks = kDenseOut / 8;
  for (int id = tid; id < out_px * kRowChunks; id += kThreads) {
    const int m = id / kRowChunks;
    const int cc = id - m * kRowChunks;
    const int ty = m / width;
    const long long p = (static_cast<long long>(img) * height + y0 + ty) * width + (m - ty * width);
    *reinterpret_cast<uint4*>(a.y + p * a.y_ld + cc * 8) = *reinterpret_cast<const uint4*>(so + m * kLdo + cc * 8);
  }
}

}  // namespace

int dense_layer_band(int height, int width) {
  for (int band = height; band >= 1; --band) {
    if (height % band == 0 && band * width <= kMaxOut && (band + 2) * (width + 2) <= kMaxBordered) return band;
  }
  return 0;
}

size_t dense_layer_smem_bytes(int height, int width) {
  const int band = dense_layer_band(height, width);
  if (band == 0) return 0;
  // h's space also stages the output: kMaxOut rows of kLdo halves.
  const size_t h = h_bytes(band, width) > size_t(kMaxOut) * kLdo * 2 ? h_bytes(band, width) : size_t(kMaxOut) * kLdo * 2;
  return h + kUnionBytes;
}

cudaError_t launch_dense_layer_f16(const DenseLayerArgs& a, cudaStream_t stream) {
  const int band = dense_layer_band(a.height, a.width);
  if (band == 0 || a.in_c % 8 != 0 || a.x_ld % 8 != 0 || a.y_ld % 8 != 0 || a.k_pad1 % kBK != 0 ||
      a.k_pad1 < a.in_c || a.batch < 1) {
    return cudaErrorInvalidValue;
  }
  const size_t smem = dense_layer_smem_bytes(a.height, a.width);
  if (smem > 227 * 1024) return cudaErrorInvalidValue;
  static std::once_flag once;
  static cudaError_t attr_status = cudaSuccess;
  std::call_once(once, [&] {
    attr_status = cudaFuncSetAttribute(dense_layer_f16_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  });
  if (attr_status != cudaSuccess) return attr_status;
  const dim3 grid(a.batch * (a.height / band));
  dense_layer_f16_kernel<<<grid, kThreads, smem, stream>>>(a, band);
  return cudaGetLastError();
}

}  // namespace chexrt::cuda
