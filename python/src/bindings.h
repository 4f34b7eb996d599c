// The pieces of the _chexrt extension module, each registering its classes and functions.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <mutex>
#include <string>

#include "runtime/engine_io.h"

namespace chexrt::python {

/// An engine as Python holds it: with what its engine file needs (Engine.save), and a lock
/// that lets one inference run at a time while the GIL is released (engines differ in what
/// they allow concurrently; the reference engine caches per-batch graphs unguarded).
struct PyEngine {
  SavableEngine engine;
  std::mutex mutex;
  Engine& get() { return *engine.built.engine; }
};

/// A path argument: str, bytes or os.PathLike.
std::string path_of(const pybind11::handle& path);

void register_network(pybind11::module_& m);
void register_engine(pybind11::module_& m);
void register_predict(pybind11::module_& m);

}  // namespace chexrt::python
