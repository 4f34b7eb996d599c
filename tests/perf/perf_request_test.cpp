#include "perf/perf_request.h"
#include "chexrt/tensor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include <nlohmann/json.hpp>

namespace chexrt::perf {
namespace {

// Splits a binary-extension body the way a server does: the JSON header is the first
// Inference-Header-Content-Length bytes, the tensors' bytes follow in input order.
struct Decoded {
  nlohmann::json header;
  std::string data;
};
Decoded decode(const RequestBody& r) {
  std::string length;
  for (const auto& [name, value] : r.headers) {
    if (name == "Inference-Header-Content-Length") length = value;
  }
  EXPECT_FALSE(length.empty());
  const size_t n = std::stoul(length);
  EXPECT_LE(n, r.body.size());
  return {nlohmann::json::parse(r.body.substr(0, n)), r.body.substr(n)};
}

uint32_t le32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(s[at + i])) << (8 * i);
  return v;
}

TEST(PerfRequest, BinaryExtensionLayout) {
  BinaryTensor a{"image", "FP32", {2, 3}, std::string(24, '\x11')};
  BinaryTensor b{"extra", "UINT8", {5}, "abcde"};
  const RequestBody r = encode_v2_binary_request("chexnet", {a, b}, "probabilities");
  EXPECT_EQ(r.path, "/v2/models/chexnet/infer");
  EXPECT_EQ(r.content_type, "application/octet-stream");
  EXPECT_EQ(r.images, 2);
  const Decoded d = decode(r);
  ASSERT_EQ(d.header["inputs"].size(), 2u);
  EXPECT_EQ(d.header["inputs"][0]["name"], "image");
  EXPECT_EQ(d.header["inputs"][0]["datatype"], "FP32");
  EXPECT_EQ(d.header["inputs"][0]["shape"], nlohmann::json({2, 3}));
  EXPECT_EQ(d.header["inputs"][0]["parameters"]["binary_data_size"], 24);
  EXPECT_EQ(d.header["inputs"][1]["parameters"]["binary_data_size"], 5);
  EXPECT_EQ(d.header["outputs"][0]["name"], "probabilities");
  EXPECT_EQ(d.header["outputs"][0]["parameters"]["binary_data"], true);
  EXPECT_EQ(d.header["parameters"]["binary_data_output"], true);
  EXPECT_EQ(d.data, a.data + b.data);
}

TEST(PerfRequest, ImageFilesAsBytesTensors) {
  const std::vector<ImageFile> files = {{"a.png", "AAAA"}, {"b.jpg", "BBBBBB"}, {"c.dcm", "C"}};
  const auto requests = image_requests(files, 2, Endpoint::kV2, "m");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].images, 2);
  EXPECT_EQ(requests[1].images, 1);
  const Decoded d = decode(requests[0]);
  EXPECT_EQ(d.header["inputs"][0]["name"], "image_bytes");
  EXPECT_EQ(d.header["inputs"][0]["datatype"], "BYTES");
  EXPECT_EQ(d.header["inputs"][0]["shape"], nlohmann::json({2}));
  ASSERT_EQ(d.data.size(), 4u + 4 + 4 + 6);
  EXPECT_EQ(d.header["inputs"][0]["parameters"]["binary_data_size"], d.data.size());
  EXPECT_EQ(le32(d.data, 0), 4u);
  EXPECT_EQ(d.data.substr(4, 4), "AAAA");
  EXPECT_EQ(le32(d.data, 8), 6u);
  EXPECT_EQ(d.data.substr(12), "BBBBBB");
  EXPECT_EQ(decode(requests[1]).data, std::string("\x01\x00\x00\x00", 4) + "C");
}

TEST(PerfRequest, PredictBodies) {
  const std::vector<ImageFile> files = {{"a.png", "AAAA"}, {"b.jpeg", "BB"}, {"c", "C"}};
  const auto single = image_requests(files, 1, Endpoint::kPredict, "m");
  ASSERT_EQ(single.size(), 3u);
  EXPECT_EQ(single[0].path, "/v1/predict");
  EXPECT_EQ(single[0].body, "AAAA");
  EXPECT_EQ(single[0].content_type, "image/png");
  EXPECT_EQ(single[1].content_type, "image/jpeg");
  EXPECT_EQ(single[2].content_type, "application/octet-stream");
  const auto grouped = image_requests(files, 3, Endpoint::kPredict, "m");
  ASSERT_EQ(grouped.size(), 1u);
  EXPECT_EQ(grouped[0].images, 3);
  const std::string boundary = "chexrt-perf-boundary";
  EXPECT_EQ(grouped[0].content_type, "multipart/form-data; boundary=" + boundary);
  EXPECT_EQ(grouped[0].body, multipart_body({&files[0], &files[1], &files[2]}, boundary));
  EXPECT_NE(grouped[0].body.find("filename=\"b.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\nBB\r\n"), std::string::npos);
  EXPECT_EQ(grouped[0].body.substr(grouped[0].body.size() - boundary.size() - 6), "--" + boundary + "--\r\n");
  EXPECT_FALSE(grouped[0].heatmaps);
  const auto maps = image_requests(files, 1, Endpoint::kPredict, "m", Protocol::kHttp, true);
  EXPECT_EQ(maps[0].path, "/v1/predict?heatmap=1");
  EXPECT_TRUE(maps[0].heatmaps);
}

TEST(PerfRequest, BoundaryAvoidsFileBytes) {
  const std::vector<ImageFile> files = {{"a.png", "xx--chexrt-perf-boundary"}, {"b.png", "y"}};
  const auto r = image_requests(files, 2, Endpoint::kPredict, "m");
  const std::string boundary = r[0].content_type.substr(r[0].content_type.find('=') + 1);
  EXPECT_EQ(files[0].bytes.find(boundary), std::string::npos);
}

TEST(PerfRequest, RandomTensors) {
  auto fp16 = random_image_tensor("fp16", 3);
  ASSERT_TRUE(fp16.ok());
  EXPECT_EQ(fp16->datatype, "FP16");
  EXPECT_EQ(fp16->shape, (std::vector<int64_t>{3, 3, 224, 224}));
  EXPECT_EQ(fp16->data.size(), 3u * 3 * 224 * 224 * 2);
  auto fp32 = random_image_tensor("fp32", 1);
  ASSERT_TRUE(fp32.ok());
  EXPECT_EQ(fp32->data.size(), 3u * 224 * 224 * 4);
  float first = 0;
  std::memcpy(&first, fp32->data.data(), 4);
  EXPECT_TRUE(first >= -2.0f && first <= 2.5f) << first;
  auto u8 = random_image_tensor("uint8", 2);
  ASSERT_TRUE(u8.ok());
  EXPECT_EQ(u8->shape, (std::vector<int64_t>{2, 224, 224}));
  EXPECT_EQ(u8->data.size(), 2u * 224 * 224);
  auto bad = random_image_tensor("int8", 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("int8"), std::string::npos);
}

// The FP16 tensors perf sends are rounded by chexrt's own float_to_half (chexrt/tensor.h).
TEST(PerfRequest, HalfPrecision) {
  EXPECT_EQ(float_to_half(0.0f), 0x0000);
  EXPECT_EQ(float_to_half(-0.0f), 0x8000);
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(0.1f), 0x2e66);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);  // halfway to 65536 rounds to even: infinity
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);         // halfway to the smallest: to even
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -24)), 0x0002);         // halfway between 1 and 2: to even
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -14)), 0x0400);         // smallest normal
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie to even
  EXPECT_EQ(float_to_half(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)), 0x3c01);  // above the tie
  EXPECT_EQ(float_to_half(INFINITY), 0x7c00);
  EXPECT_EQ(float_to_half(NAN) & 0x7c00, 0x7c00);
  EXPECT_NE(float_to_half(NAN) & 0x03ff, 0);
}

TEST(PerfRequest, Urls) {
  auto u = parse_url("http://127.0.0.1:8000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->prefix, "");
  u = parse_url("http://models.local/chexrt/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->prefix, "/chexrt");
  EXPECT_FALSE(parse_url("https://a:1").ok());
  EXPECT_FALSE(parse_url("http://a:0").ok());
  EXPECT_FALSE(parse_url("http://a:x").ok());
  EXPECT_FALSE(parse_url("http://:80").ok());
}

TEST(PerfRequest, GrpcTargetsAndMetricsUrls) {
  auto t = parse_grpc_target("127.0.0.1:8001");
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8001);
  for (const char* bad : {"http://127.0.0.1:8001", "127.0.0.1", ":8001", "a:0", "a:x", "a/b:1"}) {
    const auto r = parse_grpc_target(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
  EXPECT_NE(parse_grpc_target("http://h:1").status().message().find("without a scheme"), std::string::npos);

  auto m = parse_metrics_url("http://gpu-box:9000");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->port, 9000);
  EXPECT_EQ(m->prefix, "/metrics");
  m = parse_metrics_url("http://gpu-box:9000/prom/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->prefix, "/prom/metrics");
  EXPECT_NE(parse_metrics_url("gpu-box:9000").status().message().find("--metrics-url"), std::string::npos);

  // gRPC: chexrt serve's HTTP port on the same host; HTTP: beside the base URL, prefix kept.
  const Url grpc_metrics = default_metrics_url(Protocol::kGrpc, Url{"10.0.0.2", 9001, ""});
  EXPECT_EQ(grpc_metrics.host, "10.0.0.2");
  EXPECT_EQ(grpc_metrics.port, 8000);
  EXPECT_EQ(grpc_metrics.prefix, "/metrics");
  const Url http_metrics = default_metrics_url(Protocol::kHttp, Url{"h", 8080, "/chexrt"});
  EXPECT_EQ(http_metrics.port, 8080);
  EXPECT_EQ(http_metrics.prefix, "/chexrt/metrics");
}

TEST(PerfRequest, GrpcRequestsCarryTensors) {
  BinaryTensor image{"image", "UINT8", {3, 2, 2}, "abcdefghijkl"};
  const RequestBody r = grpc_request({image}, "probabilities");
  EXPECT_EQ(r.images, 3);
  EXPECT_EQ(r.output, "probabilities");
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_EQ(r.inputs[0].data, image.data);
  EXPECT_TRUE(r.body.empty() && r.path.empty());

  // Image files as the BYTES input image_bytes, laid out as in the binary extension.
  const std::vector<ImageFile> files = {{"a.png", "AAAA"}, {"b.jpg", "BBBBBB"}, {"c.dcm", "C"}};
  const auto requests = image_requests(files, 2, Endpoint::kV2, "m", Protocol::kGrpc);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].images, 2);
  EXPECT_EQ(requests[1].images, 1);
  ASSERT_EQ(requests[0].inputs.size(), 1u);
  const BinaryTensor& bytes = requests[0].inputs[0];
  EXPECT_EQ(bytes.name, "image_bytes");
  EXPECT_EQ(bytes.datatype, "BYTES");
  EXPECT_EQ(bytes.shape, std::vector<int64_t>({2}));
  EXPECT_EQ(bytes.data, std::string("\x04\x00\x00\x00", 4) + "AAAA" + std::string("\x06\x00\x00\x00", 4) + "BBBBBB");
  EXPECT_EQ(requests[1].inputs[0].data, std::string("\x01\x00\x00\x00", 4) + "C");
  EXPECT_TRUE(requests[0].body.empty());
}

}  // namespace
}  // namespace chexrt::perf
