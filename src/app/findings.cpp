#include "app/findings.h"

#include <string>

namespace chexrt::app {
namespace {

char fold(char c) {
  if (c == ' ') return '_';
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (fold(a[i]) != fold(b[i])) return false;
  }
  return true;
}

}  // namespace

Result<int> finding_index(std::string_view name) {
  for (int k = 0; k < kNumFindings; ++k) {
    if (same_name(name, kFindingNames[k])) return k;
  }
  std::string known;
  for (std::string_view f : kFindingNames) known += (known.empty() ? "" : ", ") + std::string(f);
  return not_found("unknown finding '" + std::string(name) + "'; the findings are " + known);
}

std::vector<float> mean_findings(const float* probabilities, int64_t samples) {
  std::vector<float> mean(kNumFindings, 0.f);
  for (int64_t s = 0; s < samples; ++s) {
    for (int f = 0; f < kNumFindings; ++f) mean[f] += probabilities[s * kNumFindings + f] / samples;
  }
  return mean;
}

}  // namespace chexrt::app
