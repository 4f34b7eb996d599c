#include "server/inference_service.h"

#include <array>
#include <future>
#include <memory>

namespace chexrt::server {

namespace {

struct DataTypeInfo {
  DataType type;
  const char* name;
  size_t size;
};

constexpr std::array<DataTypeInfo, 13> kDataTypes = {{
    {DataType::kBool, "BOOL", 1},
    {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2},
    {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8},
    {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},
    {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};

}  // namespace

const char* datatype_name(DataType type) {
  for (const DataTypeInfo& info : kDataTypes) {
    if (info.type == type) return info.name;
  }
  return "?";
}

Result<DataType> parse_datatype(const std::string& name) {
  for (const DataTypeInfo& info : kDataTypes) {
    if (name == info.name) return info.type;
  }
  return invalid_argument("unknown datatype '" + name + "' (KServe v2 names: BOOL, UINT8, ..., FP32, BYTES)");
}

size_t datatype_size(DataType type) {
  for (const DataTypeInfo& info : kDataTypes) {
    if (info.type == type) return info.size;
  }
  return 0;
}

Result<InferResponse> InferenceService::infer(InferRequest request) {
  auto promise = std::make_shared<std::promise<Result<InferResponse>>>();
  std::future<Result<InferResponse>> answer = promise->get_future();
  infer_async(std::move(request), [promise](Result<InferResponse> r) { promise->set_value(std::move(r)); });
  return answer.get();
}

}  // namespace chexrt::server
