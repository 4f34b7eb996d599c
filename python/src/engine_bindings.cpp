// Building, loading, saving and running engines: chexrt.build_engine, chexrt.load_engine and
// chexrt.Engine (TensorRT's builder, runtime and engine in one object).
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>

#include "bindings.h"
#include "chexrt/builder.h"
#include "errors.h"
#include "numpy_tensor.h"

namespace py = pybind11;

namespace chexrt::python {

// Defined in network_bindings.cpp: the network of a chexrt.NetworkDefinition, taken from it.
NetworkDefinition take_network(py::handle network);

namespace {

py::object tensor_info(const TensorInfo& info) {
  // Dim 0 is the batch, any size from 1 to max_batch: -1 as TensorRT shows dynamic dims.
  py::list shape;
  for (size_t i = 0; i < info.dims.size(); ++i) shape.append(i == 0 ? int64_t{-1} : info.dims[i]);
  py::object make = py::module_::import("chexrt._tensor_info").attr("TensorInfo");
  return make(info.name, py::tuple(shape), numpy_dtype(info.dtype));
}

// The inputs of infer() in the engine's order: one array, a sequence of arrays, or a dict by
// input name. Each is checked against the engine's input (type, rank, dims after the batch,
// one batch size for all) before the engine sees it.
std::vector<HostTensor> engine_inputs(const Engine& engine, const py::handle& given) {
  const std::vector<TensorInfo>& infos = engine.inputs();
  std::vector<py::handle> arrays;
  if (py::isinstance<py::dict>(given)) {
    py::dict by_name = py::reinterpret_borrow<py::dict>(given);
    for (const TensorInfo& info : infos) {
      if (!by_name.contains(info.name.c_str())) {
        raise_status(invalid_argument("input '" + info.name + "' is missing from the dict"));
      }
      arrays.push_back(by_name[info.name.c_str()]);
    }
    if (by_name.size() != infos.size()) {
      for (auto item : by_name) {
        const std::string name = py::str(item.first).cast<std::string>();
        if (std::none_of(infos.begin(), infos.end(), [&](const TensorInfo& i) { return i.name == name; })) {
          raise_status(invalid_argument("the engine has no input named '" + name + "'"));
        }
      }
    }
  } else if (py::isinstance<py::list>(given) || py::isinstance<py::tuple>(given)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(given);
    for (py::handle item : seq) arrays.push_back(item);
    // A nested list of numbers is one input, not several.
    if (!arrays.empty() && !py::isinstance<py::array>(arrays[0]) && infos.size() == 1 &&
        !py::isinstance<py::list>(arrays[0]) && !py::isinstance<py::tuple>(arrays[0])) {
      arrays = {given};
    }
  } else {
    arrays.push_back(given);
  }
  if (arrays.size() != infos.size()) {
    raise_status(invalid_argument("the engine has " + std::to_string(infos.size()) + " input(s), got " +
                                  std::to_string(arrays.size())));
  }
  std::vector<HostTensor> tensors;
  tensors.reserve(arrays.size());
  int64_t batch = -1;
  for (size_t i = 0; i < arrays.size(); ++i) {
    const TensorInfo& info = infos[i];
    HostTensor t = tensor_from_array(arrays[i], info.dtype, "input '" + info.name + "'", true);
    Dims expected = info.dims;
    const bool rank_ok = t.dims().size() == expected.size() && !expected.empty();
    if (rank_ok) expected[0] = t.dims()[0];
    if (!rank_ok || t.dims() != expected || t.dims()[0] < 1 || t.dims()[0] > engine.max_batch()) {
      Dims shown = info.dims;
      std::string want = dims_to_string(shown);
      if (!shown.empty()) want = "[N" + want.substr(want.find(','), std::string::npos);
      if (shown.size() == 1) want = "[N]";
      raise_status(invalid_argument("input '" + info.name + "': expected shape " + want + " with N from 1 to " +
                                    std::to_string(engine.max_batch()) + ", got " + dims_to_string(t.dims())));
    }
    if (batch >= 0 && t.dims()[0] != batch) {
      raise_status(invalid_argument("input '" + info.name + "' has batch " + std::to_string(t.dims()[0]) +
                                    ", the first input " + std::to_string(batch)));
    }
    batch = t.dims()[0];
    tensors.push_back(std::move(t));
  }
  return tensors;
}

py::list infer(PyEngine& self, const py::handle& given) {
  std::vector<HostTensor> inputs = engine_inputs(self.get(), given);
  std::vector<HostTensor> outputs;
  Status status;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(self.mutex);
    status = self.get().infer(inputs, &outputs);
  }
  check(status);
  py::list result;
  for (const HostTensor& t : outputs) result.append(array_from_tensor(t));
  return result;
}

BuildOptions build_options(const std::string& device, const std::string& precision, int64_t min_batch,
                           int64_t opt_batch, int64_t max_batch, int threads, bool optimize, bool verbose) {
  BuildOptions options;
  options.device = unwrap(parse_device(device));
  options.precision = unwrap(parse_precision(precision));
  options.min_batch = min_batch;
  options.opt_batch = opt_batch;
  options.max_batch = max_batch;
  options.threads = threads;
  options.optimize = optimize;
  options.verbose = verbose;
  return options;
}

std::shared_ptr<PyEngine> build(py::handle network, const std::string& device, const std::string& precision,
                                int64_t min_batch, int64_t opt_batch, int64_t max_batch, int threads, bool optimize,
                                bool verbose) {
  const BuildOptions options =
      build_options(device, precision, min_batch, opt_batch, max_batch, threads, optimize, verbose);
  NetworkDefinition definition = take_network(network);
  Result<SavableEngine> built = Status();
  {
    py::gil_scoped_release release;
    built = build_savable_engine(std::move(definition), options);
  }
  auto engine = std::make_shared<PyEngine>();
  engine->engine = unwrap(std::move(built));
  return engine;
}

std::shared_ptr<PyEngine> load(const py::handle& path) {
  const std::string file = path_of(path);
  Result<SavableEngine> loaded = Status();
  {
    py::gil_scoped_release release;
    loaded = runtime::load_savable_engine(file);
  }
  auto engine = std::make_shared<PyEngine>();
  engine->engine = unwrap(std::move(loaded));
  return engine;
}

// The C++ side of bench/python_overhead.py: the median of `iterations` Engine::infer calls
// timed in C++ on one input tensor, after `warmup` calls, in seconds.
double time_infer_in_cpp(PyEngine& self, const py::handle& given, int warmup, int iterations) {
  std::vector<HostTensor> inputs = engine_inputs(self.get(), given);
  std::vector<double> seconds;
  Status status;
  {
    py::gil_scoped_release release;
    std::lock_guard<std::mutex> lock(self.mutex);
    std::vector<HostTensor> outputs;
    for (int i = 0; i < warmup + iterations && status.ok(); ++i) {
      const auto start = std::chrono::steady_clock::now();
      status = self.get().infer(inputs, &outputs);
      const auto end = std::chrono::steady_clock::now();
      if (i >= warmup) seconds.push_back(std::chrono::duration<double>(end - start).count());
    }
  }
  check(status);
  if (seconds.empty()) raise_status(invalid_argument("iterations must be at least 1"));
  std::nth_element(seconds.begin(), seconds.begin() + seconds.size() / 2, seconds.end());
  return seconds[seconds.size() / 2];
}

}  // namespace

void register_engine(py::module_& m) {
  py::class_<PyEngine, std::shared_ptr<PyEngine>>(m, "Engine",
                                                  "An optimized network on one backend (chexrt::Engine). Made by "
                                                  "build_engine() or load_engine().")
      .def_property_readonly("inputs",
                             [](PyEngine& e) {
                               py::list l;
                               for (const TensorInfo& i : e.get().inputs()) l.append(tensor_info(i));
                               return l;
                             })
      .def_property_readonly("outputs",
                             [](PyEngine& e) {
                               py::list l;
                               for (const TensorInfo& i : e.get().outputs()) l.append(tensor_info(i));
                               return l;
                             })
      .def_property_readonly("max_batch", [](PyEngine& e) { return e.get().max_batch(); })
      .def_property_readonly("backend", [](PyEngine& e) { return e.get().backend_name(); })
      .def_property_readonly("device", [](PyEngine& e) { return std::string(device_name(e.engine.options.device)); })
      .def_property_readonly("precision",
                             [](PyEngine& e) { return std::string(precision_name(e.engine.options.precision)); })
      .def("infer", &infer, py::arg("inputs"),
           "Runs one batch. `inputs`: one float32 array [N, ...] (C-contiguous arrays are read in place), a "
           "list of them in the order of `inputs`, or a dict by input name. Returns the outputs as a list of "
           "NumPy arrays, in the order of `outputs`, over the engine's output buffers (no copy). The GIL is "
           "released while the engine runs; one inference runs at a time per engine.")
      .def(
          "save",
          [](PyEngine& e, const py::handle& path) {
            const std::string file = path_of(path);
            Status status;
            {
              py::gil_scoped_release release;
              status = runtime::save_engine_file(file, e.engine);
            }
            check(status);
          },
          py::arg("path"),
          "Writes the engine file (atomically): load_engine() and `chexrt --engine` read it back without "
          "importing or timing anything.")
      .def("describe_layers", [](PyEngine& e) { return e.get().describe_layers(); })
      .def("_time_infer_in_cpp", &time_infer_in_cpp, py::arg("inputs"), py::arg("warmup") = 10,
           py::arg("iterations") = 100)
      .def("__repr__", [](PyEngine& e) {
        return "<chexrt.Engine backend=" + e.get().backend_name() +
               " max_batch=" + std::to_string(e.get().max_batch()) + ">";
      });

  m.def("build_engine", &build, py::arg("network"), py::kw_only(), py::arg("device") = "auto",
        py::arg("precision") = "fp32", py::arg("min_batch") = 1, py::arg("opt_batch") = 0, py::arg("max_batch") = 1,
        py::arg("threads") = 0, py::arg("optimize") = true, py::arg("verbose") = false,
        "Optimizes the network and builds an engine (chexrt::build_engine). The network is consumed. "
        "device: auto, cuda, cpu or reference; precision: fp32, fp16 (cuda) or bf16 (cpu); the engine takes "
        "batches from 1 to max_batch, tuned for min_batch..max_batch (opt_batch 0: max_batch).");
  m.def("load_engine", &load, py::arg("path"),
        "Loads an engine file (chexrt::load_engine): no import, passes or timing; refused with the differing "
        "field named when built for another GPU, CUDA, cuDNN or chexrt.");
  m.def("_input_tensor_address", [](const py::handle& array) {
    // What infer() reads: the address of the tensor made from `array` (tests check zero-copy).
    HostTensor t = tensor_from_array(array, DataType::kFloat32, "array", true);
    return reinterpret_cast<uintptr_t>(t.raw());
  });
}

}  // namespace chexrt::python
