// Paths and scratch directories shared by the app tests.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace chexrt::app::testing {

/// A file under the repository's data/ (CHEXRT_TEST_DATA_DIR is set by tests/app/CMakeLists.txt).
/// Throws std::runtime_error naming the file when it is missing: GoogleTest reports the
/// exception as the test's failure, so a missing file fails the test with its path, never
/// crashes it or lets it pass on empty data.
inline std::string test_data(const std::string& relative) {
  const std::string path = std::string(CHEXRT_TEST_DATA_DIR) + "/" + relative;
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error("missing test data file " + path);
  return path;
}

/// The whole file; throws std::runtime_error naming it when it cannot be read.
inline std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read " + path);
  return bytes;
}

inline void write_bytes(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_bytes(path, bytes.data(), bytes.size());
}

/// A fresh directory, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "chexrt_app_test.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) ? pattern : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace chexrt::app::testing
