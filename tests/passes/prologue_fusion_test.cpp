// The prologue-fusion rule both fast backends share: which element-wise node runs inside its
// reader, and the cases that must keep their output (several readers, a graph output, a reader
// that cannot take it, a value the backend must materialize).
#include <gtest/gtest.h>

#include "builder/prologue_fusion.h"
#include "pass_test_util.h"

namespace chexrt {
namespace {

using test::add_random_batch_norm;

builder::PrologueRule bn_or_relu_into_pools() {
  builder::PrologueRule rule;
  rule.is_prologue = [](const ir::Node& n) {
    return n.op == ir::OpType::kBatchNormalization || n.op == ir::OpType::kRelu;
  };
  rule.takes_prologue = [](const ir::Node& n) { return n.op == ir::OpType::kMaxPool; };
  return rule;
}

int node_named(const ir::Graph& g, const std::string& name) {
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (g.node(n).name == name) return n;
  }
  return -1;
}

// x -> bn0 -> pool0 (fusable); x -> bn1 -> {pool1, relu1} (two readers); relu1 -> out (graph
// output); bn2 -> global pool (reader takes no prologue).
NetworkDefinition make_net() {
  std::mt19937 rng(7);
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {1, 4, 8, 8});
  const PoolParams window{{{2, 2}, {2, 2}, {}, {}}};
  net.mark_output(net.add_pooling("pool0", add_random_batch_norm(net, "bn0", x, rng), PoolType::kMax, window), "y0");
  Tensor b1 = add_random_batch_norm(net, "bn1", x, rng);
  net.mark_output(net.add_pooling("pool1", b1, PoolType::kMax, window), "y1");
  net.mark_output(net.add_activation("relu1", b1, Activation::kRelu), "y2");
  net.mark_output(net.add_global_average_pool("gap2", add_random_batch_norm(net, "bn2", x, rng)), "y3");
  return net;
}

TEST(PrologueFusion, OnlySoleFirstInputReadersThatTakeIt) {
  NetworkDefinition net = make_net();
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  const ir::Graph& g = net.graph();
  const builder::PrologueFusion f = builder::plan_prologue_fusion(g, g.consumers(), bn_or_relu_into_pools());
  const int bn0 = node_named(g, "bn0"), pool0 = node_named(g, "pool0");
  EXPECT_EQ(f.fused_into[bn0], pool0);
  EXPECT_EQ(f.prologue_of[pool0], bn0);
  for (const char* kept : {"bn1", "relu1", "bn2", "pool1", "gap2"}) {
    EXPECT_EQ(f.fused_into[node_named(g, kept)], -1) << kept;
  }
  EXPECT_EQ(f.prologue_of[node_named(g, "pool1")], -1);
}

TEST(PrologueFusion, BackendCanKeepAValue) {
  NetworkDefinition net = make_net();
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  const ir::Graph& g = net.graph();
  builder::PrologueRule rule = bn_or_relu_into_pools();
  rule.may_skip_output = [](int) { return false; };
  const builder::PrologueFusion f = builder::plan_prologue_fusion(g, g.consumers(), rule);
  for (int n = 0; n < g.num_nodes(); ++n) EXPECT_EQ(f.fused_into[n], -1) << g.node(n).name;
}

}  // namespace
}  // namespace chexrt
