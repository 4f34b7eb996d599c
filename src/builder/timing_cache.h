// Tactic timings kept across builds: key (device, kernel name, problem signature) -> milliseconds.
// A text file, one "<ms>\t<key>" line per entry, so that a rebuild of the same model on the same
// GPU skips timing. It lives in default_timing_cache_path() unless CHEXRT_TIMING_CACHE names
// another file (or is empty, or "off": no cache).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "chexrt/status.h"

namespace chexrt::builder {

class TimingCache {
 public:
  /// Reads `path`; a missing file is an empty cache. Malformed lines are an error naming the line.
  Status load(const std::string& path);
  /// Writes to `path`.tmp and renames it over `path`, creating the folder if needed.
  Status save(const std::string& path) const;
  std::optional<double> find(const std::string& key) const;
  void insert(const std::string& key, double ms);
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, double> entries_;
};

/// $XDG_CACHE_HOME/chexrt/timing_cache.tsv, else $HOME/.cache/chexrt/timing_cache.tsv, else "".
std::string default_timing_cache_path();

/// The cache file to use: CHEXRT_TIMING_CACHE when set ("" or "off": none), else the default.
std::string timing_cache_path_from_environment();

}  // namespace chexrt::builder
