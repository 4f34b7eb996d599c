// The gRPC side of `chexrt perf` (built where chexrt has gRPC): ModelInfer through the
// synchronous stub generated from src/server/grpc/grpc_service.proto, one channel per worker.
#pragma once

#include <string>

#include <grpcpp/grpcpp.h>

#include "kserve_proto/grpc_service.pb.h"
#include "perf/perf_request.h"

namespace chexrt::perf {

/// The ModelInferRequest of `request` for `model`: its inputs with their bytes in
/// raw_input_contents, its output asked for by name.
inference::ModelInferRequest to_model_infer(const std::string& model, const RequestBody& request);

/// Whether an OK answer to `request` is the protocol's answer: the output asked for is there
/// with request.images rows, and every output's raw_output_contents entry holds exactly the bytes
/// its datatype and shape need. "" when it is, else "malformed".
std::string check_grpc_answer(const RequestBody& request, const inference::ModelInferResponse& response);

/// The failure key of a call that ended with `code`: its name, e.g. "UNAVAILABLE".
std::string grpc_code_name(grpc::StatusCode code);

}  // namespace chexrt::perf
