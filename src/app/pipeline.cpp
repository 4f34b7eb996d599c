#include "app/pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "app/findings.h"
#include "app/heatmap.h"
#include "app/image_batch.h"

namespace chexrt::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Runs fn(0 .. n-1) on up to `threads` threads.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min<int>(threads, static_cast<int>(n)); ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
}

int worker_count(int requested);

struct Decoded {
  BatchItem item;     // its tensor rows are in the batch's buffer (host preprocessing)
  EngineImage image;  // the decoded image, PNG rows or JPEG file (preprocessing on the engine's device)
  bool ready = false;
};

// Buffers of filtered PNG rows that the engine is done with, for the decoders' next files: a
// fresh megabyte buffer costs a page fault per 4 KiB on first touch (as png_fast.cpp's Scratch
// notes). At most `limit` are kept, none above kKeptBytes.
class RowBuffers {
 public:
  static constexpr size_t kKeptBytes = size_t{16} << 20;
  explicit RowBuffers(size_t limit) : limit_(limit) {}
  std::vector<uint8_t> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (spare_.empty()) return {};
    std::vector<uint8_t> buffer = std::move(spare_.back());
    spare_.pop_back();
    return buffer;
  }
  void give_back(std::vector<uint8_t>&& buffer) {
    if (buffer.capacity() == 0 || buffer.capacity() > kKeptBytes) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (spare_.size() < limit_) spare_.push_back(std::move(buffer));
  }

 private:
  const size_t limit_;
  std::mutex mutex_;
  std::vector<std::vector<uint8_t>> spare_;
};

// A batch the engine has run, on its way to postprocessing.
struct InferredBatch {
  std::vector<BatchItem> files;
  size_t first_index = 0;
  Status status;                    // the engine's, for every file that decoded
  std::vector<HostTensor> outputs;  // [findings, feature map (heat maps only)]
};

class Pipeline {
 public:
  Pipeline(const std::vector<std::string>& files, Engine& engine, const PipelineOptions& options,
           const ResultSink& sink)
      : files_(files),
        engine_(engine),
        options_(options),
        sink_(sink),
        budget_(options.decode_budget_bytes),
        row_buffers_(static_cast<size_t>(options.images_per_batch) * options.batches_ahead) {
    load_.preprocess = options.preprocess;
    load_.keep_images = !options.heatmap_dir.empty();
    load_.kept_image_max_side = options.heatmap_max_side;
    batch_ = options.images_per_batch;
    threads_ = worker_count(options.decode_threads);
    on_device_ = options.preprocess_on_device && engine.preprocesses_on_device();
    // Heat maps need the pixels on the host: with them, every file is decoded in full.
    const bool plain = on_device_ && options.heatmap_dir.empty();
    load_.jpeg_files = plain && options.jpeg_on_device && engine.decodes_jpeg_on_device();
    load_.png_rows = plain && options.unfilter_png_on_device && engine.unfilters_png_on_device();
    heatmaps_on_device_ =
        !options.heatmap_dir.empty() && options.heatmaps_on_device && engine.draws_heatmaps_on_device();
    ring_.resize(static_cast<size_t>(batch_) * options.batches_ahead);
  }

  Result<PipelineStats> run();

 private:
  size_t decode_limit() const { return (released_ + options_.batches_ahead) * static_cast<size_t>(batch_); }
  HostTensor& buffer_of(size_t file) { return buffers_[(file / batch_) % buffers_.size()]; }
  void decode_worker();
  /// Runs the decoded files of `batch` (their images in `images`, or their rows in the buffer of
  /// file `first`) and sets each file's first_sample.
  Status infer(InferredBatch& batch, size_t first, std::vector<EngineImage>& images);
  /// infer_images() on the files of `batch` that loaded; with `jpegs_on_host`, their JPEGs are
  /// decoded on the host first (a file that fails gets its own error).
  void infer_on_device(InferredBatch& batch, std::vector<EngineImage>& images, bool jpegs_on_host);
  void postprocess_worker();
  void postprocess(InferredBatch& batch);
  /// Draws and writes file `item`'s heat map of `finding` into `r`; the time each took in `draw_s`
  /// and `encode_s`.
  void write_heatmap(const InferredBatch& batch, const BatchItem& item, int finding, FileResult& r, double* draw_s,
                     double* encode_s);
  void stop_all();

  const std::vector<std::string>& files_;
  Engine& engine_;
  const PipelineOptions& options_;
  const ResultSink& sink_;
  LoadOptions load_;
  DecodeBudget budget_;
  RowBuffers row_buffers_;
  int64_t batch_ = 1;
  int threads_ = 1;
  int samples_ = 1;
  bool on_device_ = false;           // decoders hand over 8-bit images; the engine preprocesses them
  bool heatmaps_on_device_ = false;  // the engine draws heat maps; the pool encodes them

  std::mutex mutex_;
  std::condition_variable changed_;
  // File i is decoded into its rows of buffer_of(i), and waits in ring_[i % ring_.size()] until
  // its batch is taken; the buffer is reused once the engine is done with that batch.
  std::vector<HostTensor> buffers_;
  std::vector<Decoded> ring_;
  size_t next_file_ = 0;
  size_t released_ = 0;  // batches whose buffer the engine has finished reading
  std::deque<InferredBatch> inferred_;
  bool engine_done_ = false;
  bool stop_ = false;
  Status sink_status_;
  std::exception_ptr postprocess_error_;
  PipelineStats stats_;
};

void Pipeline::decode_worker() {
  while (true) {
    size_t i = 0;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || next_file_ >= files_.size() || next_file_ < decode_limit(); });
      if (stop_ || next_file_ >= files_.size()) return;
      i = next_file_++;
    }
    Decoded d;
    d.item.path = files_[i];
    const auto start = Clock::now();
    if (on_device_) {
      Result<EngineImage> image = decode_image_file(files_[i], load_, budget_, &d.item,
                                                    load_.png_rows ? row_buffers_.take() : std::vector<uint8_t>());
      d.item.status = image.status();
      if (image.ok()) d.image = std::move(*image);
    } else {
      const int64_t first_row = static_cast<int64_t>(i % batch_) * samples_;
      d.item.status = load_image_file(files_[i], load_, budget_, &buffer_of(i), first_row, &d.item);
    }
    const double spent = seconds_since(start);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.decode_s += spent;
    stats_.png_rows_files += d.image.is_png_rows();
    d.ready = true;
    ring_[i % ring_.size()] = std::move(d);
    changed_.notify_all();
  }
}

void Pipeline::infer_on_device(InferredBatch& batch, std::vector<EngineImage>& images, bool jpegs_on_host) {
  if (jpegs_on_host) {
    parallel_for(batch.files.size(), threads_, [&](size_t k) {
      if (batch.files[k].status.ok() && images[k].is_jpeg()) {
        batch.files[k].status = decode_held_jpeg(batch.files[k].path, budget_, &images[k]);
      }
    });
  }
  std::vector<ImageView> views;
  for (size_t k = 0; k < batch.files.size(); ++k) {
    if (!batch.files[k].status.ok()) continue;
    batch.files[k].first_sample = static_cast<int64_t>(views.size()) * samples_;
    views.push_back(images[k].view());
  }
  batch.status = Status::ok_status();
  batch.outputs.clear();
  if (!views.empty()) batch.status = engine_.infer_images(views, options_.preprocess, &batch.outputs);
}

Status Pipeline::infer(InferredBatch& batch, size_t first, std::vector<EngineImage>& images) {
  const auto start = Clock::now();
  if (on_device_) {
    infer_on_device(batch, images, false);
    // The engine names the image whose decoding failed, but fails the whole batch: its JPEGs are
    // decoded on the host instead, where a corrupt file fails alone, and the rest run again.
    const bool held_jpegs =
        std::any_of(images.begin(), images.end(), [](const EngineImage& image) { return image.is_jpeg(); });
    if (!batch.status.ok() && held_jpegs) {
      ++stats_.jpeg_host_retries;
      infer_on_device(batch, images, true);
    }
    stats_.infer_s += seconds_since(start);
    for (EngineImage& image : images) {
      if (image.is_png_rows()) row_buffers_.give_back(std::move(image.bytes));
    }
  } else {
    // The files' rows are already in the buffer: only those of failed files are squeezed out.
    CHEXRT_ASSIGN_OR_RETURN(HostTensor input, compact_batch(buffer_of(first), batch.files, samples_));
    stats_.assemble_s += seconds_since(start);
    if (input.dims()[0] > 0) {
      const auto infer_start = Clock::now();
      batch.status = engine_.infer({input}, &batch.outputs);
      stats_.infer_s += seconds_since(infer_start);
    }
  }
  // Findings need the engine's first output, heat maps its second (the feature map).
  const bool ran =
      std::any_of(batch.files.begin(), batch.files.end(), [](const BatchItem& f) { return f.status.ok(); });
  const size_t wanted = options_.heatmap_dir.empty() ? 1 : 2;
  if (batch.status.ok() && ran && batch.outputs.size() < wanted) {
    batch.status = runtime_error("the engine gave " + std::to_string(batch.outputs.size()) + " outputs");
  }
  return Status::ok_status();
}

void Pipeline::write_heatmap(const InferredBatch& batch, const BatchItem& item, int finding, FileResult& r,
                             double* draw_s, double* encode_s) {
  // The map of the centre crop (sample 4 of a ten-crop) is drawn where that crop came from.
  const int64_t sample = item.first_sample + (samples_ == 10 ? 4 : 0);
  const auto start = Clock::now();
  // On the device, each pool thread has the engine draw its own file's map: the copies to and
  // from the device then run on every core, not on the postprocessing thread alone. A PNG is
  // encoded there too: the pool only writes the file (the CPU's encoding was the bound).
  if (heatmaps_on_device_ && options_.heatmap_format == ImageFormat::kPng) {
    Result<std::vector<uint8_t>> png = sample_heatmap_png(&engine_, batch.outputs[1], sample, options_.heatmap_weights,
                                                          finding, item.image, item.crop_region);
    *draw_s = seconds_since(start);
    if (!png.ok()) {
      r.heatmap_status = png.status().with_context(r.path);
      return;
    }
    const auto write_start = Clock::now();
    r.heatmap_status = write_heatmap_png_file(*png, finding, options_.heatmap_dir, r.path, &r.heatmap);
    *encode_s = seconds_since(write_start);
    return;
  }
  Result<Image8> drawn = draw_sample_heatmap(heatmaps_on_device_ ? &engine_ : nullptr, batch.outputs[1], sample,
                                             options_.heatmap_weights, finding, item.image, item.crop_region);
  r.heatmap_status = drawn.status();
  *draw_s = seconds_since(start);
  if (!r.heatmap_status.ok()) {
    r.heatmap_status = r.heatmap_status.with_context(r.path);
    return;
  }
  const auto encode_start = Clock::now();
  r.heatmap_status =
      write_heatmap_file(*drawn, finding, options_.heatmap_dir, r.path, &r.heatmap, options_.heatmap_format);
  *encode_s = seconds_since(encode_start);
}

void Pipeline::postprocess(InferredBatch& batch) {
  std::vector<FileResult> results(batch.files.size());
  const bool heatmaps = !options_.heatmap_dir.empty();
  std::vector<double> draw_s(batch.files.size(), 0.0), encode_s(batch.files.size(), 0.0);
  parallel_for(batch.files.size(), heatmaps ? threads_ : 1, [&](size_t k) {
    BatchItem& item = batch.files[k];
    FileResult& r = results[k];
    r.index = batch.first_index + k;
    r.path = item.path;
    r.status = item.status.ok() ? batch.status : item.status;
    if (!r.status.ok()) return;
    // Ten-crop: the findings are the mean over the image's samples.
    r.probabilities = mean_findings(batch.outputs[0].data<float>() + item.first_sample * kNumFindings, samples_);
    if (!heatmaps) return;
    const int finding = options_.heatmap_class >= 0
                            ? options_.heatmap_class
                            : static_cast<int>(std::max_element(r.probabilities.begin(), r.probabilities.end()) -
                                               r.probabilities.begin());
    try {
      write_heatmap(batch, item, finding, r, &draw_s[k], &encode_s[k]);
    } catch (const std::bad_alloc&) {
      r.heatmap_status = runtime_error(r.path + ": out of memory while drawing the heat map");
    }
    if (!r.heatmap_status.ok()) r.heatmap.clear();
    item.image = Image8();
  });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t k = 0; k < results.size(); ++k) {
      stats_.failed += !results[k].status.ok();
      stats_.heatmap_draw_s += draw_s[k];
      stats_.heatmap_encode_s += encode_s[k];
    }
  }
  for (FileResult& r : results) {
    Status s = sink_(std::move(r));
    if (!s.ok()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (sink_status_.ok()) sink_status_ = s;
      stop_ = true;
      changed_.notify_all();
      return;
    }
  }
}

void Pipeline::postprocess_worker() {
  try {
    while (true) {
      InferredBatch batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return !inferred_.empty() || engine_done_ || stop_; });
        if (inferred_.empty() || stop_) return;
        batch = std::move(inferred_.front());
        inferred_.pop_front();
        changed_.notify_all();
      }
      const auto start = Clock::now();
      postprocess(batch);
      std::lock_guard<std::mutex> lock(mutex_);
      stats_.postprocess_s += seconds_since(start);
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    postprocess_error_ = std::current_exception();
    stop_ = true;
    changed_.notify_all();
  }
}

void Pipeline::stop_all() {
  std::lock_guard<std::mutex> lock(mutex_);
  stop_ = true;
  changed_.notify_all();
}

Result<PipelineStats> Pipeline::run() {
  const auto start = Clock::now();
  samples_ = samples_per_image(options_.preprocess);
  const int crop = options_.preprocess.crop_size;
  stats_.files = files_.size();
  stats_.decode_threads = threads_;
  stats_.preprocess_on_device = on_device_;
  stats_.jpeg_on_device = load_.jpeg_files;
  stats_.png_unfiltered_on_device = load_.png_rows;
  stats_.heatmaps_on_device = heatmaps_on_device_;
  for (int b = 0; b < options_.batches_ahead && !on_device_; ++b) {
    buffers_.emplace_back(DataType::kFloat32, Dims{batch_ * samples_, 3, crop, crop});
  }

  std::vector<std::thread> decoders;
  for (int t = 0; t < threads_; ++t) decoders.emplace_back([this] { decode_worker(); });
  std::thread post([this] { postprocess_worker(); });
  // Whatever leaves this function (an error, an exception), the threads are stopped and joined.
  struct Joiner {
    Pipeline* p;
    std::vector<std::thread>& decoders;
    std::thread& post;
    ~Joiner() {
      p->stop_all();
      for (std::thread& t : decoders) t.join();
      if (post.joinable()) post.join();
    }
  } joiner{this, decoders, post};

  const size_t n = files_.size();
  for (size_t first = 0; first < n; first += static_cast<size_t>(batch_)) {
    const size_t last = std::min(n, first + static_cast<size_t>(batch_));
    InferredBatch batch;
    batch.first_index = first;
    std::vector<EngineImage> images;
    {
      const auto wait_start = Clock::now();
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] {
        if (stop_) return true;
        for (size_t i = first; i < last; ++i) {
          if (!ring_[i % ring_.size()].ready) return false;
        }
        return true;
      });
      if (stop_) break;
      stats_.wait_decode_s += seconds_since(wait_start);
      for (size_t i = first; i < last; ++i) {
        batch.files.push_back(std::move(ring_[i % ring_.size()].item));
        images.push_back(std::move(ring_[i % ring_.size()].image));
        ring_[i % ring_.size()] = Decoded();
      }
    }

    const Status infer_status = infer(batch, first, images);
    if (!infer_status.ok()) return infer_status;
    images = {};
    std::unique_lock<std::mutex> lock(mutex_);
    ++released_;  // the engine is done with this batch's buffer: decoding may fill it again
    changed_.notify_all();
    changed_.wait(lock, [&] { return stop_ || inferred_.size() < 2; });
    if (stop_) break;
    inferred_.push_back(std::move(batch));
    changed_.notify_all();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    engine_done_ = true;
    changed_.notify_all();
  }
  post.join();  // postprocessing drains what is left, then ends
  if (postprocess_error_) std::rethrow_exception(postprocess_error_);
  if (!sink_status_.ok()) return sink_status_;
  stats_.wall_s = seconds_since(start);
  stats_.decode_peak_bytes = budget_.peak();
  return stats_;
}

int worker_count(int requested) {
  return requested > 0 ? requested : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

Result<PipelineStats> run_decode_only(const std::vector<std::string>& files, const PipelineOptions& options) {
  CHEXRT_RETURN_IF_ERROR(validate(options.preprocess));
  if (options.decode_threads < 0) return invalid_argument("pipeline: decode_threads must be 0 or more");
  LoadOptions load;
  load.preprocess = options.preprocess;
  load.jpeg_files = options.preprocess_on_device && options.jpeg_on_device;
  load.png_rows = options.preprocess_on_device && options.unfilter_png_on_device;
  DecodeBudget budget(options.decode_budget_bytes);
  PipelineStats stats;
  stats.files = files.size();
  stats.decode_threads = worker_count(options.decode_threads);
  stats.preprocess_on_device = options.preprocess_on_device;
  stats.jpeg_on_device = load.jpeg_files;
  stats.png_unfiltered_on_device = load.png_rows;
  RowBuffers row_buffers(static_cast<size_t>(stats.decode_threads));
  std::mutex mutex;
  const auto start = Clock::now();
  parallel_for(files.size(), stats.decode_threads, [&](size_t i) {
    BatchItem item;
    const auto file_start = Clock::now();
    Status status;
    bool png_rows = false;
    if (options.preprocess_on_device) {
      // Buffers of rows are recycled as the pipeline recycles them once the engine is done.
      Result<EngineImage> image =
          decode_image_file(files[i], load, budget, &item, load.png_rows ? row_buffers.take() : std::vector<uint8_t>());
      status = image.status();
      if (image.ok() && image->is_png_rows()) {
        png_rows = true;
        row_buffers.give_back(std::move(image->bytes));
      }
    } else {
      HostTensor tensor(DataType::kFloat32, Dims{samples_per_image(load.preprocess), 3, load.preprocess.crop_size,
                                                 load.preprocess.crop_size});
      status = load_image_file(files[i], load, budget, &tensor, 0, &item);
    }
    const double spent = seconds_since(file_start);
    std::lock_guard<std::mutex> lock(mutex);
    stats.decode_s += spent;
    stats.failed += !status.ok();
    stats.png_rows_files += png_rows;
  });
  stats.wall_s = seconds_since(start);
  stats.decode_peak_bytes = budget.peak();
  return stats;
}

Result<PipelineStats> run_pipeline(const std::vector<std::string>& files, Engine& engine,
                                   const PipelineOptions& options, const ResultSink& sink) {
  CHEXRT_RETURN_IF_ERROR(validate(options.preprocess));
  if (options.images_per_batch < 1) return invalid_argument("pipeline: images_per_batch must be at least 1");
  if (options.batches_ahead < 1) return invalid_argument("pipeline: batches_ahead must be at least 1");
  if (options.decode_threads < 0) return invalid_argument("pipeline: decode_threads must be 0 or more");
  const int64_t samples = samples_per_image(options.preprocess) * options.images_per_batch;
  if (samples > engine.max_batch()) {
    return invalid_argument("pipeline: " + std::to_string(options.images_per_batch) + " images of " +
                            std::to_string(samples_per_image(options.preprocess)) + " samples exceed the engine's " +
                            "max batch " + std::to_string(engine.max_batch()));
  }
  if (!options.heatmap_dir.empty() && (options.heatmap_weights.rank() != 2 || options.heatmap_max_side < 1)) {
    return invalid_argument("pipeline: heat maps need the classifier weights [classes, C] and a positive size");
  }
  Pipeline pipeline(files, engine, options, sink);
  return pipeline.run();
}

}  // namespace chexrt::app
