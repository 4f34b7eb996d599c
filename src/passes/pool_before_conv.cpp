// Pool before conv: a 1x1 convolution with stride 1 and no padding is the same linear map
// applied to every pixel, y_p = W x_p + b. An average pool whose windows do not overlap or pad
// (kernel == stride, no pads, floor mode) averages whole windows P of n pixels:
//
//   mean_{p in P} (W x_p + b) = W (mean_{p in P} x_p) + b
//
// so the pool can run first and the conv on 1/n of the pixels. In DenseNet-121's transitions
// (1x1 conv, then 2x2 average pool with stride 2) that is 4x fewer multiply-adds; the pool
// then reads the conv's input, which has more channels, but it is cheap next to the conv.
// A conv with a fused activation is left alone: ReLU does not commute with the mean.
#include <algorithm>

#include "ir/op_attributes.h"
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "pool_before_conv";

bool is_pointwise_conv(const ir::Node& node) {
  if (node.op != ir::OpType::kConv || node.outputs.size() != 1 || !node.attrs.get_string("activation", "").empty()) {
    return false;
  }
  const Result<ir::ConvAttributes> a = ir::conv_attributes(node);
  return a.ok() && a->is_pointwise();
}

bool is_tiling_average_pool(const ir::Node& node) {
  if (node.op != ir::OpType::kAveragePool || node.outputs.size() != 1) return false;
  const Result<ir::PoolAttributes> a = ir::pool_attributes(node);
  return a.ok() && a->kernel_shape == a->strides &&
         std::all_of(a->pads.begin(), a->pads.end(), [](int64_t p) { return p == 0; }) && !a->ceil_mode;
}

}  // namespace

Result<int> pool_before_conv(ir::Graph& graph, std::vector<std::string>* log) {
  const std::vector<std::vector<int>> consumers = graph.consumers();
  int changes = 0;
  for (int conv = 0; conv < graph.num_nodes(); ++conv) {
    if (!is_pointwise_conv(graph.node(conv))) continue;
    const int mid = graph.node(conv).outputs[0];
    const int pool = detail::sole_consumer(graph, consumers, mid);
    if (pool < 0 || !is_tiling_average_pool(graph.node(pool))) continue;

    // Swap the two nodes' work but keep their places in the order: the conv's slot pools the
    // conv's input into the middle value, the pool's slot convolves it into the pool's output,
    // whose readers and name do not change.
    ir::Node conv_node = graph.node(conv);
    ir::Node pool_node = graph.node(pool);
    std::vector<int> conv_inputs = conv_node.inputs;
    conv_inputs[0] = mid;
    graph.rewrite_node(conv, ir::OpType::kAveragePool, {conv_node.inputs[0]}, pool_node.attrs);
    graph.node(conv).name = pool_node.name;
    graph.rewrite_node(pool, ir::OpType::kConv, conv_inputs, conv_node.attrs);
    graph.node(pool).name = conv_node.name;
    CHEXRT_RETURN_IF_ERROR(graph.rename_value(mid, graph.unique_value_name(pool_node.name + "_pooled")));
    ++changes;
    detail::log_change(log, kPass, pool_node.name + " before " + conv_node.name);
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, std::vector<bool>(graph.num_nodes(), false), kPass));
  return changes;
}

}  // namespace chexrt::passes
