// POST /v1/predict and GET /v1/info: files in, findings and heat maps out, one bad file among
// good ones reported on its own, and the answers equal the engine's on the decoded images.
#include <cstring>

#include "app/findings.h"
#include "app/image_io.h"
#include "server/model_server.h"
#include "server/v1_api.h"
#include "server_fixture.h"

namespace chexrt::server::testing {
namespace {

using json = nlohmann::json;

std::string data_file(const std::string& name) {
  auto bytes = app::read_file_bytes(std::string(CHEXRT_TEST_DATA_DIR) + "/cxr/" + name);
  EXPECT_TRUE(bytes.ok()) << bytes.status().to_string();
  return std::string(bytes->begin(), bytes->end());
}

std::string base64_decode(const std::string& text) {
  std::string out;
  int bits = 0, value = 0;
  for (char c : text) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+'             ? 62
            : c == '/'             ? 63
                                   : -1;
    if (v < 0) break;
    value = value << 6 | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 255);
    }
  }
  return out;
}

std::vector<float> engine_findings(Engine& engine, const std::string& file) {
  auto image = app::decode_image8(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "file");
  EXPECT_TRUE(image.ok());
  std::vector<HostTensor> out;
  EXPECT_TRUE(engine.infer_images({view_of(*image)}, PreprocessOptions{}, &out).ok());
  return std::vector<float>(out[0].data<float>(), out[0].data<float>() + 14);
}

TEST(Base64, EncodesAsRfc4648) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode(base64_encode(std::string("\x00\xff\x10\x80", 4))), std::string("\x00\xff\x10\x80", 4));
}

TEST_F(ServerTest, PredictOneFileAsTheBody) {
  const std::string png = data_file("formats/00012082_000_512.png");
  auto res = client_->Post("/v1/predict", png, "image/png");
  ASSERT_EQ(res->status, 200) << res->body;
  const json r = parse_json(res->body);
  EXPECT_EQ(r["model"]["name"], "chexnet");
  EXPECT_EQ(r["model"]["version"], "1");
  EXPECT_EQ(r["model"]["demo"], true);
  EXPECT_EQ(r["model"]["warning"], kDemoModelWarning);
  EXPECT_EQ(r["mode"], "crop");
  ASSERT_EQ(r["results"].size(), 1u);
  const json& item = r["results"][0];
  EXPECT_EQ(item["width"], 512);
  EXPECT_EQ(item["height"], 512);
  ASSERT_EQ(item["findings"].size(), 14u);
  const std::vector<float> expected = engine_findings(*oracle_, png);
  for (int k = 0; k < 14; ++k) {
    EXPECT_EQ(item["findings"][k]["name"], std::string(app::kFindingNames[k]));
    EXPECT_EQ(item["findings"][k]["probability"].get<float>(), expected[k]);
  }
  EXPECT_FALSE(item.contains("heatmaps"));
}

TEST_F(ServerTest, PredictMultipartReportsTheBadFileAndAnswersTheOthers) {
  httplib::MultipartFormDataItems items = {
      {"file", data_file("formats/00012082_000_512.png"), "first.png", "image/png"},
      {"file", "this is not an image at all", "bad.png", "image/png"},
      {"other", data_file("formats/00008980_000_q90.jpg"), "third.jpg", "image/jpeg"},
  };
  auto res = client_->Post("/v1/predict?mode=exact", items);
  ASSERT_EQ(res->status, 200) << res->body;
  const json r = parse_json(res->body);
  EXPECT_EQ(r["mode"], "exact");
  ASSERT_EQ(r["results"].size(), 3u);
  EXPECT_EQ(r["results"][0]["file"], "first.png");
  EXPECT_EQ(r["results"][0]["findings"].size(), 14u);
  EXPECT_EQ(r["results"][1]["file"], "bad.png");
  const std::string error = r["results"][1]["error"];
  EXPECT_EQ(error.rfind("bad.png: ", 0), 0u) << error;
  EXPECT_NE(error.find("not an image"), std::string::npos) << error;
  EXPECT_FALSE(r["results"][1].contains("findings"));
  EXPECT_EQ(r["results"][2]["file"], "third.jpg");
  EXPECT_EQ(r["results"][2]["findings"].size(), 14u);
}

TEST_F(ServerTest, PredictHeatmaps) {
  const std::string png = data_file("formats/00012082_000_512.png");
  const std::vector<float> p = engine_findings(*oracle_, png);
  const int top = static_cast<int>(std::max_element(p.begin(), p.end()) - p.begin());
  struct Case {
    std::string query;
    std::vector<std::string> findings;
  };
  std::vector<std::string> all(app::kFindingNames.begin(), app::kFindingNames.end());
  for (const Case& c : {Case{"heatmap=1", {std::string(app::kFindingNames[top])}},
                        Case{"heatmap=effusion", {"Effusion"}}, Case{"heatmap=all", all}}) {
    auto res = client_->Post("/v1/predict?" + c.query, png, "application/octet-stream");
    ASSERT_EQ(res->status, 200) << res->body;
    const json r = parse_json(res->body);
    const json& maps = r["results"][0]["heatmaps"];
    ASSERT_EQ(maps.size(), c.findings.size()) << c.query;
    for (size_t i = 0; i < maps.size(); ++i) {
      EXPECT_EQ(maps[i]["finding"], c.findings[i]);
      const std::string file = base64_decode(maps[i]["png_base64"]);
      auto image = app::decode_image(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "heat map");
      ASSERT_TRUE(image.ok()) << image.status().to_string();
      EXPECT_EQ(image->format, app::ImageFormat::kPng);
      EXPECT_EQ(image->width, 512);  // the X-ray's own size (below the 1024 cap)
      EXPECT_EQ(image->height, 512);
      EXPECT_EQ(image->channels, 3);
    }
  }
  // A large X-ray's heat map is capped at 1024 px on its longer side.
  auto res = client_->Post("/v1/predict?heatmap=1", data_file("formats/00023104_000_2000x1800.png"), "image/png");
  ASSERT_EQ(res->status, 200) << res->body;
  const std::string file = base64_decode(parse_json(res->body)["results"][0]["heatmaps"][0]["png_base64"]);
  auto image = app::read_image_info(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "heat map");
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(std::max(image->width, image->height), 1024);

  auto bad = client_->Post("/v1/predict?heatmap=Broken_Bone", png, "image/png");
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(parse_json(bad->body)["error"].get<std::string>().find("heatmap"), std::string::npos);
}

// An engine that unfilters PNG rows on its device gets the PNGs inflated only (8-bit grey, RGBA
// and 16-bit alike), with the same findings as decoded pixels; JPEGs are decoded here as before,
// and heat maps, drawn over the pixels, make the server decode in full.
TEST_F(ServerTest, PredictHandsPngRowsToAnEngineThatUnfiltersThem) {
  ModelServerOptions model;
  model.batcher.max_batch = kTestMaxBatch;
  model.decode_threads = 2;
  start(model, HttpOptions{}, std::chrono::microseconds(0), /*fp16_inputs=*/true);
  ASSERT_NE(fp16_engine_, nullptr);
  const std::vector<std::string> pngs = {"formats/00012082_000_512.png", "formats/00014995_000_rgba.png",
                                         "formats/00017921_000_16bit.png"};
  int rows_expected = 0;
  for (const std::string& name : pngs) {
    SCOPED_TRACE(name);
    const std::string png = data_file(name);
    auto res = client_->Post("/v1/predict", png, "image/png");
    ASSERT_EQ(res->status, 200) << res->body;
    const json item = parse_json(res->body)["results"][0];
    const std::vector<float> expected = engine_findings(*oracle_, png);
    ASSERT_EQ(item["findings"].size(), 14u);
    for (int k = 0; k < 14; ++k) EXPECT_EQ(item["findings"][k]["probability"].get<float>(), expected[k]) << k;
    EXPECT_EQ(fp16_engine_->png_row_images(), ++rows_expected);
  }
  auto jpeg = client_->Post("/v1/predict", data_file("formats/00008980_000_q90.jpg"), "image/jpeg");
  ASSERT_EQ(jpeg->status, 200) << jpeg->body;
  auto maps = client_->Post("/v1/predict?heatmap=1", data_file(pngs[0]), "image/png");
  ASSERT_EQ(maps->status, 200) << maps->body;
  EXPECT_EQ(parse_json(maps->body)["results"][0]["heatmaps"].size(), 1u);
  EXPECT_EQ(fp16_engine_->png_row_images(), rows_expected);
}

TEST_F(ServerTest, PredictErrors) {
  auto garbage = client_->Post("/v1/predict", std::string(5000, '\x17'), "application/octet-stream");
  EXPECT_EQ(garbage->status, 400);
  EXPECT_NE(parse_json(garbage->body)["error"].get<std::string>().find("not an image"), std::string::npos);
  auto empty = client_->Post("/v1/predict", "", "image/png");
  EXPECT_EQ(empty->status, 400);
  auto text = client_->Post("/v1/predict", "hello", "text/plain");
  EXPECT_EQ(text->status, 400);
  EXPECT_NE(parse_json(text->body)["error"].get<std::string>().find("Content-Type"), std::string::npos);
  auto mode = client_->Post("/v1/predict?mode=sideways", data_file("formats/00012082_000_512.png"), "image/png");
  EXPECT_EQ(mode->status, 400);
  EXPECT_NE(parse_json(mode->body)["error"].get<std::string>().find("mode"), std::string::npos);
}

TEST_F(ServerTest, Info) {
  auto res = client_->Get("/v1/info");
  ASSERT_EQ(res->status, 200);
  const json r = parse_json(res->body);
  EXPECT_EQ(r["model"]["name"], "chexnet");
  EXPECT_EQ(r["model"]["demo"], true);
  EXPECT_EQ(r["model"]["warning"], kDemoModelWarning);
  ASSERT_EQ(r["findings"].size(), 14u);
  EXPECT_EQ(r["findings"][13], "Hernia");
  EXPECT_EQ(r["modes"], json::array({"crop", "exact", "tencrop"}));
  EXPECT_EQ(r["max_body_bytes"], HttpOptions{}.max_body_bytes);
}

}  // namespace
}  // namespace chexrt::server::testing
