#include "backends/cuda/heatmap_renderer.h"

#include <algorithm>
#include <cstring>

#include "backends/cuda/kernels/heatmap.cuh"
#include "core/heatmap_draw.h"

namespace chexrt::cuda {
namespace {

size_t align16(size_t n) { return (n + 15) & ~size_t{15}; }

// Grows `buffer` to at least `bytes`, by half again to limit reallocations.
template <class Buffer>
Status grow(Buffer& buffer, size_t bytes, const char* what) {
  if (buffer.bytes() >= bytes) return Status::ok_status();
  return buffer.allocate(std::max(bytes, buffer.bytes() + buffer.bytes() / 2), what);
}

}  // namespace

Result<std::unique_ptr<HeatmapRenderer>> HeatmapRenderer::create() {
  std::unique_ptr<HeatmapRenderer> r(new HeatmapRenderer);
  CHEXRT_CUDA_TRY(cudaStreamCreateWithFlags(&r->stream_, cudaStreamNonBlocking), "creating a heat-map stream");
  // The pipeline's pool threads call this beside the decoders, more threads than cores: a thread
  // that waits for the GPU should give its core up rather than spin.
  CHEXRT_CUDA_TRY(cudaEventCreateWithFlags(&r->done_, cudaEventDisableTiming | cudaEventBlockingSync),
                  "creating a heat-map event");
  return r;
}

HeatmapRenderer::~HeatmapRenderer() {
  if (stream_) cudaStreamSynchronize(stream_);
  if (done_) cudaEventDestroy(done_);
  if (stream_) cudaStreamDestroy(stream_);
}

Status HeatmapRenderer::draw(const HostTensor& features, const HostTensor& weights,
                             const std::vector<HeatmapRequest>& requests, float max_alpha) {
  CHEXRT_RETURN_IF_ERROR(heatmap_draw::check_requests(features, weights, requests, max_alpha));
  if (max_alpha != max_alpha_) {
    const std::vector<heatmap_draw::Blend> blends = heatmap_draw::blend_table(max_alpha);
    blend_bytes_.resize(blends.size() * sizeof(heatmap_draw::Blend));
    std::memcpy(blend_bytes_.data(), blends.data(), blend_bytes_.size());
    max_alpha_ = max_alpha;
  }
  for (size_t first = 0; first < requests.size(); first += kMaxJobs) {
    CHEXRT_RETURN_IF_ERROR(
        draw_some(features, weights, requests.data() + first, std::min(kMaxJobs, requests.size() - first)));
  }
  return Status::ok_status();
}

Status HeatmapRenderer::draw_some(const HostTensor& features, const HostTensor& weights, const HeatmapRequest* requests,
                                  size_t n) {
  const Dims& f = features.dims();
  const int64_t channels = f[1];
  const int64_t cells = f[2] * f[3];
  const size_t feature_floats = static_cast<size_t>(channels * cells);

  // The upload: descriptors, blend table, each request's feature rows and classifier row, then
  // the X-rays. The output: each heat map's RGB.
  std::vector<HeatmapJob> jobs(n);
  size_t floats = 0, pixel_bytes = 0, out_bytes = 0;
  int max_height = 0;
  for (size_t k = 0; k < n; ++k) {
    const HeatmapRequest& r = requests[k];
    HeatmapJob& j = jobs[k];
    j.width = r.image.width, j.height = r.image.height, j.channels = r.image.channels;
    j.x0 = r.x0, j.y0 = r.y0, j.x1 = r.x1, j.y1 = r.y1;
    j.features = static_cast<int>(floats);
    j.weights = static_cast<int>(floats + feature_floats);
    floats += feature_floats + static_cast<size_t>(channels);
    j.image = static_cast<long long>(pixel_bytes);
    pixel_bytes = align16(pixel_bytes + static_cast<size_t>(j.width) * j.height * j.channels);
    j.out = static_cast<long long>(out_bytes);
    out_bytes = align16(out_bytes + static_cast<size_t>(j.width) * j.height * 3);
    max_height = std::max(max_height, j.height);
  }
  const size_t blends_at = align16(n * sizeof(HeatmapJob));
  const size_t floats_at = align16(blends_at + blend_bytes_.size());
  const size_t pixels_at = align16(floats_at + floats * sizeof(float));
  const size_t total = pixels_at + pixel_bytes;
  const size_t scratch_floats = n * static_cast<size_t>(cells) + 2 * n;
  CHEXRT_RETURN_IF_ERROR(grow(staging_, total, "pinned heat-map staging"));
  CHEXRT_RETURN_IF_ERROR(grow(upload_, total, "heat-map upload"));
  CHEXRT_RETURN_IF_ERROR(grow(scratch_, scratch_floats * sizeof(float), "activation maps"));
  CHEXRT_RETURN_IF_ERROR(grow(out_, out_bytes, "heat maps"));

  auto* host = static_cast<uint8_t*>(staging_.get());
  std::memcpy(host, jobs.data(), n * sizeof(HeatmapJob));
  std::memcpy(host + blends_at, blend_bytes_.data(), blend_bytes_.size());
  auto* host_floats = reinterpret_cast<float*>(host + floats_at);
  for (size_t k = 0; k < n; ++k) {
    const HeatmapRequest& r = requests[k];
    std::memcpy(host_floats + jobs[k].features, features.data<float>() + r.sample * feature_floats,
                feature_floats * sizeof(float));
    std::memcpy(host_floats + jobs[k].weights, weights.data<float>() + r.class_index * channels,
                channels * sizeof(float));
    std::memcpy(host + pixels_at + jobs[k].image, r.image.pixels,
                static_cast<size_t>(r.image.width) * r.image.height * r.image.channels);
  }
  auto* dev = upload_.as<uint8_t>();
  CHEXRT_CUDA_TRY(cudaMemcpyAsync(dev, host, total, cudaMemcpyHostToDevice, stream_), "uploading heat-map inputs");
  float* maps = scratch_.as<float>();
  CHEXRT_RETURN_IF_ERROR(
      check_cuda(launch_heatmaps(dev + pixels_at, reinterpret_cast<const HeatmapJob*>(dev),
                                 reinterpret_cast<const float*>(dev + floats_at),
                                 reinterpret_cast<const heatmap_draw::Blend*>(dev + blends_at), static_cast<int>(n),
                                 static_cast<int>(channels), static_cast<int>(f[3]), static_cast<int>(f[2]), max_height,
                                 maps, maps + n * static_cast<size_t>(cells), out_.as<uint8_t>(), stream_),
                 "drawing heat maps on the GPU"));
  // Pixels asked for are copied back as they are; PNGs are encoded first, and only they come back.
  std::vector<PngEncoder::Image> pngs;
  bool pixels = false;
  for (size_t k = 0; k < n; ++k) {
    if (requests[k].png) {
      pngs.push_back({jobs[k].out, jobs[k].width, jobs[k].height, 3, requests[k].png});
    } else {
      pixels = true;
    }
  }
  if (pixels) CHEXRT_RETURN_IF_ERROR(grow(result_, out_bytes, "pinned heat maps"));
  auto* result = static_cast<uint8_t*>(result_.get());
  for (size_t k = 0; k < n; ++k) {
    if (requests[k].png) continue;
    CHEXRT_CUDA_TRY(
        cudaMemcpyAsync(result + jobs[k].out, out_.as<uint8_t>() + jobs[k].out,
                        static_cast<size_t>(jobs[k].width) * jobs[k].height * 3, cudaMemcpyDeviceToHost, stream_),
        "copying heat maps back");
  }
  if (!pngs.empty()) {
    // Waits for the stream, the copies above included.
    CHEXRT_RETURN_IF_ERROR(png_encoder_.encode(out_.as<uint8_t>(), pngs, stream_, done_));
  } else {
    CHEXRT_CUDA_TRY(cudaEventRecord(done_, stream_), "drawing heat maps on the GPU");
    CHEXRT_CUDA_TRY(cudaEventSynchronize(done_), "drawing heat maps on the GPU");
  }
  for (size_t k = 0; k < n; ++k) {
    if (requests[k].png) continue;
    std::memcpy(requests[k].out, result + jobs[k].out, static_cast<size_t>(jobs[k].width) * jobs[k].height * 3);
  }
  return Status::ok_status();
}

}  // namespace chexrt::cuda
