// TensorRT-style optimization profiles, one batch range each: the batches an engine's builder
// tunes kernels at, and how an engine file stores a node's tactic for every profile.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace chexrt::builder {

/// The batches the builder times kernels at: every power of two from the one at least `min` up
/// to `max`, plus `opt` (0: max) and `max`; ascending.
std::vector<int64_t> optimization_profiles(int64_t min, int64_t opt, int64_t max);

/// A node's tactics in every profile as one string, what node_tactics() gives and engine files
/// store: "1=kernelA;2=kernelB;...;256=kernelC" (ascending batches), or the kernel name alone for
/// an engine of one profile. parse_profile_tactics reads both; a name alone maps from batch 0 and
/// forces the largest profile's tactic only (the others are timed), as CHEXRT_CUDA_TACTIC and
/// tests force one kernel.
std::string join_profile_tactics(const std::vector<std::pair<int64_t, std::string>>& per_profile);
std::map<int64_t, std::string> parse_profile_tactics(const std::string& text);

}  // namespace chexrt::builder
