// chexrt's Status as Python exceptions: chexrt.Error and one subclass per StatusCode, each also
// a subclass of the built-in exception Python code expects for it (InvalidArgumentError is a
// ValueError, IoError an OSError, ...). The message is chexrt's own; `code` names the code.
#pragma once

#include <pybind11/pybind11.h>

#include "chexrt/status.h"

namespace chexrt::python {

/// Creates chexrt.Error and its subclasses in `module`.
void register_errors(pybind11::module_& module);

/// Raises (throws pybind11::error_already_set) the exception for a non-ok status.
[[noreturn]] void raise_status(const Status& status);

inline void check(const Status& status) {
  if (!status.ok()) raise_status(status);
}

template <class T>
T unwrap(Result<T> result) {
  if (!result.ok()) raise_status(result.status());
  return std::move(result).value();
}

}  // namespace chexrt::python
