// The concat-elimination plan: placements on a mini dense block, the cases that must stay
// copies, and an execution that really shares buffers as the plan says (each value written
// into its slice of its root buffer, in-place Concats skipped) and must give the reference
// outputs: an overlap or a wrong offset would corrupt them.
#include <gtest/gtest.h>

#include <cstring>

#include "backends/reference/reference_kernels.h"
#include "builder/concat_plan.h"
#include "ir/dump.h"
#include "pass_test_util.h"
#include "passes/pass_manager.h"
#include "runtime/graph_executor.h"

namespace chexrt {
namespace {

using builder::ConcatPlan;
using test::add_random_batch_norm;
using test::add_random_conv;

bool any_node(const ir::Graph&, const ir::Node&) { return true; }

// Copies channels [offset, offset + C) of `root` (NCHW-like: [N, C_root, ...]) into a dense
// tensor of `dims` ([N, C, ...]), or the reverse.
void copy_slice(HostTensor& root, int64_t offset, HostTensor& dense, bool to_root) {
  const Dims& rd = root.dims();
  const Dims& dd = dense.dims();
  const int64_t inner = num_elements(Dims(dd.begin() + 2, dd.end())) * static_cast<int64_t>(dtype_size(dense.dtype()));
  auto* r = static_cast<uint8_t*>(root.raw());
  auto* d = static_cast<uint8_t*>(dense.raw());
  for (int64_t n = 0; n < dd[0]; ++n) {
    for (int64_t c = 0; c < dd[1]; ++c) {
      uint8_t* in_root = r + ((n * rd[1] + offset + c) * inner);
      uint8_t* in_dense = d + ((n * dd[1] + c) * inner);
      if (to_root) {
        std::memcpy(in_root, in_dense, inner);
      } else {
        std::memcpy(in_dense, in_root, inner);
      }
    }
  }
}

// Runs the graph with the buffers the plan describes: one buffer per root, every value read
// from and written to its slice of its root's buffer, in-place Concats not run at all.
Result<std::vector<HostTensor>> run_with_plan(const ir::Graph& graph, const ConcatPlan& plan,
                                              const std::vector<HostTensor>& inputs) {
  std::vector<HostTensor> buffers(graph.num_values());
  auto buffer_of = [&](int v) -> HostTensor& {
    const int root = plan.storage[v];
    if (buffers[root].empty()) buffers[root] = HostTensor(graph.value(root).dtype, graph.value(root).dims);
    return buffers[root];
  };
  auto read = [&](int v) {
    HostTensor dense(graph.value(v).dtype, graph.value(v).dims);
    copy_slice(buffer_of(v), plan.channel_offset[v], dense, false);
    return dense;
  };
  for (size_t i = 0; i < inputs.size(); ++i) {
    HostTensor in = inputs[i];
    copy_slice(buffer_of(graph.inputs()[i]), plan.channel_offset[graph.inputs()[i]], in, true);
  }
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    if (plan.concat_in_place[n]) continue;
    std::vector<HostTensor> ins;
    for (int v : node.inputs) ins.push_back(graph.value(v).is_constant() ? graph.value(v).constant : read(v));
    std::vector<const HostTensor*> in_ptrs;
    for (const HostTensor& t : ins) in_ptrs.push_back(&t);
    std::vector<HostTensor> outs;
    for (int v : node.outputs) outs.emplace_back(graph.value(v).dtype, graph.value(v).dims);
    std::vector<HostTensor*> out_ptrs;
    for (HostTensor& t : outs) out_ptrs.push_back(&t);
    CHEXRT_RETURN_IF_ERROR(reference::run_node(node, in_ptrs, out_ptrs));
    for (size_t i = 0; i < outs.size(); ++i) {
      copy_slice(buffer_of(node.outputs[i]), plan.channel_offset[node.outputs[i]], outs[i], true);
    }
  }
  std::vector<HostTensor> results;
  for (int v : graph.outputs()) results.push_back(read(v));
  return results;
}

void expect_plan_runs_like_reference(const ir::Graph& graph, const ConcatPlan& plan) {
  const std::vector<HostTensor> inputs = test::random_inputs(graph, 5);
  auto expected = runtime::run_reference(graph, inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  auto got = run_with_plan(graph, plan, inputs);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  ASSERT_EQ(got->size(), expected->size());
  for (size_t i = 0; i < got->size(); ++i) EXPECT_EQ(test::relative_error((*got)[i], (*expected)[i]), 0.0);
}

struct DenseBlock {
  NetworkDefinition net;
  Tensor block_input;
  std::vector<Tensor> features;  ///< f1, f2, f3
  std::vector<Tensor> concats;   ///< each layer's Concat, then the block's
};

// Stem conv (8 channels) and a dense block of 3 layers of growth 3.
DenseBlock make_dense_block() {
  std::mt19937 rng(31);
  DenseBlock d;
  NetworkDefinition& net = d.net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 3, 6, 6});
  d.block_input = add_random_conv(net, "stem", x, 8, 3, 1, 1, true, rng);
  std::vector<Tensor> inputs = {d.block_input};
  for (int l = 1; l <= 3; ++l) {
    const std::string layer = "layer" + std::to_string(l);
    Tensor h = net.add_concat(layer + ".cat", inputs, 1);
    d.concats.push_back(h);
    h = net.add_activation(layer + ".relu1", add_random_batch_norm(net, layer + ".norm1", h, rng), Activation::kRelu);
    h = add_random_conv(net, layer + ".conv1", h, 6, 1, 1, 0, false, rng);
    h = net.add_activation(layer + ".relu2", add_random_batch_norm(net, layer + ".norm2", h, rng), Activation::kRelu);
    h = add_random_conv(net, layer + ".conv2", h, 3, 3, 1, 1, false, rng);
    d.features.push_back(h);
    inputs.push_back(h);
  }
  d.concats.push_back(net.add_concat("block.cat", inputs, 1));
  net.mark_output(add_random_batch_norm(net, "norm5", d.concats.back(), rng), "y");
  EXPECT_TRUE(net.status().ok()) << net.status().to_string();
  return d;
}

TEST(ConcatPlan, DenseBlockConcatsAllShareTheLastOnesBuffer) {
  DenseBlock d = make_dense_block();
  const ir::Graph& g = d.net.graph();
  const ConcatPlan plan = builder::plan_concat_elimination(g, any_node);
  const int root = d.concats.back().id;
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (g.node(n).op == ir::OpType::kConcat) {
      EXPECT_TRUE(plan.concat_in_place[n]) << g.node(n).name;
    }
  }
  EXPECT_EQ(plan.storage[root], root);
  EXPECT_EQ(plan.channel_offset[root], 0);
  // The block input first, then each layer's 3 new channels.
  EXPECT_EQ(plan.storage[d.block_input.id], root);
  EXPECT_EQ(plan.channel_offset[d.block_input.id], 0);
  for (int l = 0; l < 3; ++l) {
    EXPECT_EQ(plan.storage[d.features[l].id], root) << "f" << l + 1;
    EXPECT_EQ(plan.channel_offset[d.features[l].id], 8 + 3 * l) << "f" << l + 1;
    // Each layer's Concat is a prefix of the block buffer.
    EXPECT_EQ(plan.storage[d.concats[l].id], root);
    EXPECT_EQ(plan.channel_offset[d.concats[l].id], 0);
  }
  // Values outside the block keep their own buffers.
  for (int v = 0; v < g.num_values(); ++v) {
    if (g.value(v).name.rfind("layer1.norm1", 0) == 0) {
      EXPECT_EQ(plan.storage[v], v);
    }
  }
  expect_plan_runs_like_reference(g, plan);
}

TEST(ConcatPlan, OptimizedMiniDenseNetNeedsNoConcatCopy) {
  NetworkDefinition net = test::make_mini_densenet(41);
  ir::Graph g = net.graph();
  ASSERT_TRUE(passes::optimize(g).ok());
  const ConcatPlan plan = builder::plan_concat_elimination(g, any_node);
  int concats = 0;
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (g.node(n).op != ir::OpType::kConcat) continue;
    ++concats;
    EXPECT_TRUE(plan.concat_in_place[n]) << g.node(n).name;
  }
  EXPECT_EQ(concats, 3 + 1 + 2 + 1);
  // One buffer per block: the block's last Concat.
  const int block1 = g.find_value("block1.cat");
  const int block2 = g.find_value("block2.cat");
  for (int v = 0; v < g.num_values(); ++v) {
    const std::string& name = g.value(v).name;
    if (name.rfind("block1.layer", 0) == 0 && name.find(".cat") != std::string::npos) {
      EXPECT_EQ(plan.storage[v], block1);
    }
    if (name.rfind("block2.layer", 0) == 0 && name.find(".cat") != std::string::npos) {
      EXPECT_EQ(plan.storage[v], block2);
    }
  }
  expect_plan_runs_like_reference(g, plan);
}

TEST(ConcatPlan, CopiesWhereInputsCannotBePlaced) {
  std::mt19937 rng(32);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 2, 4, 4});
  Tensor a = add_random_conv(net, "a", x, 2, 1, 1, 0, true, rng);
  Tensor b = add_random_conv(net, "b", x, 3, 1, 1, 0, true, rng);
  // A graph input is bound by the caller; it cannot live in a Concat's buffer.
  Tensor with_input = net.add_concat("with_input", {x, a}, 1);
  // b and a are read by two Concats at different offsets: the later one gets them, the
  // earlier one copies.
  Tensor ab = net.add_concat("ab", {a, b}, 1);
  Tensor ba = net.add_concat("ba", {b, a}, 1);
  // The predicate says MaxPool cannot write into a slice.
  Tensor pooled = net.add_pooling("maxpool", x, PoolType::kMax, {{{1, 1}}});
  Tensor c = add_random_conv(net, "c", x, 2, 1, 1, 0, true, rng);
  Tensor with_pool = net.add_concat("with_pool", {pooled, c}, 1);
  // Not on the channel axis.
  Tensor d = add_random_conv(net, "d", x, 2, 1, 1, 0, true, rng);
  Tensor e = add_random_conv(net, "e", x, 2, 1, 1, 0, true, rng);
  Tensor rows = net.add_concat("rows", {d, e}, 2);
  // A graph output must stay a dense tensor of its own.
  Tensor f = add_random_conv(net, "f", x, 2, 1, 1, 0, true, rng);
  Tensor g_conv = add_random_conv(net, "g", x, 2, 1, 1, 0, true, rng);
  Tensor with_output = net.add_concat("with_output", {f, g_conv}, 1);
  // The same value twice.
  Tensor h = add_random_conv(net, "h", x, 2, 1, 1, 0, true, rng);
  Tensor twice = net.add_concat("twice", {h, h}, 1);
  for (Tensor t : {with_input, ab, ba, with_pool, rows, with_output, f, twice}) net.mark_output(t);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();

  const ir::Graph& graph = net.graph();
  const ConcatPlan plan = builder::plan_concat_elimination(
      graph, [](const ir::Graph&, const ir::Node& node) { return node.op != ir::OpType::kMaxPool; });
  std::map<std::string, bool> in_place;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (graph.node(n).op == ir::OpType::kConcat) in_place[graph.node(n).name] = plan.concat_in_place[n];
  }
  const std::map<std::string, bool> expected = {{"with_input", false}, {"ab", false},   {"ba", true},
                                                {"with_pool", false},  {"rows", false}, {"with_output", false},
                                                {"twice", false}};
  EXPECT_EQ(in_place, expected);
  EXPECT_EQ(plan.storage[b.id], ba.id);
  EXPECT_EQ(plan.channel_offset[a.id], 3);
  EXPECT_EQ(plan.storage[c.id], c.id) << "inputs of a copying Concat keep their own buffers";
  expect_plan_runs_like_reference(graph, plan);
}

}  // namespace
}  // namespace chexrt
