// Where a model's instances run: `chexrt serve --gpus` names the GPUs ("all", or device ordinals
// "0,1") and the instances are placed on them round-robin, as Triton's instance groups place
// theirs. Pure functions; the number of visible GPUs comes from the caller (cuda::gpu_count()).
#pragma once

#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::server {

/// --gpus: "all" (every visible GPU, 0 to gpu_count - 1) or comma-separated device ordinals
/// ("0,1"), in the order given. InvalidArgument naming the item otherwise: not a whole number,
/// empty, listed twice, or a GPU that does not exist (naming the ordinal and how many GPUs there
/// are); "all" where no GPU is visible too.
Result<std::vector<int>> parse_gpus(const std::string& text, int gpu_count);

/// The GPU of each of `instances` instances: gpus[i % gpus.size()] for instance i. `gpus` must
/// not be empty.
std::vector<int> place_instances(int instances, const std::vector<int>& gpus);

}  // namespace chexrt::server
