// ONNX tensors: element types and TensorProto decoding (typed fields, raw_data, external data).
#pragma once

#include <cstdint>
#include <string>

#include "chexrt/tensor.h"
#include "onnx_proto/onnx.pb.h"

namespace chexrt::onnx_import {

/// "FLOAT", "INT64", ... for a TensorProto::DataType value.
std::string onnx_dtype_name(int32_t onnx_type);

/// chexrt's element type for an ONNX one; Unsupported (naming it) for types chexrt lacks.
Result<DataType> from_onnx_dtype(int32_t onnx_type);

/// Decodes a TensorProto. External data (data_location EXTERNAL) is read from the file named by
/// its `location` key, relative to `base_dir`; absolute locations and ones containing ".." are
/// refused. Errors name the tensor.
Result<HostTensor> tensor_from_proto(const onnx::TensorProto& proto, const std::string& base_dir);

}  // namespace chexrt::onnx_import
