// Engine's defaults: the benchmark (random inputs, warm-up, then host-timed infer() calls), and
// JPEG decoding, preprocessing and heat maps on the host.
#include <chrono>
#include <random>

#include "chexrt/engine.h"
#include "core/heatmap_draw.h"
#include "core/image_preprocess.h"
#include "core/jpeg_decode.h"

namespace chexrt {

std::vector<HostTensor> random_inputs(const Engine& engine, int64_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<HostTensor> inputs;
  for (const TensorInfo& info : engine.inputs()) {
    Dims dims = info.dims;
    if (!dims.empty()) dims[0] = batch;
    HostTensor t(info.dtype, dims);
    if (info.dtype == DataType::kFloat32) {
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = normal(rng);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

Result<BenchmarkResult> Engine::benchmark(const BenchmarkOptions& options) {
  if (options.batch < 1 || options.batch > max_batch()) {
    return invalid_argument("batch " + std::to_string(options.batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch()));
  }
  if (options.cuda.split > 1) {
    return unsupported("splitting a batch into concurrent sub-batches needs the CUDA backend");
  }
  const std::vector<HostTensor> inputs = random_inputs(*this, options.batch);
  std::vector<HostTensor> outputs;
  for (int i = 0; i < options.warmup; ++i) CHEXRT_RETURN_IF_ERROR(infer(inputs, &outputs));
  BenchmarkResult result;
  double total = 0;
  for (int i = 0; i < options.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    CHEXRT_RETURN_IF_ERROR(infer(inputs, &outputs));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    result.latency_ms.push_back(ms);
    result.compute_ms.push_back(ms);
    total += ms;
  }
  result.throughput = total > 0 ? options.batch * options.iterations * 1000.0 / total : 0;
  result.notes = "host-timed infer() on " + backend_name();
  return result;
}

Status Engine::infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                            std::vector<HostTensor>* outputs) {
  CHEXRT_ASSIGN_OR_RETURN(const int64_t samples, preprocessing::check_image_batch(*this, images, options));
  const int crop = options.crop_size;
  HostTensor input(DataType::kFloat32, {samples, 3, crop, crop});
  const size_t image_size = static_cast<size_t>(samples_per_image(options)) * 3 * crop * crop;
  for (size_t i = 0; i < images.size(); ++i) {
    const std::string name = "image " + std::to_string(i);
    Image8 decoded;  // a JPEG view's pixels, one image at a time
    ImageView view = images[i];
    if (is_jpeg(view)) {
      Result<Image8> pixels = jpeg::decode_view(view);
      if (!pixels.ok()) return pixels.status().with_context(name);
      decoded = std::move(*pixels);
      view = view_of(decoded);
    }
    Status s = preprocessing::preprocess_image(view, options, input.data<float>() + i * image_size);
    if (!s.ok()) return s.with_context(name);
  }
  return infer({input}, outputs);
}

Status Engine::draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                             const std::vector<HeatmapRequest>& requests, float max_alpha) {
  return heatmap_draw::draw_on_host(features, weights, requests, max_alpha);
}

}  // namespace chexrt
