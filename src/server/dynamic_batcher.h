// The dynamic batcher (as Triton's): requests from many clients wait in one bounded queue and
// are combined into engine batches by one worker thread per engine instance. A batch starts
// when it is full (max_batch samples), when it reaches a preferred size, or when its oldest
// request has waited max_queue_delay; a request larger than a batch is split over several, and
// each request's outputs are gathered back in its own order. A full queue refuses at once
// (Unavailable) instead of growing; a request still queued at its deadline is answered
// DeadlineExceeded; shutdown() refuses new requests and answers every queued one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "chexrt/engine.h"
#include "server/metrics.h"

namespace chexrt::server {

using Clock = std::chrono::steady_clock;

struct BatcherOptions {
  int64_t max_batch = 8;  ///< samples per engine call, at most every instance's max_batch()
  /// How long the oldest request may wait for others to fill its batch (0: run what is there).
  std::chrono::microseconds max_queue_delay{0};
  /// Sizes at which a batch starts without waiting for the delay (Triton's preferred_batch_size).
  std::vector<int64_t> preferred_batch_sizes;
  size_t max_queue = 128;  ///< requests waiting, at most
};

/// One request's work: rows of the engine's input, or 8-bit images that the engine preprocesses.
struct BatchWork {
  /// float32 [n, ...]: n samples of the engine's one input (float16 where the engine
  /// accepts_fp16_inputs(); the two never share a batch). Used when `images` is empty.
  HostTensor tensor;
  /// Images whose pixels `keep` owns; each contributes samples_per_image(preprocess) samples.
  std::vector<ImageView> images;
  PreprocessOptions preprocess;
  std::shared_ptr<const void> keep;
  Clock::time_point deadline = Clock::time_point::max();
};

/// Every output of the engine for one request: [samples, ...] each, in the request's order.
struct BatchOutcome {
  std::vector<HostTensor> outputs;
  double queue_seconds = 0;    ///< enqueue to the start of its first batch
  double compute_seconds = 0;  ///< the engine calls that ran it, summed
};

using BatchDone = std::function<void(Result<BatchOutcome>)>;

class DynamicBatcher {
 public:
  /// One worker per entry of `instances`; entries may share an engine whose infer() is safe to
  /// call from several threads (CUDA). `metrics` may be null.
  static Result<std::unique_ptr<DynamicBatcher>> create(std::vector<std::shared_ptr<Engine>> instances,
                                                        BatcherOptions options, ModelMetrics* metrics);
  ~DynamicBatcher();

  /// Queues the work; `done` is then called exactly once, on a worker thread. Not ok (and `done`
  /// never called) when the queue is full or shutting down (Unavailable) or the work is empty or
  /// cannot fit one batch (InvalidArgument).
  Status submit(BatchWork work, BatchDone done);

  /// Refuses new work, runs everything queued and joins the workers. Idempotent.
  void shutdown();

  size_t queue_depth() const;
  const BatcherOptions& options() const { return options_; }

 private:
  struct Pending;
  struct Chunk {
    std::shared_ptr<Pending> request;
    int64_t first_unit = 0;
    int64_t units = 0;
  };

  DynamicBatcher(std::vector<std::shared_ptr<Engine>> instances, BatcherOptions options, ModelMetrics* metrics);
  void worker(Engine& engine);
  // With mutex_ held: removes requests past their deadline (returned for answering unlocked).
  std::vector<std::shared_ptr<Pending>> take_expired(Clock::time_point now);
  // With mutex_ held: the chunks of the next batch, or none when it should wait (until `wake`).
  std::vector<Chunk> take_batch(Clock::time_point now, Clock::time_point* wake);
  // Runs one batch.
  void run_batch(Engine& engine, const std::vector<Chunk>& chunks);
  static void deliver(const Chunk& chunk, const Status& status, const std::vector<HostTensor>& outputs,
                      int64_t first_sample, double compute_seconds);
  void update_depth();

  std::vector<std::shared_ptr<Engine>> instances_;
  BatcherOptions options_;
  ModelMetrics* metrics_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Pending>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace chexrt::server
