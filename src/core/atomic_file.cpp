#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace chexrt::core {
namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Reads errno before building the message: allocating may change it.
Status errno_status(const char* action, const std::string& file) {
  const int error = errno;
  return io_error(std::string(action) + " " + file + ": " + std::strerror(error));
}

Status write_bytes(int fd, std::string_view bytes, const std::string& temp) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_status("cannot write", temp);
    }
    done += static_cast<size_t>(n);
  }
  return Status::ok_status();
}

// Creates a new temporary file next to `path`. Unique among threads (counter) and processes
// (pid); O_EXCL guards against anything else.
Status create_temporary(const std::string& path, std::string* temp, int* fd) {
  static std::atomic<uint64_t> counter{0};
  *fd = -1;
  for (int attempt = 0; attempt < 16 && *fd < 0; ++attempt) {
    *temp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
    *fd = ::open(temp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (*fd < 0 && errno != EEXIST) return errno_status("cannot create", *temp).with_context(path);
  }
  if (*fd < 0) return io_error(path + ": cannot find a free temporary name next to it");
  return Status::ok_status();
}

// Flushes and closes `fd`, then renames `temp` over `path`; removes `temp` on any failure.
Status finish(int fd, const std::string& temp, const std::string& path, Status status) {
  if (status.ok() && ::fsync(fd) != 0) status = errno_status("cannot flush", temp);
  if (::close(fd) != 0 && status.ok()) status = errno_status("cannot close", temp);
  if (status.ok() && ::rename(temp.c_str(), path.c_str()) != 0) {
    status = errno_status("cannot rename", temp);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status.with_context(path);
  }
  // Make the rename itself durable; failure here leaves a correct file, so it is not an error.
  const int dir = ::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return Status::ok_status();
}

}  // namespace

Status write_file_atomically(const std::string& path, std::string_view bytes) {
  if (path.empty()) return invalid_argument("write_file_atomically: empty path");
  int fd = -1;
  std::string temp;
  CHEXRT_RETURN_IF_ERROR(create_temporary(path, &temp, &fd));
  return finish(fd, temp, path, write_bytes(fd, bytes, temp));
}

Result<AtomicFileWriter> AtomicFileWriter::open(const std::string& path) {
  if (path.empty()) return invalid_argument("AtomicFileWriter: empty path");
  int fd = -1;
  std::string temp;
  CHEXRT_RETURN_IF_ERROR(create_temporary(path, &temp, &fd));
  return AtomicFileWriter(path, std::move(temp), fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)), temp_(std::move(other.temp_)), fd_(other.fd_), status_(other.status_) {
  other.fd_ = -1;
}

AtomicFileWriter::~AtomicFileWriter() { discard(); }

void AtomicFileWriter::discard() {
  if (fd_ < 0) return;
  ::close(fd_);
  ::unlink(temp_.c_str());
  fd_ = -1;
}

Status AtomicFileWriter::write(std::string_view bytes) {
  if (fd_ < 0 && status_.ok()) status_ = runtime_error(path_ + ": written after commit");
  if (status_.ok()) status_ = write_bytes(fd_, bytes, temp_);
  return status_;
}

Status AtomicFileWriter::commit() {
  if (fd_ < 0) return status_.ok() ? runtime_error(path_ + ": committed twice") : status_;
  const int fd = fd_;
  fd_ = -1;
  status_ = finish(fd, temp_, path_, status_);
  return status_;
}

}  // namespace chexrt::core
