#include "gpu_preprocess_util.h"

#include <gtest/gtest.h>

#include "backends/cuda/cuda_util.h"
#include "backends/cuda/image_input.h"

namespace chexrt::gputest {

GpuSamples preprocess_on_gpu(const std::vector<ImageView>& views, const PreprocessOptions& options,
                             cuda::JpegDecoder* decoder, int rounds) {
  const size_t count =
      static_cast<size_t>(samples_per_image(options)) * views.size() * 3 * options.crop_size * options.crop_size;
  GpuSamples result;
  result.samples.resize(count);
  cuda::DeviceBuffer out;
  EXPECT_TRUE(out.allocate(count * sizeof(float), "samples").ok());
  cudaStream_t stream = nullptr;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  cuda::ImagePreprocessor preprocessor;
  for (int round = 0; round < rounds; ++round) {
    cudaMemset(out.get(), 0xff, count * sizeof(float));  // NaN everywhere a kernel does not write
    result.status = preprocessor.enqueue(views, options, out.as<float>(), stream, decoder);
    EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
    if (result.status.ok()) result.status = preprocessor.unfilter_status();
    EXPECT_EQ(cudaMemcpy(result.samples.data(), out.get(), count * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
  }
  cudaStreamDestroy(stream);
  return result;
}

}  // namespace chexrt::gputest
