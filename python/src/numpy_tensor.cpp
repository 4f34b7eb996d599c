#include "numpy_tensor.h"

#include <cstring>
#include <memory>

#include "errors.h"

namespace py = pybind11;

namespace chexrt::python {

namespace {
std::string dtype_text(const py::dtype& dtype) { return dtype.attr("name").cast<std::string>(); }
}  // namespace

py::dtype numpy_dtype(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return py::dtype::of<float>();
    case DataType::kFloat16:
      return py::dtype("float16");
    case DataType::kInt64:
      return py::dtype::of<int64_t>();
    case DataType::kInt32:
      return py::dtype::of<int32_t>();
    case DataType::kInt8:
      return py::dtype::of<int8_t>();
    case DataType::kUInt8:
      return py::dtype::of<uint8_t>();
    case DataType::kBool:
      return py::dtype::of<bool>();
    case DataType::kFloat64:
      return py::dtype::of<double>();
  }
  raise_status(invalid_argument("unknown chexrt data type"));
}

DataType data_type_of(const py::dtype& dtype, const std::string& what) {
  for (DataType t : {DataType::kFloat32, DataType::kFloat16, DataType::kInt64, DataType::kInt32, DataType::kInt8,
                     DataType::kUInt8, DataType::kBool, DataType::kFloat64}) {
    if (numpy_dtype(t).is(dtype) || numpy_dtype(t).equal(dtype)) return t;
  }
  raise_status(invalid_argument(what + ": NumPy type " + dtype_text(dtype) +
                                " has no chexrt counterpart (float32, float16, float64, int64, int32, int8, "
                                "uint8 or bool)"));
}

namespace {

Dims dims_of(const py::array& a) { return Dims(a.shape(), a.shape() + a.ndim()); }

// Keeps a Python object alive from C++ for as long as a tensor over its memory lives. The
// tensor may be released on a thread without the GIL (an engine's worker), so the release
// takes it.
std::shared_ptr<void> hold(py::object object) {
  auto* held = new py::object(std::move(object));
  return std::shared_ptr<void>(held, [](void* p) {
    py::gil_scoped_acquire gil;
    delete static_cast<py::object*>(p);
  });
}

}  // namespace

HostTensor tensor_from_array(const py::handle& object, DataType dtype, const std::string& what, bool strict_dtype) {
  const py::dtype want = numpy_dtype(dtype);
  if (py::isinstance<py::array>(object)) {
    py::array a = py::reinterpret_borrow<py::array>(object);
    if (!a.dtype().equal(want) && strict_dtype) {
      raise_status(invalid_argument(what + ": expected " + dtype_text(want) + ", got " + dtype_text(a.dtype()) +
                                    " (convert it with .astype(numpy." + dtype_text(want) + "))"));
    }
    if (a.dtype().equal(want) && (a.flags() & py::array::c_style)) {
      // The array is moved into its holder last: arguments are evaluated in no set order.
      void* data = const_cast<void*>(a.data());
      Dims dims = dims_of(a);
      return HostTensor::wrap(dtype, std::move(dims), data, hold(std::move(a)));
    }
  }
  // One conversion: a non-contiguous view, or numbers that are not an array yet (a list).
  py::array converted;
  try {
    converted = py::module_::import("numpy").attr("ascontiguousarray")(object);
  } catch (py::error_already_set&) {
  }
  const std::string kind = converted ? converted.dtype().attr("kind").cast<std::string>() : "";
  if (kind.empty() || kind.find_first_of("biuf") == std::string::npos) {
    raise_status(invalid_argument(what + ": expected an array of " + dtype_text(want) + ", got " +
                                  (converted ? "an array of " + dtype_text(converted.dtype())
                                             : py::str(py::type::of(object)).cast<std::string>())));
  }
  if (!converted.dtype().equal(want)) converted = converted.attr("astype")(want);
  void* data = const_cast<void*>(converted.data());
  Dims dims = dims_of(converted);
  return HostTensor::wrap(dtype, std::move(dims), data, hold(std::move(converted)));
}

HostTensor tensor_copy(const py::handle& object, const std::string& what) {
  py::array a = py::array::ensure(object, py::array::c_style);
  if (!a) {
    PyErr_Clear();
    raise_status(invalid_argument(what + ": not convertible to an array"));
  }
  const DataType dtype = data_type_of(a.dtype(), what);
  HostTensor t(dtype, dims_of(a));
  std::memcpy(t.raw(), a.data(), t.nbytes());
  return t;
}

py::array array_from_tensor(const HostTensor& tensor) {
  auto* owner = new HostTensor(tensor);
  py::capsule base(owner, [](void* p) { delete static_cast<HostTensor*>(p); });
  std::vector<py::ssize_t> shape(tensor.dims().begin(), tensor.dims().end());
  return py::array(numpy_dtype(tensor.dtype()), shape, owner->raw(), base);
}

}  // namespace chexrt::python
