// chexrt inspect M.onnx | M.pb | M.pbtxt: inputs, outputs, op counts, parameters and FLOPs, and
// the conversion report (which nodes the --device backend runs, in which segments, and which it
// leaves to the reference backend, and why); --dump prints the graph, --optimized shows it after
// the graph passes. chexrt inspect M.engine: the fingerprint and each layer's kernel.
#include <cstdio>
#include <fstream>

#include "builder/conversion_report.h"
#include "chexrt/onnx_parser.h"
#include "chexrt/tensorflow_parser.h"
#include "commands.h"
#include "engine/engine_file.h"
#include "ir/dump.h"
#include "ir/graph.h"
#include "model_loading.h"
#include "passes/pass_manager.h"
#include "runtime/backend_registry.h"
#include "table.h"

namespace chexrt::cli {

namespace {

struct InspectOptions {
  std::string model;
  std::string weights;
  bool dump = false;
  bool optimized = false;
  int64_t batch = 1;
  std::string device = "auto";
  std::vector<std::string> input_shapes;
};

void print_values(const ir::Graph& graph, const std::vector<int>& values, const char* kind) {
  for (int v : values) {
    std::printf("%-7s %-24s %-18s %s\n", kind, graph.value(v).name.c_str(), dims_to_string(graph.value(v).dims).c_str(),
                dtype_name(graph.value(v).dtype));
  }
}

bool is_engine_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  char magic[8] = {};
  file.read(magic, sizeof(magic));
  return file && std::string(magic, sizeof(magic)) == "CHXRTENG";
}

// An engine file: where it was built, and the kernel and precision of every layer.
int inspect_engine(const InspectOptions& o) {
  auto file = engine::read_engine_file(o.model);
  if (!file.ok()) return report_error(file.status());
  const auto& f = file->fingerprint;
  const std::string where = f.device_name.empty()
                                ? std::string("no GPU")
                                : f.device_name + " (sm_" + std::to_string(f.compute_capability_major) +
                                      std::to_string(f.compute_capability_minor) + ")";
  std::printf("engine  %s\nbackend %s  precision %s  batch 1..%lld\nbuilt   chexrt %s, %s, CUDA %d, cuDNN %d\n",
              o.model.c_str(), f.backend.c_str(), f.precision.c_str(), static_cast<long long>(f.max_batch),
              f.chexrt_version.c_str(), where.c_str(), f.cuda_runtime_version, f.cudnn_version);
  Table table({"layer", "op", "kernel", "output"});
  const ir::Graph& graph = file->graph;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    const std::string kernel =
        n < static_cast<int>(file->tactics.size()) && !file->tactics[n].empty() ? file->tactics[n] : "reference";
    table.add_row({node.name, ir::op_name(node.op), kernel, dims_to_string(graph.value(node.outputs[0]).dims)});
  }
  std::printf("\n%s", table.to_string().c_str());
  if (o.dump) std::printf("\n%s", ir::dump(graph).c_str());
  return 0;
}

// A frozen graph marks neither its outputs nor always its input shapes: what it declares.
void print_tensorflow_declarations(const TensorflowGraphInfo& info) {
  std::printf("graph   TensorFlow frozen graph, %s\n",
              info.nhwc ? "NHWC (4-D inputs and outputs are NCHW in the engine)" : "NCHW");
  for (const auto& p : info.placeholders) {
    std::printf("%-7s %-24s %-18s %s (placeholder, as declared)\n", "input", p.name.c_str(),
                p.known_rank ? dims_to_string(p.dims).c_str() : "unknown rank", dtype_name(p.dtype));
  }
  for (const auto& out : info.default_outputs) {
    std::printf("%-7s %s (read by no other node)\n", "output", out.c_str());
  }
}

int run_inspect(const InspectOptions& o) {
  if (is_engine_file(o.model)) return inspect_engine(o);
  if (is_tensorflow_model(o.model)) {
    auto info = describe_tensorflow_file(o.model);
    if (!info.ok()) return report_error(info.status());
    print_tensorflow_declarations(*info);
  }
  auto device = parse_device(o.device);
  if (!device.ok()) return report_usage_error(device.status());
  auto network = load_network(o.model, o.batch, o.weights, o.input_shapes);
  if (!network.ok()) return report_error(network.status());
  ir::Graph& graph = network->graph();
  std::vector<std::string> log;
  if (o.optimized) {
    auto result = passes::optimize(graph);
    if (!result.ok()) return report_error(result.status());
    log = std::move(*result);
  }
  const ir::GraphSummary summary = ir::summarize(graph);
  std::printf("model   %s%s\n", o.model.c_str(), o.optimized ? "  (after graph passes)" : "");
  print_values(graph, graph.inputs(), "input");
  print_values(graph, graph.outputs(), "output");
  std::printf("nodes   %d\nparams  %lld (%.1f M)\nflops   %.3f G per inference at batch %lld\n\n", summary.num_nodes,
              static_cast<long long>(summary.num_parameters), summary.num_parameters / 1e6, summary.flops / 1e9,
              static_cast<long long>(o.batch));
  Table table({"op", "count"});
  for (const auto& [op, count] : summary.op_counts) table.add_row({op, std::to_string(count)});
  std::printf("%s", table.to_string().c_str());
  // The report is about the graph the builder sees: the optimized one.
  ir::Graph optimized_copy;
  const ir::Graph* report_graph = &graph;
  if (!o.optimized) {
    auto copy = load_network(o.model, o.batch, o.weights, o.input_shapes);
    if (!copy.ok()) return report_error(copy.status());
    optimized_copy = std::move(copy->graph());
    auto result = passes::optimize(optimized_copy);
    if (!result.ok()) return report_error(result.status());
    report_graph = &optimized_copy;
  }
  auto report = builder::conversion_report(*report_graph, *device, Precision::kFp32);
  if (report.ok()) {
    std::printf("\n%s", report->c_str());
  } else {
    std::printf("\nconversion report: %s\n", report.status().message().c_str());
  }
  if (o.optimized && !log.empty()) {
    std::printf("\npasses (%zu changes):\n", log.size());
    for (const auto& line : log) std::printf("  %s\n", line.c_str());
  }
  if (o.dump) std::printf("\n%s", ir::dump(graph).c_str());
  return 0;
}

}  // namespace

void register_inspect_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "Summarize a model (ops, parameters, FLOPs) or an engine (kernel per layer)");
  cmd->add_option("model", options->model,
                  "Model (ONNX, TensorFlow .pb/.pbtxt, or a Caffe .prototxt with --weights) or engine file")
      ->required()
      ->check(CLI::ExistingFile);
  add_weights_option(cmd, &options->weights);
  cmd->add_option("--input-shape", options->input_shapes,
                  "NAME=D0xD1x...: a TensorFlow placeholder's shape (as the engine takes it: NCHW for images), "
                  "for graphs that do not declare it; repeatable");
  cmd->add_option("--device", options->device, "Backend of the conversion report: " + backends::device_help())
      ->capture_default_str();
  cmd->add_flag("--dump", options->dump, "Print the whole graph, one node per line");
  cmd->add_flag("--optimized", options->optimized, "Show the graph after the optimization passes");
  cmd->add_option("--batch", options->batch, "Batch size for dynamic batch dimensions")->check(positive_integer());
  cmd->callback([options, &exit_code] { exit_code = run_inspect(*options); });
}

}  // namespace chexrt::cli
