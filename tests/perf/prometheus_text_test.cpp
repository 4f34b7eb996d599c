#include "perf/prometheus_text.h"

#include <gtest/gtest.h>

#include <cmath>

namespace chexrt::perf {
namespace {

const char* const kMetrics =
    "# HELP chexrt_queue_duration_seconds Time from enqueue to batch start.\n"
    "# TYPE chexrt_queue_duration_seconds histogram\n"
    "chexrt_queue_duration_seconds_bucket{model=\"chexnet\",le=\"0.001\"} 3\n"
    "chexrt_queue_duration_seconds_bucket{model=\"chexnet\",le=\"+Inf\"} 10\n"
    "chexrt_queue_duration_seconds_sum{model=\"chexnet\"} 0.25\n"
    "chexrt_queue_duration_seconds_count{model=\"chexnet\"} 10\n"
    "chexrt_queue_duration_seconds_sum{model=\"other\"} 7\n"
    "chexrt_queue_duration_seconds_count{model=\"other\"} 1\n"
    "\n"
    "chexrt_compute_duration_seconds_sum{model=\"chexnet\",instance=\"0\"} 1.5e-1 1700000000000\n"
    "chexrt_compute_duration_seconds_count{model=\"chexnet\",instance=\"0\"} 4\n"
    "chexrt_compute_duration_seconds_sum{model=\"chexnet\",instance=\"1\"} 0.05\r\n"
    "chexrt_compute_duration_seconds_count{model=\"chexnet\",instance=\"1\"} 6\n"
    "chexrt_request_failure_total{model=\"chexnet\",reason=\"a \\\"quoted\\\" \\\\ reason\\n\"} 2\n"
    "chexrt_queue_depth{model=\"chexnet\"} +Inf\n"
    "up 1\n";

TEST(PrometheusText, ParsesSamplesAndLabels) {
  auto samples = parse_prometheus_text(kMetrics);
  ASSERT_TRUE(samples.ok()) << samples.status().to_string();
  ASSERT_EQ(samples->size(), 13u);
  EXPECT_EQ((*samples)[0].name, "chexrt_queue_duration_seconds_bucket");
  EXPECT_EQ((*samples)[0].labels.at("le"), "0.001");
  EXPECT_EQ((*samples)[0].value, 3);
  EXPECT_EQ((*samples)[6].value, 0.15);
  EXPECT_EQ((*samples)[10].labels.at("reason"), "a \"quoted\" \\ reason\n");
  EXPECT_TRUE(std::isinf((*samples)[11].value));
  EXPECT_EQ((*samples)[12].name, "up");
  EXPECT_TRUE((*samples)[12].labels.empty());
}

TEST(PrometheusText, HistogramTotalsOfOneModel) {
  auto samples = parse_prometheus_text(kMetrics);
  ASSERT_TRUE(samples.ok());
  auto queue = histogram_totals(*samples, "chexrt_queue_duration_seconds", {{"model", "chexnet"}});
  ASSERT_TRUE(queue);
  EXPECT_DOUBLE_EQ(queue->sum, 0.25);
  EXPECT_DOUBLE_EQ(queue->count, 10);
  // Series that differ in other labels (here per instance) are added up.
  auto compute = histogram_totals(*samples, "chexrt_compute_duration_seconds", {{"model", "chexnet"}});
  ASSERT_TRUE(compute);
  EXPECT_DOUBLE_EQ(compute->sum, 0.2);
  EXPECT_DOUBLE_EQ(compute->count, 10);
  auto other = histogram_totals(*samples, "chexrt_queue_duration_seconds", {{"model", "other"}});
  ASSERT_TRUE(other);
  EXPECT_DOUBLE_EQ(other->sum, 7);
  EXPECT_FALSE(histogram_totals(*samples, "chexrt_queue_duration_seconds", {{"model", "absent"}}));
  EXPECT_FALSE(histogram_totals(*samples, "chexrt_batch_size", {{"model", "chexnet"}}));
}

TEST(PrometheusText, ErrorsNameTheLine) {
  for (const char* bad : {"ok 1\nbroken{model=\"x\" 1\n", "ok 1\nname_only\n", "ok 1\nm{a=\"b\"} x1\n",
                          "ok 1\nm{a=b} 1\n", "ok 1\nm 1 2 3\n"}) {
    auto r = parse_prometheus_text(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("line 2"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace chexrt::perf
