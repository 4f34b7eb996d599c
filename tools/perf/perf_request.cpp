#include "perf/perf_request.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chexrt/tensor.h"

namespace chexrt::perf {

namespace {

constexpr int64_t kImageSide = 224;

void append_le32(std::string& out, uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

// "port" of host:port as a number from 1 to 65535; nothing otherwise.
std::optional<int> parse_port(const std::string& port) {
  char* end = nullptr;
  const long value = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || value < 1 || value > 65535) return std::nullopt;
  return static_cast<int>(value);
}

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// An http:// URL given to `flag`.
Result<Url> parse_http_url(const char* flag, const std::string& text) {
  const std::string scheme = "http://";
  if (text.rfind(scheme, 0) != 0) {
    return invalid_argument(std::string(flag) + " " + text +
                            ": must start with http:// (the load client speaks plain HTTP)");
  }
  const std::string rest = text.substr(scheme.size());
  const size_t slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Url url;
  if (slash != std::string::npos) {
    url.prefix = rest.substr(slash);
    while (!url.prefix.empty() && url.prefix.back() == '/') url.prefix.pop_back();
  }
  const size_t colon = authority.rfind(':');
  url.host = authority.substr(0, colon);
  if (colon != std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    const auto value = parse_port(port);
    if (!value)
      return invalid_argument(std::string(flag) + " " + text + ": port '" + port + "' is not a number from 1 to 65535");
    url.port = *value;
  }
  if (url.host.empty()) return invalid_argument(std::string(flag) + " " + text + ": no host");
  return url;
}

}  // namespace

Result<Url> parse_url(const std::string& text) { return parse_http_url("--url", text); }

Result<Url> parse_grpc_target(const std::string& text) {
  if (text.find("://") != std::string::npos) {
    return invalid_argument("--url " + text + ": a gRPC target is host:port (e.g. 127.0.0.1:8001), without a scheme");
  }
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) {
    return invalid_argument("--url " + text + ": a gRPC target is host:port (e.g. 127.0.0.1:8001); no port");
  }
  Url url;
  url.host = text.substr(0, colon);
  if (url.host.empty()) return invalid_argument("--url " + text + ": no host");
  if (url.host.find('/') != std::string::npos) {
    return invalid_argument("--url " + text + ": a gRPC target is host:port, without a path");
  }
  const auto port = parse_port(text.substr(colon + 1));
  if (!port) {
    return invalid_argument("--url " + text + ": port '" + text.substr(colon + 1) +
                            "' is not a number from 1 to 65535");
  }
  url.port = *port;
  return url;
}

Result<Url> parse_metrics_url(const std::string& text) {
  CHEXRT_ASSIGN_OR_RETURN(Url url, parse_http_url("--metrics-url", text));
  if (url.prefix.empty()) url.prefix = "/metrics";
  return url;
}

Url default_metrics_url(Protocol protocol, const Url& url) {
  if (protocol == Protocol::kGrpc) return Url{url.host, 8000, "/metrics"};
  return Url{url.host, url.port, url.prefix + "/metrics"};
}

RequestBody grpc_request(std::vector<BinaryTensor> inputs, const std::string& output) {
  RequestBody request;
  request.images = inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
  request.inputs = std::move(inputs);
  request.output = output;
  return request;
}

RequestBody encode_v2_binary_request(const std::string& model, const std::vector<BinaryTensor>& inputs,
                                     const std::string& output) {
  nlohmann::json header;
  header["inputs"] = nlohmann::json::array();
  size_t data_bytes = 0;
  for (const BinaryTensor& t : inputs) {
    header["inputs"].push_back({{"name", t.name},
                                {"datatype", t.datatype},
                                {"shape", t.shape},
                                {"parameters", {{"binary_data_size", t.data.size()}}}});
    data_bytes += t.data.size();
  }
  // Both spellings of "answer in binary": per output (binary_data) and for the whole request
  // (binary_data_output), so that 14 floats per image are not printed as JSON text.
  header["outputs"] = nlohmann::json::array({{{"name", output}, {"parameters", {{"binary_data", true}}}}});
  header["parameters"] = {{"binary_data_output", true}};
  RequestBody request;
  request.path = "/v2/models/" + model + "/infer";
  request.content_type = "application/octet-stream";
  request.body = header.dump();
  request.headers.emplace_back("Inference-Header-Content-Length", std::to_string(request.body.size()));
  request.body.reserve(request.body.size() + data_bytes);
  for (const BinaryTensor& t : inputs) request.body += t.data;
  request.images = inputs.empty() || inputs[0].shape.empty() ? 0 : inputs[0].shape[0];
  return request;
}

Result<BinaryTensor> random_image_tensor(const std::string& datatype, int64_t batch) {
  BinaryTensor t;
  t.name = "image";
  std::mt19937 random(14);
  if (datatype == "uint8") {
    t.datatype = "UINT8";
    t.shape = {batch, kImageSide, kImageSide};
    t.data.resize(static_cast<size_t>(batch * kImageSide * kImageSide));
    std::uniform_int_distribution<int> pixel(0, 255);
    for (char& c : t.data) c = static_cast<char>(pixel(random));
    return t;
  }
  if (datatype != "fp32" && datatype != "fp16") {
    return invalid_argument("--tensor " + datatype + ": must be fp32, fp16 or uint8");
  }
  // ImageNet normalization maps pixels to about [-2.1, 2.6].
  std::uniform_real_distribution<float> value(-2.0f, 2.5f);
  const size_t count = static_cast<size_t>(batch * 3 * kImageSide * kImageSide);
  t.shape = {batch, 3, kImageSide, kImageSide};
  if (datatype == "fp32") {
    t.datatype = "FP32";
    t.data.resize(count * 4);
    for (size_t i = 0; i < count; ++i) {
      const float v = value(random);
      std::memcpy(&t.data[i * 4], &v, 4);
    }
  } else {
    t.datatype = "FP16";
    t.data.resize(count * 2);
    for (size_t i = 0; i < count; ++i) {
      const uint16_t h = float_to_half(value(random));
      t.data[i * 2] = static_cast<char>(h & 0xff);
      t.data[i * 2 + 1] = static_cast<char>(h >> 8);
    }
  }
  return t;
}

Result<std::vector<ImageFile>> read_image_files(const std::vector<std::string>& paths) {
  std::vector<ImageFile> files;
  files.reserve(paths.size());
  for (const std::string& path : paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return io_error(path + ": cannot open: " + std::strerror(errno));
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) return io_error(path + ": read failed");
    ImageFile file{std::filesystem::path(path).filename().string(), bytes.str()};
    if (file.bytes.empty()) return invalid_argument(path + ": empty file");
    files.push_back(std::move(file));
  }
  return files;
}

std::string content_type_for(const std::string& file_name) {
  const std::string ext = lower(std::filesystem::path(file_name).extension().string());
  if (ext == ".png") return "image/png";
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".dcm" || ext == ".dicom") return "application/dicom";
  return "application/octet-stream";
}

std::string multipart_body(const std::vector<const ImageFile*>& files, const std::string& boundary) {
  std::string body;
  for (const ImageFile* f : files) {
    body += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + f->name +
            "\"\r\nContent-Type: " + content_type_for(f->name) + "\r\n\r\n";
    body += f->bytes;
    body += "\r\n";
  }
  body += "--" + boundary + "--\r\n";
  return body;
}

std::vector<RequestBody> image_requests(const std::vector<ImageFile>& files, int64_t batch, Endpoint endpoint,
                                        const std::string& model, Protocol protocol, bool heatmaps) {
  std::vector<RequestBody> requests;
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(batch)) {
    const size_t end = std::min(files.size(), first + static_cast<size_t>(batch));
    if (endpoint == Endpoint::kV2) {
      BinaryTensor t{"image_bytes", "BYTES", {static_cast<int64_t>(end - first)}, {}};
      for (size_t i = first; i < end; ++i) {
        append_le32(t.data, static_cast<uint32_t>(files[i].bytes.size()));
        t.data += files[i].bytes;
      }
      requests.push_back(protocol == Protocol::kGrpc ? grpc_request({std::move(t)}, "probabilities")
                                                     : encode_v2_binary_request(model, {t}, "probabilities"));
      continue;
    }
    RequestBody request;
    request.path = heatmaps ? "/v1/predict?heatmap=1" : "/v1/predict";
    request.images = static_cast<int64_t>(end - first);
    request.heatmaps = heatmaps;
    if (end - first == 1) {
      request.content_type = content_type_for(files[first].name);
      request.body = files[first].bytes;
    } else {
      // A boundary that occurs in no file: files are binary, so check rather than hope.
      std::string boundary = "chexrt-perf-boundary";
      for (int attempt = 0;; ++attempt) {
        bool clash = false;
        for (size_t i = first; i < end && !clash; ++i) clash = files[i].bytes.find(boundary) != std::string::npos;
        if (!clash) break;
        boundary = "chexrt-perf-boundary-" + std::to_string(attempt);
      }
      std::vector<const ImageFile*> group;
      for (size_t i = first; i < end; ++i) group.push_back(&files[i]);
      request.content_type = "multipart/form-data; boundary=" + boundary;
      request.body = multipart_body(group, boundary);
    }
    requests.push_back(std::move(request));
  }
  return requests;
}

}  // namespace chexrt::perf
