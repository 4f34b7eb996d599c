// The CPU engine: building (steps, layouts, the arena, every batch size's primitives), running
// and the per-layer benchmark. Just over 600 lines, all sharing the engine's private state.
#include "backends/cpu/cpu_engine.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "backends/cpu/cpu_steps.h"
#include "builder/concat_plan.h"
#include "builder/prologue_fusion.h"
#include "ir/batchnorm_affine.h"
#include "ir/op_attributes.h"

namespace chexrt::cpu {

namespace {

using ir::OpType;

bool fail(std::string* why, const std::string& message) {
  if (why) *why = message;
  return false;
}

bool is_activation(const ir::Graph& graph, int value) {
  return value != ir::kNoValue && !graph.value(value).is_constant() && graph.value(value).dims.size() == 4;
}

bool is_constant(const ir::Graph& graph, int value) {
  return value != ir::kNoValue && graph.value(value).is_constant();
}

// Nodes whose output can be written straight into a channel slice of a Concat's buffer: every
// kernel here writes through NHWC views (convolutions through a dense scratch buffer).
bool can_write_into_slice(const ir::Graph&, const ir::Node& node) {
  switch (node.op) {
    case OpType::kConv:
    case OpType::kChannelAffine:
    case OpType::kBatchNormalization:
    case OpType::kRelu:
    case OpType::kMaxPool:
    case OpType::kAveragePool:
      return true;
    default:
      return false;
  }
}

// Element-wise nodes that can run fused in front of a pool or classifier head.
bool is_pre_op(OpType op) {
  return op == OpType::kChannelAffine || op == OpType::kBatchNormalization || op == OpType::kRelu;
}

// ChannelAffine, BatchNormalization (inference form) or Relu as y = act(x * scale + shift).
OwnedPreOp pre_op_of(const ir::Graph& graph, const ir::Node& node) {
  OwnedPreOp pre;
  if (node.op == OpType::kRelu) {
    pre.relu = true;
    return pre;
  }
  const auto floats = [&](int i) { return graph.value(node.inputs[i]).constant.to_doubles(); };
  if (node.op == OpType::kChannelAffine) {
    for (double v : floats(1)) pre.scale.push_back(static_cast<float>(v));
    for (double v : floats(2)) pre.shift.push_back(static_cast<float>(v));
    pre.relu = node.attrs.get_string("activation", "") == "relu";
    return pre;
  }
  // BatchNormalization: supports_node() has checked that its parameters are constants.
  const ir::ChannelAffineParams a = ir::batchnorm_affine(graph, node).value();
  pre.scale.assign(a.scale.begin(), a.scale.end());
  pre.shift.assign(a.shift.begin(), a.shift.end());
  return pre;
}

// The 2-D window of a Conv or pool node whose attributes supports_node() has checked.
PoolWindow window_of(const ir::WindowAttributes& a) {
  PoolWindow w;
  w.kernel_h = a.kernel_shape[0];
  w.kernel_w = a.kernel_shape[1];
  w.stride_h = a.strides[0];
  w.stride_w = a.strides[1];
  w.dilation_h = a.dilations[0];
  w.dilation_w = a.dilations[1];
  w.pad_top = a.pads[0];
  w.pad_left = a.pads[1];
  w.pad_bottom = a.pads[2];
  w.pad_right = a.pads[3];
  return w;
}

PoolWindow pool_window(const ir::Node& node) {
  const ir::PoolAttributes a = ir::pool_attributes(node).value();
  PoolWindow w = window_of(a);
  w.average = a.average;
  w.count_include_pad = a.count_include_pad;
  return w;
}

ConvGeometry conv_geometry(const ir::Graph& graph, const ir::Node& node) {
  const Dims& w = graph.value(node.inputs[1]).dims;
  const PoolWindow win = window_of(ir::conv_attributes(node).value());
  ConvGeometry g;
  g.src = graph.value(node.inputs[0]).dims;
  g.dst = graph.value(node.outputs[0]).dims;
  g.kernel_h = w[2];
  g.kernel_w = w[3];
  g.stride_h = win.stride_h;
  g.stride_w = win.stride_w;
  g.dilation_h = win.dilation_h;
  g.dilation_w = win.dilation_w;
  g.pad_top = win.pad_top;
  g.pad_left = win.pad_left;
  g.pad_bottom = win.pad_bottom;
  g.pad_right = win.pad_right;
  return g;
}

// A Conv node's parameters (values, weights, geometry); layouts and scratch left to the caller.
ConvSpec conv_spec(const ir::Graph& graph, const ir::Node& node) {
  ConvSpec spec;
  spec.geometry = conv_geometry(graph, node);
  spec.weight = graph.value(node.inputs[1]).constant;
  if (node.inputs.size() > 2 && node.inputs[2] != ir::kNoValue) spec.bias = graph.value(node.inputs[2]).constant;
  spec.relu = node.attrs.get_string("activation", "") == "relu";
  spec.src = node.inputs[0];
  spec.dst = node.outputs[0];
  return spec;
}

// Winograd F(4x4, 3x3) / F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
// Networks", 2016) does a 3x3 convolution with 4x / 2.25x fewer multiplications; oneDNN 2.6 has it
// in float32 on nChw16c only. Run that way, with the 1x1 conv before it on nChw16c too (oneDNN's
// jit_1x1) and the pre-activation affine writing nChw16c, DenseNet-121's bottlenecks measured on
// a 2-core AVX-512 Xeon with 2 threads, ms per image per layer (affine + 1x1 + 3x3; NHWC direct
// -> nChw16c Winograd; docs/PERF.md has how):
//   block 1 (56x56): batch 1  0.88 -> 0.89, batch 8  1.07 -> 0.90
//   block 2 (28x28): batch 1  0.32 -> 0.34, batch 8  0.35 -> 0.32
//   block 3 (14x14): batch 1  0.15 -> 0.19, batch 8  0.135 -> 0.139
//   block 4 (7x7):   batch 1  0.07 -> 0.09, batch 8  0.042 -> 0.048
// so it is used from 28x28 up, where the transforms' overhead is amortized over enough tiles
// (it pays at batch 8 and is a wash at batch 1).
// (Timing the alternatives at build time picked wrongly: in isolation, with hot caches, the
// convolutions rank differently than inside the network.)
constexpr int64_t kWinogradMinPixels = 28 * 28;

// CHEXRT_CPU_WINOGRAD: unset, by the rule above; 0, never; 1, wherever oneDNN has it (tests).
enum class WinogradPolicy { kBySize, kNever, kAlways };

WinogradPolicy winograd_policy() {
  const char* env = std::getenv("CHEXRT_CPU_WINOGRAD");
  if (env == nullptr) return WinogradPolicy::kBySize;
  return std::string(env) == "0" ? WinogradPolicy::kNever : WinogradPolicy::kAlways;
}

// Whether oneDNN has a float32 Winograd convolution for this shape on this CPU.
bool winograd_available(const dnnl::engine& engine, const ConvGeometry& g) {
  try {
    const auto md = [](const Dims& d) {
      return dnnl::memory::desc({1, d[1], d[2], d[3]}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
    };
    const dnnl::memory::desc weights({g.dst[1], g.src[1], 3, 3}, dnnl::memory::data_type::f32,
                                     dnnl::memory::format_tag::any);
    dnnl::convolution_forward::primitive_desc(
        dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_winograd,
                                        md(g.src), weights, md(g.dst), {1, 1}, {g.pad_top, g.pad_left},
                                        {g.pad_bottom, g.pad_right}),
        engine);
    return true;
  } catch (const dnnl::error&) {
    return false;
  }
}

bool window_attrs_ok(const ir::Node& node, std::string* why) {
  Status status;
  size_t spatial = 0;
  if (node.op == OpType::kConv) {
    const Result<ir::ConvAttributes> a = ir::conv_attributes(node);
    status = a.status();
    if (a.ok()) spatial = a->num_spatial();
  } else {
    const Result<ir::PoolAttributes> a = ir::pool_attributes(node);
    status = a.status();
    if (a.ok()) spatial = a->num_spatial();
  }
  if (!status.ok()) return fail(why, status.message());
  if (spatial != 2) return fail(why, "only 2-D windows are supported");
  return true;
}

// ---------------------------------------------------------------------------------------------

class CpuEngine : public Engine {
 public:
  CpuEngine(const dnnl::engine& engine, Storage storage, int64_t max_batch, int threads)
      : dnnl_engine_(engine), stream_(engine), workspace_(storage, max_batch), threads_(threads) {}

  std::string backend_name() const override { return "cpu-onednn"; }
  const std::vector<TensorInfo>& inputs() const override { return inputs_; }
  const std::vector<TensorInfo>& outputs() const override { return outputs_; }
  int64_t max_batch() const override { return workspace_.max_batch(); }
  Status infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) override;
  std::string describe_layers() const override { return layers_; }
  /// The oneDNN (or chexrt) kernel of each node, or the note of a node that runs inside
  /// another's kernel: what `chexrt inspect` shows for an engine file.
  std::vector<std::string> node_tactics() const override { return node_kernels_; }
  /// Engine::benchmark, and with per_layer the median time of each step (and of the input
  /// conversion) over the iterations.
  Result<BenchmarkResult> benchmark(const BenchmarkOptions& options) override;

 private:
  friend Result<std::unique_ptr<Engine>> cpu::build_cpu_engine(const ir::Graph& graph, const BuildOptions& options);

  /// Creates every step's primitives for every batch from 1 to the max, and the one scratchpad
  /// they all share (the steps and the batches run one at a time).
  Status prepare_all();
  void convert_inputs(const std::vector<HostTensor>& inputs, int64_t batch);

  dnnl::engine dnnl_engine_;
  dnnl::stream stream_;
  Workspace workspace_;
  int threads_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<int> input_values_, output_values_;
  std::vector<std::unique_ptr<Step>> steps_;
  std::string layers_;
  std::vector<std::string> node_kernels_;
  std::mutex mutex_;  // one inference at a time: the arena is shared
  AlignedBuffer scratchpad_;
};

void CpuEngine::convert_inputs(const std::vector<HostTensor>& inputs, int64_t batch) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    nchw_to_nhwc(inputs[i].data<float>(), workspace_.view(input_values_[i], batch));
  }
}

Status CpuEngine::prepare_all() {
  size_t scratchpad = 0;
  for (int64_t batch = 1; batch <= max_batch(); ++batch) {
    for (auto& step : steps_) {
      try {
        CHEXRT_ASSIGN_OR_RETURN(size_t bytes, step->prepare(batch, workspace_));
        scratchpad = std::max(scratchpad, bytes);
      } catch (const dnnl::error& e) {
        return runtime_error("node '" + step->name() + "': oneDNN: " + e.what() + " (batch " + std::to_string(batch) +
                             ")");
      }
    }
  }
  scratchpad_ = AlignedBuffer(scratchpad);
  for (int64_t batch = 1; batch <= max_batch(); ++batch) {
    for (auto& step : steps_) step->bind_scratchpad(batch, scratchpad_.get());
  }
  return Status::ok_status();
}

Status CpuEngine::infer(const std::vector<HostTensor>& inputs, std::vector<HostTensor>* outputs) {
  if (inputs.size() != inputs_.size()) {
    return invalid_argument("expected " + std::to_string(inputs_.size()) + " inputs, got " +
                            std::to_string(inputs.size()));
  }
  const int64_t batch = inputs.empty() ? max_batch() : inputs[0].dims()[0];
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorInfo& info = inputs_[i];
    Dims expected = info.dims;
    expected[0] = batch;
    if (inputs[i].dtype() != DataType::kFloat32 || inputs[i].dims() != expected) {
      return invalid_argument("input '" + info.name + "': expected float32 " + dims_to_string(expected) + ", got " +
                              dtype_name(inputs[i].dtype()) + " " + dims_to_string(inputs[i].dims()));
    }
  }
  if (batch < 1 || batch > max_batch()) {
    return invalid_argument("batch " + std::to_string(batch) + " is outside the engine's range 1.." +
                            std::to_string(max_batch()));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  // OpenMP's thread count is per calling thread; oneDNN reads it at primitive creation and run.
  omp_set_num_threads(threads_);
  convert_inputs(inputs, batch);
  for (auto& step : steps_) {
    try {
      step->run(batch, workspace_, stream_);
    } catch (const dnnl::error& e) {
      return runtime_error("node '" + step->name() + "': oneDNN: " + e.what());
    }
  }
  outputs->clear();
  for (size_t i = 0; i < outputs_.size(); ++i) {
    Dims dims = outputs_[i].dims;
    dims[0] = batch;
    HostTensor out(DataType::kFloat32, dims);
    const int value = output_values_[i];
    if (dims.size() == 4) {
      nhwc_to_nchw(workspace_.view(value, batch), out.data<float>());
    } else {
      std::memcpy(out.raw(), workspace_.data(workspace_.buffer_of(value)), out.nbytes());
    }
    outputs->push_back(out);
  }
  return Status::ok_status();
}

Result<BenchmarkResult> CpuEngine::benchmark(const BenchmarkOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(BenchmarkResult result, Engine::benchmark(options));
  result.notes = "host-timed infer() on cpu-onednn (" +
                 std::string(workspace_.storage() == Storage::kBf16 ? "bf16" : "fp32") + ", " +
                 std::to_string(threads_) + " thread(s))";
  if (!options.per_layer) return result;
  // Per step, on whatever the last infer() left in the arena: the median over the iterations.
  std::lock_guard<std::mutex> lock(mutex_);
  omp_set_num_threads(threads_);
  std::vector<std::vector<double>> times(steps_.size());
  std::vector<double> input_times;
  const std::vector<HostTensor> inputs = random_inputs(*this, options.batch);
  for (int i = 0; i < std::max(options.iterations, 1); ++i) {
    const auto input_start = std::chrono::steady_clock::now();
    convert_inputs(inputs, options.batch);
    input_times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - input_start).count());
    for (size_t s = 0; s < steps_.size(); ++s) {
      const auto start = std::chrono::steady_clock::now();
      try {
        steps_[s]->run(options.batch, workspace_, stream_);
      } catch (const dnnl::error& e) {
        return runtime_error("node '" + steps_[s]->name() + "': oneDNN: " + e.what());
      }
      times[s].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::sort(input_times.begin(), input_times.end());
  result.layers.push_back({"(inputs)", "nchw_to_nhwc__cpu", input_times[input_times.size() / 2]});
  for (size_t s = 0; s < steps_.size(); ++s) {
    std::sort(times[s].begin(), times[s].end());
    result.layers.push_back({steps_[s]->name(), steps_[s]->kernel(), times[s][times[s].size() / 2]});
  }
  return result;
}

}  // namespace

bool has_native_bf16() { return __builtin_cpu_supports("avx512bf16"); }

bool supports_node(const ir::Graph& graph, const ir::Node& node, Precision precision, std::string* why) {
  if (precision == Precision::kFp16) return fail(why, "the CPU backend computes in fp32 or bf16, not fp16");
  if (precision == Precision::kBf16 && !has_native_bf16()) {
    return fail(why, "bf16 needs AVX-512 BF16, which this CPU lacks");
  }
  for (int v : node.inputs) {
    if (v != ir::kNoValue && graph.value(v).dtype != DataType::kFloat32) return fail(why, "only float32 tensors");
  }
  for (int v : node.outputs) {
    if (graph.value(v).dtype != DataType::kFloat32) return fail(why, "only float32 tensors");
  }
  const size_t num_inputs = node.inputs.size();
  const auto input = [&](size_t i) { return i < num_inputs ? node.inputs[i] : ir::kNoValue; };
  if (num_inputs == 0 || !is_activation(graph, input(0))) return fail(why, "the input must be a 4-D activation");
  switch (node.op) {
    case OpType::kConv: {
      if (!is_constant(graph, input(1)) || graph.value(input(1)).dims.size() != 4) {
        return fail(why, "the weights must be a 4-D constant");
      }
      if (input(2) != ir::kNoValue && !is_constant(graph, input(2))) return fail(why, "the bias must be a constant");
      if (!window_attrs_ok(node, why)) return false;
      if (ir::conv_attributes(node)->group != 1) return fail(why, "grouped convolution is not implemented");
      const std::string act = node.attrs.get_string("activation", "");
      return act == "" || act == "relu" ? true : fail(why, "activation '" + act + "' is not implemented");
    }
    case OpType::kChannelAffine: {
      if (!is_constant(graph, input(1)) || !is_constant(graph, input(2))) {
        return fail(why, "scale and shift must be constants");
      }
      const std::string act = node.attrs.get_string("activation", "");
      return act == "" || act == "relu" ? true : fail(why, "activation '" + act + "' is not implemented");
    }
    case OpType::kBatchNormalization:
      for (size_t i = 1; i < 5; ++i) {
        if (!is_constant(graph, input(i))) return fail(why, "scale, bias, mean and var must be constants");
      }
      // Training mode normalizes with the batch's own statistics, which these kernels do not compute.
      if (node.attrs.get_int("training_mode", 0) != 0) return fail(why, "training mode is not implemented");
      return node.outputs.size() == 1 ? true : fail(why, "training-mode outputs are not implemented");
    case OpType::kRelu:
      return true;
    case OpType::kMaxPool:
      if (node.outputs.size() != 1) return fail(why, "the Indices output is not implemented");
      return window_attrs_ok(node, why);
    case OpType::kAveragePool:
      return window_attrs_ok(node, why);
    case OpType::kConcat:
      if (node.attrs.get_int("axis", 1) != 1) return fail(why, "only channel (axis 1) concatenation");
      for (int v : node.inputs) {
        if (!is_activation(graph, v)) return fail(why, "every input must be a 4-D activation");
      }
      return true;
    case OpType::kClassifierHead: {
      if (!is_constant(graph, input(1)) || !is_constant(graph, input(2))) {
        return fail(why, "the weights and bias must be constants");
      }
      const std::string act = node.attrs.get_string("activation", "");
      return act == "" || act == "sigmoid" ? true : fail(why, "activation '" + act + "' is not implemented");
    }
    default:
      return fail(why, std::string(ir::op_name(node.op)) + " is not implemented by the CPU backend");
  }
}

Result<std::unique_ptr<Engine>> build_cpu_engine(const ir::Graph& graph, const BuildOptions& options) {
  for (const ir::Node& node : graph.nodes()) {
    std::string why;
    if (!supports_node(graph, node, options.precision, &why)) return unsupported(ir::describe(node) + ": " + why);
  }
  for (int v : graph.inputs()) {
    if (graph.value(v).dims.size() != 4 || graph.value(v).dtype != DataType::kFloat32) {
      return unsupported("input '" + graph.value(v).name + "': the CPU backend takes 4-D float32 inputs");
    }
  }
  if (graph.inputs().empty()) return unsupported("the graph has no inputs");
  const int64_t max_batch = graph.value(graph.inputs()[0]).dims[0];
  const int threads = options.threads > 0 ? options.threads : omp_get_num_procs();
  omp_set_num_threads(threads);

  std::unique_ptr<CpuEngine> engine;
  try {
    engine = std::make_unique<CpuEngine>(dnnl::engine(dnnl::engine::kind::cpu, 0),
                                         options.precision == Precision::kBf16 ? Storage::kBf16 : Storage::kF32,
                                         max_batch, threads);
  } catch (const dnnl::error& e) {
    return runtime_error(std::string("oneDNN: cannot create a CPU engine: ") + e.what());
  }
  Workspace& ws = engine->workspace_;
  const size_t elem = ws.element_size();

  const builder::ConcatPlan plan = builder::plan_concat_elimination(graph, can_write_into_slice);
  const std::vector<std::vector<int>> consumers = graph.consumers();

  // A pre-op node whose only reader is a pool or the head runs inside that reader's kernel.
  builder::PrologueRule prologue_rule;
  prologue_rule.is_prologue = [](const ir::Node& node) { return is_pre_op(node.op); };
  prologue_rule.takes_prologue = [](const ir::Node& reader) {
    return reader.op == OpType::kMaxPool || reader.op == OpType::kAveragePool || reader.op == OpType::kClassifierHead;
  };
  prologue_rule.may_skip_output = [&](int value) { return plan.storage[value] == value; };
  const builder::PrologueFusion prologues = builder::plan_prologue_fusion(graph, consumers, prologue_rule);
  const std::vector<int>& fused_pre = prologues.prologue_of;  // reader node -> pre-op node
  const auto fused_away = [&](int n) { return prologues.fused_into[n] >= 0; };

  // Float32 bottlenecks (pre-op -> conv -> 3x3 conv, intermediates read once and not placed in
  // a Concat) whose 3x3 conv runs as Winograd run in nChw16c from the pre-op's output on.
  std::vector<bool> blocked(graph.num_values(), false);
  std::vector<bool> winograd(graph.num_nodes(), false);
  if (ws.storage() == Storage::kF32 && winograd_policy() != WinogradPolicy::kNever) {
    const auto private_value = [&](int v, int reader) {
      return plan.storage[v] == v && consumers[v].size() == 1 && consumers[v][0] == reader &&
             !graph.is_graph_output(v) && graph.value(v).dims[1] % 16 == 0;
    };
    for (int n3 = 0; n3 < graph.num_nodes(); ++n3) {
      const ir::Node& conv3 = graph.node(n3);
      if (conv3.op != OpType::kConv || conv3.inputs.size() > 2 || conv3.attrs.get_string("activation", "") != "") {
        continue;
      }
      const ConvGeometry g = conv_geometry(graph, conv3);
      if (g.kernel_h != 3 || g.kernel_w != 3 || g.stride_h != 1 || g.stride_w != 1 || g.dilation_h != 1 ||
          g.dilation_w != 1) {
        continue;
      }
      const int v = conv3.inputs[0], n1 = graph.value(v).producer;
      if (n1 < 0 || graph.node(n1).op != OpType::kConv || !private_value(v, n3)) continue;
      const int u = graph.node(n1).inputs[0], n0 = graph.value(u).producer;
      if (n0 < 0 || !is_pre_op(graph.node(n0).op) || !private_value(u, n1)) continue;
      const bool wanted = winograd_policy() == WinogradPolicy::kAlways || g.dst[2] * g.dst[3] >= kWinogradMinPixels;
      if (!wanted || !winograd_available(engine->dnnl_engine_, g)) continue;
      blocked[u] = blocked[v] = true;
      winograd[n3] = true;
    }
  }

  // One buffer per storage root; every materialized value is placed in its root's buffer.
  std::map<int, int> buffer_of_root;
  const auto place = [&](int v) {
    const int root = plan.storage[v];
    const Dims& root_dims = graph.value(root).dims;
    auto it = buffer_of_root.find(root);
    if (it == buffer_of_root.end()) {
      const int64_t bytes = num_elements(root_dims) * (root_dims.size() == 4 ? static_cast<int64_t>(elem) : 4);
      it = buffer_of_root.emplace(root, ws.add_buffer(bytes)).first;
    }
    ws.place(v, graph.value(v).dims, it->second, plan.channel_offset[v], root_dims[1]);
  };
  for (int v : graph.inputs()) place(v);
  for (int n = 0; n < graph.num_nodes(); ++n) {
    if (!fused_away(n)) place(graph.node(n).outputs[0]);
  }

  // Steps, in node order; step 0 converts the inputs and the last converts the outputs.
  std::ostringstream layers;
  const char* precision = options.precision == Precision::kBf16 ? "bf16" : "fp32";
  std::vector<std::string> notes(graph.num_nodes());
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    const int x = node.inputs[0], y = node.outputs[0];
    OwnedPreOp pre = fused_pre[n] >= 0 ? pre_op_of(graph, graph.node(fused_pre[n])) : OwnedPreOp{};
    const int x_in = fused_pre[n] >= 0 ? graph.node(fused_pre[n]).inputs[0] : x;
    std::unique_ptr<Step> step;
    if (fused_away(n)) {
      notes[n] = "fused into " + graph.node(consumers[y][0]).name;
      continue;
    }
    switch (node.op) {
      case OpType::kConv: {
        const auto dense = [&](int v) { return plan.storage[v] == v && plan.channel_offset[v] == 0; };
        ConvSpec spec = conv_spec(graph, node);
        spec.blocked = blocked[x];
        spec.winograd = winograd[n];
        const int64_t src_bytes = num_elements(spec.geometry.src) * static_cast<int64_t>(elem);
        const int64_t dst_bytes = num_elements(spec.geometry.dst) * static_cast<int64_t>(elem);
        if (!spec.blocked && !dense(x)) spec.src_scratch = ws.add_buffer(src_bytes);
        if (spec.blocked ? !blocked[y] : !dense(y)) spec.dst_scratch = ws.add_buffer(dst_bytes);
        step = make_conv_step(node.name, engine->dnnl_engine_, spec);
        break;
      }
      case OpType::kChannelAffine:
      case OpType::kBatchNormalization:
      case OpType::kRelu:
        step = make_transform_step(node.name, pre_op_of(graph, node), x, y, blocked[y]);
        break;
      case OpType::kMaxPool:
      case OpType::kAveragePool:
        step = make_pool_step(node.name, std::move(pre), pool_window(node), x_in, y);
        break;
      case OpType::kConcat:
        if (plan.concat_in_place[n]) {
          notes[n] = "in place (inputs written into their slices)";
          continue;
        }
        step = make_concat_step(node.name, node.inputs, y);
        break;
      case OpType::kClassifierHead: {
        const int pooled = ws.add_buffer(max_batch * graph.value(x_in).dims[1] * 4);
        step = make_head_step(node.name, std::move(pre), graph.value(node.inputs[1]).constant,
                              graph.value(node.inputs[2]).constant,
                              node.attrs.get_string("activation", "") == "sigmoid", x_in, y, pooled);
        break;
      }
      default:
        return unsupported(ir::describe(node) + ": no CPU kernel");
    }
    engine->steps_.push_back(std::move(step));
  }

  // Liveness: every value a step touches keeps its root's buffer alive for that step.
  const int last_step = static_cast<int>(engine->steps_.size()) + 1;
  for (int v : graph.inputs()) ws.use(ws.buffer_of(v), 0);
  for (size_t s = 0; s < engine->steps_.size(); ++s) {
    const Step& step = *engine->steps_[s];
    for (int v : step.reads) ws.use(ws.buffer_of(v), static_cast<int>(s) + 1);
    for (int v : step.writes) ws.use(ws.buffer_of(v), static_cast<int>(s) + 1);
    for (int b : step.scratch) ws.use(b, static_cast<int>(s) + 1);
  }
  for (int v : graph.outputs()) ws.use(ws.buffer_of(v), last_step);
  ws.allocate();

  engine->input_values_ = graph.inputs();
  engine->output_values_ = graph.outputs();
  for (int v : graph.inputs())
    engine->inputs_.push_back({graph.value(v).name, DataType::kFloat32, graph.value(v).dims});
  for (int v : graph.outputs()) {
    engine->outputs_.push_back({graph.value(v).name, DataType::kFloat32, graph.value(v).dims});
  }
  omp_set_num_threads(engine->threads_);  // oneDNN reads it when primitives are created
  CHEXRT_RETURN_IF_ERROR(engine->prepare_all());

  size_t s = 0;
  for (int n = 0; n < graph.num_nodes(); ++n) {
    const ir::Node& node = graph.node(n);
    layers << node.name << "  " << ir::op_name(node.op) << "  ";
    if (!notes[n].empty()) {
      layers << notes[n] << "\n";
      engine->node_kernels_.push_back(notes[n]);
    } else {
      engine->node_kernels_.push_back(engine->steps_[s++]->kernel());
      layers << engine->node_kernels_.back() << "  " << precision << "\n";
    }
  }
  layers << "arena: " << ws.arena_bytes() / 1024 << " KiB at batch " << max_batch << ", " << threads << " thread(s)\n";
  engine->layers_ = layers.str();
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace chexrt::cpu
