#include "builder/timing_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"

namespace chexrt::builder {

namespace {
constexpr const char* kHeader = "# chexrt timing cache v1";
}

Status TimingCache::load(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::ok_status();
  std::lock_guard<std::mutex> lock(mu_);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    double ms = 0;
    if (tab == std::string::npos || std::sscanf(line.substr(0, tab).c_str(), "%lf", &ms) != 1 || ms < 0) {
      return parse_error(path + ":" + std::to_string(number) + ": expected '<ms>\\t<key>'");
    }
    entries_[line.substr(tab + 1)] = ms;
  }
  return Status::ok_status();
}

Status TimingCache::save(const std::string& path) const {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return io_error(parent.string() + ": " + ec.message());
  std::ostringstream out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    out << kHeader << "\n";
    for (const auto& [key, ms] : entries_) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6f", ms);
      out << buf << "\t" << key << "\n";
    }
  }
  return core::write_file_atomically(path, out.str());
}

std::optional<double> TimingCache::find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

void TimingCache::insert(const std::string& key, double ms) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_[key] = ms;
}

size_t TimingCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

std::string default_timing_cache_path() {
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::string(xdg) + "/chexrt/timing_cache.tsv";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::string(home) + "/.cache/chexrt/timing_cache.tsv";
  return "";
}

std::string timing_cache_path_from_environment() {
  const char* v = std::getenv("CHEXRT_TIMING_CACHE");
  if (v == nullptr) return default_timing_cache_path();
  const std::string path = v;
  return path == "off" ? "" : path;
}

}  // namespace chexrt::builder
