#include "engine_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace chexrt::cli {

namespace fs = std::filesystem;

namespace {

// FNV-1a, 64 bits: a file's identity for the cache key (with its size), not a security check.
Result<uint64_t> hash_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(path + ": cannot read");
  uint64_t h = 1469598103934665603ull;
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<uint8_t>(block[i]);
      h *= 1099511628211ull;
    }
  }
  if (in.bad()) return io_error(path + ": read failed");
  return h;
}

}  // namespace

std::string engine_cache_dir() {
  if (const char* dir = std::getenv("CHEXRT_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/chexrt/engines";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/chexrt/engines";
  return "/tmp/chexrt-engines";
}

Result<std::string> engine_cache_path(const std::string& model_path, const std::string& weights_path,
                                      const BuildOptions& options, const std::string& variant) {
  CHEXRT_ASSIGN_OR_RETURN(uint64_t hash, hash_file(model_path));
  std::error_code ec;
  uintmax_t size = fs::file_size(model_path, ec);
  if (!weights_path.empty()) {
    // New weights for the same definition are another model.
    CHEXRT_ASSIGN_OR_RETURN(const uint64_t weights_hash, hash_file(weights_path));
    hash = hash * 0x100000001b3ull ^ weights_hash;
    size += fs::file_size(weights_path, ec);
  }
  char name[256];
  std::snprintf(name, sizeof(name), "%s-%016llx-%llu-%s-%s-b%lld-t%d%s%s.engine",
                fs::path(model_path).stem().string().substr(0, 64).c_str(), static_cast<unsigned long long>(hash),
                static_cast<unsigned long long>(size), device_name(options.device), precision_name(options.precision),
                static_cast<long long>(options.max_batch), options.threads, variant.empty() ? "" : "-",
                variant.c_str());
  return (fs::path(engine_cache_dir()) / name).string();
}

Result<CachedEngine> load_or_build_cached(const std::string& path, const BuildOptions& options,
                                          const std::function<Result<NetworkDefinition>()>& build_network) {
  CachedEngine result;
  result.path = path;
  std::error_code ec;
  if (fs::exists(path, ec)) {
    Result<std::unique_ptr<Engine>> loaded = load_engine(path, options.gpu);
    if (loaded.ok()) {
      result.engine = std::move(loaded).value();
      result.loaded = true;
      return result;
    }
    std::fprintf(stderr, "chexrt: note: rebuilding the cached engine: %s\n", loaded.status().to_string().c_str());
  }
  CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, build_network());
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) {
    std::fprintf(stderr, "chexrt: note: engine cache %s: %s; building without caching\n",
                 fs::path(path).parent_path().c_str(), ec.message().c_str());
    CHEXRT_ASSIGN_OR_RETURN(result.engine, build_engine(std::move(network), options));
    return result;
  }
  Result<std::unique_ptr<Engine>> built = build_engine_file(std::move(network), options, path);
  if (!built.ok()) return built.status();
  result.engine = std::move(built).value();
  return result;
}

}  // namespace chexrt::cli
