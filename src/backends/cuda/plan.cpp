#include "backends/cuda/plan.h"

#include <algorithm>

#include "builder/memory_planner.h"
#include "builder/prologue_fusion.h"
#include "ir/batchnorm_affine.h"
#include "ir/op_attributes.h"

namespace chexrt::cuda {

namespace {

using ir::OpType;

bool is_activation_value(const ir::Value& v) {
  return !v.is_constant() && v.dtype == DataType::kFloat32 && (v.dims.size() == 2 || v.dims.size() == 4);
}

bool is_const(const ir::Graph& g, const ir::Node& node, size_t i) {
  return i < node.inputs.size() && node.inputs[i] != ir::kNoValue && g.value(node.inputs[i]).is_constant();
}

bool has_input(const ir::Node& node, size_t i) { return i < node.inputs.size() && node.inputs[i] != ir::kNoValue; }

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
}

bool is_view_op(OpType op) { return op == OpType::kFlatten || op == OpType::kReshape || op == OpType::kIdentity; }

// A 1x1 convolution with stride 1 and no padding reads each pixel once: a prologue on its input
// sees exactly the values the ChannelAffine would have written (padding would see zeros instead).
bool is_pointwise_conv(const ir::Node& node) {
  if (node.op != OpType::kConv) return false;
  const Result<ir::ConvAttributes> a = ir::conv_attributes(node);
  return a.ok() && a->is_pointwise();
}

bool takes_prologue(const ir::Node& consumer) {
  return is_pointwise_conv(consumer) || consumer.op == OpType::kMaxPool || consumer.op == OpType::kAveragePool ||
         consumer.op == OpType::kClassifierHead || consumer.op == OpType::kGlobalAveragePool;
}

bool fail(std::string* why, const std::string& message) {
  if (why) *why = message;
  return false;
}

StepKind step_kind(OpType op) {
  switch (op) {
    case OpType::kConv:
      return StepKind::kConv;
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      return StepKind::kPool;
    case OpType::kClassifierHead:
    case OpType::kGlobalAveragePool:
    case OpType::kGemm:
      return StepKind::kHead;
    case OpType::kConcat:
      return StepKind::kConcatCopy;
    default:
      return StepKind::kChannelMap;
  }
}

}  // namespace

bool plan_supports(const ir::Graph& g, const ir::Node& node, std::string* why) {
  for (int v : node.inputs) {
    if (v != ir::kNoValue && !g.value(v).is_constant() && !is_activation_value(g.value(v))) {
      return fail(why, "input '" + g.value(v).name + "' is not a float32 tensor of rank 2 or 4");
    }
  }
  if (node.outputs.size() != 1) return fail(why, "only single-output nodes run on CUDA");
  if (!is_activation_value(g.value(node.outputs[0]))) return fail(why, "output is not a float32 tensor of rank 2 or 4");
  if (node.inputs.empty() || node.inputs[0] == ir::kNoValue || g.value(node.inputs[0]).is_constant()) {
    return fail(why, "the first input must be an activation");
  }
  const size_t rank = g.value(node.inputs[0]).dims.size();
  const std::string act = node.attrs.get_string("activation", "");
  switch (node.op) {
    case OpType::kConv: {
      const Result<ir::ConvAttributes> a = ir::conv_attributes(node);
      if (!a.ok()) return fail(why, a.status().message());
      if (rank != 4 || a->num_spatial() != 2) return fail(why, "only 2D convolutions");
      if (!is_const(g, node, 1) || (has_input(node, 2) && !is_const(g, node, 2))) {
        return fail(why, "weights and bias must be constants");
      }
      if (a->group != 1) return fail(why, "grouped convolution");
      if (act != "" && act != "relu") return fail(why, "activation '" + act + "'");
      return true;
    }
    case OpType::kChannelAffine:
      if (!is_const(g, node, 1) || !is_const(g, node, 2)) return fail(why, "scale and shift must be constants");
      if (act != "" && act != "relu") return fail(why, "activation '" + act + "'");
      return true;
    case OpType::kBatchNormalization:
      for (size_t i = 1; i < 5; ++i) {
        if (!is_const(g, node, i)) return fail(why, "batch-norm parameters must be constants");
      }
      if (node.attrs.get_int("training_mode", 0) != 0) return fail(why, "training mode");
      return true;
    case OpType::kRelu:
    case OpType::kSigmoid:
    case OpType::kIdentity:
      return true;
    case OpType::kMaxPool:
    case OpType::kAveragePool: {
      const Result<ir::PoolAttributes> a = ir::pool_attributes(node);
      if (!a.ok()) return fail(why, a.status().message());
      if (rank != 4 || a->num_spatial() != 2) return fail(why, "only 2D pooling");
      if (!all_equal(a->dilations, 1)) return fail(why, "dilated pooling");
      if (a->storage_order != 0) return fail(why, "storage_order");
      return true;
    }
    case OpType::kGlobalAveragePool:
      return rank == 4 || fail(why, "rank");
    case OpType::kConcat:
      return node.attrs.get_int("axis", 1) == 1 || fail(why, "only channel (axis 1) concat");
    case OpType::kClassifierHead:
      if (rank != 4 || !is_const(g, node, 1) || !is_const(g, node, 2)) return fail(why, "weights must be constants");
      if (act != "" && act != "sigmoid") return fail(why, "activation '" + act + "'");
      if (g.value(node.inputs[0]).dims[1] > 12 * 1024) return fail(why, "more than 12288 channels");
      return true;
    case OpType::kGemm:
      if (!is_const(g, node, 1) || (has_input(node, 2) && !is_const(g, node, 2))) {
        return fail(why, "B and C must be constants");
      }
      if (node.attrs.get_int("transA", 0) != 0 || node.attrs.get_float("alpha", 1.f) != 1.f ||
          (has_input(node, 2) && node.attrs.get_float("beta", 1.f) != 1.f)) {
        return fail(why, "only transA = 0, alpha = 1, beta = 1");
      }
      if (has_input(node, 2) && g.value(node.inputs[2]).constant.numel() != g.value(node.outputs[0]).dims[1]) {
        return fail(why, "C must be a vector over the output features");
      }
      if (g.value(node.inputs[0]).dims[1] > 12 * 1024) return fail(why, "more than 12288 input features");
      return true;
    case OpType::kFlatten:
    case OpType::kReshape: {
      const Dims& in = g.value(node.inputs[0]).dims;
      const Dims& out = g.value(node.outputs[0]).dims;
      const bool pixel = in.size() == 2 || (in[2] == 1 && in[3] == 1);
      if (!pixel || out.size() != 2 || out[0] != in[0] || out[1] != in[1]) {
        return fail(why, "only [N, C, 1, 1] -> [N, C] views");
      }
      return true;
    }
    default:
      return fail(why, std::string("op ") + ir::op_name(node.op) + " has no CUDA kernel");
  }
}

Result<AffineParams> affine_params(const ir::Graph& g, const ir::Node& node) {
  AffineParams p;
  const auto floats = [&](size_t i) {
    const std::vector<double> d = g.value(node.inputs[i]).constant.to_doubles();
    return std::vector<float>(d.begin(), d.end());
  };
  if (node.op == OpType::kChannelAffine) {
    p.scale = floats(1);
    p.shift = floats(2);
    p.relu = node.attrs.get_string("activation", "") == "relu";
    return p;
  }
  if (node.op == OpType::kBatchNormalization) {
    CHEXRT_ASSIGN_OR_RETURN(const ir::ChannelAffineParams a, ir::batchnorm_affine(g, node));
    p.scale.assign(a.scale.begin(), a.scale.end());
    p.shift.assign(a.shift.begin(), a.shift.end());
    return p;
  }
  return invalid_argument(ir::describe(node) + " is not a per-channel affine map");
}

int64_t profile_batch(int64_t batch, int64_t max_batch) {
  int64_t p = 1;
  while (p < batch) p *= 2;
  return std::min(p, max_batch);
}

Result<ExecutionPlan> make_plan(const ir::Graph& g, int64_t max_batch, Precision precision) {
  ExecutionPlan plan;
  plan.precision = precision;
  plan.max_batch = max_batch;
  plan.elem_size = precision == Precision::kFp16 ? 2 : 4;
  const int num_nodes = g.num_nodes();
  const int num_values = g.num_values();
  for (const ir::Node& node : g.nodes()) {
    std::string why;
    if (!plan_supports(g, node, &why)) return unsupported(ir::describe(node) + ": " + why);
  }
  for (int v : g.inputs()) {
    if (!is_activation_value(g.value(v))) {
      return unsupported("graph input '" + g.value(v).name + "' is not a float32 tensor of rank 2 or 4");
    }
  }
  for (int v = 0; v < num_values; ++v) {
    const ir::Value& value = g.value(v);
    if (is_activation_value(value) && value.dims[0] != max_batch) {
      return invalid_argument("value '" + value.name + "' has batch " + std::to_string(value.dims[0]) +
                              ", the engine's max batch is " + std::to_string(max_batch));
    }
  }
  const auto consumers = g.consumers();

  // 1. ChannelAffine prologues.
  builder::PrologueRule prologue_rule;
  prologue_rule.is_prologue = [](const ir::Node& node) { return node.op == OpType::kChannelAffine; };
  prologue_rule.takes_prologue = takes_prologue;
  const builder::PrologueFusion prologues = builder::plan_prologue_fusion(g, consumers, prologue_rule);
  const std::vector<int>& fused_into = prologues.fused_into;
  const std::vector<int>& prologue_of = prologues.prologue_of;

  // 2. Views: the value whose memory a view shares.
  std::vector<int> view_of(num_values, -1);
  for (const ir::Node& node : g.nodes()) {
    if (!is_view_op(node.op)) continue;
    const int src = node.inputs[0];
    view_of[node.outputs[0]] = view_of[src] >= 0 ? view_of[src] : src;
  }

  // 3. In-place Concats: every 4D producer kernel here writes through a channel-strided view.
  const auto writes_slices = [&](const ir::Graph& graph, const ir::Node& node) {
    const int n = graph.value(node.outputs[0]).producer;
    if (fused_into[n] >= 0 || graph.value(node.outputs[0]).dims.size() != 4) return false;
    switch (node.op) {
      case OpType::kConv:
      case OpType::kChannelAffine:
      case OpType::kBatchNormalization:
      case OpType::kRelu:
      case OpType::kSigmoid:
      case OpType::kMaxPool:
      case OpType::kAveragePool:
      case OpType::kConcat:
        return true;
      default:
        return false;
    }
  };
  const builder::ConcatPlan concat = builder::plan_concat_elimination(g, writes_slices);

  // 4. Layouts. A buffer per root value; graph inputs get channels padded with zeros to a
  // 16-byte multiple (8 in fp16, 4 in fp32) so that convolutions can read them in 16-byte chunks.
  plan.values.resize(num_values);
  std::vector<bool> materialized(num_values, false);
  for (int v : g.inputs()) materialized[v] = true;
  for (int n = 0; n < num_nodes; ++n) {
    const ir::Node& node = g.node(n);
    if (fused_into[n] >= 0 || is_view_op(node.op)) continue;
    for (int v : node.outputs) materialized[v] = true;
  }
  std::vector<int> buffer_of_root(num_values, -1);
  const auto stored_channels = [&](int root) {
    const int64_t c = g.value(root).dims[1];
    const int64_t v = 16 / plan.elem_size;
    const bool padded = std::find(g.inputs().begin(), g.inputs().end(), root) != g.inputs().end();
    return padded ? (c + v - 1) / v * v : c;
  };
  const auto set_dims = [&](ValueLayout& l, const Dims& d) {
    l.n = d[0];
    l.c = d[1];
    l.h = d.size() == 4 ? d[2] : 1;
    l.w = d.size() == 4 ? d[3] : 1;
  };
  for (int v = 0; v < num_values; ++v) {
    if (!materialized[v]) continue;
    const int root = concat.storage[v];
    if (buffer_of_root[root] < 0) {
      buffer_of_root[root] = static_cast<int>(plan.buffers.size());
      BufferDesc b;
      b.root = root;
      const Dims& d = g.value(root).dims;
      const int64_t pixels = d[0] * (d.size() == 4 ? d[2] * d[3] : 1);
      b.bytes = pixels * stored_channels(root) * plan.elem_size;
      b.first_step = -1;
      plan.buffers.push_back(b);
    }
    ValueLayout& l = plan.values[v];
    l.on_device = true;
    l.buffer = buffer_of_root[root];
    l.channel_offset = concat.channel_offset[v];
    l.ld = stored_channels(root);
    set_dims(l, g.value(v).dims);
    l.c_stored = v == root ? l.ld : l.c;
  }
  // Space-to-depth for an input that only a stride-2, undilated convolution reads (whose output
  // channels suit chexrt's own kernels, the only ones that take the rewritten convolution).
  for (int v : g.inputs()) {
    if (consumers[v].size() != 1 || g.is_graph_output(v) || g.value(v).dims.size() != 4) {
      continue;
    }
    const ir::Node& conv = g.node(consumers[v][0]);
    if (conv.op != OpType::kConv || conv.inputs[0] != v || g.value(conv.outputs[0]).dims[1] % 32 != 0) continue;
    const ir::ConvAttributes window = ir::conv_attributes(conv).value();  // checked by plan_supports
    if (!all_equal(window.strides, 2) || !all_equal(window.dilations, 1)) continue;
    ValueLayout& l = plan.values[v];
    l.space_to_depth = 2;
    l.h = (l.h + 1) / 2;
    l.w = (l.w + 1) / 2;
    l.c = 4 * l.c;
    const int64_t vec = 16 / plan.elem_size;
    l.c_stored = l.ld = (l.c + vec - 1) / vec * vec;
    plan.buffers[l.buffer].bytes = l.n * l.h * l.w * l.ld * plan.elem_size;
  }
  for (int v = 0; v < num_values; ++v) {
    if (view_of[v] < 0) continue;
    plan.values[v] = plan.values[view_of[v]];
    set_dims(plan.values[v], g.value(v).dims);
  }

  // 5. Steps, in node order between the input and output conversions.
  plan.node_step.assign(num_nodes, -1);
  plan.node_note.assign(num_nodes, "");
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    StepDesc s;
    s.kind = StepKind::kInput;
    s.io_index = static_cast<int>(i);
    s.writes = {g.inputs()[i]};
    plan.steps.push_back(s);
  }
  const auto resolve = [&](int v) { return view_of[v] >= 0 ? view_of[v] : v; };
  for (int n = 0; n < num_nodes; ++n) {
    const ir::Node& node = g.node(n);
    if (fused_into[n] >= 0) {
      plan.node_note[n] = "fused into " + g.node(fused_into[n]).name;
      continue;
    }
    if (is_view_op(node.op)) {
      plan.node_note[n] = "view";
      continue;
    }
    if (node.op == OpType::kConcat && concat.concat_in_place[n]) {
      plan.node_note[n] = "in place";
      continue;
    }
    StepDesc s;
    s.kind = step_kind(node.op);
    s.node = n;
    s.prologue = prologue_of[n];
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      int v = node.inputs[i];
      if (v == ir::kNoValue || g.value(v).is_constant()) continue;
      if (i == 0 && s.prologue >= 0) v = g.node(s.prologue).inputs[0];
      s.reads.push_back(resolve(v));
    }
    s.writes = node.outputs;
    plan.node_step[n] = static_cast<int>(plan.steps.size());
    plan.steps.push_back(s);
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    StepDesc s;
    s.kind = StepKind::kOutput;
    s.io_index = static_cast<int>(i);
    s.reads = {resolve(g.outputs()[i])};
    plan.steps.push_back(s);
  }

  // 6. Lifetimes and arena offsets.
  for (int s = 0; s < static_cast<int>(plan.steps.size()); ++s) {
    for (const auto* list : {&plan.steps[s].reads, &plan.steps[s].writes}) {
      for (int v : *list) {
        BufferDesc& b = plan.buffers[plan.values[v].buffer];
        if (b.first_step < 0) b.first_step = s;
        b.first_step = std::min(b.first_step, s);
        b.last_step = std::max(b.last_step, s);
      }
    }
  }
  // An fp16 kernel may do two steps at once: a convolution and the max pool right after it (the
  // stem's StemPoolStep), or an average pool and the convolution right after it (a transition's
  // PoolConvStep). The second step's outputs then live from the first step on, so that they
  // share no memory with the first step's inputs.
  for (int s = 1; precision == Precision::kFp16 && s < static_cast<int>(plan.steps.size()); ++s) {
    const StepDesc& second = plan.steps[s];
    const StepDesc& first = plan.steps[s - 1];
    const auto fusable = [&](StepKind a, OpType a_op, StepKind b, OpType b_op) {
      return first.kind == a && g.node(first.node).op == a_op && second.kind == b && g.node(second.node).op == b_op;
    };
    if (!fusable(StepKind::kConv, OpType::kConv, StepKind::kPool, OpType::kMaxPool) &&
        !fusable(StepKind::kPool, OpType::kAveragePool, StepKind::kConv, OpType::kConv)) {
      continue;
    }
    if (second.reads.empty() ||
        std::find(first.writes.begin(), first.writes.end(), second.reads[0]) == first.writes.end()) {
      continue;
    }
    for (int v : second.writes) {
      BufferDesc& b = plan.buffers[plan.values[v].buffer];
      b.first_step = std::min(b.first_step, s - 1);
    }
  }
  std::vector<builder::BufferRequest> requests;
  for (BufferDesc& b : plan.buffers) {
    if (b.first_step < 0) b.first_step = b.last_step = 0;
    requests.push_back({static_cast<size_t>(b.bytes), b.first_step, b.last_step});
  }
  CHEXRT_ASSIGN_OR_RETURN(builder::MemoryPlan memory, builder::plan_memory(requests));
  for (size_t i = 0; i < plan.buffers.size(); ++i) plan.buffers[i].offset = static_cast<int64_t>(memory.offsets[i]);
  plan.arena_bytes = static_cast<int64_t>(memory.arena_size);
  return plan;
}

}  // namespace chexrt::cuda
