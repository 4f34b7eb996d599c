// The CUDA backend's layout plan (no GPU needed): prologue fusion, in-place concats, strided
// views, channel padding and a valid arena.
#include <gtest/gtest.h>

#include "backends/cuda/plan.h"
#include "densenet121_network.h"
#include "gpu_test_util.h"
#include "passes/pass_manager.h"

namespace chexrt::cuda {
namespace {

using gputest::LayerMaker;

NetworkDefinition dense_block(int64_t batch) {
  NetworkDefinition net;
  LayerMaker m(net, 1);
  gputest::add_two_dense_layers(net, m, batch);
  return net;
}

int node_index(const ir::Graph& g, const std::string& name) {
  for (int n = 0; n < g.num_nodes(); ++n) {
    if (g.node(n).name == name) return n;
  }
  return -1;
}

TEST(CudaPlan, DenseBlockRunsInOneBufferWithoutCopies) {
  NetworkDefinition net = dense_block(2);
  ASSERT_TRUE(net.status().ok()) << net.status().to_string();
  const ir::Graph& g = net.graph();
  auto plan = make_plan(g, 2, Precision::kFp16);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();

  // Pre-activation batch norms run inside the 1x1 convolutions; concats run no kernel.
  for (const char* name : {"layer1.norm1", "layer2.norm1"}) {
    const int n = node_index(g, name);
    EXPECT_EQ(plan->node_step[n], -1) << name;
    EXPECT_EQ(plan->node_note[n].rfind("fused into layer", 0), 0u) << plan->node_note[n];
  }
  EXPECT_EQ(plan->node_note[node_index(g, "layer2.concat")], "in place");
  EXPECT_EQ(plan->node_note[node_index(g, "block.concat")], "in place");

  // The pool output and both layers' new channels are slices of the block's 128-channel buffer.
  const int x0 = g.node(node_index(g, "pool0")).outputs[0];
  const int f1 = g.node(node_index(g, "layer1.conv2")).outputs[0];
  const int f2 = g.node(node_index(g, "layer2.conv2")).outputs[0];
  const ValueLayout& l0 = plan->values[x0];
  EXPECT_EQ(l0.buffer, plan->values[f1].buffer);
  EXPECT_EQ(l0.buffer, plan->values[f2].buffer);
  EXPECT_EQ(l0.ld, 128);
  EXPECT_EQ(l0.channel_offset, 0);
  EXPECT_EQ(plan->values[f1].channel_offset, 64);
  EXPECT_EQ(plan->values[f2].channel_offset, 96);

  // Layer 2's 1x1 conv reads the 96-channel prefix of that buffer directly.
  const StepDesc& conv = plan->steps[plan->node_step[node_index(g, "layer2.conv1")]];
  EXPECT_EQ(conv.prologue, node_index(g, "layer2.norm1"));
  ASSERT_EQ(conv.reads.size(), 1u);
  EXPECT_EQ(plan->values[conv.reads[0]].buffer, l0.buffer);
  EXPECT_EQ(plan->values[conv.reads[0]].c, 96);
  EXPECT_EQ(plan->values[conv.reads[0]].ld, 128);
}

// After the graph passes, DenseNet-121 needs 127 kernels: input conversion, stem conv, max pool,
// two convolutions per dense layer (58), pool + conv per transition (3), the head, and the output
// conversion. No batch norm, ReLU or concat runs on its own.
TEST(CudaPlan, DenseNet121HasOneKernelPerConvolution) {
  auto net = examples::build_densenet121_chexnet(
      [](const std::string& key) { return gputest::densenet121_random_weight(key, 7); }, 2);
  ASSERT_TRUE(net.ok()) << net.status().to_string();
  ir::Graph graph = std::move(net->graph());
  auto log = passes::optimize(graph);
  ASSERT_TRUE(log.ok()) << log.status().to_string();
  auto plan = make_plan(graph, 2, Precision::kFp16);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->steps.size(), 127u);
  int affines = 0, concats = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    if (node.op == ir::OpType::kChannelAffine) {
      ++affines;
      EXPECT_EQ(plan->node_note[n].rfind("fused into", 0), 0u) << node.name;
    }
    if (node.op == ir::OpType::kConcat) {
      ++concats;
      EXPECT_EQ(plan->node_note[n], "in place") << node.name;
    }
  }
  EXPECT_EQ(affines, 58 + 3 + 1);
  EXPECT_EQ(concats, 5 + 11 + 23 + 15 + 4);
}

TEST(CudaPlan, LiveBuffersNeverOverlap) {
  NetworkDefinition net = dense_block(3);
  ASSERT_TRUE(net.status().ok());
  auto plan = make_plan(net.graph(), 3, Precision::kFp32);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const auto& b = plan->buffers;
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_LE(b[i].offset + b[i].bytes, plan->arena_bytes);
    for (size_t j = i + 1; j < b.size(); ++j) {
      const bool live_together = b[i].first_step <= b[j].last_step && b[j].first_step <= b[i].last_step;
      const bool disjoint = b[i].offset + b[i].bytes <= b[j].offset || b[j].offset + b[j].bytes <= b[i].offset;
      EXPECT_TRUE(!live_together || disjoint) << "buffers " << i << " and " << j;
    }
  }
}

TEST(CudaPlan, InputChannelsArePaddedTo16Bytes) {
  NetworkDefinition net;
  LayerMaker m(net, 2);
  Tensor x = net.add_input("image", DataType::kFloat32, {1, 3, 32, 32});
  net.mark_output(m.conv("conv0", x, 64, 3, 1, 1, true, true), "y");
  ASSERT_TRUE(net.status().ok());
  const int input = net.graph().inputs()[0];
  auto fp16 = make_plan(net.graph(), 1, Precision::kFp16);
  auto fp32 = make_plan(net.graph(), 1, Precision::kFp32);
  ASSERT_TRUE(fp16.ok() && fp32.ok());
  EXPECT_EQ(fp16->values[input].c_stored, 8);
  EXPECT_EQ(fp16->values[input].c, 3);
  EXPECT_EQ(fp16->values[input].space_to_depth, 1);
  EXPECT_EQ(fp32->values[input].c_stored, 4);
}

// The stem (7x7, stride 2, on the 3-channel image) reads its input as 2x2 blocks.
TEST(CudaPlan, StemInputIsSpaceToDepth) {
  NetworkDefinition net;
  LayerMaker m(net, 2);
  Tensor x = net.add_input("image", DataType::kFloat32, {1, 3, 31, 32});
  net.mark_output(m.conv("conv0", x, 64, 7, 2, 3, true, true), "y");
  ASSERT_TRUE(net.status().ok());
  const int input = net.graph().inputs()[0];
  auto fp16 = make_plan(net.graph(), 1, Precision::kFp16);
  auto fp32 = make_plan(net.graph(), 1, Precision::kFp32);
  ASSERT_TRUE(fp16.ok() && fp32.ok());
  const ValueLayout& l = fp16->values[input];
  EXPECT_EQ(l.space_to_depth, 2);
  EXPECT_EQ(l.h, 16);
  EXPECT_EQ(l.w, 16);
  EXPECT_EQ(l.c, 12);
  EXPECT_EQ(l.c_stored, 16);
  EXPECT_EQ(fp16->buffers[l.buffer].bytes, 16 * 16 * 16 * 2);
  EXPECT_EQ(fp32->values[input].space_to_depth, 2);
  EXPECT_EQ(fp32->values[input].c_stored, 12);
}

// The stem's convolution step may also run the max pool after it (StemPoolStep): the pool's
// output is live from the convolution's step on, so it never shares memory with the image.
TEST(CudaPlan, MaxPoolOutputIsLiveFromTheConvolutionBeforeIt) {
  NetworkDefinition net;
  LayerMaker m(net, 2);
  Tensor x = net.add_input("image", DataType::kFloat32, {2, 3, 64, 64});
  net.mark_output(m.pool("pool0", m.conv("conv0", x, 64, 7, 2, 3, true, true), true, 3, 2, 1), "y");
  ASSERT_TRUE(net.status().ok());
  const ir::Graph& g = net.graph();
  auto plan = make_plan(g, 2, Precision::kFp16);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  const int conv_step = plan->node_step[node_index(g, "conv0")];
  const int pool_step = plan->node_step[node_index(g, "pool0")];
  ASSERT_EQ(pool_step, conv_step + 1);
  const BufferDesc& pooled = plan->buffers[plan->values[plan->steps[pool_step].writes[0]].buffer];
  const BufferDesc& image = plan->buffers[plan->values[g.inputs()[0]].buffer];
  EXPECT_LE(pooled.first_step, conv_step);
  EXPECT_TRUE(pooled.offset + pooled.bytes <= image.offset || image.offset + image.bytes <= pooled.offset);
}

// A transition (BN + ReLU + average pool, then the 1x1) may run as one kernel during the pool's
// step (PoolConvStep): the convolution's output lives from there, apart from the pool's input.
TEST(CudaPlan, TransitionOutputIsLiveFromThePoolBeforeIt) {
  NetworkDefinition net;
  LayerMaker m(net, 2);
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 256, 16, 16});
  Tensor pooled = m.pool("pool", m.affine("norm", x, true), false, 2, 2, 0);
  net.mark_output(m.conv("conv", pooled, 128, 1, 1, 0, false, false), "y");
  ASSERT_TRUE(net.status().ok());
  const ir::Graph& g = net.graph();
  for (Precision precision : {Precision::kFp16, Precision::kFp32}) {
    auto plan = make_plan(g, 2, precision);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    const int pool_step = plan->node_step[node_index(g, "pool")];
    const int conv_step = plan->node_step[node_index(g, "conv")];
    ASSERT_EQ(conv_step, pool_step + 1);
    const BufferDesc& out = plan->buffers[plan->values[plan->steps[conv_step].writes[0]].buffer];
    const BufferDesc& in = plan->buffers[plan->values[plan->steps[pool_step].reads[0]].buffer];
    if (precision == Precision::kFp16) {
      EXPECT_LE(out.first_step, pool_step);
      EXPECT_TRUE(out.offset + out.bytes <= in.offset || in.offset + in.bytes <= out.offset);
    } else {
      EXPECT_EQ(out.first_step, conv_step);  // no fused kernel in fp32: no longer lifetime
    }
  }
}

TEST(CudaPlan, UnsupportedNodeIsNamed) {
  NetworkDefinition net;
  Tensor x = net.add_input("x", DataType::kFloat32, {2, 10});
  net.mark_output(net.add_softmax("probs", x, 1), "y");
  ASSERT_TRUE(net.status().ok());
  auto plan = make_plan(net.graph(), 2, Precision::kFp32);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(plan.status().message().find("probs"), std::string::npos) << plan.status().message();
}

}  // namespace
}  // namespace chexrt::cuda
