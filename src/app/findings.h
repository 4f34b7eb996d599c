// The 14 findings of NIH ChestX-ray14 in CheXNet's output order.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::app {

inline constexpr int kNumFindings = 14;

/// Output k of a CheXNet model is the probability of kFindingNames[k].
inline constexpr std::array<std::string_view, kNumFindings> kFindingNames = {
    "Atelectasis", "Cardiomegaly", "Effusion",           "Infiltration",  "Mass",
    "Nodule",      "Pneumonia",    "Pneumothorax",       "Consolidation", "Edema",
    "Emphysema",   "Fibrosis",     "Pleural_Thickening", "Hernia",
};

/// The index of a finding name, ignoring case and treating ' ' as '_' ("pleural thickening"
/// finds Pleural_Thickening). NotFound lists the valid names.
Result<int> finding_index(std::string_view name);

/// One image's findings from its `samples` consecutive rows of kNumFindings probabilities: the
/// mean over the samples (ten-crop), or the row itself for one sample.
std::vector<float> mean_findings(const float* probabilities, int64_t samples);

}  // namespace chexrt::app
