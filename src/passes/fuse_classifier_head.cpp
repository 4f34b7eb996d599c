// Classifier-head fusion: GlobalAveragePool -> Flatten -> Gemm [-> Sigmoid] becomes one
// ClassifierHead(x, W, b), y = act(W * mean_hw(x) + b) (see src/ir/ops.h). The pooled vector is
// tiny, so the fused node reads x once and never writes the intermediate tensors. A Reshape to
// [N, C] is accepted in place of the Flatten, as some exporters write it that way.
//
// Gemm computes alpha * A * op(B) + beta * C, so the head's weights are
//   W[k, c] = alpha * (transB ? B[k, c] : B[c, k]),   b[k] = beta * C[k]  (C broadcast over rows).
// A ChannelAffine before the pool stays a separate node: ReLU does not commute with the mean.
#include "passes/pass_manager.h"
#include "passes/pass_util.h"

namespace chexrt::passes {

namespace {

constexpr const char* kPass = "fuse_classifier_head";

struct HeadMatch {
  int pool = -1;
  int flatten = -1;
  int gemm = -1;
  int sigmoid = -1;  ///< -1 when the Gemm's output is not followed by a Sigmoid.
};

bool is_flatten_to_rows(const ir::Graph& graph, const ir::Node& node) {
  const Dims& in = graph.value(node.inputs[0]).dims;
  if (node.op == ir::OpType::kFlatten) return node.attrs.get_int("axis", 1) == 1;
  return node.op == ir::OpType::kReshape && graph.value(node.outputs[0]).dims == Dims{in[0], in[1]};
}

// A bias that is the same for every row: dims [], [1], [K], [1, 1] or [1, K].
bool is_row_bias(const ir::Graph& graph, int value, int64_t k) {
  if (value == ir::kNoValue) return true;
  if (detail::constant_floats(graph, value) == nullptr) return false;
  const Dims& d = graph.value(value).dims;
  if (d.size() > 2 || (d.size() == 2 && d[0] != 1)) return false;
  return d.empty() || d.back() == 1 || d.back() == k;
}

bool match_head(const ir::Graph& graph, const std::vector<std::vector<int>>& consumers, int pool, HeadMatch* m) {
  const ir::Node& p = graph.node(pool);
  if (p.op != ir::OpType::kGlobalAveragePool || graph.value(p.inputs[0]).dims.size() != 4) return false;
  m->pool = pool;
  m->flatten = detail::sole_consumer(graph, consumers, p.outputs[0]);
  if (m->flatten < 0 || !is_flatten_to_rows(graph, graph.node(m->flatten))) return false;
  m->gemm = detail::sole_consumer(graph, consumers, graph.node(m->flatten).outputs[0]);
  if (m->gemm < 0) return false;
  const ir::Node& g = graph.node(m->gemm);
  if (g.op != ir::OpType::kGemm || g.inputs[0] != graph.node(m->flatten).outputs[0] ||
      g.attrs.get_int("transA", 0) != 0 || detail::constant_floats(graph, g.inputs[1]) == nullptr) {
    return false;
  }
  const int64_t k = graph.value(g.outputs[0]).dims[1];
  if (!is_row_bias(graph, g.inputs.size() > 2 ? g.inputs[2] : ir::kNoValue, k)) return false;
  const int next = detail::sole_consumer(graph, consumers, g.outputs[0]);
  m->sigmoid = next >= 0 && graph.node(next).op == ir::OpType::kSigmoid ? next : -1;
  return true;
}

Status fuse(ir::Graph& graph, const HeadMatch& m) {
  const ir::Node& g = graph.node(m.gemm);
  const int b_value = g.inputs[1];
  const int c_value = g.inputs.size() > 2 ? g.inputs[2] : ir::kNoValue;
  const bool trans_b = g.attrs.get_int("transB", 0) != 0;
  const double alpha = g.attrs.get_float("alpha", 1.0f);
  const double beta = g.attrs.get_float("beta", 1.0f);
  const Dims& b_dims = graph.value(b_value).dims;
  const int64_t k = trans_b ? b_dims[0] : b_dims[1];
  const int64_t c = trans_b ? b_dims[1] : b_dims[0];

  // The Gemm's own constants are kept (with their names) when they already have the head's form.
  int weight = b_value;
  if (!trans_b || alpha != 1.0) {
    const float* b = detail::constant_floats(graph, b_value);
    std::vector<double> w(static_cast<size_t>(k * c));
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < c; ++j) w[i * c + j] = alpha * (trans_b ? b[i * c + j] : b[j * k + i]);
    }
    CHEXRT_ASSIGN_OR_RETURN(weight, detail::add_float_constant(graph, g.name + ".weight", w, {k, c}));
  }
  int bias = c_value;
  if (c_value == ir::kNoValue || graph.value(c_value).dims != Dims{k} || beta != 1.0) {
    std::vector<double> values(static_cast<size_t>(k), 0.0);
    if (c_value != ir::kNoValue) {
      const float* src = detail::constant_floats(graph, c_value);
      const bool per_column = graph.value(c_value).constant.numel() == k;
      for (int64_t i = 0; i < k; ++i) values[i] = beta * src[per_column ? i : 0];
    }
    CHEXRT_ASSIGN_OR_RETURN(bias, detail::add_float_constant(graph, g.name + ".bias", values, {k}));
  }

  ir::Attributes attrs;
  attrs.set("activation", std::string(m.sigmoid >= 0 ? "sigmoid" : ""));
  const int x = graph.node(m.pool).inputs[0];
  const std::string head_name = graph.node(m.gemm).name;
  graph.rewrite_node(m.pool, ir::OpType::kClassifierHead, {x, weight, bias}, std::move(attrs));
  graph.node(m.pool).name = head_name;
  detail::absorb_successor(graph, m.pool, m.sigmoid >= 0 ? m.sigmoid : m.gemm);
  return Status::ok_status();
}

}  // namespace

Result<int> fuse_classifier_head(ir::Graph& graph, std::vector<std::string>* log) {
  std::vector<bool> dead(graph.num_nodes(), false);
  const std::vector<std::vector<int>> consumers = graph.consumers();
  int changes = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    HeadMatch m;
    if (!match_head(graph, consumers, n, &m)) continue;
    std::string what = graph.node(m.pool).name + "+" + graph.node(m.flatten).name + "+" + graph.node(m.gemm).name;
    if (m.sigmoid >= 0) what += "+" + graph.node(m.sigmoid).name;
    CHEXRT_RETURN_IF_ERROR(fuse(graph, m));
    for (int d : {m.flatten, m.gemm, m.sigmoid}) {
      if (d >= 0) dead[d] = true;
    }
    ++changes;
    detail::log_change(log, kPass, what);
  }
  CHEXRT_RETURN_IF_ERROR(detail::finish_pass(graph, dead, kPass));
  return changes;
}

}  // namespace chexrt::passes
