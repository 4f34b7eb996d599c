// Status and Result<T>: how every chexrt call reports failure. No exception crosses the
// public API; an error carries a code and a message that names the file, node or field.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace chexrt {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   ///< bad user input: a flag, a shape, a tensor
  kNotFound,          ///< a file, tensor or node that does not exist
  kUnsupported,       ///< valid input that chexrt does not implement (op, attribute, dtype)
  kParseError,        ///< a malformed file (ONNX, engine, image)
  kIoError,           ///< the file system said no
  kRuntimeError,      ///< a failure while running (CUDA, cuDNN, oneDNN)
  kVersionMismatch,   ///< an engine built for another GPU, CUDA, cuDNN or chexrt
  kUnavailable,       ///< cannot take the work now (a full queue, shutting down); try again later
  kDeadlineExceeded,  ///< the work did not finish within its time limit
};

const char* status_code_name(StatusCode code);

/// The outcome of an operation: ok, or a code with a human-readable message.
class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// "ParseError: model.onnx: node 'conv0' (Conv): ..." style one-line description.
  std::string to_string() const;

  /// Returns a copy whose message is prefixed by `context` (a file or node name).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
inline Status parse_error(std::string m) { return {StatusCode::kParseError, std::move(m)}; }
inline Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
inline Status runtime_error(std::string m) { return {StatusCode::kRuntimeError, std::move(m)}; }
inline Status unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status deadline_exceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }

/// A value or the Status that explains why there is none.
template <class T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {}  // NOLINT: implicit by design

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace chexrt

#define CHEXRT_CONCAT_INNER_(a, b) a##b
#define CHEXRT_CONCAT_(a, b) CHEXRT_CONCAT_INNER_(a, b)

/// Returns the Status from the enclosing function when `expr` is not ok.
#define CHEXRT_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::chexrt::Status chexrt_status_ = (expr);        \
    if (!chexrt_status_.ok()) return chexrt_status_; \
  } while (0)

#define CHEXRT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

/// `CHEXRT_ASSIGN_OR_RETURN(auto x, make_x());` unwraps a Result or returns its Status.
#define CHEXRT_ASSIGN_OR_RETURN(lhs, expr) \
  CHEXRT_ASSIGN_OR_RETURN_IMPL_(CHEXRT_CONCAT_(chexrt_result_, __LINE__), lhs, expr)
