#include "import/onnx/onnx_tensor.h"

#include <cstring>
#include <filesystem>
#include <fstream>

namespace chexrt::onnx_import {

// raw_data and external data are little-endian by the ONNX spec; they are copied as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "ONNX tensor data is little-endian");

std::string onnx_dtype_name(int32_t onnx_type) {
  if (onnx::TensorProto_DataType_IsValid(onnx_type)) {
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(onnx_type));
  }
  return "type " + std::to_string(onnx_type);
}

Result<DataType> from_onnx_dtype(int32_t onnx_type) {
  switch (onnx_type) {
    case onnx::TensorProto::FLOAT:
      return DataType::kFloat32;
    case onnx::TensorProto::FLOAT16:
      return DataType::kFloat16;
    case onnx::TensorProto::DOUBLE:
      return DataType::kFloat64;
    case onnx::TensorProto::INT64:
      return DataType::kInt64;
    case onnx::TensorProto::INT32:
      return DataType::kInt32;
    case onnx::TensorProto::INT8:
      return DataType::kInt8;
    case onnx::TensorProto::UINT8:
      return DataType::kUInt8;
    case onnx::TensorProto::BOOL:
      return DataType::kBool;
    default:
      return unsupported("element type " + onnx_dtype_name(onnx_type) + " is not supported by chexrt");
  }
}

namespace {

// Converts each element of a repeated typed field (whose size decode() checked) to T.
template <class T, class Field>
void copy_field(const Field& field, HostTensor& t) {
  T* out = t.data<T>();
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<T>(field.Get(i));
}

// The typed field that holds values of the tensor's type, and how many it holds. Bool and
// float16 also travel in int32_data: 0/1, and the 16 bits of the half value.
std::pair<const char*, int64_t> typed_field(const onnx::TensorProto& p) {
  switch (p.data_type()) {
    case onnx::TensorProto::FLOAT:
      return {"float_data", p.float_data_size()};
    case onnx::TensorProto::DOUBLE:
      return {"double_data", p.double_data_size()};
    case onnx::TensorProto::INT64:
      return {"int64_data", p.int64_data_size()};
    default:
      return {"int32_data", p.int32_data_size()};
  }
}

void copy_typed_data(const onnx::TensorProto& p, HostTensor& t) {
  switch (t.dtype()) {
    case DataType::kFloat32:
      return copy_field<float>(p.float_data(), t);
    case DataType::kFloat64:
      return copy_field<double>(p.double_data(), t);
    case DataType::kInt64:
      return copy_field<int64_t>(p.int64_data(), t);
    case DataType::kInt32:
      return copy_field<int32_t>(p.int32_data(), t);
    case DataType::kInt8:
      return copy_field<int8_t>(p.int32_data(), t);
    case DataType::kUInt8:
    case DataType::kBool:
      return copy_field<uint8_t>(p.int32_data(), t);
    case DataType::kFloat16:
      return copy_field<uint16_t>(p.int32_data(), t);
  }
}

Result<int64_t> parse_offset(const std::string& key, const std::string& text) {
  int64_t v = 0;
  size_t used = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || v < 0) {
    return parse_error("external data " + key + " '" + text + "' is not a non-negative integer");
  }
  return v;
}

struct ExternalData {
  std::filesystem::path file;
  int64_t offset = 0;
};

// Locates external data and checks that the file holds `nbytes` at the offset.
Result<ExternalData> locate_external_data(const onnx::TensorProto& p, const std::string& base_dir, int64_t nbytes) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : p.external_data()) {
    if (entry.key() == "location") {
      location = entry.value();
    } else if (entry.key() == "offset") {
      CHEXRT_ASSIGN_OR_RETURN(offset, parse_offset("offset", entry.value()));
    } else if (entry.key() == "length") {
      CHEXRT_ASSIGN_OR_RETURN(length, parse_offset("length", entry.value()));
    }
  }
  if (location.empty()) return parse_error("external data has no 'location'");
  // The data must live next to the model: a model file must not be able to make chexrt read
  // arbitrary files (ONNX's own checker applies the same rule).
  const std::filesystem::path rel(location);
  if (rel.is_absolute()) return parse_error("external data location '" + location + "' is an absolute path");
  for (const auto& part : rel) {
    if (part == "..") return parse_error("external data location '" + location + "' leaves the model's directory");
  }
  if (length >= 0 && length != nbytes) {
    return parse_error("external data length " + std::to_string(length) + " does not match the tensor's " +
                       std::to_string(nbytes) + " bytes");
  }
  ExternalData data{std::filesystem::path(base_dir.empty() ? "." : base_dir) / rel, offset};
  std::error_code ec;
  const auto size = std::filesystem::file_size(data.file, ec);
  if (ec) return io_error("cannot open external data file " + data.file.string() + ": " + ec.message());
  if (offset + nbytes > static_cast<int64_t>(size)) {
    return parse_error("external data file " + data.file.string() + " has " + std::to_string(size) + " bytes, needs " +
                       std::to_string(offset + nbytes) + " (offset " + std::to_string(offset) + ")");
  }
  return data;
}

Status read_external_data(const ExternalData& data, HostTensor& t) {
  std::ifstream in(data.file, std::ios::binary);
  in.seekg(data.offset);
  in.read(static_cast<char*>(t.raw()), static_cast<std::streamsize>(t.nbytes()));
  if (!in) return io_error("reading external data file " + data.file.string() + " failed");
  return Status::ok_status();
}

Result<HostTensor> decode(const onnx::TensorProto& p, const std::string& base_dir) {
  if (p.has_segment()) return unsupported("segmented tensors are not supported");
  CHEXRT_ASSIGN_OR_RETURN(DataType dtype, from_onnx_dtype(p.data_type()));
  const Dims dims(p.dims().begin(), p.dims().end());
  // The data's size is checked against the dims before anything is allocated, so that a
  // malformed file cannot ask for an absurd amount of memory.
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return parse_error("negative dimension in " + dims_to_string(dims));
    if (d != 0 && count > (int64_t{1} << 40) / d) {
      return parse_error("dimensions " + dims_to_string(dims) + " are implausibly large");
    }
    count *= d;
  }
  const int64_t nbytes = count * static_cast<int64_t>(dtype_size(dtype));
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    CHEXRT_ASSIGN_OR_RETURN(const ExternalData data, locate_external_data(p, base_dir, nbytes));
    HostTensor t(dtype, dims);
    CHEXRT_RETURN_IF_ERROR(read_external_data(data, t));
    return t;
  }
  if (p.has_raw_data()) {
    if (static_cast<int64_t>(p.raw_data().size()) != nbytes) {
      return parse_error("raw_data has " + std::to_string(p.raw_data().size()) + " bytes, " + dims_to_string(dims) +
                         " of " + dtype_name(dtype) + " needs " + std::to_string(nbytes));
    }
    HostTensor t(dtype, dims);
    std::memcpy(t.raw(), p.raw_data().data(), static_cast<size_t>(nbytes));
    return t;
  }
  const auto [field, size] = typed_field(p);
  if (size != count) {
    return parse_error(std::string(field) + " holds " + std::to_string(size) + " values, " + dims_to_string(dims) +
                       " needs " + std::to_string(count));
  }
  HostTensor t(dtype, dims);
  copy_typed_data(p, t);
  return t;
}

}  // namespace

Result<HostTensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir) {
  auto t = decode(proto, base_dir);
  if (!t.ok()) return t.status().with_context("tensor '" + proto.name() + "'");
  return t;
}

}  // namespace chexrt::onnx_import
