// The KServe v2 REST encoding of inference requests and responses: JSON tensors, and the binary
// tensor data extension (a JSON header of Inference-Header-Content-Length bytes followed by the
// raw tensors of the inputs that carry "binary_data_size", in input order).
//
// Extension: https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
#pragma once

#include <optional>
#include <string>

#include "server/inference_service.h"

namespace chexrt::server {

/// Which outputs go back as binary data: per output ("outputs[i].parameters.binary_data") or all
/// ("parameters.binary_data_output").
struct OutputEncoding {
  bool all_binary = false;
  std::vector<std::string> binary_outputs;
};

/// Parses a request body. `header_length`: the Inference-Header-Content-Length header's value, or
/// nothing when the whole body is JSON. Errors are InvalidArgument naming the field
/// ("inputs[0].shape", ...). `encoding`, when given, receives how the request asks its outputs
/// back, read from the same parse. Pass the body as an rvalue where it is not needed afterwards:
/// a binary input at its end then keeps its storage instead of a copy.
Result<InferRequest> parse_infer_request(std::string body, std::optional<size_t> header_length,
                                         OutputEncoding* encoding = nullptr);

/// The response body, and the JSON header's length when any output is binary (for the
/// Inference-Header-Content-Length header; nothing for an all-JSON answer).
struct EncodedResponse {
  std::string body;
  std::optional<size_t> header_length;
};
EncodedResponse encode_infer_response(const InferResponse& response, const OutputEncoding& encoding);

/// {"name", "versions", "platform", "inputs", "outputs", "parameters"} and {"name", "version",
/// "extensions"} as JSON text.
std::string model_metadata_json(const ModelMetadata& metadata);
std::string server_metadata_json(const ServerMetadata& metadata);
/// {"error": message} as JSON text.
std::string error_json(const std::string& message);

}  // namespace chexrt::server
