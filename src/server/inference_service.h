// The server's core, independent of transport: what KServe v2 (the Open Inference Protocol)
// asks of a model server, as C++ types. The HTTP/REST adapter (kserve_http) and the gRPC adapter
// (kserve_grpc) translate their wire formats to these and call an InferenceService; the
// implementation behind it (model_server) owns the engines and the dynamic batcher. Tests of an
// adapter can therefore run against a fake service.
//
// Protocol: https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::server {

/// KServe v2 tensor datatypes ("BOOL", "UINT8", ..., "FP32", "BYTES").
enum class DataType {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kFp32,
  kFp64,
  kBytes
};

/// "FP32" for kFp32, and so on.
const char* datatype_name(DataType type);
/// The datatype of a KServe name; InvalidArgument naming `name` when unknown.
Result<DataType> parse_datatype(const std::string& name);
/// Bytes per element; 0 for kBytes (variable length).
size_t datatype_size(DataType type);

/// A tensor as the protocol carries it. `data` holds the elements in row-major order as raw
/// little-endian bytes; for BYTES, each element is a 4-byte little-endian length followed by
/// its bytes (the binary tensor data extension's layout, also gRPC's raw_input_contents).
struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
  std::string data;
};

/// The shape of a model's input or output; -1 marks a variable dimension (the batch).
struct TensorMetadata {
  std::string name;
  DataType datatype = DataType::kFp32;
  std::vector<int64_t> shape;
};

struct ServerMetadata {
  std::string name = "chexrt";
  std::string version;
  std::vector<std::string> extensions;  ///< e.g. "binary_tensor_data"
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  ///< {"1"}
  std::string platform;               ///< "chexrt_<backend>", e.g. "chexrt_cuda"
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
  /// Not part of KServe's required fields; served under "parameters": whether this is the
  /// untrained demo model (seeded weights), which must never be taken for a diagnosis.
  bool demo_model = false;
};

struct InferRequest {
  std::string model_name;
  std::string model_version;  ///< "" = the latest
  std::string id;             ///< echoed in the response
  std::vector<Tensor> inputs;
  /// Outputs to return ("" or empty: all).
  std::vector<std::string> requested_outputs;
  /// Request parameters that are not tensors (e.g. "mode" = "crop", "heatmap" = "1").
  std::map<std::string, std::string> parameters;
  /// 0: the server's default.
  std::chrono::microseconds timeout{0};
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<Tensor> outputs;
};

/// What a transport adapter calls. Errors use StatusCode: kInvalidArgument (HTTP 400, gRPC
/// INVALID_ARGUMENT), kNotFound (404, NOT_FOUND), kUnavailable (503 with Retry-After,
/// UNAVAILABLE: queue full, not ready, shutting down), kDeadlineExceeded (504,
/// DEADLINE_EXCEEDED), anything else 500 / INTERNAL.
class InferenceService {
 public:
  virtual ~InferenceService() = default;

  virtual bool live() const = 0;
  virtual bool ready() const = 0;
  virtual ServerMetadata server_metadata() const = 0;
  /// NotFound names the model (and version) when there is no such model.
  virtual Result<ModelMetadata> model_metadata(const std::string& name, const std::string& version) const = 0;
  virtual Result<bool> model_ready(const std::string& name, const std::string& version) const = 0;
  /// Queues the request and returns at once; `done` is called exactly once, on another thread,
  /// with the response or the error (a full queue answers kUnavailable without queueing).
  virtual void infer_async(InferRequest request, std::function<void(Result<InferResponse>)> done) = 0;
  /// infer_async, waiting for the answer.
  Result<InferResponse> infer(InferRequest request);
};

}  // namespace chexrt::server
