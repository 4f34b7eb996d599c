#include "server/web/web_page.h"

namespace chexrt::server {

// A minimal page: it names the endpoints. The full page (upload, findings, heat map) replaces it.
std::string_view index_html() {
  static constexpr std::string_view kPage = R"html(<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>chexrt</title></head>
<body>
<h1>chexrt</h1>
<p>CheXNet inference server. POST an X-ray (PNG, JPEG, DICOM) to <code>/v1/predict</code>;
model information at <code>/v1/info</code>; KServe v2 under <code>/v2</code>; metrics at
<code>/metrics</code>.</p>
</body>
</html>
)html";
  return kPage;
}

}  // namespace chexrt::server
