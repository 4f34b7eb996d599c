// Tensor files: NumPy .npy (read and write) and serialized onnx.TensorProto .pb (read), the
// formats of `chexrt run --input` / `--output` and of ONNX's test data.
#pragma once

#include <string>

#include "chexrt/tensor.h"

namespace chexrt {

/// Decodes the bytes of a .npy file: format version 1.x, 2.x or 3.x, C order, little-endian
/// float32, float16, float64, int64, int32, int8, uint8 or bool.
Result<HostTensor> decode_npy(const std::string& bytes);
/// Encodes a tensor as a .npy file, format version 1.0.
std::string encode_npy(const HostTensor& tensor);

Result<HostTensor> read_npy(const std::string& path);
Status write_npy(const std::string& path, const HostTensor& tensor);

/// Reads a tensor by the file's extension: ".npy", or ".pb" (a serialized onnx.TensorProto).
Result<HostTensor> read_tensor_file(const std::string& path);

}  // namespace chexrt
