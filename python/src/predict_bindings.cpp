// chexrt.Predictor / chexrt.predict: files to findings through the streaming pipeline of
// src/app/pipeline.h, the one `chexrt predict` runs (decode workers on every core, the engine,
// findings and heat maps, overlapped), with the GIL released for the whole run.
#include <pybind11/stl.h>
#include <unistd.h>

#include <filesystem>

#include "app/cam_model.h"
#include "app/findings.h"
#include "app/image_batch.h"
#include "app/pipeline.h"
#include "bindings.h"
#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"
#include "errors.h"
#include "numpy_tensor.h"

namespace py = pybind11;

namespace chexrt::python {

namespace {

std::string default_model_path() {
  // As `chexrt predict`: the demo model that scripts/make_reference_model.py makes.
  if (const char* env = std::getenv("CHEXRT_DEFAULT_MODEL")) return env;
  return std::string(CHEXRT_SOURCE_DIR) + "/models/generated/densenet121_chexnet_seeded.onnx";
}

Status prepare_heatmap_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (!std::filesystem::is_directory(path)) {
    return invalid_argument("heatmaps " + path + ": cannot create the folder" + (ec ? ": " + ec.message() : ""));
  }
  if (::access(path.c_str(), W_OK) != 0) return invalid_argument("heatmaps " + path + ": the folder is not writable");
  return Status::ok_status();
}

class Predictor {
 public:
  Predictor(const py::object& model, const py::object& engine, const std::string& mode, int resize_size,
            const py::object& heatmaps, const py::object& heatmap_finding, const std::string& heatmap_format,
            int heatmap_size, const std::string& device, const std::string& precision, int64_t batch, int threads,
            int decode_threads) {
    // Everything is checked before a model is read, as the command line does.
    options_.preprocess.mode = unwrap(app::parse_resize_mode(mode));
    options_.preprocess.resize_size = resize_size;
    check(app::validate(options_.preprocess));
    if (batch < 1) raise_status(invalid_argument("batch must be at least 1, not " + std::to_string(batch)));
    if (heatmap_format != "png" && heatmap_format != "jpeg") {
      raise_status(invalid_argument("heatmap_format must be png or jpeg, not '" + heatmap_format + "'"));
    }
    if (heatmap_size < 1) raise_status(invalid_argument("heatmap_size must be positive"));
    if (decode_threads < 0) raise_status(invalid_argument("decode_threads must be 0 (one per core) or more"));
    options_.decode_threads = decode_threads;
    const bool want_heatmaps = !heatmaps.is_none();
    if (!heatmap_finding.is_none()) {
      options_.heatmap_class = unwrap(app::finding_index(heatmap_finding.cast<std::string>()));
    }
    if (want_heatmaps && !engine.is_none()) {
      raise_status(invalid_argument("heatmaps need a model: engines hold no feature-map output"));
    }
    if (!engine.is_none() && !model.is_none()) raise_status(invalid_argument("give a model or an engine, not both"));
    BuildOptions build;
    build.device = unwrap(parse_device(device));
    build.precision = unwrap(parse_precision(precision));
    build.threads = threads;
    if (want_heatmaps) {
      options_.heatmap_dir = path_of(heatmaps);
      check(prepare_heatmap_dir(options_.heatmap_dir));
      options_.heatmap_max_side = heatmap_size;
      options_.heatmap_format = heatmap_format == "jpeg" ? app::ImageFormat::kJpeg : app::ImageFormat::kPng;
    }
    const int64_t samples = app::samples_per_image(options_.preprocess);
    if (!engine.is_none()) {
      engine_ = engine.cast<std::shared_ptr<PyEngine>>();
      const std::vector<TensorInfo>& outputs = engine_->get().outputs();
      if (outputs.empty() || outputs[0].dims.size() != 2 || outputs[0].dims[1] != app::kNumFindings) {
        raise_status(invalid_argument("the engine's first output is not [batch, 14] findings"));
      }
    } else {
      model_ = model.is_none() ? default_model_path() : path_of(model);
      build.max_batch = samples * batch;
      Status status;
      {
        py::gil_scoped_release release;
        status = build_from_model(want_heatmaps, build);
      }
      check(status);
    }
    options_.images_per_batch = engine_->get().max_batch() / samples;
    if (options_.images_per_batch < 1) {
      raise_status(invalid_argument("the engine's max batch " + std::to_string(engine_->get().max_batch()) +
                                    " is smaller than the " + std::to_string(samples) + " samples of one image"));
    }
  }

  py::list predict(const py::object& paths) {
    std::vector<std::string> given;
    if (py::isinstance<py::str>(paths) || py::hasattr(paths, "__fspath__")) {
      given.push_back(path_of(paths));
    } else {
      for (py::handle p : paths) given.push_back(path_of(p));
    }
    std::vector<app::FileResult> results;
    Status status;
    {
      py::gil_scoped_release release;
      status = run(given, &results);
    }
    check(status);
    py::object make = py::module_::import("chexrt._results").attr("PredictResult");
    py::list out;
    for (const app::FileResult& r : results) {
      py::object findings = py::none();
      py::object error = py::none();
      if (r.status.ok()) {
        py::dict d;
        for (int k = 0; k < app::kNumFindings; ++k) d[py::str(std::string(app::kFindingNames[k]))] = r.probabilities[k];
        findings = d;
      } else {
        error = py::str(r.status.to_string());
      }
      py::object heatmap = r.heatmap.empty() ? py::object(py::none()) : py::object(py::str(r.heatmap));
      py::object heatmap_error =
          r.heatmap_status.ok() ? py::object(py::none()) : py::object(py::str(r.heatmap_status.to_string()));
      out.append(make(r.path, findings, error, heatmap, heatmap_error));
    }
    return out;
  }

  std::shared_ptr<PyEngine> engine() const { return engine_; }
  const std::string& model() const { return model_; }

 private:
  Status build_from_model(bool heatmaps, const BuildOptions& build) {
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, parse_onnx_file(model_, OnnxImportOptions{}));
    if (heatmaps) {
      CHEXRT_ASSIGN_OR_RETURN(options_.heatmap_weights, app::attach_cam_features(network));
    }
    engine_ = std::make_shared<PyEngine>();
    CHEXRT_ASSIGN_OR_RETURN(engine_->engine, build_savable_engine(std::move(network), build));
    return Status::ok_status();
  }

  Status run(const std::vector<std::string>& paths, std::vector<app::FileResult>* results) {
    CHEXRT_ASSIGN_OR_RETURN(std::vector<std::string> files, app::expand_image_paths(paths));
    if (files.empty()) return not_found("no image files found in the given paths");
    std::lock_guard<std::mutex> lock(engine_->mutex);
    return app::run_pipeline(files, engine_->get(), options_,
                             [&](app::FileResult&& r) {
                               results->push_back(std::move(r));
                               return Status::ok_status();
                             })
        .status();
  }

  app::PipelineOptions options_;
  std::string model_;
  std::shared_ptr<PyEngine> engine_;
};

}  // namespace

void register_predict(py::module_& m) {
  py::class_<Predictor>(m, "_Predictor")
      .def(py::init<const py::object&, const py::object&, const std::string&, int, const py::object&, const py::object&,
                    const std::string&, int, const std::string&, const std::string&, int64_t, int, int>(),
           py::arg("model"), py::arg("engine"), py::arg("mode"), py::arg("resize_size"), py::arg("heatmaps"),
           py::arg("heatmap_finding"), py::arg("heatmap_format"), py::arg("heatmap_size"), py::arg("device"),
           py::arg("precision"), py::arg("batch"), py::arg("threads"), py::arg("decode_threads"))
      .def("predict", &Predictor::predict, py::arg("paths"))
      .def_property_readonly("engine", &Predictor::engine)
      .def_property_readonly("model", &Predictor::model);
  m.def("default_model_path", &default_model_path,
        "The demo model predict() uses without one ($CHEXRT_DEFAULT_MODEL, else the one "
        "scripts/make_reference_model.py makes in the source tree).");
  py::list names;
  for (auto name : app::kFindingNames) names.append(std::string(name));
  m.attr("FINDINGS") = py::tuple(names);
}

}  // namespace chexrt::python
