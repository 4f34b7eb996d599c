#include "server/kserve_grpc.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "kserve_proto/grpc_service.grpc.pb.h"
#include "kserve_proto/grpc_service.pb.h"

namespace chexrt::server {
namespace {

namespace pb = ::inference;
using InputTensor = pb::ModelInferRequest::InferInputTensor;

// raw_input_contents and InferTensorContents hold little-endian elements; the elements are copied
// to and from them with memcpy.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the gRPC adapter assumes a little-endian host");

grpc::Status to_grpc_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
      return {grpc::StatusCode::INVALID_ARGUMENT, status.message()};
    case StatusCode::kNotFound:
      return {grpc::StatusCode::NOT_FOUND, status.message()};
    case StatusCode::kUnavailable:
      return {grpc::StatusCode::UNAVAILABLE, status.message()};
    case StatusCode::kDeadlineExceeded:
      return {grpc::StatusCode::DEADLINE_EXCEEDED, status.message()};
    default:
      return {grpc::StatusCode::INTERNAL, status.to_string()};
  }
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? "," : "") + std::to_string(shape[i]);
  return text + "]";
}

std::string parameter_text(const pb::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case pb::InferParameter::kBoolParam:
      return p.bool_param() ? "true" : "false";
    case pb::InferParameter::kInt64Param:
      return std::to_string(p.int64_param());
    case pb::InferParameter::kStringParam:
      return p.string_param();
    case pb::InferParameter::kDoubleParam: {
      char text[32];  // the shortest text that reads back as the same double
      auto end = std::to_chars(text, text + sizeof(text), p.double_param()).ptr;
      return std::string(text, end);
    }
    case pb::InferParameter::kUint64Param:
      return std::to_string(p.uint64_param());
    case pb::InferParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return "";
}

// Triton's clients send a request's timeout as the parameter "timeout", in microseconds.
Result<std::chrono::microseconds> timeout_parameter(const pb::InferParameter& p) {
  if (p.parameter_choice_case() == pb::InferParameter::kInt64Param && p.int64_param() >= 0) {
    return std::chrono::microseconds(p.int64_param());
  }
  if (p.parameter_choice_case() == pb::InferParameter::kUint64Param &&
      p.uint64_param() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::chrono::microseconds(static_cast<int64_t>(p.uint64_param()));
  }
  return invalid_argument("parameter 'timeout' must be a non-negative int64_param (microseconds)");
}

Result<size_t> element_count(const std::string& what, const std::vector<int64_t>& shape) {
  // Far above anything a message can hold, and far below overflow.
  constexpr uint64_t kMaxElements = uint64_t{1} << 40;
  uint64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return invalid_argument(what + ": shape " + shape_text(shape) + " has a negative dimension");
    count = d == 0 ? 0 : count * static_cast<uint64_t>(d);
    if (count > kMaxElements) return invalid_argument(what + ": shape " + shape_text(shape) + " is too large");
  }
  return static_cast<size_t>(count);
}

// BYTES raw contents: `count` elements, each a 4-byte little-endian length and that many bytes.
Status check_bytes_layout(const std::string& what, const std::string& data, size_t count) {
  size_t offset = 0;
  for (size_t i = 0; i < count; ++i) {
    uint32_t length = 0;
    if (data.size() - offset < sizeof(length)) {
      return invalid_argument(what + ": BYTES contents end before element " + std::to_string(i) + " of " +
                              std::to_string(count) + " (each element is a 4-byte length and its bytes)");
    }
    std::memcpy(&length, data.data() + offset, sizeof(length));
    offset += sizeof(length);
    if (data.size() - offset < length) {
      return invalid_argument(what + ": BYTES element " + std::to_string(i) + " says " + std::to_string(length) +
                              " bytes but only " + std::to_string(data.size() - offset) + " follow");
    }
    offset += length;
  }
  if (offset != data.size()) {
    return invalid_argument(what + ": BYTES contents hold " + std::to_string(data.size() - offset) +
                            " bytes beyond the " + std::to_string(count) + " elements of its shape");
  }
  return Status::ok_status();
}

template <class To, class From>
Status append_elements(const std::string& what, const google::protobuf::RepeatedField<From>& values, std::string& out) {
  out.resize(values.size() * sizeof(To));
  char* dst = out.data();
  for (From v : values) {
    if constexpr (!std::is_same_v<To, From> && std::is_integral_v<To>) {
      if (v < static_cast<From>(std::numeric_limits<To>::min()) ||
          v > static_cast<From>(std::numeric_limits<To>::max())) {
        return invalid_argument(what + ": element " + std::to_string(v) + " is out of range for its datatype");
      }
    }
    To element = static_cast<To>(v);
    std::memcpy(dst, &element, sizeof(To));
    dst += sizeof(To);
  }
  return Status::ok_status();
}

// The elements of `in` from its typed contents, in the raw layout.
Status typed_contents(const std::string& what, const InputTensor& in, DataType type, size_t count, std::string& out) {
  const pb::InferTensorContents& c = in.contents();
  const std::pair<const char*, int> fields[] = {
      {"bool_contents", c.bool_contents_size()},     {"int_contents", c.int_contents_size()},
      {"int64_contents", c.int64_contents_size()},   {"uint_contents", c.uint_contents_size()},
      {"uint64_contents", c.uint64_contents_size()}, {"fp32_contents", c.fp32_contents_size()},
      {"fp64_contents", c.fp64_contents_size()},     {"bytes_contents", c.bytes_contents_size()},
  };
  const char* field = nullptr;
  switch (type) {
    case DataType::kBool:
      field = "bool_contents";
      break;
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32:
      field = "int_contents";
      break;
    case DataType::kInt64:
      field = "int64_contents";
      break;
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32:
      field = "uint_contents";
      break;
    case DataType::kUint64:
      field = "uint64_contents";
      break;
    case DataType::kFp32:
      field = "fp32_contents";
      break;
    case DataType::kFp64:
      field = "fp64_contents";
      break;
    case DataType::kBytes:
      field = "bytes_contents";
      break;
    case DataType::kFp16:
      if (count == 0) return Status::ok_status();
      return invalid_argument(what + ": FP16 has no typed contents field: send it in raw_input_contents");
  }
  int given = 0;
  for (const auto& [name, size] : fields) {
    if (name == std::string(field)) {
      given = size;
    } else if (size > 0) {
      return invalid_argument(what + ": datatype " + datatype_name(type) + " takes its elements in contents." + field +
                              ", not contents." + name);
    }
  }
  if (static_cast<size_t>(given) != count) {
    if (!in.has_contents()) {
      return invalid_argument(what + " has no data: send its " + std::to_string(count) +
                              " elements in raw_input_contents or contents." + field);
    }
    return invalid_argument(what + ": contents." + field + " has " + std::to_string(given) + " elements but shape " +
                            shape_text(std::vector<int64_t>(in.shape().begin(), in.shape().end())) + " needs " +
                            std::to_string(count));
  }
  switch (type) {
    case DataType::kBool:
      return append_elements<uint8_t>(what, c.bool_contents(), out);
    case DataType::kInt8:
      return append_elements<int8_t>(what, c.int_contents(), out);
    case DataType::kInt16:
      return append_elements<int16_t>(what, c.int_contents(), out);
    case DataType::kInt32:
      return append_elements<int32_t>(what, c.int_contents(), out);
    case DataType::kInt64:
      return append_elements<int64_t>(what, c.int64_contents(), out);
    case DataType::kUint8:
      return append_elements<uint8_t>(what, c.uint_contents(), out);
    case DataType::kUint16:
      return append_elements<uint16_t>(what, c.uint_contents(), out);
    case DataType::kUint32:
      return append_elements<uint32_t>(what, c.uint_contents(), out);
    case DataType::kUint64:
      return append_elements<uint64_t>(what, c.uint64_contents(), out);
    case DataType::kFp32:
      return append_elements<float>(what, c.fp32_contents(), out);
    case DataType::kFp64:
      return append_elements<double>(what, c.fp64_contents(), out);
    case DataType::kBytes:
      for (const std::string& element : c.bytes_contents()) {
        if (element.size() > std::numeric_limits<uint32_t>::max()) {
          return invalid_argument(what + ": a BYTES element is over 4 GiB");
        }
        uint32_t length = static_cast<uint32_t>(element.size());
        out.append(reinterpret_cast<const char*>(&length), sizeof(length));
        out += element;
      }
      return Status::ok_status();
    case DataType::kFp16:
      break;
  }
  return Status::ok_status();
}

Result<Tensor> input_tensor(const InputTensor& in, const std::string* raw) {
  const std::string what = "input '" + in.name() + "'";
  Tensor tensor;
  tensor.name = in.name();
  auto type = parse_datatype(in.datatype());
  if (!type.ok()) return type.status().with_context(what);
  tensor.datatype = type.value();
  tensor.shape.assign(in.shape().begin(), in.shape().end());
  CHEXRT_ASSIGN_OR_RETURN(size_t count, element_count(what, tensor.shape));
  if (raw == nullptr) {
    CHEXRT_RETURN_IF_ERROR(typed_contents(what, in, tensor.datatype, count, tensor.data));
    return tensor;
  }
  if (in.has_contents()) {
    return invalid_argument(what + " has both contents and raw_input_contents: send one of them");
  }
  if (tensor.datatype == DataType::kBytes) {
    CHEXRT_RETURN_IF_ERROR(check_bytes_layout(what, *raw, count));
  } else if (raw->size() != count * datatype_size(tensor.datatype)) {
    return invalid_argument(what + ": raw_input_contents has " + std::to_string(raw->size()) + " bytes but " +
                            datatype_name(tensor.datatype) + " " + shape_text(tensor.shape) + " needs " +
                            std::to_string(count * datatype_size(tensor.datatype)));
  }
  tensor.data = *raw;
  return tensor;
}

Result<InferRequest> to_infer_request(const pb::ModelInferRequest& in, std::chrono::system_clock::time_point deadline) {
  InferRequest request;
  request.model_name = in.model_name();
  request.model_version = in.model_version();
  request.id = in.id();
  for (const auto& [name, value] : in.parameters()) {
    if (name == "timeout") {
      CHEXRT_ASSIGN_OR_RETURN(request.timeout, timeout_parameter(value));
    } else {
      request.parameters[name] = parameter_text(value);
    }
  }
  // The client's deadline bounds the request: an answer after it would reach nobody.
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - std::chrono::system_clock::now());
    if (left.count() <= 0) return deadline_exceeded("the call's deadline passed before the request was queued");
    if (request.timeout.count() == 0 || left < request.timeout) request.timeout = left;
  }
  if (in.raw_input_contents_size() > 0 && in.raw_input_contents_size() != in.inputs_size()) {
    return invalid_argument("raw_input_contents has " + std::to_string(in.raw_input_contents_size()) + " entries for " +
                            std::to_string(in.inputs_size()) + " inputs: it needs one per input, in their order");
  }
  for (int i = 0; i < in.inputs_size(); ++i) {
    const std::string* raw = in.raw_input_contents_size() > 0 ? &in.raw_input_contents(i) : nullptr;
    CHEXRT_ASSIGN_OR_RETURN(Tensor tensor, input_tensor(in.inputs(i), raw));
    request.inputs.push_back(std::move(tensor));
  }
  for (const auto& output : in.outputs()) request.requested_outputs.push_back(output.name());
  return request;
}

void to_model_infer_response(InferResponse response, const InferRequest& request, pb::ModelInferResponse& out) {
  out.set_model_name(response.model_name.empty() ? request.model_name : response.model_name);
  out.set_model_version(response.model_version);
  out.set_id(response.id.empty() ? request.id : response.id);
  for (Tensor& tensor : response.outputs) {
    pb::ModelInferResponse::InferOutputTensor* t = out.add_outputs();
    t->set_name(tensor.name);
    t->set_datatype(datatype_name(tensor.datatype));
    for (int64_t d : tensor.shape) t->add_shape(d);
    out.add_raw_output_contents(std::move(tensor.data));
  }
}

void set_tensor_metadata(const TensorMetadata& in, pb::ModelMetadataResponse::TensorMetadata& out) {
  out.set_name(in.name);
  out.set_datatype(datatype_name(in.datatype));
  for (int64_t d : in.shape) out.add_shape(d);
}

// Counts the ModelInfer calls whose inference has not answered yet: the service calls back into
// their reactors, so the server waits for them before it goes away.
class InFlight {
 public:
  void begin() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++count_;
  }
  void end() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--count_ == 0) idle_.notify_all();
  }
  void wait_idle() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  size_t count_ = 0;
};

class Handler final : public pb::GRPCInferenceService::CallbackService {
 public:
  explicit Handler(InferenceService& service) : service_(service) {}

  InFlight& in_flight() { return in_flight_; }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* context, const pb::ServerLiveRequest*,
                                       pb::ServerLiveResponse* response) override {
    response->set_live(service_.live());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* context, const pb::ServerReadyRequest*,
                                        pb::ServerReadyResponse* response) override {
    response->set_ready(service_.ready());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* context, const pb::ModelReadyRequest* request,
                                       pb::ModelReadyResponse* response) override {
    Result<bool> ready = service_.model_ready(request->name(), request->version());
    if (!ready.ok()) return finish(context, to_grpc_status(ready.status()));
    response->set_ready(ready.value());
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* context, const pb::ServerMetadataRequest*,
                                           pb::ServerMetadataResponse* response) override {
    server::ServerMetadata metadata = service_.server_metadata();
    response->set_name(metadata.name);
    response->set_version(metadata.version);
    for (const std::string& extension : metadata.extensions) response->add_extensions(extension);
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* context, const pb::ModelMetadataRequest* request,
                                          pb::ModelMetadataResponse* response) override {
    Result<server::ModelMetadata> metadata = service_.model_metadata(request->name(), request->version());
    if (!metadata.ok()) return finish(context, to_grpc_status(metadata.status()));
    response->set_name(metadata->name);
    for (const std::string& version : metadata->versions) response->add_versions(version);
    response->set_platform(metadata->platform);
    for (const TensorMetadata& input : metadata->inputs) set_tensor_metadata(input, *response->add_inputs());
    for (const TensorMetadata& output : metadata->outputs) set_tensor_metadata(output, *response->add_outputs());
    (*response->mutable_parameters())["demo_model"].set_bool_param(metadata->demo_model);
    return finish(context, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context, const pb::ModelInferRequest* request,
                                       pb::ModelInferResponse* response) override {
    Result<InferRequest> translated = to_infer_request(*request, context->deadline());
    if (!translated.ok()) return finish(context, to_grpc_status(translated.status()));
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    // What the response echoes when the service leaves it empty (the inputs stay behind).
    auto echo = std::make_shared<InferRequest>();
    echo->model_name = translated->model_name;
    echo->id = translated->id;
    in_flight_.begin();
    service_.infer_async(std::move(translated).value(),
                         [reactor, response, echo, in_flight = &in_flight_](Result<InferResponse> result) {
                           if (result.ok()) {
                             to_model_infer_response(std::move(result).value(), *echo, *response);
                             reactor->Finish(grpc::Status::OK);
                           } else {
                             reactor->Finish(to_grpc_status(result.status()));
                           }
                           // After Finish the call may be gone; only the counter is still ours.
                           in_flight->end();
                         });
    return reactor;
  }

 private:
  static grpc::ServerUnaryReactor* finish(grpc::CallbackServerContext* context, const grpc::Status& status) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(status);
    return reactor;
  }

  InferenceService& service_;
  InFlight in_flight_;
};

std::string listen_address(const std::string& host, int port) {
  // An IPv6 address goes in brackets: "[::1]:8001".
  bool ipv6 = host.find(':') != std::string::npos && host.front() != '[';
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

struct GrpcServer::Impl {
  // Declared before the server, so destroyed after it.
  std::unique_ptr<Handler> handler;
  std::unique_ptr<grpc::Server> server;
  GrpcOptions options;
  int port = 0;
  std::mutex shutdown_mutex;
  bool shut_down = false;
};

GrpcServer::GrpcServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

GrpcServer::~GrpcServer() { shutdown(); }

Result<std::unique_ptr<GrpcServer>> GrpcServer::start(InferenceService& service, const std::string& host, int port,
                                                      const GrpcOptions& options) {
  const std::string address = listen_address(host, port);
  if (port < 0 || port > 65535) return invalid_argument("gRPC port " + std::to_string(port) + " is not 0-65535");
  auto impl = std::make_unique<Impl>();
  impl->handler = std::make_unique<Handler>(service);
  impl->options = options;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &impl->port);
  builder.RegisterService(impl->handler.get());
  int max_message = static_cast<int>(std::min<size_t>(options.max_message_bytes, INT_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind the same port and quietly
  // take half the calls; a port in use must be an error instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl->server = builder.BuildAndStart();
  if (!impl->server || impl->port == 0) {
    return unavailable("gRPC: cannot listen on " + address + " (port in use, or not an address of this machine)");
  }
  return std::unique_ptr<GrpcServer>(new GrpcServer(std::move(impl)));
}

int GrpcServer::port() const { return impl_->port; }

void GrpcServer::shutdown() {
  std::lock_guard<std::mutex> lock(impl_->shutdown_mutex);
  if (impl_->shut_down) return;
  impl_->shut_down = true;
  impl_->server->Shutdown(std::chrono::system_clock::now() + impl_->options.shutdown_grace);
  impl_->handler->in_flight().wait_idle();
  impl_->server->Wait();
}

}  // namespace chexrt::server
