// Writing output files so that a reader never sees a half-written one: the bytes go to a
// temporary file in the same directory, which is flushed to disk and renamed over the target
// (rename() within one file system is atomic).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::core {

/// Replaces `path` with `bytes`. On failure `path` is untouched and no temporary file is left.
/// The new file gets mode 0666 minus the umask, like any file the process creates.
Status write_file_atomically(const std::string& path, std::string_view bytes);

inline Status write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  return write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

/// A file written piece by piece that appears at `path` only when commit() succeeds: until then
/// the bytes go to a temporary file beside it, which is removed if the writer is destroyed
/// uncommitted. For outputs too large to hold in memory whole.
class AtomicFileWriter {
 public:
  /// Creates the temporary file; IoError (naming `path`) when it cannot.
  static Result<AtomicFileWriter> open(const std::string& path);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&&) = delete;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  /// Appends; the first failure is kept and returned by every later call and by commit().
  Status write(std::string_view bytes);
  /// Flushes the file to disk and renames it over `path`.
  Status commit();
  const std::string& path() const { return path_; }

 private:
  AtomicFileWriter(std::string path, std::string temp, int fd)
      : path_(std::move(path)), temp_(std::move(temp)), fd_(fd) {}
  void discard();
  std::string path_;
  std::string temp_;
  int fd_ = -1;
  Status status_;
};

}  // namespace chexrt::core
