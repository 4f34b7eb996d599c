// Prometheus text exposition: HELP and TYPE lines, labels escaped, cumulative histogram
// buckets ending in +Inf with _sum and _count, and the fixed names of one model's metrics.
#include <gtest/gtest.h>

#include <thread>

#include "server/metrics.h"

namespace chexrt::server {
namespace {

TEST(Metrics, CounterAndGaugeInTextFormat) {
  MetricsRegistry r;
  Counter& c = r.counter("requests_total", "Requests", {{"model", "m"}});
  c.increment();
  c.increment(2);
  c.increment(-5);  // counters never go down
  Gauge& g = r.gauge("depth", "Queue depth", {});
  g.set(7);
  g.add(-2.5);
  EXPECT_EQ(r.prometheus_text(),
            "# HELP depth Queue depth\n# TYPE depth gauge\ndepth 4.5\n"
            "# HELP requests_total Requests\n# TYPE requests_total counter\nrequests_total{model=\"m\"} 3\n");
  EXPECT_EQ(&r.counter("requests_total", "Requests", {{"model", "m"}}), &c);  // one series per label set
}

TEST(Metrics, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.counter("x_total", "X", {{"a", "q\"b\\s\nn"}, {"b", "2"}}).increment();
  EXPECT_NE(r.prometheus_text().find("x_total{a=\"q\\\"b\\\\s\\nn\",b=\"2\"} 1\n"), std::string::npos)
      << r.prometheus_text();
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  MetricsRegistry r;
  Histogram& h = r.histogram("latency_seconds", "Latency", {{"model", "m"}}, {0.1, 1});
  h.observe(0.05);
  h.observe(0.1);  // on a bound: counted in it (le)
  h.observe(0.5);
  h.observe(3);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 3.65);
  const std::string text = r.prometheus_text();
  EXPECT_NE(text.find("# TYPE latency_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("latency_seconds_bucket{model=\"m\",le=\"0.1\"} 2\n"
                      "latency_seconds_bucket{model=\"m\",le=\"1\"} 3\n"
                      "latency_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
                      "latency_seconds_sum{model=\"m\"} 3.65\n"
                      "latency_seconds_count{model=\"m\"} 4\n"),
            std::string::npos)
      << text;
}

TEST(Metrics, ConcurrentUpdatesAreAllCounted) {
  MetricsRegistry r;
  Counter& c = r.counter("n_total", "N", {});
  Histogram& h = r.histogram("h", "H", {}, {0.5});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.increment();
        h.observe(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.value(), 40000);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_EQ(h.sum(), 40000);
}

TEST(Metrics, ModelMetricsUseTheServersNames) {
  MetricsRegistry r;
  ModelMetrics m(r, "chexnet");
  m.success.increment();
  m.fail(FailureReason::kQueueFull);
  m.queue_depth.set(3);
  m.batch_size.observe(8);
  const std::string text = r.prometheus_text();
  for (const char* line :
       {"chexrt_request_success_total{model=\"chexnet\"} 1\n",
        "chexrt_request_failure_total{model=\"chexnet\",reason=\"queue_full\"} 1\n",
        "chexrt_request_failure_total{model=\"chexnet\",reason=\"timeout\"} 0\n",
        "chexrt_request_failure_total{model=\"chexnet\",reason=\"shutting_down\"} 0\n",
        "chexrt_inference_count_total{model=\"chexnet\"} 0\n", "chexrt_batch_execution_total{model=\"chexnet\"} 0\n",
        "chexrt_queue_depth{model=\"chexnet\"} 3\n", "chexrt_batch_size_bucket{model=\"chexnet\",le=\"8\"} 1\n",
        "chexrt_request_duration_seconds_count{model=\"chexnet\"} 0\n",
        "chexrt_queue_duration_seconds_count{model=\"chexnet\"} 0\n",
        "chexrt_compute_duration_seconds_count{model=\"chexnet\"} 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

TEST(Metrics, CollectorsRunAtEveryScrapeUntilRemoved) {
  MetricsRegistry r;
  Gauge& g = r.gauge("scraped", "Set when scraped", {});
  int calls = 0;
  const int id = r.add_collector([&] { g.set(++calls * 10); });
  EXPECT_NE(r.prometheus_text().find("scraped 10\n"), std::string::npos);
  EXPECT_NE(r.prometheus_text().find("scraped 20\n"), std::string::npos);
  r.remove_collector(id);
  EXPECT_NE(r.prometheus_text().find("scraped 20\n"), std::string::npos);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace chexrt::server
