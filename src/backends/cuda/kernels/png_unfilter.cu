#include "backends/cuda/kernels/device_util.cuh"
#include "backends/cuda/kernels/png_unfilter.cuh"

namespace chexrt::cuda {
namespace {

// Each byte of a row depends on the byte bpp to its left (Sub, Average, Paeth) and on the bytes
// above and above-left (Up, Average, Paeth), so no two bytes of one row can be unfiltered at
// once; but row y's byte c needs nothing of row y + 1, and nothing of row y beyond c. The
// wavefront: thread r owns row r of a group of blockDim rows and unfilters its byte c at step
// r + c, when row r - 1 has just finished byte c (one __syncthreads per step). A 1024 x 1024
// grey X-ray takes 2047 steps instead of a million serial bytes.
//
// A thread keeps the last kRing bytes it unfiltered in shared memory, slot c % kRing: its own
// left neighbours (c - bpp, and c - 1 for 16-bit samples) and the row below's "above" bytes
// (c, c - bpp). At step s thread r writes slot c while thread r + 1 reads slots c - 1 and
// c - 1 - bpp of it, which differ from slot c as long as bpp + 1 < kRing. The first row of a
// later group reads the row above from `carry`, written by the previous group's last thread.
constexpr int kRing = 16;
constexpr int kRingPad = 4;  // per slot, so that neighbouring threads' slots spread over the banks

// The Paeth predictor (PNG spec 9.4), as core/png_rows.cpp computes it: ties prefer a, then b.
__device__ __forceinline__ int paeth(int a, int b, int c) {
  const int pa = abs(b - c);
  const int pb = abs(a - c);
  const int pc = abs(a + b - 2 * c);
  const int ab = pb < pa ? b : a;
  const int min_ab = pb < pa ? pb : pa;
  return pc < min_ab ? c : ab;
}

__global__ void png_unfilter(uint8_t* upload, const PngUnfilterImage* __restrict__ images, int* error) {
  extern __shared__ uint8_t ring[];  // [kRing][blockDim.x + kRingPad]
  const PngUnfilterImage im = images[blockIdx.x];
  const int r = threadIdx.x;
  const int group_rows = blockDim.x;
  const int slot_stride = group_rows + kRingPad;
  uint8_t* mine = ring + r;
  const uint8_t* above = ring + (r > 0 ? r - 1 : 0);
  const int bpp = im.bytes_per_pixel;
  const int row_bytes = im.width * bpp;
  const bool sixteen = im.bit_depth == 16;
  const int channels = im.channels;
  const uint8_t* rows = upload + im.rows;
  uint8_t* carry = upload + im.carry;
  for (int y0 = 0; y0 < im.height; y0 += group_rows) {
    const int rows_here = min(group_rows, im.height - y0);
    const int y = y0 + r;
    const bool active = r < rows_here;
    const uint8_t* src = rows + static_cast<long long>(y) * (row_bytes + 1);
    uint8_t* dst = upload + im.pixels + static_cast<long long>(y) * im.width * channels;
    int filter = active ? src[0] : 0;
    if (filter > 4) {
      if (atomicCAS(error, 0, im.index + 1) == 0) {
        error[1] = y;
        error[2] = filter;
      }
      filter = 0;
    }
    const bool from_carry = r == 0 && y0 > 0;
    const bool to_carry = r == group_rows - 1 && y0 + group_rows < im.height;
    int k = 0, pixel = 0;  // byte c is byte k of pixel `pixel`
    const int steps = rows_here + row_bytes - 1;
    for (int step = 0; step < steps; ++step) {
      const int c = step - r;
      if (active && c >= 0 && c < row_bytes) {
        const bool left = c >= bpp;
        const int slot = (c & (kRing - 1)) * slot_stride;
        const int left_slot = ((c - bpp) & (kRing - 1)) * slot_stride;
        const int a = left ? mine[left_slot] : 0;
        int b = 0, d = 0;  // above, above-left
        if (r > 0) {
          b = above[slot];
          d = left ? above[left_slot] : 0;
        } else if (from_carry) {
          b = carry[c];
          d = left ? carry[c - bpp] : 0;
        }
        const int x = src[1 + c];
        const int predicted = filter == 1   ? a
                              : filter == 2 ? b
                              : filter == 3 ? (a + b) >> 1
                              : filter == 4 ? paeth(a, b, d)
                                            : 0;
        const int v = (x + predicted) & 0xff;
        mine[slot] = static_cast<uint8_t>(v);
        if (to_carry) carry[c] = static_cast<uint8_t>(v);
        // A sample is complete at its last byte: 8-bit samples at once, 16-bit ones (big-endian)
        // at their low byte. Samples past `channels` (alpha) are dropped.
        const int sample = sixteen ? k >> 1 : k;
        if (sample < channels && (!sixteen || (k & 1))) {
          const int value = sixteen ? (2 * ((mine[((c - 1) & (kRing - 1)) * slot_stride] << 8) | v) + 257) / 514 : v;
          dst[pixel * channels + sample] = static_cast<uint8_t>(value);
        }
        if (++k == bpp) k = 0, ++pixel;
      }
      __syncthreads();
    }
  }
}

}  // namespace

cudaError_t launch_png_unfilter(uint8_t* upload, const PngUnfilterImage* images, int num_images, int* error,
                                cudaStream_t stream, int rows_per_block) {
  if (num_images <= 0) return cudaSuccess;
  if (rows_per_block < 32 || rows_per_block > kPngUnfilterRows || rows_per_block % 32 != 0) {
    return cudaErrorInvalidValue;
  }
  const size_t ring_bytes = static_cast<size_t>(kRing) * (rows_per_block + kRingPad);
  return device::launch(png_unfilter, dim3(num_images), dim3(rows_per_block), ring_bytes, stream, upload, images,
                        error);
}

}  // namespace chexrt::cuda
