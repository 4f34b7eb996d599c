#include "server/dynamic_batcher.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace chexrt::server {

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

bool same_preprocessing(const PreprocessOptions& a, const PreprocessOptions& b) {
  return a.mode == b.mode && a.resize_size == b.resize_size && a.crop_size == b.crop_size && a.mean == b.mean &&
         a.std == b.std;
}

}  // namespace

// A queued request. The batcher's mutex guards next_unit; the request's own mutex the rest.
struct DynamicBatcher::Pending {
  BatchWork work;
  BatchDone done;
  bool images = false;
  int64_t units = 0;             // tensor rows or images
  int64_t samples_per_unit = 1;  // 10 for ten-crop images
  Clock::time_point enqueued;
  int64_t next_unit = 0;  // the first unit no batch has taken yet

  std::mutex mutex;
  bool finished = false;  // `done` was called (or is being called)
  int64_t units_done = 0;
  std::vector<HostTensor> outputs;
  double queue_seconds = -1;
  double compute_seconds = 0;

  bool batches_with(const Pending& other) const {
    if (images != other.images) return false;
    if (!images) return work.tensor.dtype() == other.work.tensor.dtype();
    return same_preprocessing(work.preprocess, other.work.preprocess);
  }
  // Answers with `status` unless already answered.
  void fail(const Status& status) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (finished) return;
      finished = true;
    }
    done(status);
  }
};

Result<std::unique_ptr<DynamicBatcher>> DynamicBatcher::create(std::vector<std::shared_ptr<Engine>> instances,
                                                               BatcherOptions options, ModelMetrics* metrics) {
  if (instances.empty()) return invalid_argument("the batcher needs at least one engine instance");
  if (options.max_batch < 1) return invalid_argument("max batch must be at least 1");
  if (options.max_queue < 1) return invalid_argument("max queue must be at least 1");
  for (const auto& engine : instances) {
    if (!engine) return invalid_argument("the batcher was given no engine");
    if (engine->inputs().size() != 1) return invalid_argument("the served model must have exactly one input");
    if (options.max_batch > engine->max_batch()) {
      return invalid_argument("max batch " + std::to_string(options.max_batch) + " is above the engine's " +
                              std::to_string(engine->max_batch()));
    }
  }
  for (int64_t size : options.preferred_batch_sizes) {
    if (size < 1 || size > options.max_batch) {
      return invalid_argument("preferred batch size " + std::to_string(size) + " is not within 1.." +
                              std::to_string(options.max_batch));
    }
  }
  std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());
  return std::unique_ptr<DynamicBatcher>(new DynamicBatcher(std::move(instances), std::move(options), metrics));
}

DynamicBatcher::DynamicBatcher(std::vector<std::shared_ptr<Engine>> instances, BatcherOptions options,
                               ModelMetrics* metrics)
    : instances_(std::move(instances)), options_(std::move(options)), metrics_(metrics) {
  for (const auto& engine : instances_) workers_.emplace_back([this, e = engine.get()] { worker(*e); });
}

DynamicBatcher::~DynamicBatcher() { shutdown(); }

Status DynamicBatcher::submit(BatchWork work, BatchDone done) {
  auto p = std::make_shared<Pending>();
  p->images = !work.images.empty();
  p->units =
      p->images ? static_cast<int64_t>(work.images.size()) : (work.tensor.rank() > 0 ? work.tensor.dims()[0] : 0);
  p->samples_per_unit = p->images ? samples_per_image(work.preprocess) : 1;
  if (p->units < 1) return invalid_argument("the request holds no images");
  if (!p->images && work.tensor.dtype() != DataType::kFloat32 && work.tensor.dtype() != DataType::kFloat16) {
    return invalid_argument("input tensors must be float32 or float16");
  }
  if (p->samples_per_unit > options_.max_batch) {
    return invalid_argument("one image takes " + std::to_string(p->samples_per_unit) +
                            " samples in this mode, above the max batch of " + std::to_string(options_.max_batch));
  }
  p->work = std::move(work);
  p->done = std::move(done);
  p->enqueued = Clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return unavailable("the server is shutting down");
    if (queue_.size() >= options_.max_queue) {
      return unavailable("the queue is full (" + std::to_string(options_.max_queue) + " requests waiting)");
    }
    queue_.push_back(std::move(p));
    update_depth();
  }
  changed_.notify_all();
  return Status::ok_status();
}

void DynamicBatcher::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

size_t DynamicBatcher::queue_depth() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void DynamicBatcher::update_depth() {
  if (metrics_) metrics_->queue_depth.set(static_cast<double>(queue_.size()));
}

std::vector<std::shared_ptr<DynamicBatcher::Pending>> DynamicBatcher::take_expired(Clock::time_point now) {
  std::vector<std::shared_ptr<Pending>> expired;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->work.deadline <= now) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  if (!expired.empty()) update_depth();
  return expired;
}

std::vector<DynamicBatcher::Chunk> DynamicBatcher::take_batch(Clock::time_point now, Clock::time_point* wake) {
  *wake = Clock::time_point::max();
  for (const auto& p : queue_) *wake = std::min(*wake, p->work.deadline);
  if (queue_.empty()) return {};
  const Pending& head = *queue_.front();
  int64_t available = 0;  // samples that could join the head's batch
  for (const auto& p : queue_) {
    if (p->batches_with(head)) available += (p->units - p->next_unit) * p->samples_per_unit;
  }
  const Clock::time_point delay_end = head.enqueued + options_.max_queue_delay;
  int64_t limit = 0;
  if (available >= options_.max_batch) {
    limit = options_.max_batch;
  } else if (stopping_ || now >= delay_end) {
    limit = available;
  } else {
    // Before the delay ends, a batch starts only at a preferred size (the largest that is there).
    for (int64_t size : options_.preferred_batch_sizes) {
      if (size <= available) limit = size;
    }
    if (limit == 0) {
      *wake = std::min(*wake, delay_end);
      return {};
    }
  }
  limit = std::max(limit, head.samples_per_unit);

  std::vector<Chunk> chunks;
  int64_t samples = 0;
  for (auto it = queue_.begin(); it != queue_.end() && samples < limit;) {
    Pending& p = **it;
    if (!p.batches_with(head)) {
      ++it;
      continue;
    }
    const int64_t fit = std::min((limit - samples) / p.samples_per_unit, p.units - p.next_unit);
    if (fit == 0) break;  // the rest of the batch is too small for this request's next image
    if (p.next_unit == 0) {
      std::lock_guard<std::mutex> lock(p.mutex);
      p.queue_seconds = seconds_between(p.enqueued, now);
      if (metrics_) metrics_->queue_duration.observe(p.queue_seconds);
    }
    chunks.push_back({*it, p.next_unit, fit});
    p.next_unit += fit;
    samples += fit * p.samples_per_unit;
    if (p.next_unit == p.units) {
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  update_depth();
  return chunks;
}

void DynamicBatcher::worker(Engine& engine) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const Clock::time_point now = Clock::now();
    std::vector<std::shared_ptr<Pending>> expired = take_expired(now);
    if (!expired.empty()) {
      lock.unlock();
      for (const auto& p : expired) {
        p->fail(deadline_exceeded("the request waited past its timeout in the queue"));
      }
      lock.lock();
      continue;
    }
    if (queue_.empty()) {
      if (stopping_) return;
      changed_.wait(lock);
      continue;
    }
    Clock::time_point wake;
    std::vector<Chunk> chunks = take_batch(now, &wake);
    if (chunks.empty()) {
      if (wake == Clock::time_point::max()) {
        changed_.wait(lock);
      } else {
        changed_.wait_until(lock, wake);
      }
      continue;
    }
    lock.unlock();
    // Another worker may start on what is left in the queue at once.
    changed_.notify_one();
    run_batch(engine, chunks);
    lock.lock();
  }
}

void DynamicBatcher::run_batch(Engine& engine, const std::vector<Chunk>& chunks) {
  const Pending& first = *chunks[0].request;
  int64_t samples = 0;
  for (const Chunk& c : chunks) samples += c.units * c.request->samples_per_unit;
  std::vector<HostTensor> outputs;
  Status status;
  const Clock::time_point start = Clock::now();
  try {
    if (first.images) {
      std::vector<ImageView> views;
      for (const Chunk& c : chunks) {
        const auto& images = c.request->work.images;
        views.insert(views.end(), images.begin() + c.first_unit, images.begin() + c.first_unit + c.units);
      }
      status = engine.infer_images(views, first.work.preprocess, &outputs);
    } else {
      // The requests' rows go to the engine as they are (views, no copy): it copies each part
      // straight into its upload buffer (a GPU engine's pinned memory), with no gathered copy.
      std::vector<HostTensor> parts;
      parts.reserve(chunks.size());
      for (const Chunk& c : chunks) {
        Result<HostTensor> rows = c.request->work.tensor.rows(c.first_unit, c.units);
        status = rows.status();
        if (!status.ok()) break;
        parts.push_back(std::move(rows).value());
      }
      if (status.ok()) status = engine.infer_concatenated(parts, &outputs);
    }
  } catch (const std::bad_alloc&) {
    status = runtime_error("out of memory while running a batch of " + std::to_string(samples));
  }
  if (status.ok()) {
    for (const HostTensor& out : outputs) {
      if (out.rank() < 1 || out.dims()[0] != samples) {
        status = runtime_error("the engine gave an output of " + dims_to_string(out.dims()) + " for a batch of " +
                               std::to_string(samples));
        break;
      }
    }
  }
  const double compute_seconds = seconds_between(start, Clock::now());
  if (metrics_) {
    metrics_->batch_execution.increment();
    metrics_->batch_size.observe(static_cast<double>(samples));
    metrics_->compute_duration.observe(compute_seconds);
    if (status.ok()) {
      int64_t units = 0;
      for (const Chunk& c : chunks) units += c.units;
      metrics_->inference_count.increment(static_cast<double>(units));
    }
  }
  int64_t first_sample = 0;
  for (const Chunk& c : chunks) {
    deliver(c, status, outputs, first_sample, compute_seconds);
    first_sample += c.units * c.request->samples_per_unit;
  }
}

void DynamicBatcher::deliver(const Chunk& chunk, const Status& status, const std::vector<HostTensor>& outputs,
                             int64_t first_sample, double compute_seconds) {
  Pending& p = *chunk.request;
  if (!status.ok()) {
    p.fail(status);
    return;
  }
  BatchOutcome outcome;
  {
    std::lock_guard<std::mutex> lock(p.mutex);
    if (p.finished) return;
    const int64_t spu = p.samples_per_unit;
    if (p.outputs.empty()) {
      for (const HostTensor& out : outputs) {
        Dims dims = out.dims();
        dims[0] = p.units * spu;
        p.outputs.emplace_back(out.dtype(), dims);
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const size_t row_bytes = outputs[i].nbytes() / outputs[i].dims()[0];
      std::memcpy(static_cast<uint8_t*>(p.outputs[i].raw()) + chunk.first_unit * spu * row_bytes,
                  static_cast<const uint8_t*>(outputs[i].raw()) + first_sample * row_bytes,
                  chunk.units * spu * row_bytes);
    }
    p.compute_seconds += compute_seconds;
    p.units_done += chunk.units;
    if (p.units_done < p.units) return;
    p.finished = true;
    outcome.outputs = std::move(p.outputs);
    outcome.queue_seconds = p.queue_seconds;
    outcome.compute_seconds = p.compute_seconds;
  }
  p.done(std::move(outcome));
}

}  // namespace chexrt::server
