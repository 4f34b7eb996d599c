// The Concats are visited last to first, so that a Concat's output has its final place (if it
// is an input of a later Concat) before its own inputs are placed inside it. For each one:
//
//  1. View: its output is not placed yet and its inputs already sit side by side, in order, in
//     one buffer (placed by a later Concat that reads the same values). The output is that
//     range of the buffer; nothing is placed anew. In DenseNet every layer's Concat is a
//     prefix of the block's last Concat this way.
//  2. Partition: otherwise its output's range (its place, or a new buffer of its own) is cut
//     into consecutive slices, one per input. Every input must be unplaced, appear once,
//     have a producer that can write into a slice, and be neither a graph input, a constant
//     nor a graph output (those are bound by the caller as dense tensors).
//  3. Otherwise the Concat is a real copy into its output.
//
// Why writes never clash: a range is cut into slices only by the Concat that produces it, and
// only into values placed for the first time, so the written values of a buffer (those not
// produced by an in-place Concat) occupy disjoint ranges; views are never written.
#include "builder/concat_plan.h"

#include <set>

namespace chexrt::builder {

namespace {

bool is_channel_concat(const ir::Graph& graph, const ir::Node& node) {
  if (node.op != ir::OpType::kConcat || node.outputs.size() != 1 || node.inputs.empty()) return false;
  for (int in : node.inputs) {
    if (in == ir::kNoValue) return false;
  }
  return graph.value(node.outputs[0]).dims.size() >= 2 && node.attrs.get_int("axis", 1) == 1;
}

class Planner {
 public:
  Planner(const ir::Graph& graph, const SliceWriterPredicate& can_write_into_slice)
      : graph_(graph), can_write_(can_write_into_slice), placed_(graph.num_values(), false) {
    plan_.storage.resize(graph.num_values());
    for (int v = 0; v < graph.num_values(); ++v) plan_.storage[v] = v;
    plan_.channel_offset.assign(graph.num_values(), 0);
    plan_.concat_in_place.assign(graph.num_nodes(), false);
  }

  ConcatPlan run() {
    for (int n = graph_.num_nodes() - 1; n >= 0; --n) {
      const ir::Node& node = graph_.node(n);
      if (!is_channel_concat(graph_, node)) continue;
      plan_.concat_in_place[n] = place_as_view(node) || place_by_partition(node);
    }
    return std::move(plan_);
  }

 private:
  int64_t channels(int value) const { return graph_.value(value).dims[1]; }

  bool place_as_view(const ir::Node& node) {
    const int out = node.outputs[0];
    if (placed_[out] || graph_.is_graph_output(out)) return false;
    const int root = plan_.storage[node.inputs[0]];
    int64_t next = plan_.channel_offset[node.inputs[0]];
    for (int in : node.inputs) {
      if (!placed_[in] || plan_.storage[in] != root || plan_.channel_offset[in] != next) return false;
      next += channels(in);
    }
    place(out, root, plan_.channel_offset[node.inputs[0]]);
    return true;
  }

  bool can_place_fresh(int value) const {
    const ir::Value& v = graph_.value(value);
    return !placed_[value] && v.producer >= 0 && !graph_.is_graph_output(value) &&
           can_write_(graph_, graph_.node(v.producer));
  }

  bool place_by_partition(const ir::Node& node) {
    std::set<int> seen;
    for (int in : node.inputs) {
      if (!seen.insert(in).second || !can_place_fresh(in)) return false;
    }
    const int out = node.outputs[0];
    if (!placed_[out]) place(out, out, 0);
    const int root = plan_.storage[out];
    int64_t offset = plan_.channel_offset[out];
    for (int in : node.inputs) {
      place(in, root, offset);
      offset += channels(in);
    }
    return true;
  }

  void place(int value, int root, int64_t offset) {
    placed_[value] = true;
    plan_.storage[value] = root;
    plan_.channel_offset[value] = offset;
  }

  const ir::Graph& graph_;
  const SliceWriterPredicate& can_write_;
  std::vector<bool> placed_;
  ConcatPlan plan_;
};

}  // namespace

ConcatPlan plan_concat_elimination(const ir::Graph& graph, const SliceWriterPredicate& can_write_into_slice) {
  return Planner(graph, can_write_into_slice).run();
}

}  // namespace chexrt::builder
