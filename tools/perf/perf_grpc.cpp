#include "perf/perf_grpc.h"

#include <chrono>
#include <map>

#include "kserve_proto/grpc_service.grpc.pb.h"
#include "perf/perf_transport.h"

namespace chexrt::perf {

namespace {

// chexrt serve's own limit (GrpcOptions::max_message_bytes): answers are small, but a client
// limit below the server's would turn a large one into an error of the client's making.
constexpr int kMaxMessageBytes = 64 << 20;

// Bytes per element of a KServe datatype; 0 for BYTES and unknown names.
size_t element_bytes(const std::string& datatype) {
  static const std::map<std::string, size_t> sizes = {
      {"BOOL", 1},   {"UINT8", 1}, {"INT8", 1}, {"UINT16", 2}, {"INT16", 2}, {"FP16", 2}, {"BF16", 2},
      {"UINT32", 4}, {"INT32", 4}, {"FP32", 4}, {"UINT64", 8}, {"INT64", 8}, {"FP64", 8}};
  auto it = sizes.find(datatype);
  return it == sizes.end() ? 0 : it->second;
}

std::chrono::system_clock::time_point deadline_after(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(seconds));
}

std::string target_of(const Url& url) { return url.host + ":" + std::to_string(url.port); }

std::shared_ptr<grpc::Channel> make_channel(const Url& url) {
  grpc::ChannelArguments arguments;
  arguments.SetMaxReceiveMessageSize(kMaxMessageBytes);
  arguments.SetMaxSendMessageSize(kMaxMessageBytes);
  // Channels with equal arguments share one TCP connection through gRPC's global subchannel
  // pool; a pool per channel gives every worker a connection of its own, as with HTTP.
  arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target_of(url), grpc::InsecureChannelCredentials(), arguments);
}

class GrpcConnection final : public Connection {
 public:
  GrpcConnection(const LoadOptions& o, const std::vector<inference::ModelInferRequest>& prepared)
      : o_(o), prepared_(prepared), stub_(inference::GRPCInferenceService::NewStub(make_channel(o.url))) {}

  std::string send(size_t index) override {
    grpc::ClientContext context;
    context.set_deadline(deadline_after(o_.timeout_s));
    inference::ModelInferResponse response;
    const grpc::Status status = stub_->ModelInfer(&context, prepared_[index], &response);
    if (!status.ok()) return grpc_code_name(status.error_code());
    return check_grpc_answer(o_.requests[index], response);
  }

 private:
  const LoadOptions& o_;
  const std::vector<inference::ModelInferRequest>& prepared_;
  std::unique_ptr<inference::GRPCInferenceService::Stub> stub_;
};

class GrpcTransport final : public Transport {
 public:
  explicit GrpcTransport(const LoadOptions& o) : o_(o) {
    // The messages made once and only read by the workers (a const message may be serialized
    // by several threads at once).
    prepared_.reserve(o.requests.size());
    for (const RequestBody& r : o.requests) prepared_.push_back(to_model_infer(o.model, r));
  }

  std::unique_ptr<Connection> connect() const override { return std::make_unique<GrpcConnection>(o_, prepared_); }

  Status check_ready() const override {
    auto stub = inference::GRPCInferenceService::NewStub(make_channel(o_.url));
    grpc::ClientContext context;
    context.set_deadline(deadline_after(o_.timeout_s));
    inference::ServerReadyResponse response;
    const grpc::Status status = stub->ServerReady(&context, inference::ServerReadyRequest(), &response);
    const std::string where = "grpc://" + target_of(o_.url);
    if (!status.ok()) {
      return unavailable(where + ": cannot reach the server (" + grpc_code_name(status.error_code()) + ": " +
                         status.error_message() + ")");
    }
    if (!response.ready()) return unavailable(where + " ServerReady answered false: the server is not ready");
    return Status::ok_status();
  }

 private:
  const LoadOptions& o_;
  std::vector<inference::ModelInferRequest> prepared_;
};

}  // namespace

inference::ModelInferRequest to_model_infer(const std::string& model, const RequestBody& request) {
  inference::ModelInferRequest message;
  message.set_model_name(model);
  for (const BinaryTensor& t : request.inputs) {
    auto* input = message.add_inputs();
    input->set_name(t.name);
    input->set_datatype(t.datatype);
    for (int64_t d : t.shape) input->add_shape(d);
    message.add_raw_input_contents(t.data);
  }
  if (!request.output.empty()) message.add_outputs()->set_name(request.output);
  return message;
}

std::string check_grpc_answer(const RequestBody& request, const inference::ModelInferResponse& response) {
  if (response.outputs_size() == 0 || response.raw_output_contents_size() != response.outputs_size()) {
    return "malformed";
  }
  bool asked_for_found = request.output.empty();
  for (int i = 0; i < response.outputs_size(); ++i) {
    const auto& output = response.outputs(i);
    if (output.name() == request.output) {
      if (output.shape_size() == 0 || output.shape(0) != request.images) return "malformed";
      asked_for_found = true;
    }
    const size_t bytes = element_bytes(output.datatype());
    if (bytes == 0) continue;  // BYTES elements carry their own lengths
    size_t elements = 1;
    for (int64_t d : output.shape()) {
      if (d < 0) return "malformed";
      elements *= static_cast<size_t>(d);
    }
    if (response.raw_output_contents(i).size() != elements * bytes) return "malformed";
  }
  return asked_for_found ? "" : "malformed";
}

std::string grpc_code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "grpc_" + std::to_string(static_cast<int>(code));
  }
}

Result<std::unique_ptr<Transport>> make_grpc_transport(const LoadOptions& options) {
  return std::unique_ptr<Transport>(new GrpcTransport(options));
}

}  // namespace chexrt::perf
