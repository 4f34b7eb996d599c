// Memory planning: the activations of an engine live in one arena. Buffers whose lifetimes do
// not overlap may share bytes; the planner assigns each buffer an offset so that buffers alive
// at the same step never overlap, and reports the arena size.
//
// Steps are the positions of nodes in execution order; a buffer is alive from the step that
// first writes it to the step that last reads it, both included. For a buffer holding several
// values (a concat root, see src/builder/concat_plan.h) the lifetime spans all of them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::builder {

constexpr size_t kArenaAlignment = 256;  ///< cudaMalloc's alignment; suits every vector load.

struct BufferRequest {
  size_t size = 0;    ///< Bytes.
  int first_use = 0;  ///< First step at which the buffer is alive.
  int last_use = 0;   ///< Last step at which it is alive (>= first_use).
};

struct MemoryPlan {
  std::vector<size_t> offsets;  ///< Per request, a multiple of the alignment.
  size_t arena_size = 0;        ///< Bytes, a multiple of the alignment.
};

/// Places every buffer in one arena: buffers alive at the same step never overlap. Greedy:
/// largest buffers first, each in the smallest gap that the buffers already placed and alive
/// at the same time leave below the arena's end (best fit), or else at the top, growing the
/// arena. Fails on a request whose
/// last_use is before its first_use, or on an alignment that is not a power of two.
Result<MemoryPlan> plan_memory(const std::vector<BufferRequest>& requests, size_t alignment = kArenaAlignment);

/// The largest total size of the buffers alive at one step, each rounded up to the alignment:
/// no plan can use a smaller arena.
size_t peak_live_bytes(const std::vector<BufferRequest>& requests, size_t alignment = kArenaAlignment);

}  // namespace chexrt::builder
