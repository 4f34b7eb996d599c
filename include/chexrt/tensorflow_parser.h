// TensorFlow importer: reads a frozen graph (GraphDef, binary `.pb` or text `.pbtxt`) into a
// NetworkDefinition, the same IR as the ONNX importer makes.
//
// Layout: chexrt's IR is NCHW. A graph whose convolutions, pools and batch norms say NHWC (the
// TensorFlow default) is converted at its edges: a 4-D NHWC placeholder becomes an NCHW network
// input, the weights are reordered, and every 4-D NHWC output leaves the network as NCHW. So a
// Keras DenseNet imports with no Transpose layer and optimizes to the same graph as its ONNX
// export. Tensors of other ranks keep TensorFlow's layout.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "chexrt/network.h"

namespace chexrt {

struct TensorflowImportOptions {
  /// Placeholder name -> dims of the network input it becomes (NCHW for a 4-D input of an NHWC
  /// graph: the dims of the array fed to the engine), for placeholders whose shape is unknown or
  /// partly unknown (graphs optimized for inference often drop it). For a placeholder not named
  /// here, an unknown dimension 0 takes batch_size; any other unknown one is an error naming it.
  std::map<std::string, Dims> input_shapes;
  /// The network's outputs, as "node" (output 0) or "node:index". Empty: output 0 of every node
  /// that no other node reads (frozen graphs do not mark outputs).
  std::vector<std::string> outputs;
  /// Value of an unknown dimension 0 (the batch) of a placeholder not named in input_shapes.
  int64_t batch_size = 1;
  /// Const nodes to import as network inputs of the constant's shape and type instead (graphs
  /// that were frozen with their test inputs in them).
  std::vector<std::string> constants_as_inputs;
};

/// Parses a GraphDef file: text when the name ends in ".pbtxt", binary otherwise. Errors name
/// the file and the node; a graph with ops outside supported_tensorflow_ops() is refused with
/// every such node named.
Result<NetworkDefinition> parse_tensorflow_file(const std::string& path, const TensorflowImportOptions& options = {});

/// What a graph declares, without importing it: its placeholders (dims as declared, -1 where
/// unknown, empty with known_rank false when the rank is unknown) and its default outputs.
struct TensorflowPlaceholder {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Dims dims;
  bool known_rank = true;
};
struct TensorflowGraphInfo {
  std::vector<TensorflowPlaceholder> placeholders;
  std::vector<std::string> default_outputs;  ///< Nodes whose output no other node reads.
  bool nhwc = true;                          ///< Layout-carrying ops say NHWC (or none says NCHW).
};
Result<TensorflowGraphInfo> describe_tensorflow_file(const std::string& path);

/// The TensorFlow op types the importer accepts.
std::vector<std::string> supported_tensorflow_ops();

}  // namespace chexrt
