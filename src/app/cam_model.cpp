#include "app/cam_model.h"

#include "ir/graph.h"

namespace chexrt::app {

Result<HostTensor> attach_cam_features(NetworkDefinition& network) {
  ir::Graph& graph = network.graph();
  const auto consumers = graph.consumers();
  for (const ir::Node& pool : graph.nodes()) {
    if (pool.op != ir::OpType::kGlobalAveragePool) continue;
    // pool -> [Flatten | Reshape] -> Gemm with a constant weight.
    int value = pool.outputs[0];
    for (int hops = 0; hops < 3 && consumers[value].size() == 1; ++hops) {
      const ir::Node& next = graph.node(consumers[value][0]);
      if (next.op == ir::OpType::kFlatten || next.op == ir::OpType::kReshape) {
        value = next.outputs[0];
        continue;
      }
      if (next.op != ir::OpType::kGemm || !graph.value(next.inputs[1]).is_constant()) break;
      HostTensor w = graph.value(next.inputs[1]).constant;
      if (w.dtype() != DataType::kFloat32 || w.rank() != 2) break;
      if (next.attrs.get_int("transB", 0) == 0) {  // stored [C, K]: make it [K, C]
        HostTensor t(DataType::kFloat32, {w.dims()[1], w.dims()[0]});
        for (int64_t c = 0; c < w.dims()[0]; ++c) {
          for (int64_t k = 0; k < w.dims()[1]; ++k) {
            t.data<float>()[k * w.dims()[0] + c] = w.data<float>()[c * w.dims()[1] + k];
          }
        }
        w = t;
      }
      if (w.dims()[1] != graph.value(pool.inputs[0]).dims[1]) break;
      Tensor features{pool.inputs[0]};
      network.mark_output(features);
      CHEXRT_RETURN_IF_ERROR(network.status());
      return w;
    }
  }
  return unsupported("heat maps need a model that ends in GlobalAveragePool -> Flatten -> Gemm (CheXNet's head)");
}

}  // namespace chexrt::app
