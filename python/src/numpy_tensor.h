// HostTensor <-> NumPy. Inputs: a C-contiguous array of the expected type is wrapped, not
// copied (the tensor holds a reference to the array); anything else is converted once.
// Outputs: an array over the tensor's own storage, which it keeps alive (no copy).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "chexrt/tensor.h"

namespace chexrt::python {

/// The NumPy dtype of a chexrt type, and back (InvalidArgumentError for types chexrt lacks).
pybind11::dtype numpy_dtype(DataType dtype);
DataType data_type_of(const pybind11::dtype& dtype, const std::string& what);

/// A tensor over `array`'s buffer when it is a C-contiguous ndarray of `dtype`, else over a
/// converted copy (which the tensor then owns). Raises InvalidArgumentError naming `what` when
/// the values cannot be converted; with `strict_dtype` also when the array has another dtype
/// (engine inputs: a float64 array is refused rather than silently converted).
HostTensor tensor_from_array(const pybind11::handle& array, DataType dtype, const std::string& what, bool strict_dtype);

/// A tensor of the array's own type (weights of add_constant), copied into chexrt's storage.
HostTensor tensor_copy(const pybind11::handle& array, const std::string& what);

/// An ndarray over the tensor's storage, which it keeps alive.
pybind11::array array_from_tensor(const HostTensor& tensor);

}  // namespace chexrt::python
