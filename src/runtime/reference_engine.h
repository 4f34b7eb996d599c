// The reference engine: runs the graph on the reference kernels, one node at a time.
#pragma once

#include <map>
#include <memory>

#include "chexrt/engine.h"
#include "ir/graph.h"

namespace chexrt::runtime {

/// An Engine over the reference kernels. Batches smaller than the graph's are run on a copy of
/// the graph whose shapes are re-inferred for that batch (kept for the next call).
class ReferenceEngine : public Engine {
 public:
  static Result<std::unique_ptr<ReferenceEngine>> create(ir::Graph graph);

  std::string backend_name() const override { return "reference"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return max_batch_; }
  Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) override;
  std::string describe_layers() const override;

 private:
  explicit ReferenceEngine(ir::Graph graph);
  Result<const ir::Graph*> graph_for_batch(int64_t batch);

  ir::Graph graph_;
  std::map<int64_t, std::unique_ptr<ir::Graph>> graphs_by_batch_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
  int64_t max_batch_ = 1;
};

/// Tensor descriptions of a graph's inputs and outputs.
std::vector<TensorInfo> describe_values(const ir::Graph& graph, const std::vector<int>& values);

/// A copy of `graph` whose inputs have batch (dim 0) `batch`, shapes re-inferred.
Result<ir::Graph> with_batch(const ir::Graph& graph, int64_t batch);

}  // namespace chexrt::runtime
