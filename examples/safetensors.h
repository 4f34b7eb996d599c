// Reads a safetensors file: an 8-byte little-endian header length, a JSON header mapping each
// tensor name to {dtype, shape, data_offsets}, then the raw little-endian data.
// Format: https://github.com/huggingface/safetensors (README, "Format").
#pragma once

#include <map>
#include <string>

#include "chexrt/tensor.h"

namespace chexrt::examples {

Result<std::map<std::string, HostTensor>> read_safetensors(const std::string& path);

}  // namespace chexrt::examples
