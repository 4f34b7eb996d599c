#include "server/gpu_placement.h"

#include <algorithm>
#include <cstdlib>

namespace chexrt::server {

namespace {

std::string visible(int gpu_count) {
  if (gpu_count == 0) return "no GPU is visible";
  return std::to_string(gpu_count) + " GPU(s) are visible (0 to " + std::to_string(gpu_count - 1) + ")";
}

}  // namespace

Result<std::vector<int>> parse_gpus(const std::string& text, int gpu_count) {
  std::vector<int> gpus;
  if (text == "all") {
    if (gpu_count == 0) return invalid_argument("--gpus all: " + visible(0));
    for (int g = 0; g < gpu_count; ++g) gpus.push_back(g);
    return gpus;
  }
  // Every item's form first, so that a typo is named as such wherever no GPU is.
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const bool digits = !item.empty() && item.size() <= 6 &&
                        std::all_of(item.begin(), item.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) {
      return invalid_argument("--gpus " + text + ": '" + item +
                              "' is not a device ordinal (give 'all' or ordinals such as 0,1)");
    }
    gpus.push_back(std::atoi(item.c_str()));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  for (size_t i = 0; i < gpus.size(); ++i) {
    const std::string gpu = std::to_string(gpus[i]);
    if (gpus[i] >= gpu_count) {
      return invalid_argument("--gpus " + text + ": GPU " + gpu + " does not exist: " + visible(gpu_count));
    }
    if (std::find(gpus.begin(), gpus.begin() + static_cast<std::ptrdiff_t>(i), gpus[i]) !=
        gpus.begin() + static_cast<std::ptrdiff_t>(i)) {
      return invalid_argument("--gpus " + text + ": GPU " + gpu + " is listed twice");
    }
  }
  return gpus;
}

std::vector<int> place_instances(int instances, const std::vector<int>& gpus) {
  std::vector<int> placement;
  for (int i = 0; i < instances; ++i) placement.push_back(gpus[static_cast<size_t>(i) % gpus.size()]);
  return placement;
}

}  // namespace chexrt::server
