// The KServe v2 REST encoding on its own: nested JSON data, every datatype's range checks, BYTES as
// JSON strings and as binary data, and responses that mix JSON and binary outputs.
#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "server/kserve_json.h"

namespace chexrt::server {
namespace {

using json = nlohmann::json;

TEST(KServeJson, NestedDataIsRowMajor) {
  const json body = {
      {"inputs", {{{"name", "x"}, {"datatype", "INT32"}, {"shape", {2, 2}}, {"data", {{1, 2}, {3, 4}}}}}},
      {"outputs", {{{"name", "y"}}}},
      {"parameters", {{"mode", "exact"}, {"heatmap", true}}}};
  auto r = parse_infer_request(body.dump(), std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->inputs.size(), 1u);
  int32_t values[4];
  ASSERT_EQ(r->inputs[0].data.size(), sizeof(values));
  std::memcpy(values, r->inputs[0].data.data(), sizeof(values));
  EXPECT_EQ(values[0], 1);
  EXPECT_EQ(values[3], 4);
  EXPECT_EQ(r->requested_outputs, std::vector<std::string>{"y"});
  EXPECT_EQ(r->parameters.at("mode"), "exact");
  EXPECT_EQ(r->parameters.at("heatmap"), "true");
}

TEST(KServeJson, ValuesOutsideTheirDatatypeAreRefused) {
  struct Case {
    const char* datatype;
    json data;
    const char* names;
  };
  for (const Case& c : {Case{"UINT8", {256}, "inputs[0].data[0]"}, Case{"INT8", {-129}, "inputs[0].data[0]"},
                        Case{"UINT8", {1.5}, "integer"}, Case{"FP32", {"1"}, "number"},
                        Case{"BOOL", {1}, "true or false"}, Case{"BYTES", {1}, "string"}}) {
    const json body = {{"inputs", {{{"name", "x"}, {"datatype", c.datatype}, {"shape", {1}}, {"data", c.data}}}}};
    auto r = parse_infer_request(body.dump(), std::nullopt);
    ASSERT_FALSE(r.ok()) << c.datatype << " " << c.data.dump();
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.names), std::string::npos) << r.status().message();
  }
}

TEST(KServeJson, BinaryInputsFollowTheHeaderInOrder) {
  const json header = {
      {"inputs",
       {{{"name", "a"}, {"datatype", "UINT8"}, {"shape", {3}}, {"parameters", {{"binary_data_size", 3}}}},
        {{"name", "b"}, {"datatype", "BYTES"}, {"shape", {1}}, {"data", {"hi"}}},
        {{"name", "c"}, {"datatype", "UINT8"}, {"shape", {2}}, {"parameters", {{"binary_data_size", 2}}}}}}};
  const std::string head = header.dump();
  auto r = parse_infer_request(head + "ABCde", head.size());
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->inputs[0].data, "ABC");
  EXPECT_EQ(r->inputs[1].data, std::string("\x02\x00\x00\x00hi", 6));
  EXPECT_EQ(r->inputs[2].data, "de");
  auto extra = parse_infer_request(head + "ABCdef", head.size());
  EXPECT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("after the inputs"), std::string::npos);
}

// The binary input that ends the body keeps the body's storage; an empty binary input may still
// follow it, and one that claims bytes past the end is refused. The output encoding comes from
// the same parse.
TEST(KServeJson, BinaryInputAtTheEndAndEmptyOnesAfterIt) {
  const json header = {
      {"inputs",
       {{{"name", "a"}, {"datatype", "UINT8"}, {"shape", {4}}, {"parameters", {{"binary_data_size", 4}}}},
        {{"name", "b"}, {"datatype", "UINT8"}, {"shape", {0}}, {"parameters", {{"binary_data_size", 0}}}}}},
      {"outputs", {{{"name", "probabilities"}, {"parameters", {{"binary_data", true}}}}}}};
  const std::string head = header.dump();
  OutputEncoding encoding;
  auto r = parse_infer_request(head + "WXYZ", head.size(), &encoding);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->inputs[0].data, "WXYZ");
  EXPECT_EQ(r->inputs[1].data, "");
  EXPECT_FALSE(encoding.all_binary);
  EXPECT_EQ(encoding.binary_outputs, std::vector<std::string>{"probabilities"});

  json past_end = header;
  past_end["inputs"][1]["shape"] = {1};
  past_end["inputs"][1]["parameters"]["binary_data_size"] = 1;
  const std::string head2 = past_end.dump();
  auto refused = parse_infer_request(head2 + "WXYZ", head2.size());
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("but only 0 bytes follow"), std::string::npos)
      << refused.status().message();
}

TEST(KServeJson, ResponseMixesJsonAndBinaryOutputs) {
  InferResponse response;
  response.model_name = "m";
  response.model_version = "1";
  float p[2] = {0.25f, 0.5f};
  response.outputs.push_back({"probabilities", DataType::kFp32, {1, 2}, std::string(reinterpret_cast<char*>(p), 8)});
  response.outputs.push_back({"names",
                              DataType::kBytes,
                              {1},
                              std::string("\x03\x00\x00\x00"
                                          "abc",
                                          7)});
  OutputEncoding encoding;
  encoding.binary_outputs = {"names"};
  EncodedResponse encoded = encode_infer_response(response, encoding);
  ASSERT_TRUE(encoded.header_length.has_value());
  const json j = json::parse(encoded.body.substr(0, *encoded.header_length));
  EXPECT_EQ(j["outputs"][0]["data"], json::array({0.25, 0.5}));
  EXPECT_EQ(j["outputs"][1]["parameters"]["binary_data_size"], 7);
  EXPECT_EQ(encoded.body.substr(*encoded.header_length), std::string("\x03\x00\x00\x00"
                                                                     "abc",
                                                                     7));
  EncodedResponse all_json = encode_infer_response(response, OutputEncoding{});
  EXPECT_FALSE(all_json.header_length.has_value());
  EXPECT_EQ(json::parse(all_json.body)["outputs"][1]["data"], json::array({"abc"}));
}

}  // namespace
}  // namespace chexrt::server
