#include "errors.h"

#include <array>

namespace py = pybind11;

namespace chexrt::python {

namespace {

struct ErrorClass {
  StatusCode code;
  const char* name;
  PyObject* builtin;  // the built-in base besides chexrt.Error, or null
  const char* doc;
};

// Filled at import (the built-in exception objects are not constants).
PyObject* g_error = nullptr;
std::array<PyObject*, 16> g_classes{};

}  // namespace

void register_errors(py::module_& module) {
  const ErrorClass classes[] = {
      {StatusCode::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError,
       "Bad input: an argument, shape or tensor."},
      {StatusCode::kNotFound, "NotFoundError", PyExc_LookupError, "A file, tensor or node that does not exist."},
      {StatusCode::kUnsupported, "UnsupportedError", PyExc_NotImplementedError,
       "Valid input that chexrt does not implement (an op, attribute or data type)."},
      {StatusCode::kParseError, "ParseError", PyExc_ValueError, "A malformed file (model, engine, image)."},
      {StatusCode::kIoError, "IoError", PyExc_OSError, "The file system refused a read or write."},
      {StatusCode::kRuntimeError, "ExecutionError", PyExc_RuntimeError,
       "A failure while running (CUDA, cuDNN, oneDNN, out of memory)."},
      {StatusCode::kVersionMismatch, "VersionMismatchError", nullptr,
       "An engine file built for another GPU, CUDA, cuDNN or chexrt version."},
      {StatusCode::kUnavailable, "UnavailableError", nullptr, "The work cannot be taken now; try again later."},
      {StatusCode::kDeadlineExceeded, "DeadlineExceededError", PyExc_TimeoutError,
       "The work did not finish within its time limit."},
  };
  g_error = PyErr_NewExceptionWithDoc("chexrt.Error",
                                      "Base class of chexrt's errors. str(e) is chexrt's message; e.code names "
                                      "the status code ('InvalidArgument', 'NotFound', ...).",
                                      PyExc_Exception, nullptr);
  if (g_error == nullptr) throw py::error_already_set();
  module.add_object("Error", py::handle(g_error));
  for (const ErrorClass& c : classes) {
    // py::tuple on both branches: pybind11 3 types make_tuple's result by its arity.
    py::tuple bases = c.builtin ? py::tuple(py::make_tuple(py::handle(g_error), py::handle(c.builtin)))
                                : py::tuple(py::make_tuple(py::handle(g_error)));
    const std::string qualified = std::string("chexrt.") + c.name;
    PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), c.doc, bases.ptr(), nullptr);
    if (type == nullptr) throw py::error_already_set();
    g_classes[static_cast<size_t>(c.code)] = type;
    module.add_object(c.name, py::handle(type));
  }
}

void raise_status(const Status& status) {
  PyObject* type = g_classes[static_cast<size_t>(status.code())];
  if (type == nullptr) type = g_error;
  py::object error = py::reinterpret_steal<py::object>(PyObject_CallFunction(type, "s", status.message().c_str()));
  if (!error) throw py::error_already_set();
  error.attr("code") = status_code_name(status.code());
  PyErr_SetObject(type, error.ptr());
  throw py::error_already_set();
}

}  // namespace chexrt::python
