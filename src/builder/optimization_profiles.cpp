#include "builder/optimization_profiles.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace chexrt::builder {

std::vector<int64_t> optimization_profiles(int64_t min, int64_t opt, int64_t max) {
  std::vector<int64_t> batches = {max, opt > 0 ? std::min(opt, max) : max};
  int64_t p = 1;
  while (p < min) p *= 2;  // the first power of two at least min
  for (; p < max; p *= 2) batches.push_back(p);
  std::sort(batches.begin(), batches.end());
  batches.erase(std::unique(batches.begin(), batches.end()), batches.end());
  return batches;
}

std::string join_profile_tactics(const std::vector<std::pair<int64_t, std::string>>& per_profile) {
  if (per_profile.empty()) return "";
  if (per_profile.size() == 1) return per_profile[0].second;
  std::string text;
  for (const auto& [batch, name] : per_profile) text += (text.empty() ? "" : ";") + std::to_string(batch) + "=" + name;
  return text;
}

// A kernel name alone maps from batch 0: the largest profile's tactic (see the header).
std::map<int64_t, std::string> parse_profile_tactics(const std::string& text) {
  std::map<int64_t, std::string> out;
  if (text.empty()) return out;
  const bool listed = text.find('=') != std::string::npos && std::isdigit(static_cast<unsigned char>(text[0]));
  if (!listed) {
    out[0] = text;
    return out;
  }
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find(';', at);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(at, end - at);
    const size_t eq = item.find('=');
    if (eq != std::string::npos) out[std::atoll(item.substr(0, eq).c_str())] = item.substr(eq + 1);
    at = end + 1;
  }
  return out;
}

}  // namespace chexrt::builder
