#include "server/v1_api.h"

#include <cstdlib>
#include <cstring>
#include <future>

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "app/findings.h"
#include "server/kserve_json.h"
#include "server/model_server.h"

namespace chexrt::server {

namespace {

using json = nlohmann::ordered_json;

struct Upload {
  std::string file;
  std::string content;
};

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

Result<json> model_object(InferenceService& service, const std::string& name) {
  CHEXRT_ASSIGN_OR_RETURN(ModelMetadata m, service.model_metadata(name, ""));
  json model = {{"name", m.name}, {"version", m.versions.empty() ? "" : m.versions[0]}, {"demo", m.demo_model}};
  if (m.demo_model) model["warning"] = kDemoModelWarning;
  return model;
}

const Tensor* find_output(const InferResponse& r, const std::string& name) {
  for (const Tensor& t : r.outputs) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::string> bytes_elements(const Tensor& t) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at + 4 <= t.data.size()) {
    const auto* b = reinterpret_cast<const unsigned char*>(t.data.data() + at);
    const uint32_t n = b[0] | b[1] << 8 | b[2] << 16 | static_cast<uint32_t>(b[3]) << 24;
    out.push_back(t.data.substr(at + 4, n));
    at += 4 + n;
  }
  return out;
}

json file_result(const std::string& file, const InferResponse& r) {
  json item = {{"file", file}};
  if (const Tensor* size = find_output(r, "image_size"); size && size->data.size() >= 8) {
    int32_t wh[2];
    std::memcpy(wh, size->data.data(), 8);
    item["width"] = wh[0];
    item["height"] = wh[1];
  }
  json findings = json::array();
  if (const Tensor* probs = find_output(r, "probabilities");
      probs && probs->data.size() >= app::kNumFindings * sizeof(float)) {
    for (int k = 0; k < app::kNumFindings; ++k) {
      float p;
      std::memcpy(&p, probs->data.data() + k * sizeof(float), sizeof(float));
      findings.push_back({{"name", std::string(app::kFindingNames[k])}, {"probability", p}});
    }
  }
  item["findings"] = std::move(findings);
  const Tensor* pngs = find_output(r, "heatmap_png");
  const Tensor* names = find_output(r, "heatmap_finding");
  if (pngs && names) {
    const std::vector<std::string> images = bytes_elements(*pngs);
    const std::vector<std::string> labels = bytes_elements(*names);
    json maps = json::array();
    for (size_t i = 0; i < images.size() && i < labels.size(); ++i) {
      maps.push_back({{"finding", labels[i]}, {"png_base64", base64_encode(images[i])}});
    }
    item["heatmaps"] = std::move(maps);
  }
  return item;
}

bool allowed_single_type(const std::string& content_type) {
  const std::string type = content_type.substr(0, content_type.find(';'));
  return type.empty() || type == "image/png" || type == "image/jpeg" || type == "application/dicom" ||
         type == "application/octet-stream";
}

void predict(InferenceService& service, const HttpOptions& options, const httplib::Request& req, httplib::Response& res,
             const httplib::ContentReader& reader) {
  const std::string mode = req.has_param("mode") ? req.get_param_value("mode") : "crop";
  if (mode != "crop" && mode != "exact" && mode != "tencrop") {
    return send_error(res, invalid_argument("mode must be crop, exact or tencrop, not '" + mode + "'"));
  }
  std::string heatmap = req.has_param("heatmap") ? req.get_param_value("heatmap") : "";
  if (heatmap == "0" || heatmap == "false") heatmap.clear();
  if (!heatmap.empty() && heatmap != "1" && heatmap != "true" && heatmap != "all") {
    auto index = app::finding_index(heatmap);
    if (!index.ok()) return send_error(res, invalid_argument("heatmap: " + index.status().message()));
  }

  if (req.has_header("Content-Length") &&
      std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) > options.max_body_bytes) {
    res.status = 413;
    res.set_content(
        error_json("the request body is over the limit of " + std::to_string(options.max_body_bytes) + " bytes"),
        "application/json");
    return;
  }
  std::vector<Upload> uploads;
  size_t received = 0;
  bool over_limit = false;
  auto receive = [&](const char* data, size_t size) {
    received += size;
    if (received > options.max_body_bytes) {
      over_limit = true;
      return false;
    }
    uploads.back().content.append(data, size);
    return true;
  };
  bool read_ok = true;
  if (req.is_multipart_form_data()) {
    read_ok = reader(
        [&](const httplib::MultipartFormData& part) {
          uploads.push_back({part.filename.empty() ? part.name : part.filename, {}});
          return true;
        },
        receive);
  } else {
    const std::string type = req.get_header_value("Content-Type");
    if (!allowed_single_type(type)) {
      return send_error(res, invalid_argument("Content-Type must be image/png, image/jpeg, application/dicom, "
                                              "application/octet-stream or multipart/form-data, not '" +
                                              type + "'"));
    }
    uploads.push_back({"upload", {}});
    read_ok = reader(receive);
  }
  note_request_bytes(received);
  if (over_limit) {
    res.status = 413;
    res.set_content(
        error_json("the request body is over the limit of " + std::to_string(options.max_body_bytes) + " bytes"),
        "application/json");
    return;
  }
  if (!read_ok) return send_error(res, invalid_argument("the request body could not be read"));
  if (uploads.empty() || (uploads.size() == 1 && uploads[0].content.empty())) {
    return send_error(res, invalid_argument("the request holds no file (send one as the body or several as "
                                            "multipart/form-data)"));
  }

  // Every file at once, so that the batcher can combine them.
  std::vector<std::future<Result<InferResponse>>> answers;
  for (Upload& upload : uploads) {
    InferRequest request;
    request.model_name = options.model_name;
    Tensor input{"image_bytes", DataType::kBytes, {1}, {}};
    const uint32_t n = static_cast<uint32_t>(upload.content.size());
    const char length[4] = {static_cast<char>(n), static_cast<char>(n >> 8), static_cast<char>(n >> 16),
                            static_cast<char>(n >> 24)};
    input.data.assign(length, 4);
    input.data += upload.content;
    upload.content = std::string();
    request.inputs.push_back(std::move(input));
    request.parameters["mode"] = mode;
    request.parameters["filename"] = upload.file;
    request.requested_outputs = {"probabilities", "image_size"};
    if (!heatmap.empty()) {
      request.parameters["heatmap"] = heatmap;
      request.requested_outputs.push_back("heatmap_png");
      request.requested_outputs.push_back("heatmap_finding");
    }
    auto promise = std::make_shared<std::promise<Result<InferResponse>>>();
    answers.push_back(promise->get_future());
    service.infer_async(std::move(request), [promise](Result<InferResponse> r) { promise->set_value(std::move(r)); });
  }

  json results = json::array();
  Status busy;         // a full queue or shutdown: the client should retry
  Status first_error;  // when every file failed
  size_t failed = 0;
  for (size_t i = 0; i < answers.size(); ++i) {
    Result<InferResponse> r = answers[i].get();
    if (r.ok()) {
      results.push_back(file_result(uploads[i].file, *r));
      continue;
    }
    ++failed;
    const Status& s = r.status();
    if (s.code() == StatusCode::kUnavailable && busy.ok()) busy = s;
    if (s.code() != StatusCode::kInvalidArgument && s.code() != StatusCode::kUnavailable && busy.ok()) busy = s;
    if (first_error.ok()) first_error = s;
    results.push_back({{"file", uploads[i].file}, {"error", s.message()}});
  }
  if (!busy.ok()) return send_error(res, busy);
  if (failed == uploads.size()) return send_error(res, first_error);
  auto model = model_object(service, options.model_name);
  if (!model.ok()) return send_error(res, model.status());
  json answer = {{"model", *model}, {"mode", mode}, {"results", std::move(results)}};
  res.set_content(dump(answer), "application/json");
}

}  // namespace

std::string base64_encode(const std::string& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = static_cast<uint8_t>(bytes[i]) << 16 | static_cast<uint8_t>(bytes[i + 1]) << 8 |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

void register_v1_routes(httplib::Server& server, InferenceService& service, const HttpOptions& options) {
  server.Post("/v1/predict", [&service, options](const httplib::Request& req, httplib::Response& res,
                                                 const httplib::ContentReader& reader) {
    predict(service, options, req, res, reader);
  });
  server.Get("/v1/info", [&service, options](const httplib::Request&, httplib::Response& res) {
    auto model = model_object(service, options.model_name);
    if (!model.ok()) return send_error(res, model.status());
    json findings = json::array();
    for (auto name : app::kFindingNames) findings.push_back(std::string(name));
    const json info = {{"model", *model},
                       {"findings", std::move(findings)},
                       {"modes", {"crop", "exact", "tencrop"}},
                       {"max_body_bytes", options.max_body_bytes}};
    res.set_content(dump(info), "application/json");
  });
}

}  // namespace chexrt::server
