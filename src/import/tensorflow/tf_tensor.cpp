#include "import/tensorflow/tf_tensor.h"

#include <cstring>

namespace chexrt::tf_import {

Result<DataType> from_tf_dtype(tensorflow::DataType dtype) {
  const int value = static_cast<int>(dtype);
  switch (value > 100 ? value - 100 : value) {
    case tensorflow::DT_FLOAT:
      return DataType::kFloat32;
    case tensorflow::DT_HALF:
      return DataType::kFloat16;
    case tensorflow::DT_DOUBLE:
      return DataType::kFloat64;
    case tensorflow::DT_INT32:
      return DataType::kInt32;
    case tensorflow::DT_INT64:
      return DataType::kInt64;
    case tensorflow::DT_INT8:
      return DataType::kInt8;
    case tensorflow::DT_UINT8:
      return DataType::kUInt8;
    case tensorflow::DT_BOOL:
      return DataType::kBool;
    default:
      break;
  }
  const std::string name =
      tensorflow::DataType_IsValid(value) ? tensorflow::DataType_Name(dtype) : std::to_string(value);
  return unsupported("element type " + name + " is not supported");
}

Result<Dims> dims_from_proto(const tensorflow::TensorShapeProto& shape) {
  if (shape.unknown_rank()) return invalid_argument("the shape's rank is unknown");
  Dims dims;
  for (const auto& d : shape.dim()) dims.push_back(d.size() < 0 ? -1 : d.size());
  return dims;
}

namespace {

// Fills `out` from a typed list: element k takes values[min(k, size - 1)].
template <class T, class List>
Status fill_from_list(HostTensor& out, const List& values, const char* field) {
  const int64_t n = out.numel();
  if (values.size() == 0) {
    if (n != 0) std::memset(out.raw(), 0, out.nbytes());  // TensorFlow reads an empty list as zeros
    return Status::ok_status();
  }
  if (values.size() > n) {
    return invalid_argument(std::string(field) + " has " + std::to_string(values.size()) + " values for " +
                            std::to_string(n) + " elements");
  }
  T* data = out.data<T>();
  for (int64_t k = 0; k < n; ++k)
    data[k] = static_cast<T>(values.Get(static_cast<int>(std::min<int64_t>(k, values.size() - 1))));
  return Status::ok_status();
}

}  // namespace

Result<HostTensor> tensor_from_proto(const tensorflow::TensorProto& proto) {
  CHEXRT_ASSIGN_OR_RETURN(DataType dtype, from_tf_dtype(proto.dtype()));
  CHEXRT_ASSIGN_OR_RETURN(Dims dims, dims_from_proto(proto.tensor_shape()));
  for (int64_t d : dims) {
    if (d < 0) return invalid_argument("a constant's shape has an unknown dimension");
  }
  HostTensor out(dtype, dims);
  if (!proto.tensor_content().empty()) {
    if (proto.tensor_content().size() != out.nbytes()) {
      return invalid_argument("tensor_content has " + std::to_string(proto.tensor_content().size()) + " bytes, shape " +
                              dims_to_string(dims) + " of " + dtype_name(dtype) + " needs " +
                              std::to_string(out.nbytes()));
    }
    std::memcpy(out.raw(), proto.tensor_content().data(), out.nbytes());
    return out;
  }
  switch (dtype) {
    case DataType::kFloat32:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<float>(out, proto.float_val(), "float_val"));
      break;
    case DataType::kFloat64:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<double>(out, proto.double_val(), "double_val"));
      break;
    case DataType::kFloat16:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<uint16_t>(out, proto.half_val(), "half_val"));
      break;
    case DataType::kInt32:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<int32_t>(out, proto.int_val(), "int_val"));
      break;
    case DataType::kInt8:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<int8_t>(out, proto.int_val(), "int_val"));
      break;
    case DataType::kUInt8:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<uint8_t>(out, proto.int_val(), "int_val"));
      break;
    case DataType::kInt64:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<int64_t>(out, proto.int64_val(), "int64_val"));
      break;
    case DataType::kBool:
      CHEXRT_RETURN_IF_ERROR(fill_from_list<uint8_t>(out, proto.bool_val(), "bool_val"));
      break;
  }
  return out;
}

}  // namespace chexrt::tf_import
