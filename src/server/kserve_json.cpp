#include "server/kserve_json.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

#include "chexrt/tensor.h"

namespace chexrt::server {

namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Appends the row-major elements of a (possibly nested) JSON array to `flat`.
Status flatten(const json& value, const std::string& field, std::vector<const json*>* flat) {
  if (!value.is_array()) {
    flat->push_back(&value);
    return Status::ok_status();
  }
  for (const json& item : value) CHEXRT_RETURN_IF_ERROR(flatten(item, field, flat));
  return Status::ok_status();
}

template <class T>
void append_raw(std::string* data, T value) {
  data->append(reinterpret_cast<const char*>(&value), sizeof(T));
}

// The JSON "data" elements as the tensor's raw bytes.
Status encode_json_data(const json& data, const std::string& field, Tensor* t, int64_t count) {
  std::vector<const json*> flat;
  CHEXRT_RETURN_IF_ERROR(flatten(data, field, &flat));
  if (static_cast<int64_t>(flat.size()) != count) {
    return invalid_argument(field + " holds " + std::to_string(flat.size()) + " elements; the shape " +
                            dims_to_string(t->shape) + " needs " + std::to_string(count));
  }
  for (size_t i = 0; i < flat.size(); ++i) {
    const json& v = *flat[i];
    const std::string where = field + "[" + std::to_string(i) + "]";
    if (t->datatype == DataType::kBytes) {
      if (!v.is_string()) return invalid_argument(where + " must be a string for BYTES");
      const std::string& s = v.get_ref<const std::string&>();
      append_raw(&t->data, static_cast<uint32_t>(s.size()));
      t->data += s;
      continue;
    }
    if (t->datatype == DataType::kBool) {
      if (!v.is_boolean()) return invalid_argument(where + " must be true or false for BOOL");
      append_raw(&t->data, static_cast<uint8_t>(v.get<bool>()));
      continue;
    }
    if (!v.is_number()) return invalid_argument(where + " must be a number for " + datatype_name(t->datatype));
    const double d = v.get<double>();
    auto integer = [&](double lo, double hi) -> Status {
      if (!v.is_number_integer() || d < lo || d > hi) {
        return invalid_argument(where + " must be an integer from " + std::to_string(static_cast<int64_t>(lo)) +
                                " to " + std::to_string(static_cast<uint64_t>(hi)) + " for " +
                                datatype_name(t->datatype));
      }
      return Status::ok_status();
    };
    switch (t->datatype) {
      case DataType::kFp32:
        append_raw(&t->data, static_cast<float>(d));
        break;
      case DataType::kFp64:
        append_raw(&t->data, d);
        break;
      case DataType::kFp16:
        append_raw(&t->data, float_to_half(static_cast<float>(d)));
        break;
      case DataType::kUint8:
        CHEXRT_RETURN_IF_ERROR(integer(0, 255));
        append_raw(&t->data, static_cast<uint8_t>(d));
        break;
      case DataType::kInt8:
        CHEXRT_RETURN_IF_ERROR(integer(-128, 127));
        append_raw(&t->data, static_cast<int8_t>(d));
        break;
      case DataType::kUint16:
        CHEXRT_RETURN_IF_ERROR(integer(0, 65535));
        append_raw(&t->data, static_cast<uint16_t>(d));
        break;
      case DataType::kInt16:
        CHEXRT_RETURN_IF_ERROR(integer(-32768, 32767));
        append_raw(&t->data, static_cast<int16_t>(d));
        break;
      case DataType::kUint32:
        CHEXRT_RETURN_IF_ERROR(integer(0, 4294967295.0));
        append_raw(&t->data, static_cast<uint32_t>(d));
        break;
      case DataType::kInt32:
        CHEXRT_RETURN_IF_ERROR(integer(-2147483648.0, 2147483647.0));
        append_raw(&t->data, static_cast<int32_t>(d));
        break;
      case DataType::kUint64:
        if (!v.is_number_unsigned() && !(v.is_number_integer() && d >= 0)) {
          return invalid_argument(where + " must be a non-negative integer for UINT64");
        }
        append_raw(&t->data, v.get<uint64_t>());
        break;
      case DataType::kInt64:
        if (!v.is_number_integer()) return invalid_argument(where + " must be an integer for INT64");
        append_raw(&t->data, v.get<int64_t>());
        break;
      default:
        return invalid_argument(where + ": unsupported datatype");
    }
  }
  return Status::ok_status();
}

// A parameter's value as text (the service takes string parameters).
std::string parameter_text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  return v.dump();
}

Result<json> parse_header(const std::string& body, std::optional<size_t> header_length) {
  if (header_length && *header_length > body.size()) {
    return invalid_argument("Inference-Header-Content-Length is " + std::to_string(*header_length) +
                            " but the body holds " + std::to_string(body.size()) + " bytes");
  }
  const size_t length = header_length ? *header_length : body.size();
  json j = json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(length), nullptr, false);
  if (j.is_discarded()) return invalid_argument("the request body is not valid JSON");
  if (!j.is_object()) return invalid_argument("the request body must be a JSON object");
  return j;
}

json tensor_json_data(const Tensor& t) {
  json data = json::array();
  const char* p = t.data.data();
  const size_t size = datatype_size(t.datatype);
  auto read = [&](auto value) {
    std::memcpy(&value, p, sizeof(value));
    p += sizeof(value);
    return value;
  };
  if (t.datatype == DataType::kBytes) {
    size_t at = 0;
    while (at + 4 <= t.data.size()) {
      uint32_t n;
      std::memcpy(&n, t.data.data() + at, 4);
      data.push_back(t.data.substr(at + 4, n));
      at += 4 + n;
    }
    return data;
  }
  const size_t count = size ? t.data.size() / size : 0;
  for (size_t i = 0; i < count; ++i) {
    switch (t.datatype) {
      case DataType::kFp32:
        data.push_back(read(float{}));
        break;
      case DataType::kFp64:
        data.push_back(read(double{}));
        break;
      case DataType::kFp16:
        data.push_back(half_to_float(read(uint16_t{})));
        break;
      case DataType::kInt32:
        data.push_back(read(int32_t{}));
        break;
      case DataType::kInt64:
        data.push_back(read(int64_t{}));
        break;
      case DataType::kUint8:
        data.push_back(read(uint8_t{}));
        break;
      case DataType::kBool:
        data.push_back(read(uint8_t{}) != 0);
        break;
      case DataType::kInt8:
        data.push_back(read(int8_t{}));
        break;
      case DataType::kInt16:
        data.push_back(read(int16_t{}));
        break;
      case DataType::kUint16:
        data.push_back(read(uint16_t{}));
        break;
      case DataType::kUint32:
        data.push_back(read(uint32_t{}));
        break;
      case DataType::kUint64:
        data.push_back(read(uint64_t{}));
        break;
      default:
        break;
    }
  }
  return data;
}

OutputEncoding output_encoding(const json& j) {
  OutputEncoding encoding;
  const json& p = j.value("parameters", json::object());
  if (p.is_object() && p.contains("binary_data_output") && p["binary_data_output"].is_boolean()) {
    encoding.all_binary = p["binary_data_output"].get<bool>();
  }
  const json& outputs = j.value("outputs", json::array());
  if (!outputs.is_array()) return encoding;
  for (const json& out : outputs) {
    if (!out.is_object() || !out.contains("parameters") || !out["parameters"].is_object()) continue;
    const json& op = out["parameters"];
    if (op.contains("binary_data") && op["binary_data"].is_boolean() && op["binary_data"].get<bool>() &&
        out.contains("name") && out["name"].is_string()) {
      encoding.binary_outputs.push_back(out["name"].get<std::string>());
    }
  }
  return encoding;
}

}  // namespace

Result<InferRequest> parse_infer_request(std::string body, std::optional<size_t> header_length,
                                         OutputEncoding* encoding) {
  CHEXRT_ASSIGN_OR_RETURN(json j, parse_header(body, header_length));
  const size_t body_size = body.size();
  bool body_taken = false;  // the last binary input took the body's storage as its data
  InferRequest request;
  if (j.contains("id")) {
    if (!j["id"].is_string()) return invalid_argument("id must be a string");
    request.id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    if (!j["parameters"].is_object()) return invalid_argument("parameters must be an object");
    for (const auto& [key, value] : j["parameters"].items()) request.parameters[key] = parameter_text(value);
    // Triton's request timeout, in microseconds.
    if (j["parameters"].contains("timeout")) {
      const json& t = j["parameters"]["timeout"];
      if (!t.is_number_unsigned()) return invalid_argument("parameters.timeout must be microseconds (an integer >= 0)");
      request.timeout = std::chrono::microseconds(t.get<int64_t>());
    }
  }
  if (!j.contains("inputs") || !j["inputs"].is_array()) return invalid_argument("inputs must be an array");
  size_t binary_at = header_length ? *header_length : body.size();
  for (size_t i = 0; i < j["inputs"].size(); ++i) {
    const json& in = j["inputs"][i];
    const std::string field = "inputs[" + std::to_string(i) + "]";
    if (!in.is_object()) return invalid_argument(field + " must be an object");
    Tensor t;
    if (!in.contains("name") || !in["name"].is_string()) return invalid_argument(field + ".name must be a string");
    t.name = in["name"].get<std::string>();
    if (!in.contains("datatype") || !in["datatype"].is_string()) {
      return invalid_argument(field + ".datatype must be a string");
    }
    auto type = parse_datatype(in["datatype"].get<std::string>());
    if (!type.ok()) return invalid_argument(field + ".datatype: " + type.status().message());
    t.datatype = *type;
    if (!in.contains("shape") || !in["shape"].is_array()) return invalid_argument(field + ".shape must be an array");
    int64_t count = 1;
    for (const json& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || d.get<int64_t>() > (int64_t{1} << 40)) {
        return invalid_argument(field + ".shape must hold non-negative integers");
      }
      t.shape.push_back(d.get<int64_t>());
      count *= t.shape.back();
      if (count > (int64_t{1} << 40)) return invalid_argument(field + ".shape is too large");
    }
    std::optional<size_t> binary_size;
    if (in.contains("parameters")) {
      const json& p = in["parameters"];
      if (!p.is_object()) return invalid_argument(field + ".parameters must be an object");
      if (p.contains("binary_data_size")) {
        if (!p["binary_data_size"].is_number_unsigned()) {
          return invalid_argument(field + ".parameters.binary_data_size must be a non-negative integer");
        }
        binary_size = p["binary_data_size"].get<size_t>();
      }
    }
    if (binary_size) {
      if (!header_length) {
        return invalid_argument(field +
                                ".parameters.binary_data_size needs the Inference-Header-Content-Length header");
      }
      if (*binary_size > body_size - binary_at) {
        return invalid_argument(field + ".parameters.binary_data_size is " + std::to_string(*binary_size) +
                                " but only " + std::to_string(body_size - binary_at) + " bytes follow");
      }
      if (body_taken) {
        t.data.clear();  // nothing follows (checked above): an empty tensor
      } else if (binary_at + *binary_size == body_size) {
        // The body's last bytes (a request's usual one input): moved down in place and kept, not
        // copied into a new allocation (4.8 MB for 16 FP16 images).
        body.erase(0, binary_at);
        t.data = std::move(body);
        body_taken = true;
      } else {
        t.data = body.substr(binary_at, *binary_size);
      }
      binary_at += *binary_size;
      const size_t element = datatype_size(t.datatype);
      if (element && t.data.size() != static_cast<size_t>(count) * element) {
        return invalid_argument(field + ".parameters.binary_data_size is " + std::to_string(t.data.size()) +
                                "; the shape " + dims_to_string(t.shape) + " of " + datatype_name(t.datatype) +
                                " needs " + std::to_string(count * static_cast<int64_t>(element)));
      }
    } else {
      if (!in.contains("data")) return invalid_argument(field + ".data is missing");
      CHEXRT_RETURN_IF_ERROR(encode_json_data(in["data"], field + ".data", &t, count));
    }
    request.inputs.push_back(std::move(t));
  }
  if (binary_at != body_size) {
    return invalid_argument("the body holds " + std::to_string(body_size - binary_at) +
                            " bytes after the inputs' binary data");
  }
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) return invalid_argument("outputs must be an array");
    for (size_t i = 0; i < j["outputs"].size(); ++i) {
      const json& out = j["outputs"][i];
      if (!out.is_object() || !out.contains("name") || !out["name"].is_string()) {
        return invalid_argument("outputs[" + std::to_string(i) + "].name must be a string");
      }
      request.requested_outputs.push_back(out["name"].get<std::string>());
    }
  }
  if (encoding) *encoding = output_encoding(j);
  return request;
}

EncodedResponse encode_infer_response(const InferResponse& response, const OutputEncoding& encoding) {
  json j;
  j["model_name"] = response.model_name;
  j["model_version"] = response.model_version;
  if (!response.id.empty()) j["id"] = response.id;
  j["outputs"] = json::array();
  std::string binary;
  for (const Tensor& t : response.outputs) {
    json out = {{"name", t.name}, {"datatype", datatype_name(t.datatype)}, {"shape", t.shape}};
    const bool as_binary =
        encoding.all_binary || std::find(encoding.binary_outputs.begin(), encoding.binary_outputs.end(), t.name) !=
                                   encoding.binary_outputs.end();
    if (as_binary) {
      out["parameters"] = {{"binary_data_size", t.data.size()}};
      binary += t.data;
    } else {
      out["data"] = tensor_json_data(t);
    }
    j["outputs"].push_back(std::move(out));
  }
  EncodedResponse encoded;
  encoded.body = dump(j);
  const bool any_binary = encoding.all_binary || !encoding.binary_outputs.empty();
  if (any_binary) {
    encoded.header_length = encoded.body.size();
    encoded.body += binary;
  }
  return encoded;
}

std::string model_metadata_json(const ModelMetadata& m) {
  auto tensors = [](const std::vector<TensorMetadata>& list) {
    json a = json::array();
    for (const TensorMetadata& t : list) {
      a.push_back({{"name", t.name}, {"datatype", datatype_name(t.datatype)}, {"shape", t.shape}});
    }
    return a;
  };
  json j = {{"name", m.name},
            {"versions", m.versions},
            {"platform", m.platform},
            {"inputs", tensors(m.inputs)},
            {"outputs", tensors(m.outputs)},
            {"parameters", {{"demo_model", m.demo_model}}}};
  return dump(j);
}

std::string server_metadata_json(const ServerMetadata& m) {
  return dump(json{{"name", m.name}, {"version", m.version}, {"extensions", m.extensions}});
}

std::string error_json(const std::string& message) { return dump(json{{"error", message}}); }

}  // namespace chexrt::server
