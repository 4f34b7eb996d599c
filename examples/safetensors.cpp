#include "safetensors.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

namespace chexrt::examples {

Result<std::map<std::string, HostTensor>> read_safetensors(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return io_error(path + ": cannot open");
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8) return parse_error(path + ": too short for a safetensors header");
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > bytes.size() - 8) return parse_error(path + ": header length runs past the end of the file");
  const size_t data_start = 8 + header_size;
  nlohmann::json header = nlohmann::json::parse(bytes.substr(8, header_size), nullptr, false);
  if (header.is_discarded() || !header.is_object()) return parse_error(path + ": header is not a JSON object");

  std::map<std::string, HostTensor> tensors;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string dtype = info.value("dtype", "");
    if (dtype != "F32") return unsupported(path + ": tensor '" + name + "' has dtype " + dtype + " (only F32 is read)");
    Dims dims;
    for (const auto& d : info.at("shape")) dims.push_back(d.get<int64_t>());
    const auto offsets = info.at("data_offsets");
    const uint64_t begin = offsets.at(0).get<uint64_t>(), end = offsets.at(1).get<uint64_t>();
    HostTensor t(DataType::kFloat32, dims);
    if (end < begin || end - begin != t.nbytes() || data_start + end > bytes.size()) {
      return parse_error(path + ": tensor '" + name + "' data offsets do not match its shape or the file size");
    }
    std::memcpy(t.raw(), bytes.data() + data_start + begin, t.nbytes());
    tensors.emplace(name, std::move(t));
  }
  return tensors;
}

}  // namespace chexrt::examples
