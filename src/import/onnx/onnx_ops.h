// The ONNX ops chexrt accepts: one table entry per op type with the opsets, inputs, outputs and
// attributes it understands (read by the op checker before anything is built), and the function
// that imports one node of that type.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "import/onnx/onnx_importer.h"
#include "ir/graph.h"
#include "onnx_proto/onnx.pb.h"

namespace chexrt::onnx_import {

/// The newest default-domain opset the importer knows.
constexpr int64_t kMaxOpset = 21;

struct AttrSpec {
  const char* name;
  onnx::AttributeProto::AttributeType type;
  bool required = false;
};

/// What an op-specific check may look at besides the node.
struct CheckContext {
  const onnx::NodeProto& node;
  int64_t opset;
  const std::set<std::string>& used;  ///< Tensor names read by some node or graph output.
};

struct OpSpec {
  const char* op_type;
  /// Oldest opset whose version of the op this importer implements (older ones differ).
  int64_t since_opset;
  int min_inputs;
  int max_inputs;
  int max_outputs;
  std::vector<AttrSpec> attributes;
  /// Checks of attribute values and outputs beyond their types (may be null).
  Status (*check)(const CheckContext& ctx);
  /// Translates one node; `layer` is the name its layers take.
  Status (*import)(Importer& im, const onnx::NodeProto& node, const std::string& layer);
};

/// The table entry for an ONNX op type, or nullptr.
const OpSpec* find_op_spec(const std::string& op_type);
/// Every op type of the table, sorted.
std::vector<std::string> op_types();

/// The node's name, or "<op_type>_<index>" for an unnamed node (the layer name it gets).
std::string node_label(const onnx::NodeProto& node, int index);
/// "node 'conv0' (Conv)" for error messages.
std::string describe_node(const onnx::NodeProto& node, int index);

const onnx::AttributeProto* find_attribute(const onnx::NodeProto& node, const std::string& name);
int64_t attribute_int(const onnx::NodeProto& node, const std::string& name, int64_t fallback);
std::string attribute_type_name(onnx::AttributeProto::AttributeType type);

}  // namespace chexrt::onnx_import
