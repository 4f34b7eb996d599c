// chexrt run: any model on raw tensors. Either ONNX's test-data layout
// (DIR/test_data_set_N/input_K.pb compared with output_K.pb under --rtol/--atol, as ONNX's own
// backend tests are laid out), or --input T.pb|T.npy [--output O.npy].
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"
#include "commands.h"
#include "import/tensor_io.h"
#include "ir/graph.h"
#include "model_loading.h"
#include "runtime/backend_registry.h"

namespace chexrt::cli {

namespace fs = std::filesystem;

namespace {

struct RunOptions {
  std::string model;
  std::string weights;
  std::string test_data;
  std::vector<std::string> inputs;
  std::string output;
  double rtol = 1e-3;
  double atol = 1e-7;
  std::string device = "auto";
  std::string precision = "fp32";
};

// Files named <prefix>_0.pb, <prefix>_1.pb, ... in order.
std::vector<std::string> numbered_files(const fs::path& dir, const std::string& prefix) {
  std::vector<std::string> files;
  for (int k = 0;; ++k) {
    const fs::path p = dir / (prefix + "_" + std::to_string(k) + ".pb");
    if (!fs::exists(p)) break;
    files.push_back(p.string());
  }
  return files;
}

// Builds an engine for the model with `tensors` bound to its inputs; int64 inputs (shape
// tensors) become build-time constants.
Result<std::unique_ptr<Engine>> build_for(const RunOptions& o, const std::vector<HostTensor>& tensors,
                                          std::vector<HostTensor>* runtime_inputs) {
  OnnxImportOptions import_options;
  import_options.batch_size = tensors.empty() || tensors[0].dims().empty() ? 1 : tensors[0].dims()[0];
  if (!o.weights.empty() || is_caffe_definition(o.model)) {
    // Caffe networks take float inputs only, their batch from the first tensor.
    CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, load_network(o.model, import_options.batch_size, o.weights));
    if (network.graph().inputs().size() != tensors.size()) {
      return invalid_argument("model has " + std::to_string(network.graph().inputs().size()) + " inputs, " +
                              std::to_string(tensors.size()) + " tensors were given");
    }
    *runtime_inputs = tensors;
    CHEXRT_ASSIGN_OR_RETURN(BuildOptions build,
                            make_build_options(o.device, o.precision, import_options.batch_size, 0));
    return build_engine(std::move(network), build);
  }
  // First pass: learn the input names so that int64 inputs can be bound as constants.
  CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition probe, parse_onnx_file(o.model, import_options));
  const auto& graph = probe.graph();
  if (graph.inputs().size() != tensors.size()) {
    return invalid_argument("model has " + std::to_string(graph.inputs().size()) + " inputs, " +
                            std::to_string(tensors.size()) + " tensors were given");
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& value = graph.value(graph.inputs()[i]);
    if (tensors[i].dtype() == DataType::kInt64) {
      import_options.constant_inputs[value.name] = tensors[i];
    } else {
      runtime_inputs->push_back(tensors[i]);
    }
  }
  CHEXRT_ASSIGN_OR_RETURN(NetworkDefinition network, parse_onnx_file(o.model, import_options));
  CHEXRT_ASSIGN_OR_RETURN(BuildOptions build, make_build_options(o.device, o.precision, import_options.batch_size, 0));
  return build_engine(std::move(network), build);
}

// Compares as ONNX's backend tests do: |actual - expected| <= atol + rtol * |expected|.
Status compare(const HostTensor& actual, const HostTensor& expected, double rtol, double atol,
               const std::string& what) {
  if (actual.dims() != expected.dims()) {
    return invalid_argument(what + ": shape " + dims_to_string(actual.dims()) + " != expected " +
                            dims_to_string(expected.dims()));
  }
  const auto a = actual.to_doubles();
  const auto e = expected.to_doubles();
  size_t bad = 0, worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double excess = std::abs(a[i] - e[i]) - (atol + rtol * std::abs(e[i]));
    if (excess > 0 || std::isnan(a[i]) != std::isnan(e[i])) {
      ++bad;
      if (excess >= worst_excess) worst_excess = excess, worst = i;
    }
  }
  if (bad == 0) return Status::ok_status();
  return invalid_argument(what + ": " + std::to_string(bad) + " of " + std::to_string(a.size()) +
                          " values differ; worst at " + std::to_string(worst) + ": " + std::to_string(a[worst]) +
                          " vs " + std::to_string(e[worst]));
}

int run_test_data(const RunOptions& o) {
  std::vector<fs::path> sets;
  for (const auto& entry : fs::directory_iterator(o.test_data)) {
    if (entry.is_directory() && entry.path().filename().string().rfind("test_data_set_", 0) == 0) {
      sets.push_back(entry.path());
    }
  }
  std::sort(sets.begin(), sets.end());
  if (sets.empty()) return report_usage_error(not_found(o.test_data + ": no test_data_set_* folders"));
  int failed = 0;
  for (const auto& set : sets) {
    std::vector<HostTensor> tensors, expected, outputs, runtime_inputs;
    Status status;
    for (const auto& f : numbered_files(set, "input")) {
      auto t = read_tensor_file(f);
      if (!t.ok()) return report_error(t.status());
      tensors.push_back(*t);
    }
    for (const auto& f : numbered_files(set, "output")) {
      auto t = read_tensor_file(f);
      if (!t.ok()) return report_error(t.status());
      expected.push_back(*t);
    }
    auto engine = build_for(o, tensors, &runtime_inputs);
    if (!engine.ok()) return report_error(engine.status());
    status = (*engine)->infer(runtime_inputs, &outputs);
    if (status.ok() && outputs.size() != expected.size()) {
      status = invalid_argument("model gave " + std::to_string(outputs.size()) + " outputs, test data has " +
                                std::to_string(expected.size()));
    }
    for (size_t k = 0; status.ok() && k < outputs.size(); ++k) {
      status = compare(outputs[k], expected[k], o.rtol, o.atol, "output_" + std::to_string(k));
    }
    std::printf("%-40s %s\n", set.filename().string().c_str(), status.ok() ? "ok" : status.message().c_str());
    failed += !status.ok();
  }
  std::printf("%zu passed, %d failed\n", sets.size() - failed, failed);
  return failed ? kExitRuntimeError : kExitOk;
}

int run_tensors(const RunOptions& o) {
  std::vector<HostTensor> tensors, runtime_inputs, outputs;
  for (const auto& path : o.inputs) {
    auto t = read_tensor_file(path);
    if (!t.ok()) return report_error(t.status());
    tensors.push_back(*t);
  }
  auto engine = build_for(o, tensors, &runtime_inputs);
  if (!engine.ok()) return report_error(engine.status());
  Status status = (*engine)->infer(runtime_inputs, &outputs);
  if (!status.ok()) return report_error(status);
  for (size_t k = 0; k < outputs.size(); ++k) {
    const auto& info = (*engine)->outputs()[k];
    std::printf("output %s %s\n", info.name.c_str(), dims_to_string(outputs[k].dims()).c_str());
    if (!o.output.empty()) {
      const std::string path = outputs.size() == 1 ? o.output : o.output + "." + std::to_string(k) + ".npy";
      Status w = write_npy(path, outputs[k]);
      if (!w.ok()) return report_error(w);
    }
  }
  return 0;
}

}  // namespace

void register_run_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run any model on raw tensors (.pb/.npy or ONNX test-data folders)");
  cmd->add_option("--model", o->model, "Model: ONNX, or a Caffe .prototxt with --weights")
      ->required()
      ->check(CLI::ExistingFile);
  add_weights_option(cmd, &o->weights);
  auto* td = cmd->add_option("--test-data", o->test_data, "Folder holding test_data_set_N/{input,output}_K.pb")
                 ->check(CLI::ExistingDirectory);
  auto* in = cmd->add_option("--input", o->inputs, "Input tensor files (.pb or .npy), in the model's input order")
                 ->check(CLI::ExistingFile);
  cmd->add_option("--output", o->output, "Write the output tensor to this .npy file");
  cmd->add_option("--rtol", o->rtol, "Relative tolerance for --test-data")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--atol", o->atol, "Absolute tolerance for --test-data")
      ->capture_default_str()
      ->check(non_negative_number());
  cmd->add_option("--device", o->device, backends::device_help())->capture_default_str();
  cmd->add_option("--precision", o->precision, backends::precision_help())->capture_default_str();
  td->excludes(in);
  cmd->callback([o, &exit_code, td, in] {
    // Everything the command line names is checked before the model is read.
    if (td->count() == 0 && in->count() == 0) {
      exit_code = report_usage_error(invalid_argument("give --test-data DIR or --input FILES"));
      return;
    }
    auto words = make_build_options(o->device, o->precision, 1, 0);
    if (!words.ok()) {
      exit_code = report_usage_error(words.status());
      return;
    }
    if (!o->output.empty()) {
      Status s = check_output_file("--output", o->output);
      if (!s.ok()) {
        exit_code = report_usage_error(s);
        return;
      }
    }
    exit_code = td->count() ? run_test_data(*o) : run_tensors(*o);
  });
}

}  // namespace chexrt::cli
