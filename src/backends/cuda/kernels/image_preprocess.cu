#include "backends/cuda/kernels/image_preprocess.cuh"

#include "backends/cuda/kernels/device_util.cuh"

namespace chexrt::cuda {
namespace {

// core/image_preprocess.h's kPrecisionBits: PIL's 8-bit resampling precision.
constexpr int kPrecisionBits = 22;

__device__ __forceinline__ int clip_fixed(int acc) { return min(max(acc >> kPrecisionBits, 0), 255); }

// One block per (input row, image): the row is staged in shared memory once, then each thread
// makes output samples of the horizontal pass from it.
__global__ void resize_rows(const uint8_t* __restrict__ upload, const PreprocessImage* __restrict__ images,
                            const int32_t* __restrict__ tables, uint8_t* __restrict__ narrow) {
  extern __shared__ uint8_t row[];
  const PreprocessImage& im = images[blockIdx.y];
  const int r = blockIdx.x;
  if (r >= im.rows) return;
  const int ch = im.channels;
  const int row_bytes = im.width * ch;
  const uint8_t* src = upload + im.pixels + static_cast<long long>(im.first_row + r) * row_bytes;
  for (int i = threadIdx.x; i < row_bytes; i += blockDim.x) row[i] = src[i];
  __syncthreads();
  const int out_w = im.resized_width;
  const int32_t* first = tables + im.column_bank;
  const int32_t* count = first + out_w;
  const int32_t* weights = first + 2 * out_w;
  uint8_t* dst = narrow + im.narrow + static_cast<long long>(r) * out_w * ch;
  for (int o = threadIdx.x; o < out_w * ch; o += blockDim.x) {
    const int x = o / ch, c = o - x * ch;
    const int32_t* k = weights + x * im.column_taps;
    const uint8_t* s = row + first[x] * ch + c;
    int acc = 1 << (kPrecisionBits - 1);
    for (int i = 0; i < count[x]; ++i) acc += s[i * ch] * k[i];
    dst[o] = static_cast<uint8_t>(clip_fixed(acc));
  }
}

// One thread per crop pixel (blockIdx.y: image, blockIdx.z: its crop): the vertical pass at that
// pixel, then the three normalized channels (grey replicated, as convert('RGB') does).
__global__ void resize_columns_crop(const PreprocessImage* __restrict__ images, const int32_t* __restrict__ tables,
                                    const float* __restrict__ normalize, const uint8_t* __restrict__ narrow, int crop,
                                    float* __restrict__ out) {
  const PreprocessImage& im = images[blockIdx.y];
  const int k = blockIdx.z;
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (k >= im.num_crops || p >= crop * crop) return;
  const PreprocessCrop plan = im.crops[k];
  const int y = p / crop, x = p - y * crop;
  const int ry = plan.top + y;
  const int rx = plan.mirrored ? im.resized_width - 1 - (plan.left + x) : plan.left + x;
  const int out_h = im.resized_height;
  const int32_t* first = tables + im.row_bank;
  const int32_t* count = first + out_h;
  const int32_t* w = first + 2 * out_h + ry * im.row_taps;
  const int ch = im.channels;
  const long long stride = static_cast<long long>(im.resized_width) * ch;
  const uint8_t* src = narrow + im.narrow + (first[ry] - im.first_row) * stride + rx * ch;
  int value[3];
  for (int c = 0; c < ch; ++c) {
    int acc = 1 << (kPrecisionBits - 1);
    for (int i = 0; i < count[ry]; ++i) acc += src[i * stride + c] * w[i];
    value[c] = clip_fixed(acc);
  }
  float* sample = out + static_cast<long long>(im.first_sample + k) * 3 * crop * crop + p;
  for (int c = 0; c < 3; ++c)
    sample[static_cast<long long>(c) * crop * crop] = normalize[c * 256 + value[ch == 1 ? 0 : c]];
}

}  // namespace

cudaError_t launch_image_preprocess(const uint8_t* upload, const PreprocessImage* images, const int32_t* tables,
                                    const float* normalize, int num_images, int max_rows, int max_crops, int crop,
                                    uint8_t* narrow, float* out, cudaStream_t stream) {
  if (num_images <= 0) return cudaSuccess;
  const cudaError_t first = device::launch(resize_rows, dim3(max_rows, num_images), dim3(256), kMaxPreprocessRowBytes,
                                           stream, upload, images, tables, narrow);
  if (first != cudaSuccess) return first;
  constexpr int kThreads = 256;
  const dim3 grid((crop * crop + kThreads - 1) / kThreads, num_images, max_crops);
  return device::launch(resize_columns_crop, grid, dim3(kThreads), 0, stream, images, tables, normalize, narrow, crop,
                        out);
}

}  // namespace chexrt::cuda
