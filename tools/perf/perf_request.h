// What `chexrt perf` sends: requests made once before the run and replayed by every worker
// (KServe v2 binary tensor data extension, /v1/predict uploads, or the tensors of a gRPC
// ModelInfer), and the address it sends them to.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chexrt/status.h"

namespace chexrt::perf {

/// The protocol the requests travel in: KServe v2 over HTTP/REST, or over gRPC
/// (inference.GRPCInferenceService, src/server/grpc/grpc_service.proto).
enum class Protocol { kHttp, kGrpc };

/// http://host[:port][/prefix]. Only plain HTTP: the load client has no TLS. For gRPC, only
/// host and port.
struct Url {
  std::string host;
  int port = 80;
  std::string prefix;  ///< path prefix without the trailing '/', "" for none
};
/// InvalidArgument naming `text` when it is not an http:// URL with a host.
Result<Url> parse_url(const std::string& text);
/// A gRPC target, host:port (e.g. 127.0.0.1:8001); InvalidArgument naming `text` otherwise (an
/// http:// URL included: gRPC targets have no scheme).
Result<Url> parse_grpc_target(const std::string& text);
/// --metrics-url: an http:// URL of the Prometheus page, "/metrics" when it has no path.
Result<Url> parse_metrics_url(const std::string& text);
/// Where the server's /metrics is without --metrics-url: beside the HTTP endpoint (its prefix +
/// /metrics), and for gRPC at http://<the gRPC host>:8000/metrics, chexrt serve's default port.
Url default_metrics_url(Protocol protocol, const Url& url);

/// A tensor in the binary extension (its raw little-endian bytes follow the JSON header), or in
/// a gRPC request's raw_input_contents: the same bytes.
struct BinaryTensor {
  std::string name;
  std::string datatype;  ///< "FP32", "FP16", "UINT8", "BYTES"
  std::vector<int64_t> shape;
  std::string data;  ///< BYTES: each element as a 4-byte little-endian length and its bytes
};

/// One request, ready to be sent as is: an HTTP POST (path, headers, body), or a gRPC
/// ModelInfer (inputs, output).
struct RequestBody {
  std::string path;  ///< e.g. "/v2/models/chexnet/infer" (without the URL's prefix)
  std::string content_type;
  /// Extra headers, e.g. {"Inference-Header-Content-Length", "123"}.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  int64_t images = 0;     ///< images this request carries (for images/s)
  bool heatmaps = false;  ///< /v1/predict?heatmap=1: every result must carry its heat map
  /// gRPC: the inputs, in raw_input_contents, and the output asked for (the model's name is the
  /// load's); empty for HTTP.
  std::vector<BinaryTensor> inputs;
  std::string output;
};

/// POST /v2/models/{model}/infer with `inputs` in the binary tensor data extension: the JSON
/// header ({"inputs": [... "parameters": {"binary_data_size": n}], "outputs": [...]}), then each
/// input's bytes in order; the header's length goes in Inference-Header-Content-Length. Asks
/// for `output` as binary data (binary_data, and binary_data_output for the request).
RequestBody encode_v2_binary_request(const std::string& model, const std::vector<BinaryTensor>& inputs,
                                     const std::string& output);

/// A gRPC ModelInfer of `inputs` asking for `output`.
RequestBody grpc_request(std::vector<BinaryTensor> inputs, const std::string& output);

/// The random "image" tensor that a request of `batch` images carries: FP32 or FP16
/// [batch,3,224,224] (already normalized: values as preprocessing makes them), or UINT8
/// [batch,224,224] (grey 8-bit pixels, preprocessed by the server). Seeded: the same every run.
/// InvalidArgument unless `datatype` is "fp32", "fp16" or "uint8".
Result<BinaryTensor> random_image_tensor(const std::string& datatype, int64_t batch);

/// An image file as read from disk.
struct ImageFile {
  std::string name;  ///< the file name without its folder (echoed by /v1/predict)
  std::string bytes;
};

/// Reads `paths`; IoError naming the file that cannot be read, InvalidArgument for an empty one.
Result<std::vector<ImageFile>> read_image_files(const std::vector<std::string>& paths);

/// The Content-Type /v1/predict expects for a file, from its extension (image/png, image/jpeg,
/// application/dicom; application/octet-stream, which the server sniffs, for the rest).
std::string content_type_for(const std::string& file_name);

enum class Endpoint { kV2, kPredict };

/// Requests carrying `files` in groups of `batch` (the last group may be smaller), every file
/// once: as the BYTES input "image_bytes" [n] (kV2; a gRPC ModelInfer with `protocol` kGrpc), or
/// as POST /v1/predict bodies: the file itself for one image, multipart/form-data for several
/// (kPredict, HTTP only), with `heatmaps` asking each image's heat map of its top finding
/// (?heatmap=1; kPredict only).
std::vector<RequestBody> image_requests(const std::vector<ImageFile>& files, int64_t batch, Endpoint endpoint,
                                        const std::string& model, Protocol protocol = Protocol::kHttp,
                                        bool heatmaps = false);

/// multipart/form-data body of `files` with `boundary`, one part per file (field "file").
std::string multipart_body(const std::vector<const ImageFile*>& files, const std::string& boundary);

}  // namespace chexrt::perf
