// GraphDef -> NetworkDefinition: parse (binary or text), find the nodes the outputs need, check
// their ops, then translate them in dependency order.
#include "import/tensorflow/tf_importer.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include "import/fold_layer.h"
#include "import/model_file.h"
#include "import/tensorflow/op_checker.h"
#include "import/tensorflow/tf_ops.h"
#include "import/tensorflow/tf_tensor.h"
#include "ir/shape_inference.h"

namespace chexrt {
namespace tf_import {

namespace {

// Transpose permutations (output axis k is input axis perm[k]): NHWC -> NCHW and back.
const std::vector<int64_t> kToNchw = {0, 3, 1, 2};
const std::vector<int64_t> kToNhwc = {0, 2, 3, 1};

// "x:0" -> "x"; "x:2" stays.
std::string normalize_key(const std::string& input) {
  const size_t colon = input.rfind(':');
  if (colon != std::string::npos && input.substr(colon) == ":0") return input.substr(0, colon);
  return input;
}

std::string node_of_key(const std::string& key) {
  const size_t colon = key.rfind(':');
  if (colon == std::string::npos) return key;
  const std::string index = key.substr(colon + 1);
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return key;
  return key.substr(0, colon);
}

// Half-precision constants enter the float32 network widened (exactly); the fp16 build
// precision narrows weights again where a backend computes in fp16.
HostTensor widen(HostTensor t) {
  if (t.dtype() != DataType::kFloat16) return t;
  HostTensor out(DataType::kFloat32, t.dims());
  for (int64_t i = 0; i < t.numel(); ++i) out.data<float>()[i] = half_to_float(t.data<uint16_t>()[i]);
  return out;
}

}  // namespace

std::string output_key(const std::string& name, int index) {
  return index == 0 ? name : name + ":" + std::to_string(index);
}

HostTensor permute(const HostTensor& t, const std::vector<int64_t>& perm) {
  Dims dims(perm.size());
  for (size_t k = 0; k < perm.size(); ++k) dims[k] = t.dims()[perm[k]];
  HostTensor out(t.dtype(), dims);
  std::vector<int64_t> in_strides(t.dims().size(), 1);
  for (size_t i = t.dims().size(); i-- > 1;) in_strides[i - 1] = in_strides[i] * t.dims()[i];
  const size_t esize = dtype_size(t.dtype());
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  std::vector<int64_t> index(dims.size(), 0);
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t offset = 0;
    for (size_t k = 0; k < dims.size(); ++k) offset += index[k] * in_strides[perm[k]];
    std::memcpy(dst + flat * esize, src + offset * esize, esize);
    for (size_t k = dims.size(); k-- > 0;) {
      if (++index[k] < dims[k]) break;
      index[k] = 0;
    }
  }
  return out;
}

int64_t attr_int(const NodeDef& node, const std::string& name, int64_t fallback) {
  auto it = node.attr().find(name);
  return it == node.attr().end() ? fallback : it->second.i();
}

float attr_float(const NodeDef& node, const std::string& name, float fallback) {
  auto it = node.attr().find(name);
  return it == node.attr().end() ? fallback : it->second.f();
}

bool attr_bool(const NodeDef& node, const std::string& name, bool fallback) {
  auto it = node.attr().find(name);
  return it == node.attr().end() ? fallback : it->second.b();
}

std::string attr_string(const NodeDef& node, const std::string& name, const std::string& fallback) {
  auto it = node.attr().find(name);
  return it == node.attr().end() ? fallback : it->second.s();
}

std::vector<int64_t> attr_ints(const NodeDef& node, const std::string& name) {
  auto it = node.attr().find(name);
  if (it == node.attr().end()) return {};
  return {it->second.list().i().begin(), it->second.list().i().end()};
}

Importer::Importer(NetworkDefinition& net, const TensorflowImportOptions& options, const tensorflow::GraphDef& graph)
    : net_(net), options_(options), graph_(graph) {
  for (const NodeDef& node : graph.node()) {
    nodes_[node.name()] = &node;
    names_.insert(node.name());
  }
  for (const NodeDef& node : graph.node()) {
    for (const std::string& key : data_inputs(node)) consumers_[key].push_back(&node);
  }
}

std::vector<std::string> Importer::data_inputs(const NodeDef& node) const {
  std::vector<std::string> keys;
  for (const std::string& in : node.input()) {
    if (!in.empty() && in[0] != '^') keys.push_back(normalize_key(in));
  }
  return keys;
}

Result<std::string> Importer::input(const NodeDef& node, size_t i) {
  const std::vector<std::string> keys = data_inputs(node);
  if (i >= keys.size()) {
    return invalid_argument("needs input " + std::to_string(i) + ", has " + std::to_string(keys.size()));
  }
  CHEXRT_RETURN_IF_ERROR(resolve_pad(keys[i]));
  return keys[i];
}

const HostTensor* Importer::constant(const std::string& key) const {
  auto it = symbols_.find(key);
  return it == symbols_.end() || it->second.constant.empty() ? nullptr : &it->second.constant;
}

Result<HostTensor> Importer::require_constant(const NodeDef& node, size_t i, const char* what) const {
  const std::vector<std::string> keys = data_inputs(node);
  if (i >= keys.size()) return invalid_argument(std::string("has no ") + what + " input");
  const HostTensor* value = constant(keys[i]);
  if (value == nullptr) {
    return unsupported(std::string(what) + " input '" + keys[i] +
                       "' must be known when the engine is built (a constant, or computed from constants and shapes)");
  }
  return *value;
}

Dims Importer::tf_dims(const std::string& key) const {
  const Symbol& s = symbol(key);
  if (!s.nchw) return s.dims;
  return {s.dims[0], s.dims[2], s.dims[3], s.dims[1]};
}

std::string Importer::fresh_name(const std::string& base) {
  std::string name = base;
  for (int i = 1; names_.count(name) || symbols_.count(name) || net_.find_tensor(name).valid(); ++i) {
    name = base + "_" + std::to_string(i);
  }
  names_.insert(name);
  return name;
}

void Importer::define_constant(const std::string& key, HostTensor value) {
  Symbol s;
  s.constant = widen(std::move(value));
  s.dtype = s.constant.dtype();
  s.dims = s.constant.dims();
  symbols_[key] = std::move(s);
}

std::string Importer::add_constant(const std::string& base, HostTensor value) {
  const std::string name = fresh_name(base);
  define_constant(name, std::move(value));
  return name;
}

void Importer::alias(const std::string& key, const std::string& source) { symbols_[key] = symbols_.at(source); }

Status Importer::add_input(const std::string& key, DataType dtype, Dims dims) {
  Symbol s;
  // Half-precision placeholders take float32 data, like the widened weights.
  s.dtype = dtype == DataType::kFloat16 ? DataType::kFloat32 : dtype;
  s.nchw = graph_nhwc_ && dims.size() == 4 && (s.dtype == DataType::kFloat32);
  s.dims = s.nchw ? Dims{dims[0], dims[3], dims[1], dims[2]} : dims;
  s.tensor = net_.add_input(key, s.dtype, s.dims);
  symbols_[key] = std::move(s);
  return net_.status();
}

Tensor Importer::materialize(const std::string& key) {
  Symbol& s = symbols_.at(key);
  if (!s.tensor.valid()) s.tensor = net_.add_constant(fresh_name(key), s.constant);
  return s.tensor;
}

Status Importer::resolve_pad(const std::string& key) {
  auto it = symbols_.find(key);
  if (it == symbols_.end()) return invalid_argument("input '" + key + "' is not available");
  if (it->second.pad_source.empty()) return Status::ok_status();
  const Symbol pending = it->second;
  const auto& p = pending.pad_hw;
  ir::Attributes attrs;
  attrs.set("pads", std::vector<int64_t>{0, 0, p[0], p[1], 0, 0, p[2], p[3]});
  attrs.set("mode", std::string("constant"));
  return emit("Pad", node_of_key(key), {pending.pad_source}, attrs, {key}, pending.nchw);
}

Result<std::string> Importer::as_nchw(const std::string& key) {
  CHEXRT_RETURN_IF_ERROR(resolve_pad(key));
  const Symbol& s = symbol(key);
  if (s.nchw) return key;
  if (s.dims.size() != 4) return invalid_argument("'" + key + "' is not 4-D; an NHWC op needs a 4-D input");
  if (const HostTensor* c = constant(key)) return add_constant(key + "/nchw", permute(*c, kToNchw));
  std::string& done = converted_[key + "|nchw"];
  if (done.empty()) {
    done = fresh_name(key + "/nchw");
    ir::Attributes attrs;
    attrs.set("perm", kToNchw);
    CHEXRT_RETURN_IF_ERROR(emit("Transpose", done, {key}, attrs, {done}, true));
  }
  return done;
}

Result<std::string> Importer::as_tf(const std::string& key) {
  CHEXRT_RETURN_IF_ERROR(resolve_pad(key));
  const Symbol& s = symbol(key);
  if (!s.nchw) return key;
  std::string& done = converted_[key + "|tf"];
  if (done.empty()) {
    done = fresh_name(key + "/nhwc");
    const Dims nhwc = tf_dims(key);
    if (nhwc[1] == 1 && nhwc[2] == 1) {
      // [N, C, 1, 1] and [N, 1, 1, C] hold their values in the same order: no data moves.
      const std::string shape = add_constant(done + "/shape", HostTensor::from_int64s(nhwc, {4}));
      CHEXRT_RETURN_IF_ERROR(emit("Reshape", done, {key, shape}, {}, {done}, false));
    } else {
      ir::Attributes attrs;
      attrs.set("perm", kToNhwc);
      CHEXRT_RETURN_IF_ERROR(emit("Transpose", done, {key}, attrs, {done}, false));
    }
  }
  return done;
}

Status Importer::emit(const std::string& op, const std::string& layer, const std::vector<std::string>& inputs,
                      ir::Attributes attrs, const std::vector<std::string>& outputs, bool nchw_out) {
  const auto type = ir::op_from_name(op);
  if (!type) return unsupported("op " + op + " is not in chexrt's op list");
  bool all_known = !inputs.empty();
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (!symbols_.count(in)) return invalid_argument("input '" + in + "' is not available");
    all_known = all_known && constant(in) != nullptr;
  }
  if (all_known) {
    CHEXRT_ASSIGN_OR_RETURN(bool folded, fold(*type, layer, inputs, attrs, outputs, nchw_out));
    if (folded) return Status::ok_status();
  }
  std::vector<Tensor> tensors;
  for (const auto& in : inputs) tensors.push_back(in.empty() ? Tensor{} : materialize(in));
  std::vector<std::string> names;
  for (const auto& out : outputs) names.push_back(net_.find_tensor(out).valid() ? fresh_name(out) : out);
  const std::vector<Tensor> outs =
      net_.add_layer(op, layer, tensors, import::to_layer_attributes(attrs), static_cast<int>(outputs.size()), names);
  CHEXRT_RETURN_IF_ERROR(net_.status());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Symbol s;
    s.tensor = outs[i];
    s.dtype = net_.tensor_dtype(outs[i]);
    s.dims = net_.tensor_dims(outs[i]);
    s.nchw = nchw_out && s.dims.size() == 4;
    symbols_[outputs[i]] = std::move(s);
  }
  return Status::ok_status();
}

// The layer's outputs as constants (back to NHWC where the layer's outputs are NCHW), when the
// reference kernels can compute them.
Result<bool> Importer::fold(ir::OpType op, const std::string& layer, const std::vector<std::string>& inputs,
                            const ir::Attributes& attrs, const std::vector<std::string>& outputs, bool nchw_out) {
  std::vector<import::FoldInput> fold_inputs;
  for (const auto& name : inputs) fold_inputs.push_back({name, name.empty() ? nullptr : &symbol(name).constant});
  // Scratch names of their own: a TensorFlow output may share its name with an input here.
  std::vector<std::string> out_names;
  for (size_t i = 0; i < outputs.size(); ++i) out_names.push_back("out" + std::to_string(i));
  CHEXRT_ASSIGN_OR_RETURN(auto results, import::fold_layer(op, layer, fold_inputs, attrs, out_names));
  if (!results) return false;
  for (size_t i = 0; i < outputs.size(); ++i) {
    HostTensor& r = (*results)[i];
    const bool back = nchw_out && r.rank() == 4;
    define_constant(outputs[i], back ? permute(r, kToNhwc) : std::move(r));
  }
  return true;
}

const NodeDef* Importer::sole_consumer(const NodeDef& node) const {
  if (requested_.count(node.name())) return nullptr;
  auto it = consumers_.find(node.name());
  if (it == consumers_.end() || it->second.size() != 1) return nullptr;
  return it->second[0];
}

Result<std::vector<std::string>> Importer::output_keys() const {
  std::vector<std::string> keys;
  if (!options_.outputs.empty()) {
    for (const std::string& out : options_.outputs) {
      const std::string key = normalize_key(out);
      if (!nodes_.count(node_of_key(key))) return not_found("output '" + out + "': the graph has no such node");
      keys.push_back(key);
    }
    return keys;
  }
  static const std::set<std::string> kNotOutputs = {"Const", "NoOp", "Placeholder", "PlaceholderWithDefault"};
  for (const NodeDef& node : graph_.node()) {
    if (!consumers_.count(node.name()) && !kNotOutputs.count(node.op())) keys.push_back(node.name());
  }
  if (keys.empty()) return invalid_argument("the graph has no node whose output nothing reads; name the outputs");
  return keys;
}

// The nodes the outputs depend on through data inputs, each after its inputs.
Result<std::vector<const NodeDef*>> Importer::needed_nodes(const std::vector<std::string>& outputs) const {
  std::vector<const NodeDef*> order;
  std::unordered_map<std::string, int> state;  // 1: on the stack, 2: done
  std::vector<std::pair<const NodeDef*, size_t>> stack;
  for (const std::string& key : outputs) {
    const NodeDef* root = nodes_.at(node_of_key(key));
    if (state[root->name()]) continue;
    stack.push_back({root, 0});
    state[root->name()] = 1;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const std::vector<std::string> inputs = data_inputs(*node);
      if (next < inputs.size()) {
        const std::string name = node_of_key(inputs[next++]);
        auto it = nodes_.find(name);
        if (it == nodes_.end()) {
          return invalid_argument("node '" + node->name() + "' reads '" + name + "', which is not in the graph");
        }
        int& s = state[name];
        if (s == 1) return invalid_argument("the graph has a cycle through node '" + name + "'");
        if (s == 0) {
          s = 1;
          stack.push_back({it->second, 0});
        }
        continue;
      }
      state[node->name()] = 2;
      order.push_back(node);
      stack.pop_back();
    }
  }
  return order;
}

bool Importer::is_nhwc(const std::vector<const NodeDef*>& nodes) {
  bool any_nhwc = false, any_nchw = false;
  for (const NodeDef* node : nodes) {
    if (node->attr().count("data_format") || node->op().rfind("Conv2D", 0) == 0 || node->op() == "MaxPool" ||
        node->op() == "AvgPool" || node->op().rfind("FusedBatchNorm", 0) == 0 ||
        node->op() == "DepthwiseConv2dNative") {
      const std::string format = attr_string(*node, "data_format", "NHWC");
      (format == "NCHW" ? any_nchw : any_nhwc) = true;
    }
  }
  return any_nhwc || !any_nchw;
}

Result<TensorflowGraphInfo> Importer::describe() const {
  TensorflowGraphInfo info;
  CHEXRT_ASSIGN_OR_RETURN(info.default_outputs, output_keys());
  std::vector<const NodeDef*> all;
  for (const NodeDef& node : graph_.node()) {
    all.push_back(&node);
    if (node.op() != "Placeholder") continue;
    TensorflowPlaceholder p;
    p.name = node.name();
    auto type = node.attr().find("dtype");
    if (type != node.attr().end()) {
      auto dtype = from_tf_dtype(type->second.type());
      if (dtype.ok()) p.dtype = *dtype;
    }
    auto shape = node.attr().find("shape");
    p.known_rank = shape != node.attr().end() && !shape->second.shape().unknown_rank();
    if (p.known_rank) {
      for (const auto& d : shape->second.shape().dim()) p.dims.push_back(d.size() < 0 ? -1 : d.size());
    }
    info.placeholders.push_back(p);
  }
  info.nhwc = is_nhwc(all);
  return info;
}

Status Importer::ensure(const std::string& key) {
  if (symbols_.count(key)) return Status::ok_status();
  auto it = nodes_.find(node_of_key(key));
  if (it == nodes_.end()) return invalid_argument("'" + key + "' is not in the graph");
  for (const std::string& in : data_inputs(*it->second)) CHEXRT_RETURN_IF_ERROR(ensure(in));
  return import_node(*it->second);
}

Status Importer::import_node(const NodeDef& node_ref) {
  const NodeDef* node = &node_ref;
  if (!imported_.insert(node->name()).second || absorbed_.count(node->name())) return Status::ok_status();
  const std::string where = "node '" + node->name() + "' (" + node->op() + ")";
  // A node reading the untaken branch of a constant Switch is dead too (Merge excepted).
  bool dead = false;
  for (const std::string& key : data_inputs(*node)) {
    auto it = symbols_.find(key);
    if (it == symbols_.end()) return invalid_argument(where + ": input '" + key + "' was not produced");
    dead = dead || it->second.dead;
  }
  if (dead && node->op() != "Merge") {
    Symbol s;
    s.dead = true;
    for (int k = 0; k < 8; ++k) symbols_[output_key(node->name(), k)] = s;
    return Status::ok_status();
  }
  Status s = find_importer(node->op())(*this, *node);
  return s.ok() ? s : s.with_context(where);
}

Status Importer::import() {
  CHEXRT_ASSIGN_OR_RETURN(std::vector<std::string> outputs, output_keys());
  requested_.insert(outputs.begin(), outputs.end());
  CHEXRT_ASSIGN_OR_RETURN(std::vector<const NodeDef*> order, needed_nodes(outputs));
  CHEXRT_RETURN_IF_ERROR(check_ops(order));
  graph_nhwc_ = is_nhwc(order);
  for (const auto& [name, dims] : options_.input_shapes) {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second->op() != "Placeholder") {
      return not_found("input_shapes names '" + name + "', which is not a placeholder of the graph");
    }
  }
  for (const NodeDef* node : order) CHEXRT_RETURN_IF_ERROR(import_node(*node));
  for (const std::string& key : outputs) {
    auto it = symbols_.find(key);
    if (it == symbols_.end()) return not_found("output '" + key + "' is not produced by its node");
    CHEXRT_RETURN_IF_ERROR(resolve_pad(key));
    const Symbol& s = symbols_.at(key);
    if (s.dead) return invalid_argument("output '" + key + "' is on the untaken branch of a constant Switch");
    if (!s.tensor.valid()) {
      return invalid_argument("output '" + key +
                              "' is computed entirely at import (it depends on no placeholder); nothing would run");
    }
    // 4-D tensors of an NHWC graph leave the network NCHW, as they enter it.
    std::string out = key;
    if (graph_nhwc_ && !s.nchw && s.dims.size() == 4 && s.dtype == DataType::kFloat32) {
      CHEXRT_ASSIGN_OR_RETURN(out, as_nchw(key));
      net_.set_tensor_name(symbols_.at(key).tensor, fresh_name(key + "/nhwc"));
    }
    net_.mark_output(symbols_.at(out).tensor, key);
  }
  return net_.status();
}

}  // namespace tf_import

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Collects the text parser's messages (line and column) instead of logging them.
class TextErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = "line " + std::to_string(line + 1) + ":" + std::to_string(column + 1) + ": " + message;
  }
  std::string first;
};

Result<tensorflow::GraphDef> read_graph(const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(const std::string bytes, import::read_model_file(path));
  if (bytes.empty()) return parse_error(path + ": the file is empty");
  tensorflow::GraphDef graph;
  if (ends_with(path, ".pbtxt")) {
    google::protobuf::TextFormat::Parser parser;
    TextErrors errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(bytes, &graph)) {
      return parse_error(path + ": not a GraphDef in text form: " + errors.first);
    }
  } else if (!graph.ParseFromString(bytes)) {
    return parse_error(path + ": not a binary GraphDef (the protobuf does not parse; is the file truncated?)");
  }
  if (graph.node_size() == 0) return parse_error(path + ": the graph has no nodes");
  return graph;
}

}  // namespace

Result<NetworkDefinition> parse_tensorflow_file(const std::string& path, const TensorflowImportOptions& options) {
  CHEXRT_ASSIGN_OR_RETURN(const tensorflow::GraphDef graph, read_graph(path));
  NetworkDefinition net;
  tf_import::Importer importer(net, options, graph);
  Status s = importer.import();
  if (!s.ok()) return s.with_context(path);
  return net;
}

Result<TensorflowGraphInfo> describe_tensorflow_file(const std::string& path) {
  CHEXRT_ASSIGN_OR_RETURN(const tensorflow::GraphDef graph, read_graph(path));
  NetworkDefinition net;
  const TensorflowImportOptions options;
  auto info = tf_import::Importer(net, options, graph).describe();
  if (!info.ok()) return info.status().with_context(path);
  return info;
}

std::vector<std::string> supported_tensorflow_ops() { return tf_import::op_types(); }

}  // namespace chexrt
