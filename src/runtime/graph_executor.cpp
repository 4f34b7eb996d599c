#include "runtime/graph_executor.h"

#include <string>

#include "backends/reference/reference_kernels.h"

namespace chexrt::runtime {

namespace {

Status check_inputs(const ir::Graph& graph, const std::vector<HostTensor>& inputs) {
  if (inputs.size() != graph.inputs().size()) {
    return invalid_argument("the graph takes " + std::to_string(graph.inputs().size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const ir::Value& v = graph.value(graph.inputs()[i]);
    const HostTensor& t = inputs[i];
    if (t.empty()) return invalid_argument("input '" + v.name + "' has no data");
    if (t.dtype() != v.dtype) {
      return invalid_argument("input '" + v.name + "' is " + dtype_name(t.dtype()) + ", the graph expects " +
                              dtype_name(v.dtype));
    }
    if (t.dims() != v.dims) {
      return invalid_argument("input '" + v.name + "' is " + dims_to_string(t.dims()) + ", the graph expects " +
                              dims_to_string(v.dims));
    }
  }
  return Status::ok_status();
}

}  // namespace

Result<std::vector<HostTensor>> run_reference(const ir::Graph& graph, const std::vector<HostTensor>& inputs) {
  CHEXRT_RETURN_IF_ERROR(check_inputs(graph, inputs));
  // Every node is checked before any runs, so that an unsupported one fails fast.
  for (const ir::Node& node : graph.nodes()) {
    std::string why;
    if (!reference::supports(graph, node, &why)) return unsupported(why);
  }

  // values[v] holds the tensor of non-constant value v from its production to its last use.
  std::vector<HostTensor> values(static_cast<size_t>(graph.num_values()));
  for (size_t i = 0; i < inputs.size(); ++i) values[graph.inputs()[i]] = inputs[i];
  const std::vector<std::vector<int>> consumers = graph.consumers();
  auto release_if_done = [&](int v, int node_index) {
    const bool last_use = consumers[v].empty() || consumers[v].back() == node_index;
    if (last_use && !graph.is_graph_output(v)) values[v] = HostTensor();
  };

  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    std::vector<const HostTensor*> in;
    for (int v : node.inputs) {
      if (v == ir::kNoValue) {
        in.push_back(nullptr);
        continue;
      }
      const ir::Value& value = graph.value(v);
      const HostTensor* t = value.is_constant() ? &value.constant : &values[v];
      if (t->empty()) {
        return runtime_error(ir::describe(node) + ": input '" + value.name + "' has not been computed");
      }
      in.push_back(t);
    }
    std::vector<HostTensor*> out;
    for (int v : node.outputs) {
      values[v] = HostTensor(graph.value(v).dtype, graph.value(v).dims);
      out.push_back(&values[v]);
    }
    CHEXRT_RETURN_IF_ERROR(reference::run_node(node, in, out));
    for (int v : node.inputs) {
      if (v != ir::kNoValue && !graph.value(v).is_constant()) release_if_done(v, n);
    }
    // Outputs nobody reads (MaxPool's unused Indices, say) go at once.
    for (int v : node.outputs) {
      if (consumers[v].empty()) release_if_done(v, n);
    }
  }

  std::vector<HostTensor> results;
  for (int v : graph.outputs()) {
    const ir::Value& value = graph.value(v);
    if (value.is_constant()) {
      results.push_back(value.constant.clone());
    } else if (values[v].empty()) {
      return runtime_error("graph output '" + value.name + "' was not computed");
    } else if (value.producer < 0) {
      results.push_back(values[v].clone());  // a graph input passed straight through: do not alias the caller's
    } else {
      results.push_back(std::move(values[v]));
    }
  }
  return results;
}

}  // namespace chexrt::runtime
