// The op checker: everything about a model that can be judged before any layer is built.
#pragma once

#include <set>
#include <string>

#include "chexrt/onnx_parser.h"
#include "onnx_proto/onnx.pb.h"

namespace chexrt::onnx_import {

struct CheckedModel {
  int64_t opset = 0;            ///< Version of the default domain.
  std::set<std::string> names;  ///< Every tensor name the model uses.
};

/// Checks the IR version, the opset, and for every node: domain, op type, the op's version,
/// input and output counts, that its inputs exist, and its attributes (names, types, values).
/// Errors name the node and its op: "node 'foo' (LSTM): op is not supported by chexrt".
Result<CheckedModel> check_model(const onnx::ModelProto& model, const OnnxImportOptions& options);

}  // namespace chexrt::onnx_import
