// Engine's defaults: the benchmark (random inputs, warm-up, then host-timed infer() calls), and
// JPEG decoding, preprocessing and heat maps on the host.
#include <chrono>
#include <cstring>
#include <random>

#include "chexrt/engine.h"
#include "core/concatenated_input.h"
#include "core/heatmap_draw.h"
#include "core/image_preprocess.h"

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

Result<Dims> concatenated_dims(const Engine& engine, const std::vector<HostTensor>& parts) {
  if (engine.inputs().size() != 1) {
    return invalid_argument("a concatenated batch needs an engine with one input, this one has " +
                            std::to_string(engine.inputs().size()));
  }
  if (parts.empty()) return invalid_argument("a concatenated batch needs at least one part");
  Dims dims = parts[0].dims();
  if (dims.empty()) return invalid_argument("part 0 is a scalar, not rows");
  dims[0] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Dims& got = parts[i].dims();
    bool fits = parts[i].dtype() == parts[0].dtype() && got.size() == dims.size();
    for (size_t d = 1; fits && d < got.size(); ++d) fits = got[d] == dims[d];
    if (!fits) {
      return invalid_argument("part " + std::to_string(i) + " is " + dtype_name(parts[i].dtype()) + " " +
                              dims_to_string(got) + ", unlike part 0 (" + dtype_name(parts[0].dtype()) + " " +
                              dims_to_string(parts[0].dims()) + ")");
    }
    dims[0] += got[0];
  }
  return dims;
}

Status Engine::infer_concatenated(const std::vector<HostTensor>& parts, std::vector<HostTensor>* outputs) {
  CHEXRT_ASSIGN_OR_RETURN(const Dims dims, concatenated_dims(*this, parts));
  if (parts.size() == 1) return infer(parts, outputs);
  HostTensor input(parts[0].dtype(), dims);
  auto* dst = static_cast<uint8_t*>(input.raw());
  for (const HostTensor& part : parts) {
    if (part.nbytes() > 0) std::memcpy(dst, part.raw(), part.nbytes());
    dst += part.nbytes();
  }
  return infer({input}, outputs);
}

Status Engine::infer_images(const std::vector<ImageView>& images, const PreprocessOptions& options,
                            std::vector<HostTensor>* outputs) {
  CHEXRT_ASSIGN_OR_RETURN(const int64_t samples, preprocessing::check_image_batch(*this, images, options));
  const int crop = options.crop_size;
  HostTensor input(DataType::kFloat32, {samples, 3, crop, crop});
  const size_t image_size = static_cast<size_t>(samples_per_image(options)) * 3 * crop * crop;
  for (size_t i = 0; i < images.size(); ++i) {
    // JPEG views are decoded and PNG rows unfiltered here, one image at a time.
    Status s = preprocessing::preprocess_image(images[i], options, input.data<float>() + i * image_size);
    if (!s.ok()) return s.with_context("image " + std::to_string(i));
  }
  return infer({input}, outputs);
}

Status Engine::draw_heatmaps(const HostTensor& features, const HostTensor& weights,
                             const std::vector<HeatmapRequest>& requests, float max_alpha) {
  return heatmap_draw::draw_on_host(features, weights, requests, max_alpha);
}

}  // namespace chexrt
