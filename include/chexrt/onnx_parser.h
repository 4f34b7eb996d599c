// ONNX importer: reads an ONNX model (opsets 9 to 21, IR version 3+) into a NetworkDefinition.
#pragma once

#include <map>
#include <string>

#include "chexrt/network.h"

namespace chexrt {

struct OnnxImportOptions {
  /// Value for dynamic (symbolic or unknown) dimensions of graph inputs; dim 0 is the batch.
  int64_t batch_size = 1;
  /// Values for graph inputs that feed shapes (e.g. Reshape's `shape`): they become build-time
  /// constants, like TensorRT's shape tensors. Keyed by input name.
  std::map<std::string, HostTensor> constant_inputs;
  /// Fold nodes whose inputs are all constant (Shape/Gather/Unsqueeze glue that exporters emit).
  bool fold_constants = true;
};

/// Parses a model file. External data files are looked up next to the model. Errors name the
/// file, and the node and op where one is at fault.
Result<NetworkDefinition> parse_onnx_file(const std::string& path, const OnnxImportOptions& options = {});

/// Parses a model held in memory; `base_dir` locates external data files.
Result<NetworkDefinition> parse_onnx_bytes(const std::string& bytes, const std::string& base_dir,
                                           const OnnxImportOptions& options = {});

/// Reads a serialized onnx.TensorProto (ONNX's test-data `input_0.pb` files).
Result<HostTensor> read_tensor_proto_file(const std::string& path);

/// The ONNX op types the importer accepts.
std::vector<std::string> supported_onnx_ops();

}  // namespace chexrt
