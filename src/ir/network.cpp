// NetworkDefinition: typed layer helpers over the IR graph, with shape inference at each add.
#include "chexrt/network.h"

#include "ir/graph.h"
#include "ir/shape_inference.h"

namespace chexrt {

struct NetworkDefinition::Impl {
  ir::Graph graph;
  Status status;
};

NetworkDefinition::NetworkDefinition() : impl_(std::make_unique<Impl>()) {}
NetworkDefinition::~NetworkDefinition() = default;
NetworkDefinition::NetworkDefinition(NetworkDefinition&&) noexcept = default;
NetworkDefinition& NetworkDefinition::operator=(NetworkDefinition&&) noexcept = default;

ir::Graph& NetworkDefinition::graph() { return impl_->graph; }
const ir::Graph& NetworkDefinition::graph() const { return impl_->graph; }
const Status& NetworkDefinition::status() const { return impl_->status; }
int NetworkDefinition::num_layers() const { return impl_->graph.num_nodes(); }
int64_t NetworkDefinition::num_parameters() const { return impl_->graph.num_parameters(); }

namespace {

ir::Attributes to_attributes(const std::vector<LayerAttribute>& attributes) {
  ir::Attributes attrs;
  for (const auto& a : attributes) {
    switch (a.kind) {
      case LayerAttribute::kInt:
        attrs.set(a.name, a.ints.at(0));
        break;
      case LayerAttribute::kFloat:
        attrs.set(a.name, a.floats.at(0));
        break;
      case LayerAttribute::kString:
        attrs.set(a.name, a.str);
        break;
      case LayerAttribute::kInts:
        attrs.set(a.name, a.ints);
        break;
      case LayerAttribute::kFloats:
        attrs.set(a.name, a.floats);
        break;
    }
  }
  return attrs;
}

void set_window(ir::Attributes& attrs, const WindowParams& w) {
  attrs.set("kernel_shape", w.kernel);
  if (!w.strides.empty()) attrs.set("strides", w.strides);
  if (!w.dilations.empty()) attrs.set("dilations", w.dilations);
  if (!w.pads.empty()) attrs.set("pads", w.pads);
  attrs.set("auto_pad", w.auto_pad);
}

}  // namespace

// Adds one node and infers its shapes; on failure records the error.
static std::vector<Tensor> add_node(NetworkDefinition::Impl& impl, ir::OpType op, const std::string& name,
                                    const std::vector<int>& inputs, ir::Attributes attrs, int num_outputs,
                                    const std::vector<std::string>& output_names) {
  if (!impl.status.ok()) return {};
  for (int in : inputs) {
    if (in != ir::kNoValue && (in < 0 || in >= impl.graph.num_values())) {
      impl.status = invalid_argument("layer '" + name + "' (" + ir::op_name(op) + "): an input tensor is invalid");
      return {};
    }
  }
  std::vector<std::string> names = output_names;
  names.resize(num_outputs);
  if (names.size() == 1 && names[0].empty()) names[0] = impl.graph.unique_value_name(name.empty() ? "t" : name);
  auto node = impl.graph.add_node(op, name, inputs, names, std::move(attrs));
  if (!node.ok()) {
    impl.status = node.status();
    return {};
  }
  // A failed layer stays in the graph: the recorded error makes the definition unusable, and
  // removing it would renumber the tensors that callers already hold.
  Status s = ir::infer_node_shapes(impl.graph, *node);
  if (!s.ok()) {
    impl.status = s;
    return {};
  }
  std::vector<Tensor> outs;
  for (int v : impl.graph.node(*node).outputs) outs.push_back(Tensor{v});
  return outs;
}

static Tensor first(const std::vector<Tensor>& ts) { return ts.empty() ? Tensor{} : ts[0]; }

Tensor NetworkDefinition::add_input(const std::string& name, DataType dtype, const Dims& dims) {
  if (!impl_->status.ok()) return {};
  auto v = impl_->graph.add_input(name, dtype, dims);
  if (!v.ok()) {
    impl_->status = v.status();
    return {};
  }
  return Tensor{*v};
}

Tensor NetworkDefinition::add_constant(const std::string& name, HostTensor value) {
  if (!impl_->status.ok()) return {};
  auto v = impl_->graph.add_constant(name, std::move(value));
  if (!v.ok()) {
    impl_->status = v.status();
    return {};
  }
  return Tensor{*v};
}

Tensor NetworkDefinition::add_convolution(const std::string& name, Tensor input, HostTensor weight, HostTensor bias,
                                          const WindowParams& window, int64_t groups) {
  const Tensor w = add_constant(name + ".weight", std::move(weight));
  const Tensor b = bias.empty() ? Tensor{} : add_constant(name + ".bias", std::move(bias));
  ir::Attributes attrs;
  set_window(attrs, window);
  attrs.set("group", groups);
  std::vector<int> inputs = {input.id, w.id};
  if (b.valid()) inputs.push_back(b.id);
  return first(add_node(*impl_, ir::OpType::kConv, name, inputs, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_batch_norm(const std::string& name, Tensor input, HostTensor scale, HostTensor bias,
                                         HostTensor mean, HostTensor var, float epsilon) {
  const Tensor s = add_constant(name + ".weight", std::move(scale));
  const Tensor b = add_constant(name + ".bias", std::move(bias));
  const Tensor m = add_constant(name + ".running_mean", std::move(mean));
  const Tensor v = add_constant(name + ".running_var", std::move(var));
  ir::Attributes attrs;
  attrs.set("epsilon", epsilon);
  return first(add_node(*impl_, ir::OpType::kBatchNormalization, name, {input.id, s.id, b.id, m.id, v.id},
                        std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_activation(const std::string& name, Tensor input, Activation type) {
  const ir::OpType op = type == Activation::kRelu ? ir::OpType::kRelu : ir::OpType::kSigmoid;
  return first(add_node(*impl_, op, name, {input.id}, {}, 1, {}));
}

Tensor NetworkDefinition::add_pooling(const std::string& name, Tensor input, PoolType type, const PoolParams& params) {
  ir::Attributes attrs;
  set_window(attrs, params.window);
  attrs.set("ceil_mode", static_cast<int64_t>(params.ceil_mode));
  if (type == PoolType::kAverage) attrs.set("count_include_pad", static_cast<int64_t>(params.count_include_pad));
  const ir::OpType op = type == PoolType::kMax ? ir::OpType::kMaxPool : ir::OpType::kAveragePool;
  return first(add_node(*impl_, op, name, {input.id}, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_global_average_pool(const std::string& name, Tensor input) {
  return first(add_node(*impl_, ir::OpType::kGlobalAveragePool, name, {input.id}, {}, 1, {}));
}

Tensor NetworkDefinition::add_concat(const std::string& name, const std::vector<Tensor>& inputs, int64_t axis) {
  std::vector<int> ids;
  for (const Tensor& t : inputs) ids.push_back(t.id);
  ir::Attributes attrs;
  attrs.set("axis", axis);
  return first(add_node(*impl_, ir::OpType::kConcat, name, ids, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_fully_connected(const std::string& name, Tensor input, HostTensor weight,
                                              HostTensor bias) {
  const Tensor w = add_constant(name + ".weight", std::move(weight));
  const Tensor b = bias.empty() ? Tensor{} : add_constant(name + ".bias", std::move(bias));
  ir::Attributes attrs;
  attrs.set("transB", int64_t{1});
  std::vector<int> inputs = {input.id, w.id};
  if (b.valid()) inputs.push_back(b.id);
  return first(add_node(*impl_, ir::OpType::kGemm, name, inputs, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_matmul(const std::string& name, Tensor a, Tensor b) {
  return first(add_node(*impl_, ir::OpType::kMatMul, name, {a.id, b.id}, {}, 1, {}));
}

Tensor NetworkDefinition::add_elementwise(const std::string& name, Tensor a, Tensor b, ElementwiseOp op) {
  static constexpr ir::OpType kOps[] = {ir::OpType::kAdd, ir::OpType::kSub, ir::OpType::kMul, ir::OpType::kDiv};
  return first(add_node(*impl_, kOps[static_cast<int>(op)], name, {a.id, b.id}, {}, 1, {}));
}

Tensor NetworkDefinition::add_flatten(const std::string& name, Tensor input, int64_t axis) {
  ir::Attributes attrs;
  attrs.set("axis", axis);
  return first(add_node(*impl_, ir::OpType::kFlatten, name, {input.id}, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_reshape(const std::string& name, Tensor input, const std::vector<int64_t>& shape) {
  const Tensor s = add_constant(name + ".shape", HostTensor::from_int64s(shape, {static_cast<int64_t>(shape.size())}));
  return first(add_node(*impl_, ir::OpType::kReshape, name, {input.id, s.id}, {}, 1, {}));
}

Tensor NetworkDefinition::add_transpose(const std::string& name, Tensor input, const std::vector<int64_t>& perm) {
  ir::Attributes attrs;
  attrs.set("perm", perm);
  return first(add_node(*impl_, ir::OpType::kTranspose, name, {input.id}, std::move(attrs), 1, {}));
}

Tensor NetworkDefinition::add_softmax(const std::string& name, Tensor input, int64_t axis) {
  ir::Attributes attrs;
  attrs.set("axis", axis);
  return first(add_node(*impl_, ir::OpType::kSoftmax, name, {input.id}, std::move(attrs), 1, {}));
}

std::vector<Tensor> NetworkDefinition::add_layer(const std::string& op, const std::string& name,
                                                 const std::vector<Tensor>& inputs,
                                                 const std::vector<LayerAttribute>& attributes, int num_outputs,
                                                 const std::vector<std::string>& output_names) {
  if (!impl_->status.ok()) return {};
  auto type = ir::op_from_name(op);
  if (!type) {
    impl_->status = unsupported("layer '" + name + "': op '" + op + "' is not in chexrt's op list");
    return {};
  }
  std::vector<int> ids;
  for (const Tensor& t : inputs) ids.push_back(t.id);
  return add_node(*impl_, *type, name, ids, to_attributes(attributes), num_outputs, output_names);
}

void NetworkDefinition::mark_output(Tensor t, const std::string& name) {
  if (!impl_->status.ok()) return;
  if (!t.valid() || t.id >= impl_->graph.num_values()) {
    impl_->status = invalid_argument("mark_output: invalid tensor");
    return;
  }
  if (!name.empty()) set_tensor_name(t, name);
  Status s = impl_->graph.mark_output(t.id);
  if (!s.ok()) impl_->status = s;
}

void NetworkDefinition::set_tensor_name(Tensor t, const std::string& name) {
  if (!impl_->status.ok() || !t.valid()) return;
  Status s = impl_->graph.rename_value(t.id, name);
  if (!s.ok()) impl_->status = s;
}

std::string NetworkDefinition::tensor_name(Tensor t) const {
  return t.valid() ? impl_->graph.value(t.id).name : std::string();
}
Dims NetworkDefinition::tensor_dims(Tensor t) const { return t.valid() ? impl_->graph.value(t.id).dims : Dims{}; }
DataType NetworkDefinition::tensor_dtype(Tensor t) const {
  return t.valid() ? impl_->graph.value(t.id).dtype : DataType::kFloat32;
}
Tensor NetworkDefinition::find_tensor(const std::string& name) const { return Tensor{impl_->graph.find_value(name)}; }

}  // namespace chexrt
