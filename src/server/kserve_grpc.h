// KServe v2 (Open Inference Protocol) over gRPC: `inference.GRPCInferenceService`
// (grpc/grpc_service.proto) in front of an InferenceService, so that clients generated from the
// protocol, Triton's among them, work unchanged.
//
// The adapter only translates: ModelInferRequest -> InferRequest (tensors from
// raw_input_contents or from the typed InferTensorContents, parameters as strings, the call's
// deadline as the request's timeout) and InferResponse -> ModelInferResponse (outputs as
// raw_output_contents). Errors become the call's status as inference_service.h maps them
// (kInvalidArgument -> INVALID_ARGUMENT, kNotFound -> NOT_FOUND, kUnavailable -> UNAVAILABLE,
// kDeadlineExceeded -> DEADLINE_EXCEEDED, anything else INTERNAL).
//
// Calls run on gRPC's callback API: a ModelInfer hands the request to
// InferenceService::infer_async and returns; the answer goes out from the service's `done`
// callback, so no thread waits on an inference.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "chexrt/status.h"
#include "server/inference_service.h"

namespace chexrt::server {

struct GrpcOptions {
  /// Largest request and response message; a bigger request is refused with
  /// RESOURCE_EXHAUSTED before it is read. gRPC's own default (4 MiB) holds only a few FP32
  /// 224x224 images, hence a larger one.
  size_t max_message_bytes = size_t{64} << 20;
  /// Calls one client connection may have in progress at once; more wait in the client.
  int max_concurrent_streams = 1024;
  /// How long shutdown() lets calls in progress finish before it cancels them.
  std::chrono::milliseconds shutdown_grace{30000};
};

class GrpcServer {
 public:
  /// Listens on host:port (port 0: an ephemeral port, see port()); `service` must outlive the
  /// server. Unavailable (naming the address) when it cannot listen there; Unsupported when
  /// chexrt was built without gRPC.
  static Result<std::unique_ptr<GrpcServer>> start(InferenceService& service, const std::string& host, int port,
                                                   const GrpcOptions& options = {});
  /// shutdown().
  ~GrpcServer();
  GrpcServer(const GrpcServer&) = delete;
  GrpcServer& operator=(const GrpcServer&) = delete;

  /// The port it listens on.
  int port() const;
  /// Stops accepting calls and returns once every accepted call is answered (calls still
  /// running after options.shutdown_grace are cancelled; their inference is still waited for,
  /// since the service calls back into this server). Idempotent.
  void shutdown();

  struct Impl;

 private:
  explicit GrpcServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chexrt::server
