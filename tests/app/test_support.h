// Paths and scratch directories shared by the app tests.
#pragma once

#include <stdlib.h>
#include <zlib.h>

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

/// An 8-bit grey PNG `width` pixels wide (at most 255) whose row y has filter type filters[y],
/// compressed with zlib by hand: libpng would never write an unknown filter type.
inline std::vector<uint8_t> png_with_filter_bytes(int width, const std::vector<uint8_t>& filters) {
  const int height = static_cast<int>(filters.size());
  std::vector<uint8_t> rows;
  for (int y = 0; y < height; ++y) {
    rows.push_back(filters[y]);
    for (int x = 0; x < width; ++x) rows.push_back(static_cast<uint8_t>(x * 3 + y));
  }
  uLongf size = compressBound(rows.size());
  std::vector<uint8_t> idat(size);
  if (compress2(idat.data(), &size, rows.data(), rows.size(), 6) != Z_OK) throw std::runtime_error("zlib failed");
  idat.resize(size);
  std::vector<uint8_t> png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    auto put32 = [&](uint32_t v) {
      for (int k = 0; k < 4; ++k) png.push_back(static_cast<uint8_t>(v >> (24 - 8 * k)));
    };
    put32(static_cast<uint32_t>(data.size()));
    std::vector<uint8_t> typed(type, type + 4);
    typed.insert(typed.end(), data.begin(), data.end());
    png.insert(png.end(), typed.begin(), typed.end());
    put32(static_cast<uint32_t>(crc32(0, typed.data(), static_cast<uInt>(typed.size()))));
  };
  const std::vector<uint8_t> ihdr = {0, 0, 0, static_cast<uint8_t>(width), 0, 0, 0, static_cast<uint8_t>(height), 8, 0,
                                     0, 0, 0};
  chunk("IHDR", ihdr);
  chunk("IDAT", idat);
  chunk("IEND", {});
  return png;
}

}  // namespace chexrt::app::testing
