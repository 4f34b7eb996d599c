#include "import/onnx/op_checker.h"

#include <climits>

#include "import/onnx/onnx_ops.h"

namespace chexrt::onnx_import {

namespace {

// IR version 3 introduced opset_import, which the importer needs to read the ops right.
constexpr int64_t kMinIrVersion = 3;

Result<int64_t> default_opset(const onnx::ModelProto& model) {
  for (const auto& o : model.opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      if (o.version() < 1) return parse_error("opset version " + std::to_string(o.version()) + " is invalid");
      if (o.version() > kMaxOpset) {
        return unsupported("opset " + std::to_string(o.version()) + " is newer than chexrt supports (up to " +
                           std::to_string(kMaxOpset) + ")");
      }
      return static_cast<int64_t>(o.version());
    }
  }
  return parse_error("model imports no opset of the default ONNX domain");
}

Status check_attributes(const onnx::NodeProto& node, const OpSpec& spec) {
  for (const auto& a : node.attribute()) {
    const AttrSpec* known = nullptr;
    for (const auto& s : spec.attributes) {
      if (a.name() == s.name) known = &s;
    }
    if (known == nullptr) return unsupported("attribute '" + a.name() + "' is not supported");
    if (a.type() != known->type) {
      return invalid_argument("attribute '" + a.name() + "' is " + attribute_type_name(a.type()) + ", expected " +
                              attribute_type_name(known->type));
    }
  }
  for (const auto& s : spec.attributes) {
    if (s.required && find_attribute(node, s.name) == nullptr) {
      return invalid_argument("attribute '" + std::string(s.name) + "' is required");
    }
  }
  return Status::ok_status();
}

Status check_node(const onnx::NodeProto& node, int64_t opset, const std::set<std::string>& defined,
                  const std::set<std::string>& used) {
  if (!node.domain().empty() && node.domain() != "ai.onnx") {
    return unsupported("domain '" + node.domain() + "' is not supported (chexrt imports the default ONNX domain only)");
  }
  const OpSpec* spec = find_op_spec(node.op_type());
  if (spec == nullptr) return unsupported("op is not supported by chexrt");
  if (opset < spec->since_opset) {
    return unsupported("opset " + std::to_string(opset) + " is older than the version chexrt implements (opset " +
                       std::to_string(spec->since_opset) + " and later)");
  }
  const int num_inputs = node.input_size();
  if (num_inputs < spec->min_inputs || num_inputs > spec->max_inputs) {
    std::string expected = std::to_string(spec->min_inputs);
    if (spec->max_inputs == INT_MAX) {
      expected += " or more";
    } else if (spec->max_inputs != spec->min_inputs) {
      expected += " to " + std::to_string(spec->max_inputs);
    }
    return invalid_argument("has " + std::to_string(num_inputs) + " inputs, expects " + expected);
  }
  for (int i = 0; i < num_inputs; ++i) {
    const std::string& in = node.input(i);
    if (in.empty()) {
      if (i < spec->min_inputs) return invalid_argument("required input " + std::to_string(i) + " is empty");
    } else if (!defined.count(in)) {
      return invalid_argument("input '" + in + "' is not a graph input, an initializer or an earlier node's output");
    }
  }
  if (node.output_size() < 1 || node.output(0).empty()) return invalid_argument("has no output");
  if (node.output_size() > spec->max_outputs) {
    return invalid_argument("has " + std::to_string(node.output_size()) + " outputs, at most " +
                            std::to_string(spec->max_outputs) + " are defined");
  }
  for (const auto& out : node.output()) {
    if (!out.empty() && defined.count(out)) return invalid_argument("output '" + out + "' is already defined");
  }
  CHEXRT_RETURN_IF_ERROR(check_attributes(node, *spec));
  if (spec->check != nullptr) CHEXRT_RETURN_IF_ERROR(spec->check(CheckContext{node, opset, used}));
  return Status::ok_status();
}

}  // namespace

Result<CheckedModel> check_model(const onnx::ModelProto& model, const OnnxImportOptions& options) {
  if (model.ir_version() < kMinIrVersion) {
    return unsupported("IR version " + std::to_string(model.ir_version()) + " is older than " +
                       std::to_string(kMinIrVersion) + ", the oldest chexrt reads");
  }
  CheckedModel checked;
  CHEXRT_ASSIGN_OR_RETURN(checked.opset, default_opset(model));
  if (!model.has_graph()) return parse_error("model has no graph");
  const onnx::GraphProto& graph = model.graph();
  if (graph.sparse_initializer_size() > 0) return unsupported("sparse initializers are not supported");

  std::set<std::string> defined;
  for (const auto& init : graph.initializer()) {
    if (!defined.insert(init.name()).second) return parse_error("initializer '" + init.name() + "' is defined twice");
  }
  std::set<std::string> input_names;
  for (const auto& input : graph.input()) {
    input_names.insert(input.name());
    defined.insert(input.name());
  }
  for (const auto& [name, value] : options.constant_inputs) {
    if (!input_names.count(name)) return invalid_argument("constant_inputs: '" + name + "' is not a graph input");
  }
  std::set<std::string> used;
  for (const auto& node : graph.node()) used.insert(node.input().begin(), node.input().end());
  for (const auto& output : graph.output()) used.insert(output.name());

  for (int i = 0; i < graph.node_size(); ++i) {
    const onnx::NodeProto& node = graph.node(i);
    Status s = check_node(node, checked.opset, defined, used);
    if (!s.ok()) return s.with_context(describe_node(node, i));
    for (const auto& out : node.output()) {
      if (!out.empty()) defined.insert(out);
    }
  }
  if (graph.output_size() == 0) return invalid_argument("graph has no outputs");
  for (const auto& output : graph.output()) {
    if (!defined.count(output.name())) {
      return invalid_argument("graph output '" + output.name() + "' is not produced by any node, initializer or input");
    }
  }
  checked.names = std::move(defined);
  return checked;
}

}  // namespace chexrt::onnx_import
