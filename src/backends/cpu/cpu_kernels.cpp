// Two implementations of the inner loops, both along the channels of one pixel (contiguous in
// NHWC whatever the pixel stride):
//  - AVX-512 intrinsics, 16 channels per register with masked tails, chosen at run time when the
//    CPU has AVX-512 (F, BW, VL; and BF16 for bfloat16 storage, whose conversions are single
//    instructions there);
//  - portable C++ for every other x86-64 CPU (float32 only: the backend offers bfloat16 only on
//    CPUs with AVX-512 BF16), compiled for AVX2 and baseline and picked at load time.
// Loops parallelize over pixels with OpenMP, the runtime oneDNN itself uses in this build.
#include "backends/cpu/cpu_kernels.h"

// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized when their intrinsics are inlined (GCC bug
// 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace chexrt::cpu {

namespace {

// Below this many elements a kernel runs on one thread: waking the other costs more.
constexpr int64_t kParallelThreshold = 1 << 14;

// ---------------------------------------------------------------------------------------------
// bfloat16 <-> float32, scalar

inline float widen(float v) { return v; }
inline float widen(uint16_t v) {
  const uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate. NaNs stay quiet
// NaNs (the addition could carry them into infinity).
inline uint16_t round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline void narrow(float v, float* dst) { *dst = v; }
inline void narrow(float v, uint16_t* dst) { *dst = round_bf16(v); }

// ---------------------------------------------------------------------------------------------
// Row kernels. A "row" is the c channels of one pixel.

// y[r][i] = pre(x[r][i]) for `rows` rows `x_stride` / `y_stride` elements apart.
template <class T>
using TransformRows = void (*)(const T* x, int64_t x_stride, T* y, int64_t y_stride, int64_t rows, int64_t c,
                               const PreOp& pre);
// y[i] = multiplier * (max or sum over taps t of pre(taps[t][i])).
template <class T, class Tout>
using ReduceTaps = void (*)(const T* const* taps, int64_t num_taps, int64_t c, const PreOp& pre, bool max,
                            float multiplier, Tout* y);

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CHEXRT_CPU_CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define CHEXRT_CPU_CLONES
#endif

// Portable float32 versions.
CHEXRT_CPU_CLONES void transform_rows_generic(const float* x, int64_t xs, float* y, int64_t ys, int64_t rows, int64_t c,
                                              const PreOp& pre) {
  const float* __restrict s = pre.scale;
  const float* __restrict b = pre.shift;
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict xr = x + r * xs;
    float* __restrict yr = y + r * ys;
    if (s && pre.relu) {
      for (int64_t i = 0; i < c; ++i) yr[i] = std::max(xr[i] * s[i] + b[i], 0.f);
    } else if (s) {
      for (int64_t i = 0; i < c; ++i) yr[i] = xr[i] * s[i] + b[i];
    } else if (pre.relu) {
      for (int64_t i = 0; i < c; ++i) yr[i] = std::max(xr[i], 0.f);
    } else {
      std::memcpy(yr, xr, static_cast<size_t>(c) * sizeof(float));
    }
  }
}

CHEXRT_CPU_CLONES void reduce_taps_generic(const float* const* taps, int64_t num_taps, int64_t c, const PreOp& pre,
                                           bool max, float multiplier, float* y) {
  constexpr int64_t kChunk = 256;
  float acc[kChunk];
  for (int64_t c0 = 0; c0 < c; c0 += kChunk) {
    const int64_t cc = std::min(kChunk, c - c0);
    std::fill(acc, acc + cc, max ? -std::numeric_limits<float>::infinity() : 0.f);
    for (int64_t t = 0; t < num_taps; ++t) {
      const float* __restrict x = taps[t] + c0;
      for (int64_t i = 0; i < cc; ++i) {
        float v = pre.scale ? x[i] * pre.scale[c0 + i] + pre.shift[c0 + i] : x[i];
        if (pre.relu) v = std::max(v, 0.f);
        acc[i] = max ? std::max(acc[i], v) : acc[i] + v;
      }
    }
    for (int64_t i = 0; i < cc; ++i) y[c0 + i] = acc[i] * multiplier;
  }
}

// NHWC rows -> nChw16c. A tile of `count` consecutive pixels (rows `x_stride` apart) goes 16
// channels at a time to y, where the tile's pieces of one 16-channel block are consecutive and
// blocks are `block_stride` floats apart; `pre` is applied on the way.
CHEXRT_CPU_CLONES void tile_to_blocked16_generic(const float* x, int64_t x_stride, int64_t count, float* y,
                                                 int64_t block_stride, int64_t c, const PreOp& pre) {
  for (int64_t c0 = 0; c0 < c; c0 += 16) {
    for (int64_t p = 0; p < count; ++p) {
      for (int64_t i = 0; i < 16; ++i) {
        float v = x[p * x_stride + c0 + i];
        if (pre.scale) v = v * pre.scale[c0 + i] + pre.shift[c0 + i];
        if (pre.relu) v = std::max(v, 0.f);
        y[c0 / 16 * block_stride + p * 16 + i] = v;
      }
    }
  }
}

CHEXRT_CPU_CLONES void pixel_from_blocked16_generic(const float* x, int64_t block_stride, float* y, int64_t c) {
  for (int64_t i = 0; i < c; ++i) y[i] = x[i / 16 * block_stride + i % 16];
}

#if defined(__GNUC__) && defined(__x86_64__)
#define CHEXRT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define CHEXRT_AVX512_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

// 16 lanes of float32 from float32 or bfloat16 storage, and back; `m` masks the tail.
CHEXRT_AVX512 inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
CHEXRT_AVX512 inline __m512 load16(const uint16_t* p, __mmask16 m) {
  const __m512i wide = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}
CHEXRT_AVX512 inline void store16(float* p, __m512 v, __mmask16 m) { _mm512_mask_storeu_ps(p, m, v); }
CHEXRT_AVX512_BF16 inline void store16(uint16_t* p, __m512 v, __mmask16 m) {
  _mm256_mask_storeu_epi16(p, m, (__m256i)_mm512_cvtneps_pbh(v));
}

inline __mmask16 tail_mask(int64_t remaining) {
  return remaining >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << remaining) - 1u);
}

template <class T, bool kAffine, bool kRelu>
CHEXRT_AVX512_BF16 void transform_rows_avx512_impl(const T* x, int64_t xs, T* y, int64_t ys, int64_t rows, int64_t c,
                                                   const float* s, const float* b) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * xs;
    T* yr = y + r * ys;
    for (int64_t i = 0; i < c; i += 16) {
      const __mmask16 m = tail_mask(c - i);
      __m512 v = load16(xr + i, m);
      if (kAffine) v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(m, s + i), _mm512_maskz_loadu_ps(m, b + i));
      if (kRelu) v = _mm512_max_ps(v, zero);
      store16(yr + i, v, m);
    }
  }
}

template <class T>
void transform_rows_avx512(const T* x, int64_t xs, T* y, int64_t ys, int64_t rows, int64_t c, const PreOp& pre) {
  if (pre.scale && pre.relu) {
    transform_rows_avx512_impl<T, true, true>(x, xs, y, ys, rows, c, pre.scale, pre.shift);
  } else if (pre.scale) {
    transform_rows_avx512_impl<T, true, false>(x, xs, y, ys, rows, c, pre.scale, pre.shift);
  } else if (pre.relu) {
    transform_rows_avx512_impl<T, false, true>(x, xs, y, ys, rows, c, nullptr, nullptr);
  } else {
    for (int64_t r = 0; r < rows; ++r) std::memcpy(y + r * ys, x + r * xs, static_cast<size_t>(c) * sizeof(T));
  }
}

CHEXRT_AVX512 void tile_to_blocked16_avx512(const float* x, int64_t x_stride, int64_t count, float* y,
                                            int64_t block_stride, int64_t c, const PreOp& pre) {
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t c0 = 0; c0 < c; c0 += 16) {
    const __m512 scale = pre.scale ? _mm512_loadu_ps(pre.scale + c0) : zero;
    const __m512 shift = pre.scale ? _mm512_loadu_ps(pre.shift + c0) : zero;
    float* out = y + c0 / 16 * block_stride;
    for (int64_t p = 0; p < count; ++p) {
      __m512 v = _mm512_loadu_ps(x + p * x_stride + c0);
      if (pre.scale) v = _mm512_fmadd_ps(v, scale, shift);
      if (pre.relu) v = _mm512_max_ps(v, zero);
      _mm512_store_ps(out + p * 16, v);
    }
  }
}

CHEXRT_AVX512 void pixel_from_blocked16_avx512(const float* x, int64_t block_stride, float* y, int64_t c) {
  for (int64_t i = 0; i < c; i += 16) _mm512_storeu_ps(y + i, _mm512_load_ps(x + i / 16 * block_stride));
}

template <class T, class Tout, bool kAffine, bool kRelu, bool kMax>
CHEXRT_AVX512_BF16 void reduce_taps_avx512_impl(const T* const* taps, int64_t num_taps, int64_t c, const float* s,
                                                const float* b, float multiplier, Tout* y) {
  const __m512 zero = _mm512_setzero_ps();
  const __m512 mul = _mm512_set1_ps(multiplier);
  for (int64_t i = 0; i < c; i += 16) {
    const __mmask16 m = tail_mask(c - i);
    __m512 scale = zero, shift = zero;
    if (kAffine) {
      scale = _mm512_maskz_loadu_ps(m, s + i);
      shift = _mm512_maskz_loadu_ps(m, b + i);
    }
    __m512 acc = kMax ? _mm512_set1_ps(-std::numeric_limits<float>::infinity()) : zero;
    for (int64_t t = 0; t < num_taps; ++t) {
      __m512 v = load16(taps[t] + i, m);
      if (kAffine) v = _mm512_fmadd_ps(v, scale, shift);
      if (kRelu) v = _mm512_max_ps(v, zero);
      acc = kMax ? _mm512_max_ps(acc, v) : _mm512_add_ps(acc, v);
    }
    store16(y + i, _mm512_mul_ps(acc, mul), m);
  }
}

template <class T, class Tout>
void reduce_taps_avx512(const T* const* taps, int64_t num_taps, int64_t c, const PreOp& pre, bool max, float multiplier,
                        Tout* y) {
  const float *s = pre.scale, *b = pre.shift;
  if (max) {
    if (s && pre.relu)
      return reduce_taps_avx512_impl<T, Tout, true, true, true>(taps, num_taps, c, s, b, multiplier, y);
    if (s) return reduce_taps_avx512_impl<T, Tout, true, false, true>(taps, num_taps, c, s, b, multiplier, y);
    if (pre.relu) return reduce_taps_avx512_impl<T, Tout, false, true, true>(taps, num_taps, c, s, b, multiplier, y);
    return reduce_taps_avx512_impl<T, Tout, false, false, true>(taps, num_taps, c, s, b, multiplier, y);
  }
  if (s && pre.relu) return reduce_taps_avx512_impl<T, Tout, true, true, false>(taps, num_taps, c, s, b, multiplier, y);
  if (s) return reduce_taps_avx512_impl<T, Tout, true, false, false>(taps, num_taps, c, s, b, multiplier, y);
  if (pre.relu) return reduce_taps_avx512_impl<T, Tout, false, true, false>(taps, num_taps, c, s, b, multiplier, y);
  return reduce_taps_avx512_impl<T, Tout, false, false, false>(taps, num_taps, c, s, b, multiplier, y);
}
#else
#error "the CPU backend's kernels are written for x86-64 with GCC or Clang"
#endif

bool cpu_has_avx512() {
  static const bool has =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  return has;
}

// The row kernels for storage T on this CPU.
template <class T>
struct Rows;

template <>
struct Rows<float> {
  static TransformRows<float> transform() {
    if (cpu_has_avx512()) return transform_rows_avx512<float>;
    return transform_rows_generic;
  }
  static ReduceTaps<float, float> reduce() {
    if (cpu_has_avx512()) return reduce_taps_avx512<float, float>;
    return reduce_taps_generic;
  }
};

// bfloat16 storage exists only on CPUs with AVX-512 BF16 (the backend refuses it elsewhere).
template <>
struct Rows<uint16_t> {
  static TransformRows<uint16_t> transform() { return transform_rows_avx512<uint16_t>; }
  static ReduceTaps<uint16_t, uint16_t> reduce() { return reduce_taps_avx512<uint16_t, uint16_t>; }
  static ReduceTaps<uint16_t, float> reduce_to_float() { return reduce_taps_avx512<uint16_t, float>; }
};

template <class T>
ReduceTaps<T, float> reduce_to_float() {
  if constexpr (std::is_same_v<T, float>) {
    return Rows<float>::reduce();
  } else {
    return Rows<uint16_t>::reduce_to_float();
  }
}

// ---------------------------------------------------------------------------------------------
// Kernels over views, per storage type

template <class T>
T* base(const NhwcView& v) {
  return static_cast<T*>(v.data);
}

template <class T>
void transform_t(const NhwcView& x, const PreOp& pre, const NhwcView& y) {
  const int64_t pixels = x.n * x.h * x.w;
  const TransformRows<T> rows = Rows<T>::transform();
  const bool dense = x.pixel_stride == x.c && y.pixel_stride == y.c;
  if (dense && pre.scale == nullptr && !pre.relu) {
    std::memcpy(y.data, x.data, static_cast<size_t>(pixels * x.c) * sizeof(T));
    return;
  }
  // Dense tensors are one long row when no per-channel parameter needs the channel index.
  const bool flat = dense && pre.scale == nullptr;
  const int64_t units = flat ? 1 : pixels, width = flat ? pixels * x.c : x.c;
#pragma omp parallel if (pixels * x.c >= kParallelThreshold)
  {
    const int threads = omp_get_num_threads(), id = omp_get_thread_num();
    if (flat) {
      // Split the single row into 64-byte aligned pieces.
      const int64_t piece = (width / threads + 15) / 16 * 16;
      const int64_t begin = std::min(width, piece * id), end = std::min(width, begin + piece);
      if (end > begin) rows(base<T>(x) + begin, 0, base<T>(y) + begin, 0, 1, end - begin, pre);
    } else {
      const int64_t begin = units * id / threads, end = units * (id + 1) / threads;
      if (end > begin) {
        rows(base<T>(x) + begin * x.pixel_stride, x.pixel_stride, base<T>(y) + begin * y.pixel_stride, y.pixel_stride,
             end - begin, width, pre);
      }
    }
  }
}

template <class T>
void pool_t(const NhwcView& x, const PreOp& pre, const PoolWindow& win, const NhwcView& y) {
  const ReduceTaps<T, T> reduce = Rows<T>::reduce();
  const int64_t rows = y.n * y.h;
  const int64_t padded_h = x.h + win.pad_bottom, padded_w = x.w + win.pad_right;
#pragma omp parallel for schedule(static) if (y.n * y.h * y.w * y.c * win.kernel_h * win.kernel_w >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / y.h, oy = row % y.h;
    std::vector<const T*> taps(static_cast<size_t>(win.kernel_h * win.kernel_w));
    for (int64_t ox = 0; ox < y.w; ++ox) {
      int64_t real_taps = 0, padded_taps = 0;
      for (int64_t ky = 0; ky < win.kernel_h; ++ky) {
        const int64_t iy = oy * win.stride_h - win.pad_top + ky * win.dilation_h;
        if (iy >= padded_h) continue;  // past the padded input: only ceil_mode's last windows
        for (int64_t kx = 0; kx < win.kernel_w; ++kx) {
          const int64_t ix = ox * win.stride_w - win.pad_left + kx * win.dilation_w;
          if (ix >= padded_w) continue;
          ++padded_taps;
          if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
          taps[real_taps++] = base<T>(x) + ((n * x.h + iy) * x.w + ix) * x.pixel_stride;
        }
      }
      float multiplier = 1.f;
      if (win.average) {
        const int64_t count = win.count_include_pad ? padded_taps : real_taps;
        multiplier = count > 0 ? 1.f / static_cast<float>(count) : 0.f;
      }
      reduce(taps.data(), real_taps, y.c, pre, !win.average, multiplier,
             base<T>(y) + ((n * y.h + oy) * y.w + ox) * y.pixel_stride);
    }
  }
}

template <class T>
void head_t(const NhwcView& x, const PreOp& pre, float* pooled) {
  const ReduceTaps<T, float> reduce = reduce_to_float<T>();
  const int64_t pixels = x.h * x.w;
  // Per image, and per 64-channel slice so that two threads share even one image.
  constexpr int64_t kSlice = 64;
  const int64_t slices = (x.c + kSlice - 1) / kSlice;
#pragma omp parallel for schedule(static) if (x.n * x.c * pixels >= kParallelThreshold)
  for (int64_t job = 0; job < x.n * slices; ++job) {
    const int64_t n = job / slices, c0 = job % slices * kSlice;
    std::vector<const T*> taps(static_cast<size_t>(pixels));
    for (int64_t p = 0; p < pixels; ++p) taps[p] = base<T>(x) + (n * pixels + p) * x.pixel_stride + c0;
    const PreOp slice{pre.scale ? pre.scale + c0 : nullptr, pre.shift ? pre.shift + c0 : nullptr, pre.relu};
    reduce(taps.data(), pixels, std::min(kSlice, x.c - c0), slice, false, 1.f / static_cast<float>(pixels),
           pooled + n * x.c + c0);
  }
}

using TileToBlocked16 = void (*)(const float*, int64_t, int64_t, float*, int64_t, int64_t, const PreOp&);
using PixelFromBlocked16 = void (*)(const float*, int64_t, float*, int64_t);

template <class T>
void nchw_to_nhwc_t(const float* src, const NhwcView& dst) {
  const int64_t rows = dst.n * dst.h;
#pragma omp parallel for schedule(static) if (rows * dst.w * dst.c >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / dst.h, y = row % dst.h;
    for (int64_t c = 0; c < dst.c; ++c) {
      const float* in = src + ((n * dst.c + c) * dst.h + y) * dst.w;
      T* out = base<T>(dst) + (n * dst.h + y) * dst.w * dst.pixel_stride + c;
      for (int64_t x = 0; x < dst.w; ++x) narrow(in[x], out + x * dst.pixel_stride);
    }
  }
}

template <class T>
void nhwc_to_nchw_t(const NhwcView& src, float* dst) {
  const int64_t rows = src.n * src.h;
#pragma omp parallel for schedule(static) if (rows * src.w * src.c >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / src.h, y = row % src.h;
    for (int64_t c = 0; c < src.c; ++c) {
      const T* in = base<T>(src) + (n * src.h + y) * src.w * src.pixel_stride + c;
      float* out = dst + ((n * src.c + c) * src.h + y) * src.w;
      for (int64_t x = 0; x < src.w; ++x) out[x] = widen(in[x * src.pixel_stride]);
    }
  }
}

}  // namespace

uint16_t float_to_bf16(float f) { return round_bf16(f); }
float bf16_to_float(uint16_t h) { return widen(h); }

void transform(const NhwcView& x, const PreOp& pre, const NhwcView& y) {
  if (x.storage == Storage::kF32) {
    transform_t<float>(x, pre, y);
  } else {
    transform_t<uint16_t>(x, pre, y);
  }
}

void pool2d(const NhwcView& x, const PreOp& pre, const PoolWindow& window, const NhwcView& y) {
  if (x.storage == Storage::kF32) {
    pool_t<float>(x, pre, window, y);
  } else {
    pool_t<uint16_t>(x, pre, window, y);
  }
}

void classifier_head(const NhwcView& x, const PreOp& pre, const float* weight, const float* bias, int64_t k,
                     bool sigmoid, float* pooled, float* y) {
  if (x.storage == Storage::kF32) {
    head_t<float>(x, pre, pooled);
  } else {
    head_t<uint16_t>(x, pre, pooled);
  }
  // The fully connected layer is 14 x 1024 multiply-adds per image: not worth threads.
  for (int64_t n = 0; n < x.n; ++n) {
    for (int64_t j = 0; j < k; ++j) {
      const float* w = weight + j * x.c;
      const float* p = pooled + n * x.c;
      float sum = 0.f;
      for (int64_t c = 0; c < x.c; ++c) sum += w[c] * p[c];
      sum += bias ? bias[j] : 0.f;
      y[n * k + j] = sigmoid ? 1.f / (1.f + std::exp(-sum)) : sum;
    }
  }
}

void transform_to_blocked16(const NhwcView& x, const PreOp& pre, float* y) {
  const TileToBlocked16 tile = cpu_has_avx512() ? tile_to_blocked16_avx512 : tile_to_blocked16_generic;
  const int64_t plane = x.h * x.w, pixels = x.n * plane;
  // Tiles of 16 pixels: each 16-channel block of a tile fills one contiguous KiB of y.
  constexpr int64_t kTile = 16;
  const int64_t tiles_per_image = (plane + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) if (pixels * x.c >= kParallelThreshold)
  for (int64_t t = 0; t < x.n * tiles_per_image; ++t) {
    const int64_t n = t / tiles_per_image, first = t % tiles_per_image * kTile;
    tile(static_cast<const float*>(x.data) + (n * plane + first) * x.pixel_stride, x.pixel_stride,
         std::min(kTile, plane - first), y + (n * x.c * plane + first * 16), plane * 16, x.c, pre);
  }
}

void blocked16_to_nhwc(const float* x, const NhwcView& y) {
  const PixelFromBlocked16 pixel = cpu_has_avx512() ? pixel_from_blocked16_avx512 : pixel_from_blocked16_generic;
  const int64_t plane = y.h * y.w, pixels = y.n * plane;
#pragma omp parallel for schedule(static) if (pixels * y.c >= kParallelThreshold)
  for (int64_t p = 0; p < pixels; ++p) {
    const int64_t n = p / plane, yx = p % plane;
    pixel(x + (n * y.c * plane + yx * 16), plane * 16, static_cast<float*>(y.data) + p * y.pixel_stride, y.c);
  }
}

void nchw_to_nhwc(const float* src, const NhwcView& dst) {
  if (dst.storage == Storage::kF32) {
    nchw_to_nhwc_t<float>(src, dst);
  } else {
    nchw_to_nhwc_t<uint16_t>(src, dst);
  }
}

void nhwc_to_nchw(const NhwcView& src, float* dst) {
  if (src.storage == Storage::kF32) {
    nhwc_to_nchw_t<float>(src, dst);
  } else {
    nhwc_to_nchw_t<uint16_t>(src, dst);
  }
}

}  // namespace chexrt::cpu
