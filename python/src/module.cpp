// chexrt's Python extension (_chexrt); python/chexrt/__init__.py is the package users import.
#include <pybind11/pybind11.h>

#include "bindings.h"
#include "errors.h"

namespace py = pybind11;

namespace chexrt::python {

std::string path_of(const py::handle& path) {
  py::object fspath = py::module_::import("os").attr("fspath")(path);
  if (py::isinstance<py::bytes>(fspath)) return fspath.cast<std::string>();
  return fspath.cast<std::string>();
}

}  // namespace chexrt::python

PYBIND11_MODULE(_chexrt, m) {
  m.doc() = "chexrt: CheXNet inference engine (C++ extension; import the chexrt package instead)";
  chexrt::python::register_errors(m);
  chexrt::python::register_network(m);
  chexrt::python::register_engine(m);
  chexrt::python::register_predict(m);
}
