#include "server/model_server.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_io.h"
#include "app/preprocess.h"

namespace chexrt::server {

const char* const kDemoModelWarning =
    "Untrained demo model with seeded weights: its outputs are not findings. Not for diagnosis.";

namespace {

constexpr int kNoHeatmap = -3;
constexpr int kTopFinding = -2;
constexpr int kAllFindings = -1;

void append_bytes_element(std::string* data, const void* bytes, size_t size) {
  const uint32_t n = static_cast<uint32_t>(size);
  const unsigned char length[4] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                                   static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 24)};
  data->append(reinterpret_cast<const char*>(length), 4);
  data->append(static_cast<const char*>(bytes), size);
}

// The BYTES elements of `data` (4-byte little-endian length, then the bytes), `count` of them.
Result<std::vector<std::pair<const uint8_t*, size_t>>> split_bytes_elements(const std::string& data, int64_t count,
                                                                            const std::string& field) {
  std::vector<std::pair<const uint8_t*, size_t>> elements;
  size_t at = 0;
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  while (at < data.size()) {
    if (data.size() - at < 4) return invalid_argument(field + ": a BYTES element's 4-byte length is cut short");
    const uint32_t n =
        bytes[at] | bytes[at + 1] << 8 | bytes[at + 2] << 16 | static_cast<uint32_t>(bytes[at + 3]) << 24;
    at += 4;
    if (n > data.size() - at) {
      return invalid_argument(field + ": BYTES element " + std::to_string(elements.size()) + " says " +
                              std::to_string(n) + " bytes but only " + std::to_string(data.size() - at) + " remain");
    }
    elements.emplace_back(bytes + at, n);
    at += n;
  }
  if (static_cast<int64_t>(elements.size()) != count) {
    return invalid_argument(field + ": the shape holds " + std::to_string(count) + " elements but the data " +
                            std::to_string(elements.size()));
  }
  return elements;
}

std::string shape_string(const std::vector<int64_t>& shape) { return dims_to_string(shape); }

FailureReason reason_of(const Status& status, bool stopping) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return FailureReason::kInvalidArgument;
    case StatusCode::kNotFound:
      return FailureReason::kNotFound;
    case StatusCode::kUnavailable:
      return stopping ? FailureReason::kShuttingDown : FailureReason::kQueueFull;
    case StatusCode::kDeadlineExceeded:
      return FailureReason::kTimeout;
    default:
      return FailureReason::kInternal;
  }
}

}  // namespace

// A fixed set of threads running a bounded queue of tasks: decoding never holds more than
// `capacity` requests' files waiting.
class ModelServer::DecodePool {
 public:
  DecodePool(int threads, size_t capacity) : capacity_(capacity) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
  }
  ~DecodePool() { shutdown(); }

  bool submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_ || tasks_.size() >= capacity_) return false;
      tasks_.push_back(std::move(task));
    }
    changed_.notify_one();
    return true;
  }
  // Runs every queued task, then joins.
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  size_t capacity_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

struct ModelServer::Job {
  enum class Kind { kTensor, kPixels, kFiles };
  InferRequest request;  // its input's data moved to the fields below
  std::function<void(Result<InferResponse>)> done;
  Clock::time_point start;
  Clock::time_point deadline = Clock::time_point::max();
  Kind kind = Kind::kTensor;
  PreprocessOptions preprocess;
  HostTensor tensor;                           // kTensor: float32 (or float16, see fp16_inputs_) [N, 3, crop, crop]
  std::string data;                            // kPixels: the pixels; kFiles: the BYTES elements
  std::string file_name;                       // kFiles: prefixes decoding errors
  std::vector<Image8> decoded;                 // kFiles
  std::vector<std::vector<uint8_t>> png_rows;  // kFiles: PNGs handed to the engine as filtered rows
  std::vector<ImageView> images;               // kPixels, kFiles
  int heatmap = kNoHeatmap;                    // kTopFinding, kAllFindings or a finding's index
  bool want_probabilities = true;
  bool want_image_size = false;
  int64_t file_count = 0;  // kFiles
};

ModelServer::ModelServer(ModelServerOptions options, MetricsRegistry& metrics)
    : options_(std::move(options)), registry_(metrics), metrics_(metrics, options_.name) {}

ModelServer::~ModelServer() {
  shutdown();
  if (gpu_gauges_ >= 0) registry_.remove_collector(gpu_gauges_);
}

Status ModelServer::start(ModelInstances instances) {
  if (instances.engines.empty() || !instances.engines[0]) return invalid_argument("the model server needs an engine");
  const Engine& engine = *instances.engines[0];
  if (engine.inputs().size() != 1 || engine.inputs()[0].dims.size() != 4 || engine.inputs()[0].dims[1] != 3 ||
      engine.inputs()[0].dims[2] != engine.inputs()[0].dims[3]) {
    return invalid_argument("the served model must take one float32 input [N, 3, S, S]");
  }
  if (engine.outputs().empty() || engine.outputs()[0].dims.size() != 2 ||
      engine.outputs()[0].dims[1] != app::kNumFindings) {
    return invalid_argument("the served model's first output must be [N, 14] findings");
  }
  if (!instances.cam_weights.empty() && engine.outputs().size() < 2) {
    return invalid_argument("heat maps need the feature map as the engine's second output");
  }
  input_dims_ = engine.inputs()[0].dims;
  PreprocessOptions check;
  check.resize_size = options_.resize_size;
  check.crop_size = static_cast<int>(input_dims_[2]);
  CHEXRT_RETURN_IF_ERROR(validate(check));
  fp16_inputs_ = true;
  for (const auto& e : instances.engines) fp16_inputs_ = fp16_inputs_ && e && e->accepts_fp16_inputs();
  CHEXRT_ASSIGN_OR_RETURN(batcher_, DynamicBatcher::create(instances.engines, options_.batcher, &metrics_));
  instances_ = std::move(instances);
  if (runs_on_gpu()) {
    std::vector<int> gpus = instances_.gpus.empty() ? std::vector<int>{0} : instances_.gpus;
    std::sort(gpus.begin(), gpus.end());
    gpus.erase(std::unique(gpus.begin(), gpus.end()), gpus.end());
    gpu_gauges_ = add_gpu_memory_gauges(registry_, gpus);
  }
  const int threads = options_.decode_threads > 0 ? options_.decode_threads
                                                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  decoders_ = std::make_unique<DecodePool>(threads, options_.batcher.max_queue);
  ready_ = true;
  return Status::ok_status();
}

void ModelServer::shutdown() {
  ready_ = false;
  stopping_ = true;
  // Files being decoded go to the batcher, so the pool drains first.
  if (decoders_) decoders_->shutdown();
  if (batcher_) batcher_->shutdown();
}

std::string ModelServer::backend() const {
  return instances_.engines.empty() ? "" : instances_.engines[0]->backend_name();
}

bool ModelServer::runs_on_gpu() const {
  // "cuda", or "segmented(cuda,reference)" for a graph with nodes that fall back.
  return backend().find("cuda") != std::string::npos;
}

bool ModelServer::heatmaps_available() const { return !instances_.cam_weights.empty(); }

ServerMetadata ModelServer::server_metadata() const {
  ServerMetadata m;
  m.name = "chexrt";
#ifdef CHEXRT_VERSION_STRING
  m.version = CHEXRT_VERSION_STRING;
#endif
  m.extensions = {"binary_tensor_data", "model_repository_health"};
  return m;
}

Status ModelServer::check_model(const std::string& name, const std::string& version) const {
  if (name != options_.name)
    return not_found("model '" + name + "' not found (this server serves '" + options_.name + "')");
  if (!version.empty() && version != options_.version) {
    return not_found("model '" + name + "' has no version '" + version + "' (it has '" + options_.version + "')");
  }
  return Status::ok_status();
}

Result<ModelMetadata> ModelServer::model_metadata(const std::string& name, const std::string& version) const {
  CHEXRT_RETURN_IF_ERROR(check_model(name, version));
  ModelMetadata m;
  m.name = options_.name;
  m.versions = {options_.version};
  const std::string backend_word = backend().substr(0, backend().find('-'));
  m.platform = "chexrt_" + (backend_word.empty() ? std::string("pending") : backend_word);
  const int64_t crop = input_dims_.empty() ? 224 : input_dims_[2];
  m.inputs = {{"image", DataType::kFp32, {-1, 3, crop, crop}}, {"image_bytes", DataType::kBytes, {-1}}};
  m.outputs = {{"probabilities", DataType::kFp32, {-1, app::kNumFindings}}};
  m.demo_model = options_.demo_model;
  return m;
}

Result<bool> ModelServer::model_ready(const std::string& name, const std::string& version) const {
  CHEXRT_RETURN_IF_ERROR(check_model(name, version));
  return ready();
}

Status ModelServer::prepare(const InferRequest& request, Job* job) const {
  CHEXRT_RETURN_IF_ERROR(check_model(request.model_name, request.model_version));
  if (!ready()) {
    return unavailable(stopping_ ? "the server is shutting down"
                                 : "model '" + options_.name + "' is not ready (its engine is being built or loaded)");
  }
  if (request.inputs.size() != 1) {
    return invalid_argument("inputs: the model takes exactly one input ('image' or 'image_bytes'), not " +
                            std::to_string(request.inputs.size()));
  }
  const Tensor& in = request.inputs[0];
  const std::string field = "inputs[0] ('" + in.name + "')";
  job->preprocess.resize_size = options_.resize_size;
  job->preprocess.crop_size = static_cast<int>(input_dims_[2]);
  if (auto it = request.parameters.find("mode"); it != request.parameters.end()) {
    if (it->second != "crop" && it->second != "exact" && it->second != "tencrop") {
      return invalid_argument("parameters.mode must be crop, exact or tencrop, not '" + it->second + "'");
    }
    CHEXRT_ASSIGN_OR_RETURN(job->preprocess.mode, app::parse_resize_mode(it->second));
  }
  if (auto it = request.parameters.find("filename"); it != request.parameters.end()) job->file_name = it->second;
  if (auto it = request.parameters.find("heatmap"); it != request.parameters.end() && !it->second.empty()) {
    const std::string& h = it->second;
    if (h == "1" || h == "true" || h == "top") {
      job->heatmap = kTopFinding;
    } else if (h == "all") {
      job->heatmap = kAllFindings;
    } else if (h != "0" && h != "false") {
      auto index = app::finding_index(h);
      if (!index.ok()) return invalid_argument("parameters.heatmap: " + index.status().message());
      job->heatmap = *index;
    }
  }
  const bool image_input = in.name == "image_bytes" || (in.name == "image" && in.datatype == DataType::kUint8);
  if (!request.requested_outputs.empty()) {
    job->want_probabilities = false;
    for (const std::string& name : request.requested_outputs) {
      if (name == "probabilities") {
        job->want_probabilities = true;
      } else if (image_input && name == "image_size") {
        job->want_image_size = true;
      } else if (!(image_input && job->heatmap != kNoHeatmap && (name == "heatmap_png" || name == "heatmap_finding"))) {
        return invalid_argument("outputs: unknown output '" + name + "' (the model gives 'probabilities'" +
                                (image_input ? ", 'image_size', and with parameters.heatmap 'heatmap_png' and "
                                               "'heatmap_finding')"
                                             : ")"));
      }
    }
  }
  if (job->heatmap != kNoHeatmap) {
    if (!image_input) {
      return invalid_argument("parameters.heatmap: heat maps need images ('image' as UINT8 or 'image_bytes')");
    }
    if (!heatmaps_available()) {
      return invalid_argument("parameters.heatmap: this server has no heat maps (an engine file was served)");
    }
  }

  if (in.name == "image_bytes") {
    if (in.datatype != DataType::kBytes) {
      return invalid_argument(field + ".datatype must be BYTES, not " + datatype_name(in.datatype));
    }
    int64_t count = 1;
    for (int64_t d : in.shape) count *= d;
    if (in.shape.empty() || count < 1) {
      return invalid_argument(field + ".shape must be [N] with N >= 1, not " + shape_string(in.shape));
    }
    CHEXRT_RETURN_IF_ERROR(split_bytes_elements(in.data, count, field + ".data").status());
    job->kind = Job::Kind::kFiles;
    job->file_count = count;
    return Status::ok_status();
  }
  if (in.name != "image") {
    return invalid_argument("inputs[0].name: unknown input '" + in.name +
                            "' (the model takes 'image' or 'image_bytes')");
  }
  if (in.datatype == DataType::kFp32 || in.datatype == DataType::kFp16) {
    if (in.shape.size() != 4 || in.shape[0] < 1 || in.shape[1] != input_dims_[1] || in.shape[2] != input_dims_[2] ||
        in.shape[3] != input_dims_[3]) {
      return invalid_argument(field + ".shape must be [N, 3, " + std::to_string(input_dims_[2]) + ", " +
                              std::to_string(input_dims_[3]) + "] for " + datatype_name(in.datatype) + ", not " +
                              shape_string(in.shape));
    }
    job->kind = Job::Kind::kTensor;
    return Status::ok_status();
  }
  if (in.datatype == DataType::kUint8) {
    const bool grey = in.shape.size() == 3;
    if ((!grey && (in.shape.size() != 4 || in.shape[3] != 3)) || in.shape[0] < 1 || in.shape[1] < 1 ||
        in.shape[2] < 1) {
      return invalid_argument(field + ".shape must be [N, H, W] (grey) or [N, H, W, 3] (RGB) for UINT8, not " +
                              shape_string(in.shape));
    }
    if (in.shape[1] * in.shape[2] > kMaxImagePixels) {
      return invalid_argument(field + ".shape: images of " + std::to_string(in.shape[1] * in.shape[2]) +
                              " pixels are above the limit of " + std::to_string(kMaxImagePixels));
    }
    job->kind = Job::Kind::kPixels;
    return Status::ok_status();
  }
  return invalid_argument(field + ".datatype must be FP32, FP16 or UINT8 for 'image', not " +
                          datatype_name(in.datatype));
}

void ModelServer::infer_async(InferRequest request, std::function<void(Result<InferResponse>)> done) {
  auto job = std::make_shared<Job>();
  job->start = Clock::now();
  job->done = std::move(done);
  Status status = prepare(request, job.get());
  if (!status.ok()) {
    job->request = std::move(request);
    finish(job, status);
    return;
  }
  const auto timeout = request.timeout.count() > 0
                           ? request.timeout
                           : std::chrono::duration_cast<std::chrono::microseconds>(options_.default_timeout);
  if (timeout.count() > 0) job->deadline = job->start + timeout;
  Tensor input = std::move(request.inputs[0]);
  request.inputs.clear();
  job->request = std::move(request);
  if (job->kind == Job::Kind::kTensor) {
    const int64_t count = num_elements(input.shape);
    const size_t element = input.datatype == DataType::kFp16 ? 2 : 4;
    if (input.data.size() != static_cast<size_t>(count) * element) {
      finish(job, invalid_argument("inputs[0] ('image').data holds " + std::to_string(input.data.size()) +
                                   " bytes; shape " + shape_string(input.shape) + " of " +
                                   datatype_name(input.datatype) + " needs " + std::to_string(count * element)));
      return;
    }
    // FP16 stays FP16 where every instance takes it (uploaded as it is, widened on the GPU).
    const bool keep_half = input.datatype == DataType::kFp16 && fp16_inputs_;
    if (input.datatype == DataType::kFp32 || keep_half) {
      // The request's bytes become the tensor as they are (no copy: 4.8 MB for 16 FP16 images).
      auto bytes = std::make_shared<std::string>(std::move(input.data));
      job->tensor = HostTensor::wrap(keep_half ? chexrt::DataType::kFloat16 : chexrt::DataType::kFloat32, input.shape,
                                     bytes->data(), bytes);
    } else {
      job->tensor = HostTensor(chexrt::DataType::kFloat32, input.shape);
      float* out = job->tensor.data<float>();
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, input.data.data() + 2 * i, 2);
        out[i] = half_to_float(h);
      }
    }
    submit(job);
  } else if (job->kind == Job::Kind::kPixels) {
    const int64_t n = input.shape[0], height = input.shape[1], width = input.shape[2];
    const int channels = input.shape.size() == 4 ? 3 : 1;
    const size_t image_bytes = static_cast<size_t>(height * width * channels);
    if (input.data.size() != image_bytes * n) {
      finish(job,
             invalid_argument("inputs[0] ('image').data holds " + std::to_string(input.data.size()) + " bytes; shape " +
                              shape_string(input.shape) + " of UINT8 needs " + std::to_string(image_bytes * n)));
      return;
    }
    job->data = std::move(input.data);
    for (int64_t i = 0; i < n; ++i) {
      job->images.push_back({reinterpret_cast<const uint8_t*>(job->data.data()) + i * image_bytes,
                             static_cast<int>(width), static_cast<int>(height), channels});
    }
    submit(job);
  } else {
    job->data = std::move(input.data);
    if (!decoders_->submit([this, job] { decode_and_submit(job); })) {
      finish(job, unavailable(stopping_ ? "the server is shutting down"
                                        : "the decoding queue is full (" + std::to_string(options_.batcher.max_queue) +
                                              " requests waiting)"));
    }
  }
}

void ModelServer::decode_and_submit(const std::shared_ptr<Job>& job) {
  auto split = split_bytes_elements(job->data, job->file_count, "inputs[0] ('image_bytes').data");
  if (!split.ok()) {
    finish(job, split.status());
    return;
  }
  const auto& files = *split;
  // An engine that unfilters PNG rows on its device gets the PNGs inflated only: the serial
  // unfiltering, half of a PNG's decoding on a core, runs on the GPU. Heat maps are drawn over
  // the pixels, so they need the full decode here.
  const bool png_rows = job->heatmap == kNoHeatmap && instances_.engines[0]->unfilters_png_on_device();
  job->decoded.reserve(files.size());
  job->png_rows.reserve(files.size());
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string name = !job->file_name.empty() && files.size() == 1
                                 ? job->file_name
                                 : "inputs[0] ('image_bytes') element " + std::to_string(i);
    Status status;
    try {
      Result<ImageView> rows = unsupported("");
      if (png_rows) {
        job->png_rows.emplace_back();
        rows = app::inflate_png_rows(files[i].first, files[i].second, &job->png_rows.back());
        if (!rows.ok()) job->png_rows.pop_back();
      }
      if (rows.ok()) {
        job->images.push_back(*rows);
      } else {
        // Any other file, or a PNG the fast path refuses: decode_image8 gives the verdict.
        Result<Image8> image = app::decode_image8(files[i].first, files[i].second, name);
        status = image.status();
        if (status.ok()) {
          job->decoded.push_back(std::move(image).value());
          job->images.push_back(view_of(job->decoded.back()));
        }
      }
    } catch (const std::bad_alloc&) {
      status = runtime_error(name + ": out of memory while decoding");
    }
    if (!status.ok()) {
      finish(job, status.code() == StatusCode::kRuntimeError ? status : invalid_argument(status.message()));
      return;
    }
  }
  job->data = std::string();  // the encoded files are no longer needed
  submit(job);
}

void ModelServer::submit(const std::shared_ptr<Job>& job) {
  BatchWork work;
  work.tensor = job->tensor;
  work.images = job->images;
  work.preprocess = job->preprocess;
  work.keep = job;
  work.deadline = job->deadline;
  Status status = batcher_->submit(std::move(work), [this, job](Result<BatchOutcome> r) {
    // Heat maps take milliseconds per image: drawn on the decoding threads, not the engine's
    // (inline only when that pool is full or stopping).
    if (job->heatmap != kNoHeatmap && r.ok()) {
      auto outcome = std::make_shared<Result<BatchOutcome>>(std::move(r));
      if (decoders_->submit([this, job, outcome] { finish(job, std::move(*outcome)); })) return;
      r = std::move(*outcome);
    }
    finish(job, std::move(r));
  });
  if (!status.ok()) finish(job, status);
}

void ModelServer::finish(const std::shared_ptr<Job>& job, Result<BatchOutcome> outcome) {
  Result<InferResponse> answer = outcome.status();
  if (outcome.ok()) {
    InferResponse response;
    response.model_name = options_.name;
    response.model_version = options_.version;
    response.id = job->request.id;
    const HostTensor& probs = outcome->outputs[0];
    const int64_t samples = samples_per_image(job->preprocess);
    const int64_t n = job->kind == Job::Kind::kTensor ? probs.dims()[0] : static_cast<int64_t>(job->images.size());
    const int64_t per = job->kind == Job::Kind::kTensor ? 1 : samples;
    // Ten-crop: each image's findings are the mean over its ten samples (as `chexrt predict`).
    std::vector<float> mean;
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float> one = app::mean_findings(probs.data<float>() + i * per * app::kNumFindings, per);
      mean.insert(mean.end(), one.begin(), one.end());
    }
    if (job->want_probabilities) {
      Tensor t{"probabilities", DataType::kFp32, {n, app::kNumFindings}, {}};
      t.data.assign(reinterpret_cast<const char*>(mean.data()), mean.size() * sizeof(float));
      response.outputs.push_back(std::move(t));
    }
    if (job->want_image_size) {
      Tensor t{"image_size", DataType::kInt32, {n, 2}, {}};
      for (const ImageView& v : job->images) {
        const int32_t wh[2] = {v.width, v.height};
        t.data.append(reinterpret_cast<const char*>(wh), sizeof(wh));
      }
      response.outputs.push_back(std::move(t));
    }
    Status heatmap_status;
    if (job->heatmap != kNoHeatmap) {
      const HostTensor& features = outcome->outputs[1];
      const int64_t k = job->heatmap == kAllFindings ? app::kNumFindings : 1;
      // Drawn and encoded on the GPU where the engine draws there (Engine::draw_heatmaps), else here.
      Engine* heatmap_engine =
          instances_.engines[0]->draws_heatmaps_on_device() ? instances_.engines[0].get() : nullptr;
      Tensor pngs{"heatmap_png", DataType::kBytes, {n, k}, {}};
      Tensor names{"heatmap_finding", DataType::kBytes, {n, k}, {}};
      for (int64_t i = 0; i < n && heatmap_status.ok(); ++i) {
        const ImageView& v = job->images[i];
        const Image8 full{
            v.width, v.height, v.channels,
            std::vector<uint8_t>(v.pixels, v.pixels + static_cast<size_t>(v.width) * v.height * v.channels)};
        const app::HeatmapBase base = app::heatmap_base(full, job->preprocess, options_.heatmap_max_side);
        // The map of the centre crop (sample 4 of a ten-crop) is drawn where that crop came from.
        const int64_t sample = i * samples + (samples == 10 ? 4 : 0);
        for (int64_t j = 0; j < k && heatmap_status.ok(); ++j) {
          int finding = job->heatmap >= 0 ? job->heatmap : static_cast<int>(j);
          if (job->heatmap == kTopFinding) {
            const float* p = &mean[i * app::kNumFindings];
            finding = static_cast<int>(std::max_element(p, p + app::kNumFindings) - p);
          }
          auto png = app::sample_heatmap_png(heatmap_engine, features, sample, instances_.cam_weights, finding,
                                             base.image, base.crop_region);
          if (!png.ok()) {
            heatmap_status = runtime_error("heat map: " + png.status().message());
            break;
          }
          append_bytes_element(&pngs.data, png->data(), png->size());
          const std::string_view name = app::kFindingNames[finding];
          append_bytes_element(&names.data, name.data(), name.size());
        }
      }
      response.outputs.push_back(std::move(pngs));
      response.outputs.push_back(std::move(names));
    }
    answer = heatmap_status.ok() ? Result<InferResponse>(std::move(response)) : Result<InferResponse>(heatmap_status);
  }
  if (answer.ok()) {
    metrics_.success.increment();
  } else {
    metrics_.fail(reason_of(answer.status(), stopping_));
  }
  metrics_.request_duration.observe(std::chrono::duration<double>(Clock::now() - job->start).count());
  job->done(std::move(answer));
}

}  // namespace chexrt::server
