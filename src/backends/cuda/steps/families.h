// A step family: the Steps of one kernel family (or library) and the function that offers them
// as candidates for a plan step. families.cpp lists every family; each has its own file here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backends/cuda/steps.h"

namespace chexrt::cuda {

/// What a family's candidates function appends to.
struct StepCandidates {
  std::vector<std::unique_ptr<Step>> steps;
  /// Why the last library candidate that failed to set up was left out (an unsupported shape is
  /// not fatal while another kernel takes the step); part of the error when none does.
  std::string skipped;
  /// When not empty, the one tactic wanted: families set up only a candidate of this name.
  std::string wanted;
  bool wants(const Step& step) const { return wanted.empty() || step.name() == wanted; }
  /// Whether a family whose tactic names all contain `marker` can offer the wanted one.
  bool may_want(const char* marker) const { return wanted.empty() || wanted.find(marker) != std::string::npos; }
  /// Keeps a library candidate whose set-up succeeded; else notes why it was left out.
  void add_or_skip(std::unique_ptr<Step> step, const Status& set_up) {
    if (set_up.ok()) {
      steps.push_back(std::move(step));
    } else {
      skipped = set_up.message();
    }
  }
};

/// Appends the family's candidates for plan step `index`, each prepared for env.batch; appends
/// none where the family does not take the step.
using CandidatesFn = Status (*)(const StepFactoryEnv& env, int index, StepCandidates* out);

struct StepFamily {
  const char* name;
  StepKind kind;  ///< The plan steps it offers candidates for.
  CandidatesFn candidates;
};

/// Every family, in the order their candidates are offered (and timed).
const std::vector<StepFamily>& step_families();

}  // namespace chexrt::cuda
