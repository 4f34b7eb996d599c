// build_engine: verify -> passes -> pick a backend -> conversion report -> engine. Nodes the
// chosen backend does not support run on the reference kernels, in segments (like TF-TRT's
// integrated workflow): consecutive supported nodes form one backend segment.
#include <cstdio>
#include <map>
#include <sstream>

#include "builder/conversion_report.h"
#include "chexrt/builder.h"
#include "ir/shape_inference.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "runtime/backend_registry.h"
#include "runtime/engine_io.h"
#include "runtime/reference_engine.h"

namespace chexrt {

Result<Device> parse_device(const std::string& name) {
  if (name == "auto") return Device::kAuto;
  if (const backends::BackendEntry* entry = backends::find_backend(name)) return entry->device;
  std::string expected = "auto";
  for (const backends::BackendEntry& e : backends::registered_backends()) expected += std::string(", ") + e.name;
  return invalid_argument("unknown device '" + name + "' (expected one of " + expected + ")");
}

const char* device_name(Device device) {
  if (device == Device::kAuto) return "auto";
  const backends::BackendEntry* entry = backends::find_backend(device);
  return entry ? entry->name : "?";
}

Result<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "fp16") return Precision::kFp16;
  if (name == "bf16") return Precision::kBf16;
  return invalid_argument("unknown precision '" + name + "' (expected fp32, fp16 or bf16)");
}

const char* precision_name(Precision precision) {
  switch (precision) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kBf16:
      return "bf16";
  }
  return "?";
}

namespace {

using Segment = builder::ConversionSegment;

// The nodes of `segment` as a graph of their own: values made outside it become inputs (or
// constants), values read after it or graph outputs become outputs.
Result<ir::Graph> extract_segment(const ir::Graph& graph, const Segment& segment,
                                  const std::vector<std::vector<int>>& consumers, std::vector<std::string>* input_names,
                                  std::vector<std::string>* output_names) {
  ir::Graph sub;
  std::map<int, int> remap;  // value in graph -> value in sub
  std::vector<bool> inside(graph.num_nodes(), false);
  for (int n : segment.nodes) inside[n] = true;
  for (int n : segment.nodes) {
    const ir::Node& node = graph.node(n);
    std::vector<int> inputs;
    for (int v : node.inputs) {
      if (v == ir::kNoValue) {
        inputs.push_back(ir::kNoValue);
        continue;
      }
      if (!remap.count(v)) {
        const ir::Value& value = graph.value(v);
        if (value.is_constant()) {
          CHEXRT_ASSIGN_OR_RETURN(remap[v], sub.add_constant(value.name, value.constant));
        } else {
          CHEXRT_ASSIGN_OR_RETURN(remap[v], sub.add_input(value.name, value.dtype, value.dims));
          input_names->push_back(value.name);
        }
      }
      inputs.push_back(remap[v]);
    }
    std::vector<std::string> names;
    for (int v : node.outputs) names.push_back(graph.value(v).name);
    CHEXRT_ASSIGN_OR_RETURN(int sub_node, sub.add_node(node.op, node.name, inputs, names, node.attrs));
    CHEXRT_RETURN_IF_ERROR(ir::infer_node_shapes(sub, sub_node));
    for (size_t i = 0; i < node.outputs.size(); ++i) remap[node.outputs[i]] = sub.node(sub_node).outputs[i];
  }
  for (int n : segment.nodes) {
    for (int v : graph.node(n).outputs) {
      bool needed = graph.is_graph_output(v);
      for (int c : consumers[v]) needed = needed || !inside[c];
      if (needed) {
        CHEXRT_RETURN_IF_ERROR(sub.mark_output(remap[v]));
        output_names->push_back(graph.value(v).name);
      }
    }
  }
  return sub;
}

// Runs segments in order, passing tensors between them by name on the host.
class SegmentedEngine : public Engine {
 public:
  struct Part {
    std::unique_ptr<Engine> engine;
    std::vector<std::string> input_names;
    std::vector<std::string> output_names;
  };

  SegmentedEngine(std::vector<Part> parts, std::vector<TensorInfo> inputs, std::vector<TensorInfo> outputs,
                  int64_t max_batch)
      : parts_(std::move(parts)), inputs_(std::move(inputs)), outputs_(std::move(outputs)), max_batch_(max_batch) {}

  std::string backend_name() const override {
    std::string name = "segmented(";
    for (size_t i = 0; i < parts_.size(); ++i) name += (i ? "," : "") + parts_[i].engine->backend_name();
    return name + ")";
  }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return max_batch_; }

  Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) override {
    if (inputs.size() != inputs_.size()) return invalid_argument("wrong number of inputs");
    std::map<std::string, HostTensor> live;
    for (size_t i = 0; i < inputs.size(); ++i) live[inputs_[i].name] = inputs[i];
    for (size_t p = 0; p < parts_.size(); ++p) {
      std::vector<HostTensor> in, out;
      for (const auto& name : parts_[p].input_names) in.push_back(live.at(name));
      CHEXRT_RETURN_IF_ERROR(parts_[p].engine->infer(in, &out).with_context("segment " + std::to_string(p)));
      for (size_t i = 0; i < out.size(); ++i) live[parts_[p].output_names[i]] = out[i];
    }
    outputs->clear();
    for (const auto& info : outputs_) outputs->push_back(live.at(info.name));
    return Status::ok_status();
  }

  std::string describe_layers() const override {
    std::ostringstream s;
    for (size_t p = 0; p < parts_.size(); ++p) {
      s << "-- segment " << p << " on " << parts_[p].engine->backend_name() << "\n"
        << parts_[p].engine->describe_layers();
    }
    return s.str();
  }

 private:
  std::vector<Part> parts_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  int64_t max_batch_;
};

// The backend of `device`, or with kAuto the first available one in the registry's order.
struct ChosenBackend {
  const backends::BackendEntry* entry = nullptr;
  std::unique_ptr<backends::Backend> backend;
};

Result<ChosenBackend> choose_backend(Device device, std::string* log) {
  for (const backends::BackendEntry& entry : backends::registered_backends()) {
    if (device != Device::kAuto && device != entry.device) continue;
    std::unique_ptr<backends::Backend> backend = entry.make();
    std::string why;
    if (backend->available(&why)) return ChosenBackend{&entry, std::move(backend)};
    *log += std::string("backend ") + backend->name() + " not available: " + why + "\n";
    if (device != Device::kAuto) return unsupported(std::string("backend ") + backend->name() + ": " + why);
  }
  return unsupported("no backend is available");
}

// Passes and batch: the graph the backends see.
Result<ir::Graph> optimized_graph(NetworkDefinition network, const BuildOptions& options) {
  CHEXRT_RETURN_IF_ERROR(network.status());
  if (options.max_batch < 1) return invalid_argument("max batch must be at least 1");
  const int64_t opt = options.opt_batch == 0 ? options.max_batch : options.opt_batch;
  if (options.min_batch < 1 || options.min_batch > opt || opt > options.max_batch) {
    return invalid_argument("batch range " + std::to_string(options.min_batch) + ":" + std::to_string(opt) + ":" +
                            std::to_string(options.max_batch) + " must satisfy 1 <= min <= opt <= max");
  }
  ir::Graph graph = std::move(network.graph());
  CHEXRT_RETURN_IF_ERROR(ir::verify(graph));
  if (!graph.inputs().empty() && !graph.value(graph.inputs()[0]).dims.empty() &&
      graph.value(graph.inputs()[0]).dims[0] != options.max_batch) {
    CHEXRT_ASSIGN_OR_RETURN(graph, runtime::with_batch(graph, options.max_batch));
  }
  if (options.optimize) {
    passes::PassOptions pass_options;
    pass_options.verbose = options.verbose;
    CHEXRT_ASSIGN_OR_RETURN(auto log, passes::optimize(graph, pass_options));
    CHEXRT_RETURN_IF_ERROR(ir::verify(graph).with_context("after graph passes"));
  }
  return graph;
}

}  // namespace

Result<BuiltEngine> build_optimized(const ir::Graph& graph, const BuildOptions& options,
                                    const std::vector<std::string>* stored_tactics) {
  std::string log;
  CHEXRT_ASSIGN_OR_RETURN(ChosenBackend chosen, choose_backend(options.device, &log));
  std::unique_ptr<backends::Backend>& backend = chosen.backend;
  if (!chosen.entry->builds(options.precision)) {
    return unsupported(std::string("backend ") + backend->name() + " does not build " +
                       precision_name(options.precision) + " engines");
  }
  const builder::ConversionPlan plan = builder::plan_conversion(graph, *backend, options.precision);
  const std::vector<Segment>& segments = plan.segments;
  if (options.verbose) std::fprintf(stderr, "%s%s", log.c_str(), builder::conversion_report(graph, plan).c_str());
  if (stored_tactics && !stored_tactics->empty() && static_cast<int>(stored_tactics->size()) != graph.num_nodes()) {
    return parse_error("engine file has " + std::to_string(stored_tactics->size()) + " tactics for " +
                       std::to_string(graph.num_nodes()) + " nodes");
  }
  BuiltEngine built;
  built.backend = backend->name();
  built.fingerprint = backend->fingerprint(options);
  built.tactics.assign(graph.num_nodes(), "");
  // The tactics of one segment's nodes, from the engine file, in the segment's node order.
  auto tactics_for = [&](const Segment& seg) {
    std::vector<std::string> t;
    if (stored_tactics && !stored_tactics->empty()) {
      for (int n : seg.nodes) t.push_back((*stored_tactics)[n]);
    }
    return t;
  };
  auto build_segment = [&](backends::Backend& b, const ir::Graph& g, const BuildOptions& o,
                           const std::vector<std::string>& t) {
    return t.empty() ? b.build(g, o) : b.build_with_tactics(g, o, t);
  };
  if (segments.size() <= 1 && (segments.empty() || segments[0].on_backend)) {
    CHEXRT_ASSIGN_OR_RETURN(built.engine,
                            build_segment(*backend, graph, options,
                                          segments.empty() ? std::vector<std::string>{} : tactics_for(segments[0])));
    const auto chosen = built.engine->node_tactics();
    if (static_cast<int>(chosen.size()) == graph.num_nodes()) built.tactics = chosen;
    return built;
  }

  // Mixed graph: one engine per segment.
  const auto consumers = graph.consumers();
  // Unsupported nodes fall back to the reference kernels, which run every op.
  auto reference = backends::find_backend(Device::kReference)->make();
  std::vector<SegmentedEngine::Part> parts;
  for (const Segment& seg : segments) {
    SegmentedEngine::Part part;
    CHEXRT_ASSIGN_OR_RETURN(ir::Graph sub,
                            extract_segment(graph, seg, consumers, &part.input_names, &part.output_names));
    BuildOptions sub_options = options;
    if (!seg.on_backend) sub_options.precision = Precision::kFp32;
    CHEXRT_ASSIGN_OR_RETURN(part.engine,
                            build_segment(seg.on_backend ? *backend : *reference, sub, sub_options, tactics_for(seg)));
    const auto chosen = part.engine->node_tactics();
    if (chosen.size() == seg.nodes.size()) {
      for (size_t i = 0; i < seg.nodes.size(); ++i) built.tactics[seg.nodes[i]] = chosen[i];
    }
    parts.push_back(std::move(part));
  }
  built.engine =
      std::unique_ptr<Engine>(new SegmentedEngine(std::move(parts), runtime::describe_values(graph, graph.inputs()),
                                                  runtime::describe_values(graph, graph.outputs()), options.max_batch));
  return built;
}

Result<std::unique_ptr<Engine>> build_engine(NetworkDefinition network, const BuildOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(ir::Graph graph, optimized_graph(std::move(network), options));
  CHEXRT_ASSIGN_OR_RETURN(BuiltEngine built, build_optimized(graph, options, nullptr));
  return std::move(built.engine);
}

Result<SavableEngine> build_savable_engine(NetworkDefinition network, const BuildOptions& options) {
  SavableEngine result;
  CHEXRT_ASSIGN_OR_RETURN(result.graph, optimized_graph(std::move(network), options));
  CHEXRT_ASSIGN_OR_RETURN(result.built, build_optimized(result.graph, options, nullptr));
  result.options = options;
  return result;
}

Result<std::unique_ptr<Engine>> build_engine_file(NetworkDefinition network, const BuildOptions& options,
                                                  const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(ir::Graph graph, optimized_graph(std::move(network), options));
  CHEXRT_ASSIGN_OR_RETURN(BuiltEngine built, build_optimized(graph, options, nullptr));
  CHEXRT_RETURN_IF_ERROR(runtime::save_engine_file(path, std::move(graph), options, built));
  return std::move(built.engine);
}

}  // namespace chexrt
