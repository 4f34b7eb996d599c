// chexrt run: any model on raw tensors. Either ONNX's test-data layout
// (DIR/test_data_set_N/input_K.pb compared with output_K.pb under --rtol/--atol, as ONNX's own
// backend tests are laid out), or --input [NAME=]T.pb|T.npy ... [--output [NAME=]O.npy ...].
// Named inputs bind by the model's input names; a TensorFlow frozen graph, which marks no
// outputs, takes its outputs from the --output names ("node" or "node:index"), or else every
// node that no other node reads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "chexrt/builder.h"
#include "chexrt/onnx_parser.h"
#include "chexrt/tensorflow_parser.h"
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
  std::vector<std::string> outputs;
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

// "NAME=FILE" or "FILE" (a name is only taken when the whole word is not a file).
struct NamedFile {
  std::string name;
  std::string path;
};

NamedFile split_named(const std::string& word) {
  const size_t eq = word.find('=');
  if (eq == std::string::npos || eq == 0 || fs::exists(word)) return {"", word};
  return {word.substr(0, eq), word.substr(eq + 1)};
}

// TensorFlow names output 0 of a node by the node's name.
std::string output_key(const std::string& name) {
  return name.size() > 2 && name.compare(name.size() - 2, 2, ":0") == 0 ? name.substr(0, name.size() - 2) : name;
}

int run_tensors(const RunOptions& o) {
  std::vector<NamedFile> inputs, outputs;
  for (const auto& word : o.inputs) inputs.push_back(split_named(word));
  for (const auto& word : o.outputs) outputs.push_back(split_named(word));
  std::vector<HostTensor> tensors;
  for (const auto& in : inputs) {
    auto t = read_tensor_file(in.path);
    if (!t.ok()) return report_error(t.status());
    tensors.push_back(*t);
  }
  Result<std::unique_ptr<Engine>> engine = unsupported("no model");
  std::vector<HostTensor> runtime_inputs;
  if (is_tensorflow_model(o.model)) {
    // A frozen graph: named inputs give their placeholders' shapes, named outputs are the outputs.
    TensorflowImportOptions import_options;
    import_options.batch_size = tensors.empty() || tensors[0].dims().empty() ? 1 : tensors[0].dims()[0];
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].name.empty()) import_options.input_shapes[inputs[i].name] = tensors[i].dims();
    }
    for (const auto& out : outputs) {
      if (!out.name.empty()) import_options.outputs.push_back(out.name);
    }
    auto network = parse_tensorflow_file(o.model, import_options);
    if (!network.ok()) return report_error(network.status());
    auto build = make_build_options(o.device, o.precision, import_options.batch_size, 0);
    if (!build.ok()) return report_error(build.status());
    engine = build_engine(std::move(*network), *build);
    runtime_inputs = tensors;
  } else {
    engine = build_for(o, tensors, &runtime_inputs);
  }
  if (!engine.ok()) return report_error(engine.status());
  // Named inputs go where the engine has them; unnamed ones fill the rest in order.
  const auto& infos = (*engine)->inputs();
  const bool named = std::any_of(inputs.begin(), inputs.end(), [](const NamedFile& f) { return !f.name.empty(); });
  if (named) {
    if (runtime_inputs.size() != tensors.size() || inputs.size() != infos.size()) {
      return report_error(invalid_argument("the model has " + std::to_string(infos.size()) + " inputs, " +
                                           std::to_string(inputs.size()) + " were given"));
    }
    std::vector<HostTensor> ordered(infos.size());
    std::vector<bool> bound(infos.size(), false);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].name.empty()) continue;
      auto it = std::find_if(infos.begin(), infos.end(), [&](const TensorInfo& t) { return t.name == inputs[i].name; });
      if (it == infos.end())
        return report_error(not_found("--input " + inputs[i].name + ": the model has no such input"));
      ordered[it - infos.begin()] = tensors[i];
      bound[it - infos.begin()] = true;
    }
    size_t next = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (!inputs[i].name.empty()) continue;
      while (next < bound.size() && bound[next]) ++next;
      if (next < bound.size()) ordered[next] = tensors[i], bound[next] = true;
    }
    runtime_inputs = std::move(ordered);
  }
  std::vector<HostTensor> results;
  Status status = (*engine)->infer(runtime_inputs, &results);
  if (!status.ok()) return report_error(status);
  const auto& out_infos = (*engine)->outputs();
  for (size_t k = 0; k < results.size(); ++k) {
    std::printf("output %s %s\n", out_infos[k].name.c_str(), dims_to_string(results[k].dims()).c_str());
  }
  for (const auto& out : outputs) {
    if (out.name.empty()) {
      // One unnamed --output: the only output, or output k as FILE.k.npy.
      for (size_t k = 0; k < results.size(); ++k) {
        const std::string path = results.size() == 1 ? out.path : out.path + "." + std::to_string(k) + ".npy";
        Status w = write_npy(path, results[k]);
        if (!w.ok()) return report_error(w);
      }
      continue;
    }
    auto it = std::find_if(out_infos.begin(), out_infos.end(),
                           [&](const TensorInfo& t) { return output_key(t.name) == output_key(out.name); });
    if (it == out_infos.end())
      return report_error(not_found("--output " + out.name + ": the model has no such output"));
    Status w = write_npy(out.path, results[it - out_infos.begin()]);
    if (!w.ok()) return report_error(w);
  }
  return 0;
}

}  // namespace

void register_run_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run any model on raw tensors (.pb/.npy or ONNX test-data folders)");
  cmd->add_option("--model", o->model,
                  "Model: ONNX, TensorFlow frozen graph (.pb, .pbtxt), or a Caffe .prototxt with --weights")
      ->required()
      ->check(CLI::ExistingFile);
  add_weights_option(cmd, &o->weights);
  auto* td = cmd->add_option("--test-data", o->test_data, "Folder holding test_data_set_N/{input,output}_K.pb")
                 ->check(CLI::ExistingDirectory);
  auto* in = cmd->add_option("--input", o->inputs,
                             "Input tensor file (.pb or .npy), NAME=FILE to bind the input NAME; repeatable "
                             "(unnamed files fill the inputs in order)");
  cmd->add_option("--output", o->outputs,
                  "NAME=FILE.npy writes output NAME (a TensorFlow graph: a node or node:index, which becomes "
                  "an output); FILE.npy alone writes the only output (FILE.npy.K.npy for several); repeatable");
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
    for (const auto& word : o->inputs) {
      const std::string path = split_named(word).path;
      if (!fs::exists(path)) {
        exit_code = report_usage_error(not_found("--input " + word + ": " + path + " does not exist"));
        return;
      }
    }
    for (const auto& word : o->outputs) {
      Status s = check_output_file("--output", split_named(word).path);
      if (!s.ok()) {
        exit_code = report_usage_error(s);
        return;
      }
    }
    if (td->count() && is_tensorflow_model(o->model)) {
      exit_code = report_usage_error(invalid_argument("--test-data takes ONNX models; use --input/--output"));
      return;
    }
    exit_code = td->count() ? run_test_data(*o) : run_tensors(*o);
  });
}

}  // namespace chexrt::cli
