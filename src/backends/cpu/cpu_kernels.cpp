// The inner loops run along the channels of one pixel (contiguous in NHWC), so they vectorize
// whatever the pixel stride. Each row function is compiled for AVX-512, AVX2 and baseline x86-64
// and picked at load time (GCC target_clones), so one binary runs everywhere at full width.
// Loops parallelize over pixels with OpenMP, the runtime oneDNN itself uses in this build.
#include "backends/cpu/cpu_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace chexrt::cpu {

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CHEXRT_CPU_CLONES __attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default")))
#else
#define CHEXRT_CPU_CLONES
#endif

namespace {

// Below this many elements a kernel runs on one thread: waking the others costs more.
constexpr int64_t kParallelThreshold = 1 << 14;
// Channels accumulated at once by the pooling and head kernels (a 1 KiB float row).
constexpr int64_t kChunk = 256;

inline float load(float v) { return v; }
inline float load(uint16_t v) {
  const uint32_t u = static_cast<uint32_t>(v) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate. NaNs are kept
// quiet NaNs (the addition could carry them into infinity).
inline uint16_t round_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline void store(float v, float* dst) { *dst = v; }
inline void store(float v, uint16_t* dst) { *dst = round_bf16(v); }

template <class Tin, class Tout>
inline void transform_row(const Tin* __restrict x, Tout* __restrict y, const float* __restrict scale,
                          const float* __restrict shift, bool relu, int64_t c) {
  if (scale != nullptr && relu) {
    for (int64_t i = 0; i < c; ++i) store(std::max(load(x[i]) * scale[i] + shift[i], 0.f), y + i);
  } else if (scale != nullptr) {
    for (int64_t i = 0; i < c; ++i) store(load(x[i]) * scale[i] + shift[i], y + i);
  } else if (relu) {
    for (int64_t i = 0; i < c; ++i) store(std::max(load(x[i]), 0.f), y + i);
  } else {
    for (int64_t i = 0; i < c; ++i) store(load(x[i]), y + i);
  }
}

template <class T>
inline void accumulate_row(const T* __restrict x, float* __restrict acc, const float* __restrict scale,
                           const float* __restrict shift, bool relu, bool max, int64_t c) {
  if (scale != nullptr) {
    if (max) {
      for (int64_t i = 0; i < c; ++i) {
        const float v = load(x[i]) * scale[i] + shift[i];
        acc[i] = std::max(acc[i], relu ? std::max(v, 0.f) : v);
      }
    } else {
      for (int64_t i = 0; i < c; ++i) {
        const float v = load(x[i]) * scale[i] + shift[i];
        acc[i] += relu ? std::max(v, 0.f) : v;
      }
    }
  } else if (max) {
    for (int64_t i = 0; i < c; ++i) acc[i] = std::max(acc[i], relu ? std::max(load(x[i]), 0.f) : load(x[i]));
  } else {
    for (int64_t i = 0; i < c; ++i) acc[i] += relu ? std::max(load(x[i]), 0.f) : load(x[i]);
  }
}

template <class T>
inline void store_row(const float* __restrict acc, T* __restrict y, float multiplier, int64_t c) {
  for (int64_t i = 0; i < c; ++i) store(acc[i] * multiplier, y + i);
}

// The cloned entry points: one per storage combination.
CHEXRT_CPU_CLONES void transform_f32_f32(const float* x, float* y, const float* s, const float* b, bool r, int64_t c) {
  transform_row(x, y, s, b, r, c);
}
CHEXRT_CPU_CLONES void transform_f32_bf16(const float* x, uint16_t* y, const float* s, const float* b, bool r,
                                          int64_t c) {
  transform_row(x, y, s, b, r, c);
}
CHEXRT_CPU_CLONES void transform_bf16_f32(const uint16_t* x, float* y, const float* s, const float* b, bool r,
                                          int64_t c) {
  transform_row(x, y, s, b, r, c);
}
CHEXRT_CPU_CLONES void transform_bf16_bf16(const uint16_t* x, uint16_t* y, const float* s, const float* b, bool r,
                                           int64_t c) {
  transform_row(x, y, s, b, r, c);
}
CHEXRT_CPU_CLONES void accumulate_f32(const float* x, float* acc, const float* s, const float* b, bool r, bool m,
                                      int64_t c) {
  accumulate_row(x, acc, s, b, r, m, c);
}
CHEXRT_CPU_CLONES void accumulate_bf16(const uint16_t* x, float* acc, const float* s, const float* b, bool r, bool m,
                                       int64_t c) {
  accumulate_row(x, acc, s, b, r, m, c);
}
CHEXRT_CPU_CLONES void store_f32(const float* acc, float* y, float m, int64_t c) { store_row(acc, y, m, c); }
CHEXRT_CPU_CLONES void store_bf16(const float* acc, uint16_t* y, float m, int64_t c) { store_row(acc, y, m, c); }

// Element `index` of a view's storage, as a byte address.
inline char* element(const NhwcView& v, int64_t index) {
  return static_cast<char*>(v.data) + index * (v.storage == Storage::kF32 ? 4 : 2);
}
inline int64_t pixel_offset(const NhwcView& v, int64_t n, int64_t y, int64_t x) {
  return ((n * v.h + y) * v.w + x) * v.pixel_stride;
}

void transform_pixel(const NhwcView& x, const PreOp& pre, const NhwcView& y, int64_t pixel, int64_t c0, int64_t c) {
  const void* src = element(x, pixel * x.pixel_stride + c0);
  void* dst = element(y, pixel * y.pixel_stride + c0);
  const float* s = pre.scale ? pre.scale + c0 : nullptr;
  const float* b = pre.shift ? pre.shift + c0 : nullptr;
  const bool x32 = x.storage == Storage::kF32, y32 = y.storage == Storage::kF32;
  if (x32 && y32) {
    transform_f32_f32(static_cast<const float*>(src), static_cast<float*>(dst), s, b, pre.relu, c);
  } else if (x32) {
    transform_f32_bf16(static_cast<const float*>(src), static_cast<uint16_t*>(dst), s, b, pre.relu, c);
  } else if (y32) {
    transform_bf16_f32(static_cast<const uint16_t*>(src), static_cast<float*>(dst), s, b, pre.relu, c);
  } else {
    transform_bf16_bf16(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), s, b, pre.relu, c);
  }
}

void accumulate(const NhwcView& x, int64_t index, float* acc, const PreOp& pre, int64_t c0, bool max, int64_t c) {
  const float* s = pre.scale ? pre.scale + c0 : nullptr;
  const float* b = pre.shift ? pre.shift + c0 : nullptr;
  if (x.storage == Storage::kF32) {
    accumulate_f32(reinterpret_cast<const float*>(element(x, index)), acc, s, b, pre.relu, max, c);
  } else {
    accumulate_bf16(reinterpret_cast<const uint16_t*>(element(x, index)), acc, s, b, pre.relu, max, c);
  }
}

void store_acc(const float* acc, const NhwcView& y, int64_t index, float multiplier, int64_t c) {
  if (y.storage == Storage::kF32) {
    store_f32(acc, reinterpret_cast<float*>(element(y, index)), multiplier, c);
  } else {
    store_bf16(acc, reinterpret_cast<uint16_t*>(element(y, index)), multiplier, c);
  }
}

}  // namespace

uint16_t float_to_bf16(float f) { return round_bf16(f); }
float bf16_to_float(uint16_t h) { return load(h); }

void transform(const NhwcView& x, const PreOp& pre, const NhwcView& y) {
  const int64_t pixels = x.n * x.h * x.w;
  const bool plain_copy = pre.scale == nullptr && !pre.relu && x.storage == y.storage;
  if (plain_copy && x.pixel_stride == x.c && y.pixel_stride == y.c) {
    std::memcpy(y.data, x.data, static_cast<size_t>(pixels * x.c) * (x.storage == Storage::kF32 ? 4 : 2));
    return;
  }
#pragma omp parallel for schedule(static) if (pixels * x.c >= kParallelThreshold)
  for (int64_t p = 0; p < pixels; ++p) transform_pixel(x, pre, y, p, 0, x.c);
}

void pool2d(const NhwcView& x, const PreOp& pre, const PoolWindow& win, const NhwcView& y) {
  const int64_t rows = y.n * y.h;
  const int64_t padded_h = x.h + win.pad_bottom, padded_w = x.w + win.pad_right;
#pragma omp parallel for schedule(static) if (y.n * y.h * y.w * y.c * win.kernel_h * win.kernel_w >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / y.h, oy = row % y.h;
    alignas(64) float acc[kChunk];
    for (int64_t ox = 0; ox < y.w; ++ox) {
      for (int64_t c0 = 0; c0 < y.c; c0 += kChunk) {
        const int64_t cc = std::min(kChunk, y.c - c0);
        std::fill(acc, acc + cc, win.average ? 0.f : -std::numeric_limits<float>::infinity());
        int64_t real_taps = 0, padded_taps = 0;
        for (int64_t ky = 0; ky < win.kernel_h; ++ky) {
          const int64_t iy = oy * win.stride_h - win.pad_top + ky * win.dilation_h;
          if (iy < -win.pad_top || iy >= padded_h) continue;
          for (int64_t kx = 0; kx < win.kernel_w; ++kx) {
            const int64_t ix = ox * win.stride_w - win.pad_left + kx * win.dilation_w;
            if (ix < -win.pad_left || ix >= padded_w) continue;
            ++padded_taps;
            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
            ++real_taps;
            accumulate(x, pixel_offset(x, n, iy, ix) + c0, acc, pre, c0, !win.average, cc);
          }
        }
        float multiplier = 1.f;
        if (win.average) {
          const int64_t count = win.count_include_pad ? padded_taps : real_taps;
          multiplier = count > 0 ? 1.f / static_cast<float>(count) : 0.f;
        }
        store_acc(acc, y, pixel_offset(y, n, oy, ox) + c0, multiplier, cc);
      }
    }
  }
}

void classifier_head(const NhwcView& x, const PreOp& pre, const float* weight, const float* bias, int64_t k,
                     bool sigmoid, float* pooled, float* y) {
  const int64_t chunks = (x.c + kChunk - 1) / kChunk;
  const int64_t pixels = x.h * x.w;
  const float inv_pixels = 1.f / static_cast<float>(pixels);
#pragma omp parallel for schedule(static) if (x.n * x.c * pixels >= kParallelThreshold)
  for (int64_t job = 0; job < x.n * chunks; ++job) {
    const int64_t n = job / chunks, c0 = (job % chunks) * kChunk;
    const int64_t cc = std::min(kChunk, x.c - c0);
    alignas(64) float acc[kChunk];
    std::fill(acc, acc + cc, 0.f);
    for (int64_t p = 0; p < pixels; ++p) accumulate(x, (n * pixels + p) * x.pixel_stride + c0, acc, pre, c0, false, cc);
    for (int64_t i = 0; i < cc; ++i) pooled[n * x.c + c0 + i] = acc[i] * inv_pixels;
  }
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

void nchw_to_nhwc(const float* src, const NhwcView& dst) {
  const int64_t rows = dst.n * dst.h;
#pragma omp parallel for schedule(static) if (rows * dst.w * dst.c >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / dst.h, y = row % dst.h;
    for (int64_t x = 0; x < dst.w; ++x) {
      const int64_t out = pixel_offset(dst, n, y, x);
      for (int64_t c = 0; c < dst.c; ++c) {
        const float v = src[((n * dst.c + c) * dst.h + y) * dst.w + x];
        if (dst.storage == Storage::kF32) {
          static_cast<float*>(dst.data)[out + c] = v;
        } else {
          static_cast<uint16_t*>(dst.data)[out + c] = round_bf16(v);
        }
      }
    }
  }
}

void nhwc_to_nchw(const NhwcView& src, float* dst) {
  const int64_t rows = src.n * src.h;
#pragma omp parallel for schedule(static) if (rows * src.w * src.c >= kParallelThreshold)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / src.h, y = row % src.h;
    for (int64_t x = 0; x < src.w; ++x) {
      const int64_t in = pixel_offset(src, n, y, x);
      for (int64_t c = 0; c < src.c; ++c) {
        dst[((n * src.c + c) * src.h + y) * src.w + x] = src.storage == Storage::kF32
                                                             ? static_cast<const float*>(src.data)[in + c]
                                                             : load(static_cast<const uint16_t*>(src.data)[in + c]);
      }
    }
  }
}

}  // namespace chexrt::cpu
