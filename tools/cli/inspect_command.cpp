// chexrt inspect M.onnx: inputs, outputs, op counts, parameters and FLOPs; --dump prints the
// graph, --optimized shows it after the graph passes. chexrt inspect M.engine: the fingerprint
// and each layer's kernel.
#include <cstdio>
#include <fstream>

#include "chexrt/onnx_parser.h"
#include "commands.h"
#include "engine/engine_file.h"
#include "ir/dump.h"
#include "ir/graph.h"
#include "model_loading.h"
#include "passes/pass_manager.h"
#include "table.h"

namespace chexrt::cli {

namespace {

struct InspectOptions {
  std::string model;
  std::string weights;
  bool dump = false;
  bool optimized = false;
  int64_t batch = 1;
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

int run_inspect(const InspectOptions& o) {
  if (is_engine_file(o.model)) return inspect_engine(o);
  auto network = load_network(o.model, o.batch, o.weights);
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
  cmd->add_option("model", options->model, "Model (ONNX, or a Caffe .prototxt with --weights) or engine file")
      ->required()
      ->check(CLI::ExistingFile);
  add_weights_option(cmd, &options->weights);
  cmd->add_flag("--dump", options->dump, "Print the whole graph, one node per line");
  cmd->add_flag("--optimized", options->optimized, "Show the graph after the optimization passes");
  cmd->add_option("--batch", options->batch, "Batch size for dynamic batch dimensions")->check(positive_integer());
  cmd->callback([options, &exit_code] { exit_code = run_inspect(*options); });
}

}  // namespace chexrt::cli
