#include "builder/tactic_selection.h"

#include <cstdio>
#include <utility>

namespace chexrt::builder {

namespace {

constexpr double kRefused = TacticTimer::kRefused;

class Selector {
 public:
  Selector(TacticTimer& timer, TimingCache* cache, const SelectionLog& log) : timer_(timer), cache_(cache), log_(log) {}

  // Milliseconds per run of a candidate, from the cache when it is there.
  Result<double> time(size_t step, size_t candidate) {
    const std::string key = timer_.cache_key(step, candidate);
    double ms = 0;
    if (auto cached = cache_ ? cache_->find(key) : std::nullopt) {
      ms = *cached;
    } else {
      CHEXRT_ASSIGN_OR_RETURN(ms, timer_.time(step, candidate));
      if (ms == kRefused) {
        if (log_.verbose)
          std::fprintf(stderr, "%s: tactic %-70s refused\n", log_.prefix.c_str(), name(step, candidate));
        return ms;
      }
      if (cache_) cache_->insert(key, ms);
    }
    if (log_.verbose)
      std::fprintf(stderr, "%s: tactic %-70s %9.4f ms\n", log_.prefix.c_str(), name(step, candidate), ms);
    return ms;
  }

  // The fastest of `candidates` (its index there, and ms); ms is kRefused when the device runs none.
  Result<std::pair<size_t, double>> fastest(size_t step, const std::vector<size_t>& candidates) {
    std::pair<size_t, double> best{0, kRefused};
    for (size_t i = 0; i < candidates.size(); ++i) {
      CHEXRT_ASSIGN_OR_RETURN(const double ms, time(step, candidates[i]));
      if (ms < best.second) best = {i, ms};
    }
    return best;
  }

  void note(const char* verb, size_t step, size_t candidate, double ms, const char* tail = "") const {
    if (log_.verbose) {
      std::fprintf(stderr, "%s: %s %s (%.4f ms%s)\n", log_.prefix.c_str(), verb, name(step, candidate), ms, tail);
    }
  }

  const char* name(size_t step, size_t candidate) const {
    name_ = timer_.name(step, candidate);
    return name_.c_str();
  }

 private:
  TacticTimer& timer_;
  TimingCache* cache_;
  const SelectionLog& log_;
  mutable std::string name_;
};

}  // namespace

bool needs_timing(const TacticTimer& timer) {
  for (size_t s = 0; s < timer.num_steps(); ++s) {
    if (timer.num_candidates(s) > 1) return true;
  }
  return false;
}

Result<std::vector<size_t>> select_tactics(TacticTimer& timer, TimingCache* cache, const SelectionLog& log) {
  const size_t num_steps = timer.num_steps();
  for (size_t s = 0; s < num_steps; ++s) {
    if (timer.num_candidates(s) == 0)
      return invalid_argument("select_tactics: step " + std::to_string(s) + " has no tactic");
  }
  std::vector<size_t> choice(num_steps, 0);
  const auto fuses = [&](size_t s) { return choice[s] != kFusedAway && timer.fuses_next(s, choice[s]); };

  if (needs_timing(timer)) {
    Selector selector(timer, cache, log);
    // A fused kernel of steps s - 1 and s waiting for step s's best time.
    bool pending = false;
    size_t pending_candidate = 0;
    double pending_ms = kRefused, pending_first_ms = kRefused;
    for (size_t s = 0; s < num_steps; ++s) {
      if (s > 0 && fuses(s - 1)) continue;  // a fused kernel that stood alone (forced) does this step
      std::vector<size_t> plain, fused;
      for (size_t c = 0; c < timer.num_candidates(s); ++c) (timer.fuses_next(s, c) ? fused : plain).push_back(c);
      // A fused tactic that stands alone (forced) is chosen as it is, not timed as an extra.
      const bool only_fused = plain.empty();
      std::vector<size_t>& list = only_fused ? fused : plain;
      const bool deciding = pending;
      double best_ms = kRefused;
      if (list.size() > 1 || deciding || (!only_fused && !fused.empty())) {
        CHEXRT_ASSIGN_OR_RETURN(const auto best, selector.fastest(s, list));
        if (best.second == kRefused) {
          return runtime_error("no tactic of step " + timer.name(s, list[0]) + " runs on this device");
        }
        choice[s] = list[best.first];
        best_ms = best.second;
        selector.note("chose", s, choice[s], best_ms);
      } else {
        choice[s] = list[0];
      }
      CHEXRT_RETURN_IF_ERROR(timer.run(s, choice[s]));
      bool step_done_by_fused = false;
      if (deciding) {
        const double pair_ms = pending_first_ms + best_ms;
        const bool take = pending_ms < pair_ms;
        const std::string tail = " against " + std::to_string(pair_ms) + " ms for the pair";
        selector.note(take ? "chose" : "passed over", s - 1, pending_candidate, pending_ms, tail.c_str());
        if (take) {
          choice[s - 1] = pending_candidate;
          CHEXRT_RETURN_IF_ERROR(timer.run(s - 1, pending_candidate));
          step_done_by_fused = true;  // this step cannot start a fused pair of its own
        }
        pending = false;
      }
      if (!only_fused && !fused.empty() && !step_done_by_fused) {
        CHEXRT_ASSIGN_OR_RETURN(const auto best, selector.fastest(s, fused));
        if (best.second != kRefused) {
          pending = true;
          pending_candidate = fused[best.first];
          pending_ms = best.second;
          pending_first_ms = best_ms;
        }
      }
    }
  }
  // The step after a chosen fused kernel runs nothing.
  for (size_t s = 1; s < num_steps; ++s) {
    if (fuses(s - 1)) choice[s] = kFusedAway;
  }
  return choice;
}

}  // namespace chexrt::builder
