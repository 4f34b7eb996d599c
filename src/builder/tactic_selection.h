// Choosing each step's kernel by timing (TensorRT's tactic selection). A backend offers, per
// step of its plan, a list of candidate kernels ("tactics") and a TacticTimer that can time and
// run them on the device; select_tactics() decides. It lives in the builder so that one
// algorithm, one timing cache and one log serve every backend that times kernels, and so that
// no running engine does it: engines call it only while they are built.
//
// The algorithm, step by step in plan order:
//   - the fastest candidate of a step wins (times from the cache where present);
//   - every step then runs its winner once, so that the next step is timed on realistic data;
//   - a candidate that fuses_next() does the work of its step and of the next one: it is timed
//     after the step's other candidates and wins if it beats the best of this step plus the best
//     of the next; the next step then runs nothing (kFusedAway);
//   - a step with one candidate is not timed (but still runs, unless no step needs timing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "builder/timing_cache.h"
#include "chexrt/status.h"

namespace chexrt::builder {

/// What a backend offers the builder for one set of candidate lists (one optimization profile).
/// Steps and candidates are indices: candidate c of step s.
class TacticTimer {
 public:
  virtual ~TacticTimer() = default;
  virtual size_t num_steps() const = 0;
  virtual size_t num_candidates(size_t step) const = 0;
  /// The tactic's name, as engine files store it and `chexrt inspect` shows it.
  virtual std::string name(size_t step, size_t candidate) const = 0;
  /// Whether the candidate also does the next step's work.
  virtual bool fuses_next(size_t step, size_t candidate) const = 0;
  /// The timing cache's key: what makes two timings comparable (device, kernel, problem).
  virtual std::string cache_key(size_t step, size_t candidate) const = 0;
  /// Milliseconds per run, measured on the device; kRefused when the device refuses to launch it
  /// (e.g. a cluster it cannot co-schedule). An error is a fault that makes building fail.
  virtual Result<double> time(size_t step, size_t candidate) = 0;
  /// Runs the candidate once, so that its output holds real values for the steps after it.
  virtual Status run(size_t step, size_t candidate) = 0;

  static constexpr double kRefused = 1e300;
};

/// The candidate chosen for a step, or kFusedAway when the previous step's fused kernel does its
/// work.
inline constexpr size_t kFusedAway = static_cast<size_t>(-1);

struct SelectionLog {
  bool verbose = false;  ///< one stderr line per timing and per choice
  std::string prefix;    ///< e.g. "cuda: batch 256"
};

/// Whether any step has more than one candidate (otherwise select_tactics times nothing).
bool needs_timing(const TacticTimer& timer);

/// The chosen candidate of every step. `cache` (may be null) gives and keeps timings.
/// Every step needs at least one candidate.
Result<std::vector<size_t>> select_tactics(TacticTimer& timer, TimingCache* cache, const SelectionLog& log);

}  // namespace chexrt::builder
