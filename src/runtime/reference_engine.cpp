#include "runtime/reference_engine.h"

#include <sstream>

#include "backends/backend.h"
#include "backends/reference/reference_kernels.h"
#include "ir/shape_inference.h"
#include "runtime/graph_executor.h"

namespace chexrt::runtime {

std::vector<TensorInfo> describe_values(const ir::Graph& graph, const std::vector<int>& values) {
  std::vector<TensorInfo> infos;
  for (int v : values) infos.push_back({graph.value(v).name, graph.value(v).dtype, graph.value(v).dims});
  return infos;
}

Result<ir::Graph> with_batch(const ir::Graph& graph, int64_t batch) {
  ir::Graph g = graph;
  for (int in : g.inputs()) {
    if (g.value(in).dims.empty()) continue;
    g.value(in).dims[0] = batch;
  }
  Status s = ir::infer_shapes(g);
  if (!s.ok()) {
    return s.with_context("the graph cannot run at batch " + std::to_string(batch) +
                          " (a shape was fixed when the model was exported?)");
  }
  return g;
}

ReferenceEngine::ReferenceEngine(ir::Graph graph) : graph_(std::move(graph)) {
  inputs_ = describe_values(graph_, graph_.inputs());
  outputs_ = describe_values(graph_, graph_.outputs());
  if (!inputs_.empty() && !inputs_[0].dims.empty()) max_batch_ = inputs_[0].dims[0];
}

Result<std::unique_ptr<ReferenceEngine>> ReferenceEngine::create(ir::Graph graph) {
  for (const ir::Node& node : graph.nodes()) {
    std::string why;
    if (!reference::supports(graph, node, &why)) return unsupported(ir::describe(node) + ": " + why);
  }
  return std::unique_ptr<ReferenceEngine>(new ReferenceEngine(std::move(graph)));
}

Result<const ir::Graph*> ReferenceEngine::graph_for_batch(int64_t batch) {
  if (batch == max_batch_) return &graph_;
  auto it = graphs_by_batch_.find(batch);
  if (it != graphs_by_batch_.end()) return it->second.get();
  CHEXRT_ASSIGN_OR_RETURN(ir::Graph g, with_batch(graph_, batch));
  auto& slot = graphs_by_batch_[batch];
  slot = std::make_unique<ir::Graph>(std::move(g));
  return slot.get();
}

Status ReferenceEngine::infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) {
  if (inputs.size() != inputs_.size()) {
    return invalid_argument("expected " + std::to_string(inputs_.size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  }
  const int64_t batch = inputs.empty() || inputs[0].dims().empty() ? max_batch_ : inputs[0].dims()[0];
  if (batch < 1 || batch > max_batch_) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch_));
  }
  CHEXRT_ASSIGN_OR_RETURN(const ir::Graph* g, graph_for_batch(batch));
  CHEXRT_ASSIGN_OR_RETURN(*outputs, run_reference(*g, inputs));
  return Status::ok_status();
}

std::string ReferenceEngine::describe_layers() const {
  std::ostringstream s;
  for (const ir::Node& node : graph_.nodes()) {
    s << node.name << "  " << ir::op_name(node.op) << "  reference  f32\n";
  }
  return s.str();
}

}  // namespace chexrt::runtime

namespace chexrt::backends {
namespace {

class ReferenceBackend : public Backend {
 public:
  const char* name() const override { return "reference"; }
  bool available(std::string*) const override { return true; }
  bool supports(const ir::Graph& graph, const ir::Node& node, Precision precision) const override {
    return precision == Precision::kFp32 && reference::supports(graph, node, nullptr);
  }
  Result<std::unique_ptr<Engine>> build(const ir::Graph& graph, const BuildOptions& options) override {
    if (options.precision != Precision::kFp32) {
      return unsupported(std::string("the reference backend computes in fp32 only, not ") +
                         precision_name(options.precision));
    }
    CHEXRT_ASSIGN_OR_RETURN(auto engine, runtime::ReferenceEngine::create(graph));
    return std::unique_ptr<Engine>(std::move(engine));
  }
};

}  // namespace

std::unique_ptr<Backend> make_reference_backend() { return std::make_unique<ReferenceBackend>(); }

}  // namespace chexrt::backends
