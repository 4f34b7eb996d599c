// The web page served at GET /: choose an X-ray, see its findings and heat map. Embedded in the
// binary, with no external assets, so that it works offline.
#pragma once

#include <string_view>

namespace chexrt::server {

/// The whole page (HTML with its CSS and JavaScript inline).
std::string_view index_html();

}  // namespace chexrt::server
