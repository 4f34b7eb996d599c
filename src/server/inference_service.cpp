#include "server/inference_service.h"

#include <future>
#include <memory>
#include <utility>

namespace chexrt::server {
namespace {

struct DataTypeInfo {
  DataType type;
  const char* name;
  size_t size;
};

// In DataType's order; KServe v2's "Tensor Data Types" table.
constexpr DataTypeInfo kDataTypes[] = {
    {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},   {DataType::kUint16, "UINT16", 2},
    {DataType::kUint32, "UINT32", 4}, {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},   {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},     {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
};
constexpr bool data_types_in_order() {
  size_t i = 0;
  for (const DataTypeInfo& t : kDataTypes) {
    if (static_cast<size_t>(t.type) != i++) return false;
  }
  return i == static_cast<size_t>(DataType::kBytes) + 1;
}
static_assert(data_types_in_order(), "kDataTypes must list every DataType, in the enum's order");

const DataTypeInfo& info(DataType type) { return kDataTypes[static_cast<size_t>(type)]; }

}  // namespace

const char* datatype_name(DataType type) { return info(type).name; }

size_t datatype_size(DataType type) { return info(type).size; }

Result<DataType> parse_datatype(const std::string& name) {
  for (const DataTypeInfo& t : kDataTypes) {
    if (name == t.name) return t.type;
  }
  // The protocol's names are case-sensitive: "fp32" is refused, and the message lists the names.
  std::string known;
  for (const DataTypeInfo& t : kDataTypes) known += std::string(known.empty() ? "" : ", ") + t.name;
  return invalid_argument("unknown datatype '" + name + "' (one of " + known + ")");
}

Result<InferResponse> InferenceService::infer(InferRequest request) {
  // shared_ptr: `done` may be copied by the service, and runs on another thread.
  auto promise = std::make_shared<std::promise<Result<InferResponse>>>();
  std::future<Result<InferResponse>> answer = promise->get_future();
  infer_async(std::move(request), [promise](Result<InferResponse> result) { promise->set_value(std::move(result)); });
  return answer.get();
}

}  // namespace chexrt::server
