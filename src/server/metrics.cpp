#include "server/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "backends/cuda/gpu_info.h"

namespace chexrt::server {

namespace {

void add_to(std::atomic<double>& target, double amount) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + amount, std::memory_order_relaxed)) {
  }
}

// Label values escape backslash, double quote and line feed (the exposition format's rules).
std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `a="x",b="y"` (without braces); the map key of a series.
std::string render_labels(const Labels& labels) {
  std::string out;
  for (const auto& [name, value] : labels) {
    if (!out.empty()) out += ',';
    out += name + "=\"" + escape_label_value(value) + "\"";
  }
  return out;
}

std::string format_value(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.0f", v);
    return buffer;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.9g", v);
  return buffer;
}

std::string series(const std::string& name, const std::string& labels, const std::string& extra = "") {
  std::string all = labels;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}

std::string escape_help(const std::string& help) {
  std::string out;
  for (char c : help) out += c == '\n' ? std::string("\\n") : c == '\\' ? std::string("\\\\") : std::string(1, c);
  return out;
}

}  // namespace

void Counter::increment(double amount) {
  if (amount > 0) add_to(value_, amount);
}

void Gauge::add(double amount) { add_to(value_, amount); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  add_to(sum_, value);
  count_.fetch_add(1, std::memory_order_relaxed);
}

std::vector<uint64_t> Histogram::bucket_counts() const {
  std::vector<uint64_t> counts(bounds_.size() + 1);
  for (size_t i = 0; i < counts.size(); ++i) counts[i] = buckets_[i].load(std::memory_order_relaxed);
  return counts;
}

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> batch_size_buckets() {
  std::vector<double> bounds;
  for (double b = 1; b <= 1024; b *= 2) bounds.push_back(b);
  return bounds;
}

MetricsRegistry::Family& MetricsRegistry::family(const std::string& name, Type type, const std::string& help) {
  auto it = families_.find(name);
  if (it == families_.end()) it = families_.emplace(name, Family{type, help, {}, {}, {}}).first;
  return it->second;
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, Type::kCounter, help).counters[render_labels(labels)];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, Type::kGauge, help).gauges[render_labels(labels)];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, const Labels& labels,
                                      const std::vector<double>& upper_bounds) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto& slot = family(name, Type::kHistogram, help).histograms[render_labels(labels)];
  if (!slot) slot = std::make_unique<Histogram>(upper_bounds);
  return *slot;
}

int MetricsRegistry::add_collector(std::function<void()> collect) {
  std::lock_guard<std::mutex> lock(collectors_mutex_);
  const int id = next_collector_++;
  collectors_.emplace(id, std::move(collect));
  return id;
}

void MetricsRegistry::remove_collector(int id) {
  std::lock_guard<std::mutex> lock(collectors_mutex_);
  collectors_.erase(id);
}

std::string MetricsRegistry::prometheus_text() const {
  {
    std::lock_guard<std::mutex> collecting(collectors_mutex_);
    for (const auto& [id, collect] : collectors_) collect();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::string out;
  for (const auto& [name, f] : families_) {
    const char* type = f.type == Type::kCounter ? "counter" : f.type == Type::kGauge ? "gauge" : "histogram";
    out += "# HELP " + name + " " + escape_help(f.help) + "\n# TYPE " + name + " " + type + "\n";
    for (const auto& [labels, c] : f.counters) out += series(name, labels) + " " + format_value(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges) out += series(name, labels) + " " + format_value(g->value()) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      const std::vector<uint64_t> counts = h->bucket_counts();
      uint64_t cumulative = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        const std::string le = i < h->upper_bounds().size() ? format_value(h->upper_bounds()[i]) : "+Inf";
        out += series(name + "_bucket", labels, "le=\"" + le + "\"") + " " + format_value(double(cumulative)) + "\n";
      }
      out += series(name + "_sum", labels) + " " + format_value(h->sum()) + "\n";
      // The count is the +Inf bucket's, read once, so that the two always agree.
      out += series(name + "_count", labels) + " " + format_value(double(cumulative)) + "\n";
    }
  }
  return out;
}

int add_gpu_memory_gauges(MetricsRegistry& registry, const std::vector<int>& gpus) {
  struct GpuGauges {
    Gauge* used;
    Gauge* total;
  };
  std::vector<GpuGauges> gauges;
  for (int gpu : gpus) {
    const Labels labels = {{"gpu", std::to_string(gpu)}};
    gauges.push_back(
        {&registry.gauge("chexrt_gpu_memory_used_bytes", "GPU memory in use (the whole device's), in bytes", labels),
         &registry.gauge("chexrt_gpu_memory_total_bytes", "GPU memory in all, in bytes", labels)});
  }
  return registry.add_collector([gpus, gauges] {
    auto memory = cuda::gpu_memory(gpus);
    for (size_t i = 0; i < gauges.size(); ++i) {
      // A device that cannot be read shows NaN rather than a stale or made-up number.
      const double nan = std::numeric_limits<double>::quiet_NaN();
      gauges[i].used->set(memory.ok() ? static_cast<double>((*memory)[i].used_bytes) : nan);
      gauges[i].total->set(memory.ok() ? static_cast<double>((*memory)[i].total_bytes) : nan);
    }
  });
}

const char* failure_reason_name(FailureReason reason) {
  switch (reason) {
    case FailureReason::kInvalidArgument:
      return "invalid_argument";
    case FailureReason::kNotFound:
      return "not_found";
    case FailureReason::kQueueFull:
      return "queue_full";
    case FailureReason::kTimeout:
      return "timeout";
    case FailureReason::kShuttingDown:
      return "shutting_down";
    case FailureReason::kInternal:
      return "internal";
  }
  return "internal";
}

ModelMetrics::ModelMetrics(MetricsRegistry& r, const std::string& model)
    : success(
          r.counter("chexrt_request_success_total", "Inference requests answered successfully", {{"model", model}})),
      inference_count(r.counter("chexrt_inference_count_total", "Images inferred", {{"model", model}})),
      batch_execution(r.counter("chexrt_batch_execution_total", "Engine calls", {{"model", model}})),
      request_duration(r.histogram("chexrt_request_duration_seconds", "Request duration, arrival to answer",
                                   {{"model", model}}, latency_buckets())),
      queue_duration(r.histogram("chexrt_queue_duration_seconds", "Time from enqueue to batch start",
                                 {{"model", model}}, latency_buckets())),
      compute_duration(r.histogram("chexrt_compute_duration_seconds", "Time from batch start to outputs ready",
                                   {{"model", model}}, latency_buckets())),
      batch_size(r.histogram("chexrt_batch_size", "Samples per engine call", {{"model", model}}, batch_size_buckets())),
      queue_depth(r.gauge("chexrt_queue_depth", "Requests waiting in the queue", {{"model", model}})) {
  for (int i = 0; i < 6; ++i) {
    const auto reason = static_cast<FailureReason>(i);
    failures_[i] = &r.counter("chexrt_request_failure_total", "Inference requests that failed, by reason",
                              {{"model", model}, {"reason", failure_reason_name(reason)}});
  }
}

}  // namespace chexrt::server
