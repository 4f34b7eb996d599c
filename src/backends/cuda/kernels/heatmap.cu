// Compiled with --fmad=false (src/backends/cuda/CMakeLists.txt): core/heatmap_draw.h's functions
// must round each multiply and add separately, as the host does.
#include "backends/cuda/kernels/heatmap.cuh"

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {
namespace {

constexpr int kThreads = 256;

// One block per heat map: its activation map (each cell summed over the channels in order, as
// heatmap_draw::activation_map does), then its minimum and range (exact in any order).
__global__ void activation_maps(const HeatmapJob* __restrict__ jobs, const float* __restrict__ floats, int channels,
                                int cells, float* __restrict__ maps, float* __restrict__ stats) {
  const HeatmapJob& job = jobs[blockIdx.x];
  const float* f = floats + job.features;
  const float* w = floats + job.weights;
  float* map = maps + static_cast<long long>(blockIdx.x) * cells;
  for (int i = threadIdx.x; i < cells; i += blockDim.x) {
    float sum = 0.0f;
    // Unrolled so that many loads are in flight at once; the adds still go in channel order.
#pragma unroll 16
    for (int c = 0; c < channels; ++c) sum += w[c] * f[static_cast<long long>(c) * cells + i];
    map[i] = sum;
  }
  __syncthreads();
  __shared__ float lows[kThreads], highs[kThreads];
  float lo = map[0], hi = map[0];
  for (int i = threadIdx.x; i < cells; i += blockDim.x) {
    lo = fminf(lo, map[i]);
    hi = fmaxf(hi, map[i]);
  }
  lows[threadIdx.x] = lo;
  highs[threadIdx.x] = hi;
  __syncthreads();
  for (int half = blockDim.x / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) {
      lows[threadIdx.x] = fminf(lows[threadIdx.x], lows[threadIdx.x + half]);
      highs[threadIdx.x] = fmaxf(highs[threadIdx.x], highs[threadIdx.x + half]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    stats[2 * blockIdx.x] = lows[0];
    stats[2 * blockIdx.x + 1] = highs[0] - lows[0];
  }
}

// One block per (row, heat map): the row's tap once, then each thread a pixel at a time, as
// heatmap_draw::draw() does on the host (which upsamples each map row along x once instead: the
// same function of the same values).
__global__ void draw_rows(const uint8_t* __restrict__ upload, const HeatmapJob* __restrict__ jobs,
                          const heatmap_draw::Blend* __restrict__ blends, const float* __restrict__ maps,
                          const float* __restrict__ stats, int map_width, int map_height, uint8_t* __restrict__ out) {
  using namespace heatmap_draw;
  const HeatmapJob& job = jobs[blockIdx.y];
  const int y = blockIdx.x;
  if (y >= job.height) return;
  const float lo = stats[2 * blockIdx.y];
  const float range = stats[2 * blockIdx.y + 1];
  const Tap ty = tap(y, job.y0, job.y1, map_height);
  const bool row_coloured = range > 0.0f && ty.inside;
  const float* map = maps + static_cast<long long>(blockIdx.y) * map_width * map_height;
  const float* top = map + ty.i0 * map_width;
  const float* bottom = map + ty.i1 * map_width;
  const int ch = job.channels;
  const uint8_t* in = upload + job.image + static_cast<long long>(y) * job.width * ch;
  uint8_t* p = out + job.out + static_cast<long long>(y) * job.width * 3;
  for (int x = threadIdx.x; x < job.width; x += blockDim.x) {
    const float g = grey(in + x * ch, ch);
    const Tap tx = tap(x, job.x0, job.x1, map_width);
    if (!row_coloured || !tx.inside) {
      p[3 * x] = p[3 * x + 1] = p[3 * x + 2] = to_byte(g);
      continue;
    }
    const float upper = stretch(top[tx.i0], top[tx.i1], tx.a, lo, range);
    const float lower = stretch(bottom[tx.i0], bottom[tx.i1], tx.a, lo, range);
    const Blend& b = blends[level(upper, lower, ty.a)];
    for (int c = 0; c < 3; ++c) p[3 * x + c] = blend(b, g, c);
  }
}

}  // namespace

cudaError_t launch_heatmaps(const uint8_t* upload, const HeatmapJob* jobs, const float* floats,
                            const heatmap_draw::Blend* blends, int num_jobs, int channels, int map_width,
                            int map_height, int max_height, float* maps, float* stats, uint8_t* out,
                            cudaStream_t stream) {
  if (num_jobs <= 0) return cudaSuccess;
  const cudaError_t first = device::launch(activation_maps, dim3(num_jobs), dim3(kThreads), 0, stream, jobs, floats,
                                           channels, map_width * map_height, maps, stats);
  if (first != cudaSuccess) return first;
  return device::launch(draw_rows, dim3(max_height, num_jobs), dim3(kThreads), 0, stream, upload, jobs, blends, maps,
                        stats, map_width, map_height, out);
}

}  // namespace chexrt::cuda
