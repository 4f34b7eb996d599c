// Server metrics in the Prometheus text exposition format (version 0.0.4): counters, gauges and
// histograms with labels, registered once by name and updated lock-free on the request path.
// The names the server exports are fixed (docs/server.md); `chexrt perf` reads them.
//
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace chexrt::server {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A value that only goes up (resets only with the process).
class Counter {
 public:
  void increment(double amount = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// A value that goes up and down.
class Gauge {
 public:
  void set(double value) { value_.store(value, std::memory_order_relaxed); }
  void add(double amount);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into buckets with upper bounds (cumulative when exported), with their
/// sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double value);
  const std::vector<double>& upper_bounds() const { return bounds_; }
  /// Observations <= upper_bounds()[i] and above the previous bound (not cumulative); the last
  /// entry counts those above every bound.
  std::vector<uint64_t> bucket_counts() const;
  double sum() const { return sum_.load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

/// Latency buckets in seconds, 100 us to 60 s.
std::vector<double> latency_buckets();
/// Batch-size buckets: powers of two up to 1024.
std::vector<double> batch_size_buckets();

/// Every metric of a process. Metrics live as long as the registry; the references it hands out
/// stay valid.
class MetricsRegistry {
 public:
  /// The metric of family `name` with `labels`, made on first use. A name keeps the type and help
  /// text of its first registration.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels);
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels);
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels,
                       const std::vector<double>& upper_bounds);

  /// Runs `collect` at the start of every prometheus_text(), for values read when they are
  /// scraped (GPU memory) rather than kept up to date on the request path; it may register and
  /// set metrics. Returns the id that remove_collector() takes.
  int add_collector(std::function<void()> collect);
  /// Stops calling the collector; returns once a call in progress has finished.
  void remove_collector(int id);

  /// Every family in the text exposition format, families and series in name order, after the
  /// collectors have run.
  std::string prometheus_text() const;

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered label set
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, Type type, const std::string& help);

  mutable std::mutex mutex_;
  std::map<std::string, Family> families_;
  // Held while collectors run, so that scrapes take turns and removal waits for a running one.
  mutable std::mutex collectors_mutex_;
  std::map<int, std::function<void()>> collectors_;
  int next_collector_ = 0;
};

/// chexrt_gpu_memory_used_bytes{gpu="N"} and chexrt_gpu_memory_total_bytes{gpu="N"} for each of
/// `gpus` (device ordinals), read with cuda::gpu_memory (cudaMemGetInfo) at every scrape; NaN
/// when the read fails. Returns the collector's id (MetricsRegistry::remove_collector).
int add_gpu_memory_gauges(MetricsRegistry& registry, const std::vector<int>& gpus);

/// The request failure reasons of chexrt_request_failure_total.
enum class FailureReason { kInvalidArgument, kNotFound, kQueueFull, kTimeout, kShuttingDown, kInternal };
const char* failure_reason_name(FailureReason reason);

/// One model's metrics, with the names of docs/server.md.
struct ModelMetrics {
  ModelMetrics(MetricsRegistry& registry, const std::string& model);

  Counter& success;
  Counter& inference_count;  ///< images inferred
  Counter& batch_execution;  ///< engine calls
  Histogram& request_duration;
  Histogram& queue_duration;    ///< enqueue to batch start
  Histogram& compute_duration;  ///< batch start to outputs ready
  Histogram& batch_size;        ///< samples per engine call
  Gauge& queue_depth;           ///< requests waiting
  void fail(FailureReason reason) { failures_[static_cast<int>(reason)]->increment(); }

 private:
  Counter* failures_[6];
};

}  // namespace chexrt::server
