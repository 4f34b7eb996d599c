// POST /v1/predict and GET /v1/info: X-ray files in, findings (and heat maps) out as JSON, for
// people without tensor code and for the web page. Each file becomes one "image_bytes" request
// to the InferenceService, so that the batcher combines them with everything else.
#pragma once

#include "server/inference_service.h"
#include "server/kserve_http.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace chexrt::server {

void register_v1_routes(httplib::Server& server, InferenceService& service, const HttpOptions& options);

/// {"error": message} with the HTTP code of `status` (and Retry-After on 503).
void send_error(httplib::Response& res, const Status& status);

/// Body bytes a handler read through a content reader, for the access log line of this request.
void note_request_bytes(size_t bytes);

/// Standard base64 (RFC 4648, with padding).
std::string base64_encode(const std::string& bytes);

}  // namespace chexrt::server
