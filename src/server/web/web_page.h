// The web page served at `/`: index.html beside this file, embedded at build time
// (embed_file.cmake), so that the server works from its binary alone and the page offline.
#pragma once

#include <string_view>

namespace chexrt::server {

/// The page: HTML, CSS and JavaScript in one document that loads nothing else. It talks to the
/// server through GET /v1/info and POST /v1/predict.
std::string_view index_html();

}  // namespace chexrt::server
