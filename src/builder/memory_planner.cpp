#include "builder/memory_planner.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <string>

namespace chexrt::builder {

namespace {

size_t align_up(size_t bytes, size_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

bool lifetimes_overlap(const BufferRequest& a, const BufferRequest& b) {
  return a.first_use <= b.last_use && b.first_use <= a.last_use;
}

struct Interval {
  size_t begin;
  size_t end;
};

}  // namespace

Result<MemoryPlan> plan_memory(const std::vector<BufferRequest>& requests, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    return invalid_argument("memory plan: alignment " + std::to_string(alignment) + " is not a power of two");
  }
  for (size_t i = 0; i < requests.size(); ++i) {
    if (requests[i].last_use < requests[i].first_use) {
      return invalid_argument("memory plan: buffer " + std::to_string(i) + " is last used at step " +
                              std::to_string(requests[i].last_use) + ", before its first use at step " +
                              std::to_string(requests[i].first_use));
    }
  }
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  // Large buffers first: they are the hardest to fit, and small ones fill the gaps they leave.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const size_t sa = align_up(requests[a].size, alignment), sb = align_up(requests[b].size, alignment);
    if (sa != sb) return sa > sb;
    return requests[a].first_use < requests[b].first_use;
  });

  MemoryPlan plan;
  plan.offsets.assign(requests.size(), 0);
  std::vector<size_t> placed;
  std::vector<Interval> busy;
  for (size_t i : order) {
    const size_t size = align_up(requests[i].size, alignment);
    if (size == 0) continue;
    busy.clear();
    for (size_t j : placed) {
      if (lifetimes_overlap(requests[i], requests[j])) {
        busy.push_back({plan.offsets[j], plan.offsets[j] + align_up(requests[j].size, alignment)});
      }
    }
    std::sort(busy.begin(), busy.end(), [](const Interval& a, const Interval& b) { return a.begin < b.begin; });
    // Walk the busy intervals upwards; `top` is the end of everything seen so far, so a busy
    // interval that starts above it leaves a free gap [top, begin).
    size_t top = 0;
    size_t best_offset = 0;
    size_t best_gap = std::numeric_limits<size_t>::max();
    for (const Interval& b : busy) {
      if (b.begin > top && b.begin - top >= size && b.begin - top < best_gap) {
        best_gap = b.begin - top;
        best_offset = top;
      }
      top = std::max(top, b.end);
    }
    // Above all of them, the arena's current end is a gap too; only past it does the arena grow.
    if (plan.arena_size > top && plan.arena_size - top >= size && plan.arena_size - top < best_gap) {
      best_gap = plan.arena_size - top;
      best_offset = top;
    }
    plan.offsets[i] = best_gap != std::numeric_limits<size_t>::max() ? best_offset : top;
    plan.arena_size = std::max(plan.arena_size, plan.offsets[i] + size);
    placed.push_back(i);
  }
  return plan;
}

size_t peak_live_bytes(const std::vector<BufferRequest>& requests, size_t alignment) {
  // The live total only grows when a buffer starts, so its maximum is at some first_use.
  size_t peak = 0;
  for (const BufferRequest& at : requests) {
    size_t live = 0;
    for (const BufferRequest& r : requests) {
      if (r.first_use <= at.first_use && at.first_use <= r.last_use) live += align_up(r.size, alignment);
    }
    peak = std::max(peak, live);
  }
  return peak;
}

}  // namespace chexrt::builder
