// Writing output files so that a reader never sees a half-written one: the bytes go to a
// temporary file in the same directory, which is flushed to disk and renamed over the target
// (rename() within one file system is atomic).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::app {

/// Replaces `path` with `bytes`. On failure `path` is untouched and no temporary file is left.
/// The new file gets mode 0666 minus the umask, like any file the process creates.
Status write_file_atomically(const std::string& path, std::string_view bytes);

inline Status write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes) {
  return write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

}  // namespace chexrt::app
